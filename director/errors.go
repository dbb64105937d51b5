package director

import (
	"github.com/golvs/lvs/internal/errs"
)

// Error is the error type of every call in the package: the SDK's one
// error type (Pkg "director"), shared with ipvs, realserver, fwmark and
// health.
//
// Sentinels for errors.Is: the SDK's one set, the same values in every
// package (director.ErrPermission == ipvs.ErrPermission). Every error the package returns is an
// *Error whose Kind is exactly one of them; the list says what each
// means here. The cause underneath (an errno, a context error, a tool's
// message) stays reachable with errors.Is/As.
//
//   - ErrInvalid: malformed request; Field names it; nothing changed
//   - ErrNotExist: a device the request names is missing
//   - ErrExist: not returned: existing VIPs and rules are taken as they are
//   - ErrConflict: the VIP with another prefix, a device of another type, a table of ours someone else made
//   - ErrIneffective: would not work with the sysctls or routes in effect (see CheckVIP)
//   - ErrPermission: CAP_NET_ADMIN (CAP_SYS_ADMIN to enter a namespace) missing
//   - ErrNotSupported: not Linux, or the kernel lacks the facility (IPv6 disabled)
//   - ErrUnavailable: ip_vs, nftables NAT modules or the iptables tools missing
//   - ErrBusy: the kernel could not do it now
//   - ErrCanceled: ctx done; its error is the cause
//   - ErrClosed: the Client was closed
//   - ErrRollback: a failed set-up could not be fully undone
//   - ErrCheckFailed: not returned here (health checks)
//   - ErrKernel: the kernel or iptables refused for another reason
type Error = errs.Error

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
