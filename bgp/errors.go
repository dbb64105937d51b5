package bgp

import (
	"errors"

	"github.com/golvs/lvs/internal/errs"
)

// Error is the error type of every package of the SDK: an operation, the
// object it was about, the offending field, one sentinel (Kind) and the
// cause.
//
// The SDK's sentinels, the same values in every package. The package
// returns ErrInvalid (bad configuration, found before anything starts),
// ErrClosed (a closed Client), ErrCanceled (a context ended),
// ErrUnavailable (a peer that did not establish its session, a withdrawal
// not confirmed sent), ErrNotExist (withdrawing a route never announced)
// and ErrKernel (GoBGP refused a request); IPVS failures seen by a
// ServiceGate keep the ipvs package's kind.
type Error = errs.Error

const pkg errs.Pkg = "bgp"

// wrap makes err (GoBGP's, a context's, another package's) an error of
// this package for op on object, keeping its kind.
func wrap(op, object string, err error) error {
	e := pkg.Wrap(op, err)
	var pe *Error
	if errors.As(e, &pe) && pe.Object == "" {
		pe.Object = object
	}
	return e
}
