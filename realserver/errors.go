package realserver

import (
	"fmt"

	"github.com/golvs/lvs/internal/errs"
)

// Error is the error type of every call in the package: the SDK's one
// error type (Pkg "realserver"), shared with ipvs, director, fwmark and
// health.
type Error = errs.Error

// Sentinels for errors.Is: the SDK's one set, the same values in every
// package (realserver.ErrConflict == director.ErrConflict). Every error the
// package returns is an *Error whose Kind is exactly one of them; the
// cause (an errno, arptables' output) stays reachable with errors.Is/As.
//
// In this package: ErrInvalid, the configuration is wrong (Field names
// it); ErrNotExist, a device it names is missing; ErrConflict, the host
// already has configuration that contradicts it (the VIP on another
// device, an nftables table of our name we did not make); ErrUnavailable,
// a kernel module (the message names it; the package never runs
// modprobe) or the arptables command is missing; ErrNotSupported, the OS
// or kernel cannot do it at all; ErrPermission; ErrCanceled; ErrClosed,
// the Client was closed (nothing was done, and a Setup's Teardown can no
// longer run); ErrKernel, the kernel or a tool refused for another reason.
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
