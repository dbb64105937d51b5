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

// host stands in for the namespace's records, which need Linux.
type host struct{}

func (*host) Locked(f func() error) error { return f() }

func (c *Client) add(ctx context.Context, add []Rule) (*Setup, error) {
	return nil, newErr(ErrNotSupported, "add", "", fmt.Errorf("firewall marks need Linux netfilter, not available on %s", runtime.GOOS))
}

func (c *Client) recover(ctx context.Context) error {
	return newErr(ErrNotSupported, "recover", "", fmt.Errorf("firewall marks need Linux netfilter, not available on %s", runtime.GOOS))
}
