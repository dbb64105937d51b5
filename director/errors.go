package director

import (
	"github.com/golvs/lvs/internal/errs"
)

// Error is the error type of every call in the package: the SDK's one
// error type (Pkg "director"), shared with ipvs, realserver, fwmark and
// health.
type Error = errs.Error

// Sentinels for errors.Is: the SDK's one set, the same values in every
// package (director.ErrPermission == ipvs.ErrPermission). Every error the package returns is an
// *Error whose Kind is exactly one of them; the comments say what each
// means here. The cause underneath (an errno, a context error, a tool's
// message) stays reachable with errors.Is/As.
var (
	ErrInvalid      = errs.ErrInvalid      // malformed request; Field names it; nothing changed
	ErrNotExist     = errs.ErrNotExist     // a device the request names is missing
	ErrExist        = errs.ErrExist        // not returned: existing VIPs and rules are taken as they are
	ErrConflict     = errs.ErrConflict     // the VIP with another prefix, a device of another type, a table of ours someone else made
	ErrIneffective  = errs.ErrIneffective  // would not work with the sysctls or routes in effect (see CheckVIP)
	ErrPermission   = errs.ErrPermission   // CAP_NET_ADMIN (CAP_SYS_ADMIN to enter a namespace) missing
	ErrNotSupported = errs.ErrNotSupported // not Linux, or the kernel lacks the facility (IPv6 disabled)
	ErrUnavailable  = errs.ErrUnavailable  // ip_vs, nftables NAT modules or the iptables tools missing
	ErrBusy         = errs.ErrBusy         // the kernel could not do it now
	ErrCanceled     = errs.ErrCanceled     // ctx done; its error is the cause
	ErrClosed       = errs.ErrClosed       // the Client was closed
	ErrRollback     = errs.ErrRollback     // a failed set-up could not be fully undone
	ErrCheckFailed  = errs.ErrCheckFailed  // not returned here (health checks)
	ErrKernel       = errs.ErrKernel       // the kernel or iptables refused for another reason
)

const pkg = "director"

func invalid(op, field, msg string) error {
	return errs.Invalid(pkg, op, "", field, msg)
}

// newError returns an *Error of kind, or of the kind err means when kind is
// nil.
func newError(op string, kind, err error) error {
	if kind == nil {
		kind = errs.Classify(err)
	}
	return &Error{Pkg: pkg, Op: op, Kind: kind, Err: err}
}

// wrap hands on an error from netcfg, netlink, nftables or the OS as an
// *Error of this package, keeping its kind.
func wrap(op string, err error) error { return errs.Wrap(pkg, op, err) }
