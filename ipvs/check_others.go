//go:build !linux

package ipvs

import "context"

// Check is only supported on Linux.
func (c *Client) Check(ctx context.Context) (Findings, error) {
	return nil, notLinux("check")
}
