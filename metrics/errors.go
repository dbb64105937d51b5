package metrics

import "github.com/golvs/lvs/internal/errs"

// Error is the error type of every public package of the SDK.
//
// The sentinels, the same values as every other package's
// (metrics.ErrInvalid == ipvs.ErrInvalid), so that errors.Is works on an
// error whichever package it came through. The list says what this
// package means by each.
//
//   - ErrInvalid: New was given no client, a negative timeout or unknown groups
//   - ErrNotExist: not returned
//   - ErrExist: not returned
//   - ErrConflict: not returned
//   - ErrIneffective: not returned
//   - ErrPermission: not returned (a failed scrape is lvs_up 0)
//   - ErrNotSupported: not returned
//   - ErrUnavailable: not returned (a failed scrape is lvs_up 0)
//   - ErrBusy: not returned
//   - ErrCanceled: not returned
//   - ErrClosed: not returned
//   - ErrRollback: not returned
//   - ErrCheckFailed: not returned
//   - ErrKernel: not returned
type Error = errs.Error
