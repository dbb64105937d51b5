package vrrp

import "github.com/golvs/lvs/internal/errs"

// Error is the error type of every call in the package: Pkg is "vrrp",
// Kind one of the sentinels, Field the offending Config field for
// ErrInvalid.
//
// The sentinels this package returns, the same values as every other
// package's (vrrp.ErrInvalid == director.ErrInvalid).
//
//   - ErrInvalid: a Config field or an advertisement is malformed; nothing was opened. Field names the Config field.
//   - ErrPermission: opening a raw socket needs CAP_NET_RAW (entering another namespace CAP_SYS_ADMIN).
//   - ErrNotSupported: not Linux, or the kernel lacks a facility.
//   - ErrNotExist: the network namespace named by NetNSPath does not exist.
//   - ErrBusy: Run was called while the node is already running.
//   - ErrClosed: the node was closed before or during the call.
//   - ErrKernel: the kernel refused a socket call for another reason.
//   - the others: not returned by this package.
type Error = errs.Error

const pkg = "vrrp"

func invalid(field, msg string) error {
	return errs.Invalid(pkg, "configure", "", field, msg)
}
