package errs

import (
	"errors"
	"strings"
	"syscall"
)

// The sentinels. Their texts are short: an Error's message says the rest.
var (
	// ErrInvalid: the request is malformed or the kernel found it invalid
	// (EINVAL, ERANGE). When the SDK rejected it, nothing was changed and
	// Field names the offending input.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotExist: the object the request names does not exist: a
	// service, destination, sync daemon, device, rule or record
	// (ESRCH, ENOENT, ENODEV where the object is the subject).
	ErrNotExist = errors.New("does not exist")
	// ErrExist: the object the request would create already exists (EEXIST).
	ErrExist = errors.New("already exists")
	// ErrConflict: existing configuration, or an object another owner
	// made, contradicts the request; nothing of the other owner's was
	// touched.
	ErrConflict = errors.New("conflicts with existing configuration")
	// ErrIneffective: the request is well formed but would not work with
	// the configuration in effect (sysctls, routes); nothing was changed.
	ErrIneffective = errors.New("would not work with the configuration in effect")
	// ErrPermission: the caller lacks a capability the request needs
	// (CAP_NET_ADMIN, CAP_SYS_ADMIN to enter a namespace) (EPERM, EACCES).
	ErrPermission = errors.New("permission denied")
	// ErrNotSupported: this OS or kernel cannot do what was asked at all:
	// not Linux, a kernel too old for a feature, an attribute the kernel
	// ignored (EOPNOTSUPP, EAFNOSUPPORT).
	ErrNotSupported = errors.New("not supported")
	// ErrUnavailable: a facility the request needs is missing from this
	// host right now and could be added: a kernel module that is not
	// loaded (ip_vs, a scheduler, ipip, fou, nf_tables), a tool that is
	// not installed (iptables, arptables). The message names it.
	ErrUnavailable = errors.New("not available on this host")
	// ErrBusy: the kernel could not do it now (EBUSY, EAGAIN, ENOBUFS,
	// ENOMEM) or a result could not be confirmed while others changed the
	// same tables; trying again later may succeed.
	ErrBusy = errors.New("busy or out of resources; try again")
	// ErrCanceled: the context was cancelled or its deadline passed. The
	// context's own error is the cause (errors.Is(err,
	// context.DeadlineExceeded) works). A write in flight may or may not
	// have been carried out.
	ErrCanceled = errors.New("cancelled")
	// ErrClosed: the client (or object) was closed before or during the call.
	ErrClosed = errors.New("closed")
	// ErrRollback: a change failed and undoing the part already done
	// failed too; the message lists what may be left behind.
	ErrRollback = errors.New("rollback incomplete")
	// ErrCheckFailed: a health check found its target unhealthy.
	ErrCheckFailed = errors.New("check failed")
	// ErrKernel: the kernel, or the tool driving it, refused the request
	// for a reason no other sentinel names; the cause holds the errno or
	// the tool's message.
	ErrKernel = errors.New("refused by the kernel")
)

// All lists every sentinel, for tests that check each package re-exports
// the whole set.
func All() []error {
	return []error{
		ErrInvalid, ErrNotExist, ErrExist, ErrConflict, ErrIneffective,
		ErrPermission, ErrNotSupported, ErrUnavailable, ErrBusy, ErrCanceled,
		ErrClosed, ErrRollback, ErrCheckFailed, ErrKernel,
	}
}

// Error is the error type of every public package.
type Error struct {
	// Pkg is the package that returned the error ("ipvs", "director"); it
	// prefixes the message.
	Pkg string
	// Op is the operation, e.g. "create service", "add VIP".
	Op string
	// Object names what the operation was about, e.g. "TCP 10.0.0.1:80",
	// or is empty.
	Object string
	// Field names the offending input field, e.g. "Service.Timeout", for
	// validation errors, or is empty.
	Field string
	// Kind is the sentinel the error matches (one of this package's Err…
	// values).
	Kind error
	// Err is the cause: a syscall.Errno for kernel errors, a context
	// error, a description, or another package's *Error.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Pkg != "" {
		b.WriteString(e.Pkg)
		b.WriteString(": ")
	}
	b.WriteString(e.Op)
	if e.Object != "" {
		b.WriteString(" ")
		b.WriteString(e.Object)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	errno, isErrno := e.Err.(syscall.Errno)
	switch {
	case isErrno && e.Kind != nil:
		b.WriteString(": ")
		b.WriteString(e.Kind.Error())
		b.WriteString(" (")
		b.WriteString(ErrnoName(errno))
		b.WriteString(")")
	case e.Err != nil:
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
		// Name the kind when the cause does not already say it.
		if e.Kind != nil && !errors.Is(e.Err, e.Kind) && e.Kind != ErrInvalid && e.Kind != ErrCheckFailed {
			b.WriteString(" (")
			b.WriteString(e.Kind.Error())
			b.WriteString(")")
		}
	case e.Kind != nil:
		b.WriteString(": ")
		b.WriteString(e.Kind.Error())
	}
	return b.String()
}

// Unwrap exposes the sentinel and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 2)
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// New returns an *Error of pkg for op with the given kind and cause.
func New(pkg, op string, kind, cause error) *Error {
	return &Error{Pkg: pkg, Op: op, Kind: kind, Err: cause}
}

// Invalid returns a validation error naming the field.
func Invalid(pkg, op, object, field, msg string) *Error {
	return &Error{Pkg: pkg, Op: op, Object: object, Field: field, Kind: ErrInvalid, Err: errors.New(msg)}
}

// Pkg is a package's name (Error.Pkg), and makes that package's errors:
// each package declares `const pkg errs.Pkg = "name"` instead of its own
// constructors.
type Pkg string

// New returns an *Error of p for op on object with the given kind and cause.
func (p Pkg) New(op, object string, kind, cause error) *Error {
	return &Error{Pkg: string(p), Op: op, Object: object, Kind: kind, Err: cause}
}

// Invalid returns a validation error of p naming the field.
func (p Pkg) Invalid(op, object, field, msg string) *Error {
	return Invalid(string(p), op, object, field, msg)
}

// Wrap is Wrap for p.
func (p Pkg) Wrap(op string, err error) error { return Wrap(string(p), op, err) }

// KindOf returns the sentinel err matches, the first of All's order, or nil.
func KindOf(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Kind != nil {
		return e.Kind
	}
	for _, k := range All() {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// Linux errno values, spelled out so that this file builds on every OS.
const (
	EPERM        = syscall.Errno(1)
	ENOENT       = syscall.Errno(2)
	ESRCH        = syscall.Errno(3)
	EINTR        = syscall.Errno(4)
	EAGAIN       = syscall.Errno(11)
	ENOMEM       = syscall.Errno(12)
	EACCES       = syscall.Errno(13)
	EBUSY        = syscall.Errno(16)
	EEXIST       = syscall.Errno(17)
	ENODEV       = syscall.Errno(19)
	EINVAL       = syscall.Errno(22)
	ERANGE       = syscall.Errno(34)
	EOPNOTSUPP   = syscall.Errno(95)
	EAFNOSUPPORT = syscall.Errno(97)
	ENOBUFS      = syscall.Errno(105)
)

// ErrnoName returns the symbolic name of a Linux errno ("EEXIST"), or the
// errno's text for one not listed.
func ErrnoName(e syscall.Errno) string {
	switch e {
	case EPERM:
		return "EPERM"
	case ENOENT:
		return "ENOENT"
	case ESRCH:
		return "ESRCH"
	case EINTR:
		return "EINTR"
	case EAGAIN:
		return "EAGAIN"
	case ENOMEM:
		return "ENOMEM"
	case EACCES:
		return "EACCES"
	case EBUSY:
		return "EBUSY"
	case EEXIST:
		return "EEXIST"
	case ENODEV:
		return "ENODEV"
	case EINVAL:
		return "EINVAL"
	case ERANGE:
		return "ERANGE"
	case EOPNOTSUPP:
		return "EOPNOTSUPP"
	case EAFNOSUPPORT:
		return "EAFNOSUPPORT"
	case ENOBUFS:
		return "ENOBUFS"
	}
	return e.Error()
}

// ErrnoKind returns the sentinel a Linux errno means when no operation
// gives it a more specific meaning (callers decide ENOENT themselves where
// it can mean a missing module); ErrKernel for any other errno.
func ErrnoKind(e syscall.Errno) error {
	switch e {
	case EPERM, EACCES:
		return ErrPermission
	case EEXIST:
		return ErrExist
	case ESRCH, ENOENT, ENODEV:
		return ErrNotExist
	case EINVAL, ERANGE:
		return ErrInvalid
	case EOPNOTSUPP, EAFNOSUPPORT:
		return ErrNotSupported
	case EBUSY, EAGAIN, ENOBUFS, ENOMEM:
		return ErrBusy
	}
	return ErrKernel
}
