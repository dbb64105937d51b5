package director

import (
	"github.com/golvs/lvs/internal/errs"
)

// Error is the error type of every call in the package: the SDK's one
// error type (Pkg "director"), shared with ipvs, realserver, fwmark and
// health.
type Error = errs.Error

// Sentinels for errors.Is: the SDK's one set, the same values in every
// package (director.ErrPermission == ipvs.ErrPermission). Every error the
// package returns is an *Error whose Kind is exactly one of them; the
// cause underneath (an errno, a context error, the message of iptables)
// stays reachable with errors.Is/As.
//
// In this package: ErrInvalid, the request is malformed (Field names it);
// ErrNotExist, a device it names is missing; ErrConflict, existing
// configuration contradicts it (the VIP with another prefix, a device of
// the same name but another type, an nftables table of our name that we
// did not make); ErrIneffective, it would not work with the sysctls or
// routes in effect; ErrUnavailable, a module (ip_vs, nf_tables' NAT) or
// the iptables command is missing; ErrNotSupported, the OS or kernel
// cannot do it at all; ErrPermission; ErrCanceled; ErrClosed, the Client
// was closed; ErrRollback, a failed set-up could not be fully undone;
// ErrKernel, the kernel or a tool refused for another reason.
var (
	ErrInvalid      = errs.ErrInvalid
	ErrNotExist     = errs.ErrNotExist
	ErrExist        = errs.ErrExist
	ErrConflict     = errs.ErrConflict
	ErrIneffective  = errs.ErrIneffective
	ErrPermission   = errs.ErrPermission
	ErrNotSupported = errs.ErrNotSupported
	ErrUnavailable  = errs.ErrUnavailable
	ErrBusy         = errs.ErrBusy
	ErrCanceled     = errs.ErrCanceled
	ErrClosed       = errs.ErrClosed
	ErrRollback     = errs.ErrRollback
	ErrCheckFailed  = errs.ErrCheckFailed
	ErrKernel       = errs.ErrKernel
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
