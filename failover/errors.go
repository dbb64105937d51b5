package failover

import "github.com/golvs/lvs/internal/errs"

// Error is the error type of every call in the package: the SDK's one
// error type (Pkg "failover"; errors of the director and ipvs calls it
// makes keep their own Pkg), with Field naming the Config field for
// ErrInvalid.
type Error = errs.Error

// Sentinels for errors.Is: the SDK's one set, the same values in every
// package (failover.ErrInvalid == director.ErrInvalid). The comments say
// what each means here.
var (
	ErrInvalid      = errs.ErrInvalid      // malformed Config; Field names it; nothing changed
	ErrNotExist     = errs.ErrNotExist     // the namespace or an interface the Config names is missing
	ErrExist        = errs.ErrExist        // not returned
	ErrConflict     = errs.ErrConflict     // a sync daemon we did not start runs in the role we need; the identity is in use
	ErrIneffective  = errs.ErrIneffective  // a VIP would not be reachable (director.CheckVIP)
	ErrPermission   = errs.ErrPermission   // CAP_NET_ADMIN (CAP_SYS_ADMIN to enter a namespace) missing
	ErrNotSupported = errs.ErrNotSupported // not Linux
	ErrUnavailable  = errs.ErrUnavailable  // ip_vs missing (sync daemons)
	ErrBusy         = errs.ErrBusy         // Run called while running
	ErrCanceled     = errs.ErrCanceled     // ctx done
	ErrClosed       = errs.ErrClosed       // the Client was closed
	ErrRollback     = errs.ErrRollback     // a failed set-up could not be fully undone
	ErrCheckFailed  = errs.ErrCheckFailed  // not returned (trackers report through events)
	ErrKernel       = errs.ErrKernel       // the kernel refused for another reason
)

const pkg = "failover"

func invalid(field, msg string) error {
	return errs.Invalid(pkg, "configure", "", field, msg)
}
