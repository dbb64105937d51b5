package errs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// Wrap returns err as an *Error of pkg for op. An *Error of pkg is
// returned as it is; another package's *Error (internal/netcfg's, say)
// keeps its Kind and becomes the cause; anything else is classified by
// Classify. nil stays nil.
func Wrap(pkg, op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e.Pkg == pkg {
		return err
	}
	return &Error{Pkg: pkg, Op: op, Kind: Classify(err), Err: err}
}

// Classify returns the sentinel an error from below the SDK means: the
// Kind of an *Error inside it, or a sentinel wrapped in it; ErrCanceled for a context error; the errno's
// meaning (ErrnoKind); ErrPermission for os.ErrPermission; ErrUnavailable
// for a program that is not installed; ErrKernel otherwise.
func Classify(err error) error {
	var e *Error
	var errno syscall.Errno
	switch {
	case errors.As(err, &e) && e.Kind != nil:
		return e.Kind
	case KindOf(err) != nil: // a sentinel wrapped with fmt.Errorf's %w
		return KindOf(err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ErrCanceled
	case errors.As(err, &errno):
		return ErrnoKind(errno)
	case errors.Is(err, os.ErrPermission):
		return ErrPermission
	case errors.Is(err, exec.ErrNotFound):
		return ErrUnavailable
	}
	return ErrKernel
}
