package ipvs

import (
	"errors"
	"syscall"
)

// Sentinels for errors.Is. Every error the package returns is an *Error
// that matches exactly one of them (and, for kernel errors, the errno too).
var (
	// ErrNotExist: the service, destination or sync daemon does not exist.
	ErrNotExist = errors.New("does not exist")
	// ErrExist: the service, destination or sync daemon already exists.
	ErrExist = errors.New("already exists")
	// ErrNoModule: the kernel has no module for the scheduler or
	// persistence engine named.
	ErrNoModule = errors.New("scheduler or persistence engine module not found")
	// ErrPermission: the caller lacks CAP_NET_ADMIN in the initial user
	// namespace, which every IPVS command requires, reads included.
	ErrPermission = errors.New("permission denied: IPVS needs CAP_NET_ADMIN")
	// ErrInvalid: the request was rejected before it was sent, or the
	// kernel found it invalid.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotSupported: the running kernel (or OS) cannot do what was asked,
	// including attributes it silently ignored.
	ErrNotSupported = errors.New("not supported")
	// ErrUnavailable: the kernel has no IPVS: the "IPVS" generic netlink
	// family is missing.
	ErrUnavailable = errors.New("IPVS is not available in this kernel: load the ip_vs module (modprobe ip_vs)")
)

// errNoReply: the kernel carried out a request and answered nothing. It
// does that when the operation returns EINTR, for which netlink_rcv_skb
// skips the acknowledgement: stopping a sync daemon whose kernel thread has
// not run yet is one.
var errNoReply = errors.New("the kernel sent no reply")

// Error is the error type of every call in the package.
type Error struct {
	// Op is the operation, e.g. "create service".
	Op string
	// Object names what the operation was about, e.g. "TCP 10.0.0.1:80",
	// or is empty.
	Object string
	// Field names the offending field for validation errors.
	Field string
	// Err is the cause: a syscall.Errno for kernel errors, a description
	// otherwise.
	Err  error
	kind error
}

func (e *Error) Error() string {
	s := "ipvs: " + e.Op
	if e.Object != "" {
		s += " " + e.Object
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	errno, isErrno := e.Err.(syscall.Errno)
	switch {
	case isErrno && errno == eNODEV:
		s += ": no such network interface (ENODEV)"
	case isErrno && e.kind != nil:
		s += ": " + e.kind.Error() + " (" + errnoName(errno) + ")"
	case e.Err != nil:
		s += ": " + e.Err.Error()
	case e.kind != nil:
		s += ": " + e.kind.Error()
	}
	return s
}

// Unwrap exposes both the sentinel and the cause, so errors.Is(err,
// ErrNotExist) and errors.Is(err, unix.ESRCH) both work.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 2)
	if e.kind != nil {
		out = append(out, e.kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Linux errno values, spelled out so that this file builds on every OS.
const (
	ePERM        = syscall.Errno(1)
	eNOENT       = syscall.Errno(2)
	eSRCH        = syscall.Errno(3)
	eEXIST       = syscall.Errno(17)
	eNODEV       = syscall.Errno(19)
	eINVAL       = syscall.Errno(22)
	eRANGE       = syscall.Errno(34)
	eOPNOTSUPP   = syscall.Errno(95)
	eAFNOSUPPORT = syscall.Errno(97)
)

func errnoName(e syscall.Errno) string {
	switch e {
	case ePERM:
		return "EPERM"
	case eNOENT:
		return "ENOENT"
	case eSRCH:
		return "ESRCH"
	case eEXIST:
		return "EEXIST"
	case eNODEV:
		return "ENODEV"
	case eINVAL:
		return "EINVAL"
	case eRANGE:
		return "ERANGE"
	case eOPNOTSUPP:
		return "EOPNOTSUPP"
	case eAFNOSUPPORT:
		return "EAFNOSUPPORT"
	}
	return e.Error()
}

// opKind tells the classifier what ENOENT means for an operation: the
// kernel uses it both for a missing scheduler module (service writes) and
// for a missing destination (destination writes).
type opKind int

const (
	opOther opKind = iota
	opServiceWrite
	opDestWrite
)

// kernelError wraps an errno from the kernel into an *Error with the
// sentinel that the errno means for this operation.
func kernelError(op, object string, k opKind, err error) error {
	errno, ok := err.(syscall.Errno)
	if !ok {
		return &Error{Op: op, Object: object, Err: err}
	}
	e := &Error{Op: op, Object: object, Err: errno}
	switch errno {
	case ePERM:
		e.kind = ErrPermission
	case eEXIST:
		e.kind = ErrExist
	case eSRCH:
		e.kind = ErrNotExist
	case eNOENT:
		if k == opServiceWrite {
			e.kind = ErrNoModule
		} else {
			e.kind = ErrNotExist
		}
	case eINVAL, eRANGE:
		e.kind = ErrInvalid
	case eNODEV:
		// Keep the errno (errors.Is(err, unix.ENODEV)); Error() names it.
		e.kind = ErrInvalid
	case eOPNOTSUPP, eAFNOSUPPORT:
		e.kind = ErrNotSupported
	}
	return e
}

// invalid is a validation error.
func invalid(op, object, field, msg string) error {
	return &Error{Op: op, Object: object, Field: field, Err: errors.New(msg), kind: ErrInvalid}
}
