package metrics

import "github.com/golvs/lvs/internal/errs"

// Error is the error type of every public package of the SDK.
type Error = errs.Error

// Sentinels this package returns (shared with every other package).
var (
	// ErrInvalid: New was given no client or a negative timeout.
	ErrInvalid = errs.ErrInvalid
)
