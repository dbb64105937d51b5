//go:build !linux

package vm

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

// Prepare needs Linux (apt, dpkg, qemu); elsewhere it returns ErrNotSupported.
func Prepare(ctx context.Context, kernel string, log io.Writer) (*Image, error) {
	return nil, fmt.Errorf("%w: GOOS=%s", ErrNotSupported, runtime.GOOS)
}

// Run needs Linux; elsewhere it returns ErrNotSupported.
func (im *Image) Run(ctx context.Context, opts RunOptions) (*Result, error) {
	return nil, fmt.Errorf("%w: GOOS=%s", ErrNotSupported, runtime.GOOS)
}

// EnsureTools needs Linux and apt; elsewhere it returns ErrNotSupported.
func EnsureTools(ctx context.Context, log io.Writer, extra map[string]string) error {
	return fmt.Errorf("%w: GOOS=%s", ErrNotSupported, runtime.GOOS)
}
