package ipvsadm

import (
	"context"
	"errors"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/ipvs"
)

const pkgName = "ipvsadm"

// Error is the error type of every call in the package (the SDK's one
// error type): command-line and rules errors have Kind ErrInvalid (or
// ErrExist/ErrNotExist for a rules file that repeats a service or server,
// or names a service it has not defined), ipvsadm's message as the cause,
// the argument at fault in Field and, for a rules file, the line in Object
// ("line 3"). Kernel errors wrap the ipvs package's error.
//
// The SDK's sentinels, the same values in every package, for errors.Is.
type Error = errs.Error

// kindOf is the sentinel an ipvs error matches. (ipvs's sentinels are
// being moved onto errs; until then its own are mapped here.)
func kindOf(err error) error {
	if k := errs.KindOf(err); k != nil {
		return k
	}
	for _, m := range []struct{ from, to error }{
		{ipvs.ErrInvalid, ErrInvalid}, {ipvs.ErrNotExist, ErrNotExist}, {ipvs.ErrExist, ErrExist},
		{ipvs.ErrPermission, ErrPermission}, {ipvs.ErrNotSupported, ErrNotSupported},
		{ipvs.ErrUnavailable, ErrUnavailable},
		{context.Canceled, ErrCanceled}, {context.DeadlineExceeded, ErrCanceled},
	} {
		if errors.Is(err, m.from) {
			return m.to
		}
	}
	return ErrKernel
}

// kernelError wraps an error of the ipvs package (or of the context) as
// the package's own.
func kernelError(op, object string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Pkg: pkgName, Op: op, Object: object, Kind: kindOf(err), Err: err}
}
