// Package errs is the SDK's one error vocabulary: the sentinels every
// public package re-exports as the same values (ipvs.ErrInvalid ==
// director.ErrInvalid == errs.ErrInvalid), and the one Error type they all
// return (each package declares `type Error = errs.Error`).
//
// One meaning per sentinel, everywhere. Every error a public package
// returns is an *Error whose Kind is exactly one of the sentinels below;
// the cause (an errno, a context error, a tool's output) stays reachable
// through Unwrap, so errors.Is(err, unix.ESRCH) and
// errors.Is(err, context.Canceled) keep working.
package errs
