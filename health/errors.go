package health

import (
	"errors"
	"fmt"
)

// Sentinels for errors.Is. Every error the package returns is an *Error
// matching one of them, or an error from the ipvs package (which keeps its
// own sentinels, such as ipvs.ErrNotExist) wrapped in an *Error.
var (
	// ErrInvalid: the configuration was rejected before anything changed.
	ErrInvalid = errors.New("invalid configuration")
	// ErrNotSupported: this OS cannot do what was asked (socket marks,
	// network namespaces).
	ErrNotSupported = errors.New("not supported")
	// ErrCheckFailed: a health check found the server unhealthy. Checkers
	// return it (wrapped in an *Error with the reason) from Check.
	ErrCheckFailed = errors.New("check failed")
	// ErrRunning: Run was called on a pool that is already running.
	ErrRunning = errors.New("pool already running")
)

// Error is the error type of the package.
type Error struct {
	// Op is what was being done: "configure", "check", "update IPVS".
	Op string
	// Object names what it was about, e.g. a real server "10.0.0.2:80",
	// or is empty.
	Object string
	// Field names the offending configuration field, for ErrInvalid.
	Field string
	// Err is the cause.
	Err  error
	kind error
}

func (e *Error) Error() string {
	s := "health: " + e.Op
	if e.Object != "" {
		s += " " + e.Object
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	} else if e.kind != nil {
		s += ": " + e.kind.Error()
	}
	return s
}

// Unwrap exposes the sentinel and the cause.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 2)
	if e.kind != nil {
		out = append(out, e.kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

func invalid(object, field, msg string) error {
	return &Error{Op: "configure", Object: object, Field: field, Err: errors.New(msg), kind: ErrInvalid}
}

// Failf returns an error matching ErrCheckFailed, for checkers' own use.
func Failf(format string, args ...any) error {
	return &Error{Op: "check", Err: fmt.Errorf(format, args...), kind: ErrCheckFailed}
}

// failed wraps err (a dial or I/O error) as a check failure.
func failed(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && errors.Is(err, ErrCheckFailed) {
		return err
	}
	return &Error{Op: "check", Err: err, kind: ErrCheckFailed}
}
