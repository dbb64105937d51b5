package ipvstest

import (
	"context"
	"errors"
	"syscall"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/ipvs"
)

// kernelCause is the cause of an error the kernel returns: its errno and
// the sentinel ipvs.Client maps that errno to for the operation, so that
// errors.Is matches both, and the message reads as ipvs.Client's does.
type kernelCause struct {
	errno syscall.Errno
	kind  error
}

func (c kernelCause) Error() string {
	if c.errno == errs.ENODEV {
		return "no such network interface (ENODEV)"
	}
	return c.kind.Error() + " (" + errs.ErrnoName(c.errno) + ")"
}

func (c kernelCause) Unwrap() []error { return []error{c.kind, c.errno} }

// kernelError is the *ipvs.Error ipvs.Client returns when the kernel
// answers op on obj with errno, which for that operation means kind.
func kernelError(op, obj string, errno syscall.Errno, kind error) error {
	return &ipvs.Error{Op: op, Object: obj, Err: kernelCause{errno, kind}}
}

// The kernel's refusals, each with the sentinel ipvs.Client gives it.
func exists(op, obj string) error        { return kernelError(op, obj, errs.EEXIST, ipvs.ErrExist) }
func noService(op, obj string) error     { return kernelError(op, obj, errs.ESRCH, ipvs.ErrNotExist) }
func noDest(op, obj string) error        { return kernelError(op, obj, errs.ENOENT, ipvs.ErrNotExist) }
func noModule(op, obj string) error      { return kernelError(op, obj, errs.ENOENT, ipvs.ErrNoModule) }
func noDevice(op, obj string) error      { return kernelError(op, obj, errs.ENODEV, ipvs.ErrInvalid) }
func kernelInvalid(op, obj string) error { return kernelError(op, obj, errs.EINVAL, ipvs.ErrInvalid) }

// invalidCause is the cause of a validation error ipvs.Client makes
// itself, outside the Validate methods.
type invalidCause string

func (c invalidCause) Error() string { return string(c) }
func (c invalidCause) Unwrap() error { return ipvs.ErrInvalid }

func invalid(op, obj, field, msg string) error {
	return &ipvs.Error{Op: op, Object: obj, Field: field, Err: invalidCause(msg)}
}

// validated returns the error of an ipvs Validate method as op's.
func validated(op string, err error) error {
	var e *ipvs.Error
	if errors.As(err, &e) {
		e.Op = op
	}
	return err
}

// errClosed is what a closed ipvs.Client's calls fail with.
var errClosed = errors.New("client is closed")

// callError is the error of a call that did not reach the kernel: the
// context ended, or the client is closed.
func callError(ctx context.Context, closed bool, op, obj string) error {
	if closed {
		return &ipvs.Error{Op: op, Object: obj, Err: errClosed}
	}
	if err := ctx.Err(); err != nil {
		return &ipvs.Error{Op: op, Object: obj, Err: err}
	}
	return nil
}
