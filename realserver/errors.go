package realserver

import (
	"fmt"

	"github.com/golvs/lvs/internal/errs"
)

// Error is the error type of every call in the package: the SDK's one
// error type (Pkg "realserver"), shared with ipvs, director, fwmark and
// health.
//
// Sentinels for errors.Is: the SDK's one set, the same values in every
// package (realserver.ErrConflict == director.ErrConflict). Every error the package returns is an
// *Error whose Kind is exactly one of them; the list says what each
// means here. The cause underneath (an errno, a context error, a tool's
// message) stays reachable with errors.Is/As.
//
//   - ErrInvalid: bad configuration; Field names it; nothing changed
//   - ErrNotExist: a device the configuration names is missing
//   - ErrExist: not returned: what is in place is taken as it is
//   - ErrConflict: the VIP elsewhere, a device of another type, a table of ours someone else made
//   - ErrIneffective: not returned: CheckDR and CheckTUN report such problems
//   - ErrPermission: CAP_NET_ADMIN (CAP_SYS_ADMIN to enter a namespace) missing
//   - ErrNotSupported: not Linux, or IPv6 VIPs in TUN mode
//   - ErrUnavailable: a module (named; never loaded here) or arptables missing
//   - ErrBusy: the kernel could not do it now
//   - ErrCanceled: ctx done; its error is the cause
//   - ErrClosed: the Client was closed; a Setup can no longer be torn down
//   - ErrRollback: a failed set-up could not be fully undone
//   - ErrCheckFailed: not returned here (health checks)
//   - ErrKernel: the kernel or a tool refused for another reason
type Error = errs.Error

const pkg = "realserver"

func invalid(op, field, format string, args ...any) *Error {
	return &Error{Pkg: pkg, Op: op, Field: field, Err: fmt.Errorf(format, args...), Kind: ErrInvalid}
}

// newErr returns an *Error of kind, or of the kind err means when kind is
// nil.
func newErr(op string, kind, err error) *Error {
	if kind == nil {
		kind = errs.Classify(err)
	}
	return &Error{Pkg: pkg, Op: op, Kind: kind, Err: err}
}

// wrap hands on a lower-level error (netcfg's, nftables', the OS's) as an
// *Error of this package, keeping its kind.
func wrap(op string, err error) error { return errs.Wrap(pkg, op, err) }
