package failover

import "github.com/golvs/lvs/internal/errs"

// Error is the error type of every call in the package: the SDK's one
// error type (Pkg "failover"; errors of the director and ipvs calls it
// makes keep their own Pkg), with Field naming the Config field for
// ErrInvalid.
//
// Sentinels for errors.Is: the SDK's one set, the same values in every
// package (failover.ErrInvalid == director.ErrInvalid). The list says
// what each means here.
//
//   - ErrInvalid: malformed Config; Field names it; nothing changed
//   - ErrNotExist: the namespace or an interface the Config names is missing
//   - ErrExist: not returned
//   - ErrConflict: a sync daemon we did not start runs in the role we need; the identity is in use
//   - ErrIneffective: a VIP would not be reachable (director.CheckVIP)
//   - ErrPermission: CAP_NET_ADMIN (CAP_SYS_ADMIN to enter a namespace) missing
//   - ErrNotSupported: not Linux
//   - ErrUnavailable: ip_vs missing (sync daemons)
//   - ErrBusy: Run called while running
//   - ErrCanceled: ctx done
//   - ErrClosed: the Client was closed
//   - ErrRollback: a failed set-up could not be fully undone
//   - ErrCheckFailed: not returned (trackers report through events)
//   - ErrKernel: the kernel refused for another reason
type Error = errs.Error

const pkg = "failover"

func invalid(field, msg string) error {
	return errs.Invalid(pkg, "configure", "", field, msg)
}
