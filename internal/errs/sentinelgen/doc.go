// Package sentinelgen writes each public package's sentinels.go: the
// re-export of internal/errs' sentinels (`ErrX = errs.ErrX`, with errs'
// own doc comments), so that the list is written once, in internal/errs,
// and every package names the same values. `go generate` at the module
// root runs it (internal/cmd/gensentinels); the root errors_test.go checks
// that every file is current.
package sentinelgen
