//go:build !linux

package fwmark

import (
	"context"
	"fmt"
	"runtime"
)

// New fails outside Linux: netfilter is Linux-only.
func New(ctx context.Context, cfg *Config) (*Client, error) {
	return nil, newErr(ErrNotSupported, "new", "", fmt.Errorf("firewall marks need Linux netfilter, not available on %s", runtime.GOOS))
}
