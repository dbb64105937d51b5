package fwmark

import (
	"fmt"

	"github.com/golvs/lvs/internal/errs"
)

// Error is the error type of every call in the package: the SDK's one
// error type (Pkg "fwmark"), shared with ipvs, director, realserver and
// health.
//
// Sentinels for errors.Is: the SDK's one set, the same values in every
// package (fwmark.ErrConflict == director.ErrConflict). Every error the package returns is an
// *Error whose Kind is exactly one of them; the list says what each
// means here. The cause underneath (an errno, a context error, a tool's
// message) stays reachable with errors.Is/As.
//
//   - ErrInvalid: a bad rule or configuration; Field names it; nothing changed
//   - ErrNotExist: not returned: deleting what is not installed is no error
//   - ErrExist: not returned: adding what is installed is no error
//   - ErrConflict: the other backend's rules, foreign rules in ours, a table of our name we did not make
//   - ErrIneffective: not returned: Conflicts reports rules that defeat ours
//   - ErrPermission: CAP_NET_ADMIN missing
//   - ErrNotSupported: not Linux
//   - ErrUnavailable: no nf_tables, or no iptables-save/-restore
//   - ErrBusy: the kernel could not do it now
//   - ErrCanceled: ctx done; its error is the cause
//   - ErrClosed: a Setup torn down after Close (Close leaves the rules)
//   - ErrRollback: a change of one family failed and the other could not be put back
//   - ErrCheckFailed: not returned here (health checks)
//   - ErrKernel: netfilter or the iptables tools refused
type Error = errs.Error

const pkg = "fwmark"

// newErr returns an *Error of kind, or of the kind err means when kind is
// nil.
func newErr(kind error, op, field string, err error) error {
	if kind == nil {
		kind = errs.Classify(err)
	}
	return &Error{Pkg: pkg, Op: op, Field: field, Kind: kind, Err: err}
}

// wrap hands on an error of internal/nft or internal/netcfg, keeping its
// kind.
func wrap(op string, err error) error { return errs.Wrap(pkg, op, err) }

func invalidf(op, field, format string, args ...any) error {
	return newErr(ErrInvalid, op, field, fmt.Errorf(format, args...))
}
