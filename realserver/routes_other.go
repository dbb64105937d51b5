//go:build !linux

package realserver

import (
	"context"
	"net/netip"
)

// CheckRoutes fails outside Linux.
func (c *Client) CheckRoutes(ctx context.Context, clients ...netip.Addr) (Findings, error) {
	return nil, unsupported("check routes")
}
