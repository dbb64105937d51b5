//go:build !linux

package realserver

import (
	"context"
	"errors"
	"runtime"
)

// Client configures real-server mode in one network namespace. Outside
// Linux every call fails with ErrNotSupported.
type Client struct{}

func unsupported(op string) error {
	return newErr(op, ErrNotSupported, errors.New("real-server set-up is Linux-only, not available on "+runtime.GOOS))
}

// New fails outside Linux.
func New(cfg *Config) (*Client, error) { return nil, unsupported("open") }

// Close does nothing.
func (c *Client) Close() error { return nil }

// SetupDR fails outside Linux.
func (c *Client) SetupDR(ctx context.Context, d DR) (*Setup, error) {
	return nil, unsupported("set up DR")
}

// SetupTUN fails outside Linux.
func (c *Client) SetupTUN(ctx context.Context, t TUN) (*Setup, error) {
	return nil, unsupported("set up TUN")
}

// CheckDR fails outside Linux.
func (c *Client) CheckDR(ctx context.Context, d DR) (Findings, error) {
	return nil, unsupported("check DR")
}

// CheckTUN fails outside Linux.
func (c *Client) CheckTUN(ctx context.Context, t TUN) (Findings, error) {
	return nil, unsupported("check TUN")
}

// Recover fails outside Linux.
func (c *Client) Recover(ctx context.Context) error { return unsupported("recover") }
