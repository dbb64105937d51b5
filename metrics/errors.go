package metrics

import "github.com/golvs/lvs/internal/errs"

// Error is the error type of every public package of the SDK.
type Error = errs.Error

// The sentinels, the same values as every other package's
// (metrics.ErrInvalid == ipvs.ErrInvalid), so that errors.Is works on an
// error whichever package it came through. The comments say what this
// package means by each.
var (
	ErrInvalid      = errs.ErrInvalid      // New was given no client, a negative timeout or unknown groups
	ErrNotExist     = errs.ErrNotExist     // not returned
	ErrExist        = errs.ErrExist        // not returned
	ErrConflict     = errs.ErrConflict     // not returned
	ErrIneffective  = errs.ErrIneffective  // not returned
	ErrPermission   = errs.ErrPermission   // not returned (a failed scrape is lvs_up 0)
	ErrNotSupported = errs.ErrNotSupported // not returned
	ErrUnavailable  = errs.ErrUnavailable  // not returned (a failed scrape is lvs_up 0)
	ErrBusy         = errs.ErrBusy         // not returned
	ErrCanceled     = errs.ErrCanceled     // not returned
	ErrClosed       = errs.ErrClosed       // not returned
	ErrRollback     = errs.ErrRollback     // not returned
	ErrCheckFailed  = errs.ErrCheckFailed  // not returned
	ErrKernel       = errs.ErrKernel       // not returned
)
