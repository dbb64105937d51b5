//go:build !linux

package nstest

import (
	"errors"
	"testing"
)

// NS is a network namespace; there are none outside Linux.
type NS struct {
	Name string
	Path string
}

// Available reports that kernel tests need Linux.
func Available() error { return errors.New("not Linux") }

// New skips the test: kernel tests need Linux.
func New(t testing.TB) *NS {
	t.Helper()
	t.Skip("kernel test: needs root and IPVS; run: go run ./internal/cmd/vmtest")
	return nil
}
