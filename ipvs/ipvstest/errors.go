package ipvstest

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/ipvs"
)

// kernelError is the *ipvs.Error ipvs.Client returns when the kernel
// answers op on obj with cause (an errno, or an errno explained), which
// for that operation means kind.
func kernelError(op, obj string, kind, cause error) error {
	return &ipvs.Error{Pkg: "ipvs", Op: op, Object: obj, Kind: kind, Err: cause}
}

// explained is an errno with what it means for the operation, as
// ipvs.Client words it; errors.Is still matches the errno.
type explained struct {
	msg   string
	errno syscall.Errno
}

func (e *explained) Error() string { return e.msg + " (" + errs.ErrnoName(e.errno) + ")" }
func (e *explained) Unwrap() error { return e.errno }

// The kernel's refusals, each with the sentinel ipvs.Client gives it.
func exists(op, obj string) error    { return kernelError(op, obj, ipvs.ErrExist, errs.EEXIST) }
func noService(op, obj string) error { return kernelError(op, obj, ipvs.ErrNotExist, errs.ESRCH) }
func noDest(op, obj string) error    { return kernelError(op, obj, ipvs.ErrNotExist, errs.ENOENT) }
func noDevice(op, obj string) error {
	return kernelError(op, obj, ipvs.ErrInvalid, &explained{"no such network interface", errs.ENODEV})
}
func kernelInvalid(op, obj string) error { return kernelError(op, obj, ipvs.ErrInvalid, errs.EINVAL) }

// noModule names the modules a service needs that the kernel lacks.
func noModule(op string, s ipvs.Service) error {
	msg := fmt.Sprintf("the kernel has no module for scheduler %q (modprobe ip_vs_%s)", s.Scheduler, s.Scheduler)
	if s.PersistenceEngine != "" {
		msg = fmt.Sprintf("the kernel has no module for scheduler %q or persistence engine %q (modprobe ip_vs_%s ip_vs_pe_%s)",
			s.Scheduler, s.PersistenceEngine, s.Scheduler, s.PersistenceEngine)
	}
	return kernelError(op, s.ServiceKey.String(), ipvs.ErrUnavailable, &explained{msg, errs.ENOENT})
}

// invalid is a validation error ipvs.Client makes itself, outside the
// Validate methods.
func invalid(op, obj, field, msg string) error { return errs.Invalid("ipvs", op, obj, field, msg) }

// validated returns the error of an ipvs Validate method as op's.
func validated(op string, err error) error {
	var e *ipvs.Error
	if errors.As(err, &e) {
		e.Op = op
	}
	return err
}

// errClosed is what a closed ipvs.Client's calls fail with.
var errClosed = errors.New("client is closed")

// callError is the error of a call that did not reach the kernel: the
// client is closed, or the context ended.
func callError(ctx context.Context, closed bool, op, obj string) error {
	if closed {
		return kernelError(op, obj, ipvs.ErrClosed, errClosed)
	}
	if err := ctx.Err(); err != nil {
		return kernelError(op, obj, ipvs.ErrCanceled, err)
	}
	return nil
}
