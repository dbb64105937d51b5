package ipvs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/golvs/lvs/internal/errs"
)

// Error is the error type of every call in the package, and of every
// package of the SDK: the operation, the object, for invalid input the
// field, the sentinel it matches (Kind) and the cause (Err).
//
// Sentinels for errors.Is: the SDK's one set, the same values in every
// package (ipvs.ErrPermission == director.ErrPermission). Every error the
// package returns is an *Error that matches exactly one of them and, for
// kernel errors, the errno too.
//
//   - ErrInvalid: the request was rejected before it was sent (Field names the input), or the kernel found it invalid (EINVAL, ERANGE; ENODEV for a sync daemon's interface).
//   - ErrNotExist: the service, destination or sync daemon does not exist.
//   - ErrExist: the service, destination or sync daemon already exists.
//   - ErrPermission: the caller lacks CAP_NET_ADMIN in the initial user namespace, which every IPVS command requires, reads included.
//   - ErrNotSupported: the running kernel (or OS) cannot do what was asked, including attributes it silently ignored.
//   - ErrUnavailable: a kernel module is missing: ip_vs itself (the "IPVS" generic netlink family), or the module of the scheduler or persistence engine named. The message says which to load.
//   - ErrBusy: the kernel could not do it now (EBUSY, EAGAIN, ENOBUFS, ENOMEM), or no listing could be proven while other namespaces kept changing their services; try again.
//   - ErrCanceled: the context ended; errors.Is(err, context.Canceled) or context.DeadlineExceeded tells which.
//   - ErrClosed: the Client was closed before or during the call.
//   - ErrKernel: the kernel refused for a reason no other sentinel names, or sent a reply the package cannot read; the cause says what.
//   - ErrConflict, ErrIneffective, ErrRollback, ErrCheckFailed: not returned by ipvs calls.
type Error = errs.Error

const pkgName = "ipvs"

// newError returns an *Error of the package.
func newError(op, object string, kind, cause error) *Error {
	return &Error{Pkg: pkgName, Op: op, Object: object, Kind: kind, Err: cause}
}

// errNoReply: the kernel carried out a request and answered nothing. It
// does that when the operation returns EINTR, for which netlink_rcv_skb
// skips the acknowledgement: stopping a sync daemon whose kernel thread has
// not run yet is one.
var errNoReply = errors.New("the kernel sent no reply")

// errStopDump, from a dump's callback, ends the dump at once.
var errStopDump = errors.New("dump stopped")

// errClosed is what the transport returns once the Client is closed.
var errClosed = errors.New("client is closed")

// errNoIPVS is the cause when the kernel has no IPVS.
var errNoIPVS = errors.New("IPVS is not available in this kernel: load the ip_vs module (modprobe ip_vs)")

// fateUnknown marks the writes of a batch whose acknowledgement never
// came: the socket failed or the context ended first. The kernel may or
// may not have applied them.
type fateUnknown struct{ err error }

func (e *fateUnknown) Error() string {
	return "no acknowledgement (the kernel may have applied it): " + e.err.Error()
}

func (e *fateUnknown) Unwrap() error { return e.err }

// explained is an errno with what it means for the operation; errors.Is
// still matches the errno.
type explained struct {
	msg   string
	errno syscall.Errno
}

func (e *explained) Error() string { return e.msg + " (" + errs.ErrnoName(e.errno) + ")" }
func (e *explained) Unwrap() error { return e.errno }

// Linux errno values, spelled out so that this file builds on every OS.
const (
	ePERM        = errs.EPERM
	eNOENT       = errs.ENOENT
	eSRCH        = errs.ESRCH
	eEXIST       = errs.EEXIST
	eNODEV       = errs.ENODEV
	eINVAL       = errs.EINVAL
	eRANGE       = errs.ERANGE
	eOPNOTSUPP   = errs.EOPNOTSUPP
	eAFNOSUPPORT = errs.EAFNOSUPPORT
	eNOBUFS      = errs.ENOBUFS
)

func errnoName(e syscall.Errno) string { return errs.ErrnoName(e) }

// opKind tells the classifier what ENOENT means for an operation: the
// kernel uses it both for a missing scheduler module (service writes) and
// for a missing destination (destination writes).
type opKind int

const (
	opOther opKind = iota
	opServiceWrite
	opDestWrite
)

// kernelError wraps an error of a kernel call into an *Error with the
// one sentinel it means for this operation: an errno by its meaning, a
// context's end as ErrCanceled, a closed client as ErrClosed, anything
// else (a reply that cannot be read) as ErrKernel. An *Error is returned
// as it is.
func kernelError(op, object string, k opKind, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	kind, cause := classify(k, err)
	return newError(op, object, kind, cause)
}

// classify returns the sentinel err means and the cause to keep.
func classify(k opKind, err error) (kind, cause error) {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ErrCanceled, err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrCanceled, err
	case errors.Is(err, errClosed), errors.Is(err, os.ErrClosed):
		return ErrClosed, err
	case errors.Is(err, errNoIPVS):
		return ErrUnavailable, err
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ErrKernel, err
	}
	wrapped := err != error(errno) // keep a fateUnknown's text
	switch {
	case errno == eNOENT && k == opServiceWrite:
		if wrapped {
			return ErrUnavailable, err
		}
		return ErrUnavailable, &explained{"the kernel has no module for the scheduler or persistence engine named (modprobe ip_vs_NAME or ip_vs_pe_NAME)", errno}
	case errno == eNODEV:
		// A sync daemon's interface: the input names no device.
		if wrapped {
			return ErrInvalid, err
		}
		return ErrInvalid, &explained{"no such network interface", errno}
	}
	return errs.ErrnoKind(errno), err
}

// moduleError names the modules a service write needs when the kernel
// found none for its scheduler or persistence engine (ENOENT).
func moduleError(err error, s *Service) error {
	var e *Error
	if !errors.As(err, &e) || e.Kind != ErrUnavailable {
		return err
	}
	var x *explained
	if !errors.As(e.Err, &x) {
		return err
	}
	sched := s.Scheduler
	if sched == "" {
		sched = defaultScheduler
	}
	msg := fmt.Sprintf("the kernel has no module for scheduler %q (modprobe ip_vs_%s)", sched, sched)
	if s.PersistenceEngine != "" {
		msg = fmt.Sprintf("the kernel has no module for scheduler %q or persistence engine %q (modprobe ip_vs_%s ip_vs_pe_%s)",
			sched, s.PersistenceEngine, sched, s.PersistenceEngine)
	}
	e.Err = &explained{msg, x.errno}
	return err
}

// invalid is a validation error.
func invalid(op, object, field, msg string) error {
	return errs.Invalid(pkgName, op, object, field, msg)
}

// kindOf returns the sentinel err matches.
func kindOf(err error) error { return errs.KindOf(err) }
