package director

import (
	"errors"
	"strings"
)

// Sentinels for errors.Is. Every error the package returns is an *Error
// that matches one of them, except a cancelled or expired ctx, which
// matches context.Canceled or context.DeadlineExceeded instead. The cause
// underneath (an errno, a netcfg or nftables error) stays reachable with
// errors.Is/As too.
var (
	// ErrInvalid: the request is malformed; nothing was changed.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotExist: a device the request names does not exist.
	ErrNotExist = errors.New("does not exist")
	// ErrConflict: existing configuration contradicts the request (the VIP
	// with another prefix, a device of the same name but another type).
	ErrConflict = errors.New("conflicts with existing configuration")
	// ErrIneffective: the request is well-formed but would not work with
	// the sysctls or routes in effect, e.g. an ARP-announced VIP on a dummy
	// device with arp_ignore ≥ 1. Nothing was changed; the message says why
	// and what to do.
	ErrIneffective = errors.New("would not work with the configuration in effect")
	// ErrPermission: the caller lacks CAP_NET_ADMIN (or CAP_SYS_ADMIN to
	// enter a namespace).
	ErrPermission = errors.New("permission denied")
	// ErrNotSupported: the OS or kernel lacks the facility (a module, the
	// iptables binary, nftables).
	ErrNotSupported = errors.New("not supported")
	// ErrRollback: a set-up failed and undoing the part already done failed
	// too; the message lists what may be left behind.
	ErrRollback = errors.New("rollback incomplete")
)

// Error is the error type of every call in the package.
type Error struct {
	// Op is the operation, e.g. "add VIP".
	Op string
	// Field names the offending input field for validation errors, e.g.
	// "VIP.Interface", or is empty.
	Field string
	// Err is the cause.
	Err  error
	kind error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("director: ")
	b.WriteString(e.Op)
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.kind != nil && (e.Err == nil || !errors.Is(e.Err, e.kind)) {
		b.WriteString(" (")
		b.WriteString(e.kind.Error())
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap exposes the sentinel and the cause.
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

func invalid(op, field, msg string) error {
	return &Error{Op: op, Field: field, Err: errors.New(msg), kind: ErrInvalid}
}

func newError(op string, kind, err error) error {
	return &Error{Op: op, Err: err, kind: kind}
}
