package health

import (
	"context"
	"errors"
	"fmt"

	"github.com/golvs/lvs/internal/errs"
)

// Error is the error type of every package of the SDK: an operation, the
// object it was about, the offending field, one sentinel (Kind) and the
// cause.
//
// The SDK's sentinels, the same values in every package, so
// errors.Is(err, health.ErrInvalid) and errors.Is(err, ipvs.ErrInvalid)
// agree. Every error the package returns is an *Error whose Kind is one of
// them. The package itself returns ErrInvalid (bad configuration, found
// before anything changes), ErrNotSupported (marks and namespaces on other
// operating systems), ErrCheckFailed (a check's verdict), ErrNotExist
// (a live change naming a server or service the pool does not have),
// ErrExist (adding one it has), ErrBusy (Run on a pool already running:
// it can be run again once that Run returns) and ErrCanceled (Run's
// context ended); IPVS failures keep the ipvs package's kind and cause.
type Error = errs.Error

const pkg errs.Pkg = "health"

// wrap keeps another package's error (an IPVS failure) with its kind.
func wrap(op, object string, err error) *Error {
	kind := errs.KindOf(err)
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		kind = ErrCanceled
	case kind == nil:
		kind = ErrKernel
	}
	return pkg.New(op, object, kind, err)
}

// Failf returns an error matching ErrCheckFailed, for checkers' own use.
func Failf(format string, args ...any) error {
	return pkg.New("check", "", ErrCheckFailed, fmt.Errorf(format, args...))
}

// failed wraps err (a dial or I/O error) as a check failure.
func failed(err error) error {
	if err == nil || errors.Is(err, ErrCheckFailed) {
		return err
	}
	return pkg.New("check", "", ErrCheckFailed, err)
}
