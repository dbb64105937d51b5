package vrrp

import "github.com/golvs/lvs/internal/errs"

// Error is the error type of every call in the package: Pkg is "vrrp",
// Kind one of the sentinels below, Field the offending Config field for
// ErrInvalid.
type Error = errs.Error

// The sentinels this package returns, the same values as every other
// package's (vrrp.ErrInvalid == director.ErrInvalid).
var (
	// ErrInvalid: a Config field or an advertisement is malformed; nothing
	// was opened. Field names the Config field.
	ErrInvalid = errs.ErrInvalid
	// ErrPermission: opening a raw socket needs CAP_NET_RAW (entering
	// another namespace CAP_SYS_ADMIN).
	ErrPermission = errs.ErrPermission
	// ErrNotSupported: not Linux, or the kernel lacks a facility.
	ErrNotSupported = errs.ErrNotSupported
	// ErrNotExist: the network namespace named by NetNSPath does not exist.
	ErrNotExist = errs.ErrNotExist
	// ErrBusy: Run was called while the node is already running.
	ErrBusy = errs.ErrBusy
	// ErrClosed: the node was closed before or during the call.
	ErrClosed = errs.ErrClosed
	// ErrKernel: the kernel refused a socket call for another reason.
	ErrKernel = errs.ErrKernel

	// Not returned by this package; the same values as everywhere.
	ErrExist       = errs.ErrExist
	ErrConflict    = errs.ErrConflict
	ErrIneffective = errs.ErrIneffective
	ErrUnavailable = errs.ErrUnavailable
	ErrCanceled    = errs.ErrCanceled
	ErrRollback    = errs.ErrRollback
	ErrCheckFailed = errs.ErrCheckFailed
)

const pkg = "vrrp"

func invalid(field, msg string) error {
	return errs.Invalid(pkg, "configure", "", field, msg)
}
