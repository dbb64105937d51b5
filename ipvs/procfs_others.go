//go:build !linux

package ipvs

import (
	"context"
	"runtime"
)

func notLinux(op string) error {
	return newError(op, "IPVS on "+runtime.GOOS, ErrNotSupported, nil)
}

// Connections is only supported on Linux.
func (c *Client) Connections(ctx context.Context) ([]Connection, error) {
	return nil, notLinux("read connections")
}

// GlobalStats is only supported on Linux.
func (c *Client) GlobalStats(ctx context.Context) (Stats, error) {
	return Stats{}, notLinux("read global stats")
}

// Sysctl is only supported on Linux.
func (c *Client) Sysctl(ctx context.Context, name Sysctl) (string, error) {
	return "", notLinux("read sysctl")
}

// SysctlInts is only supported on Linux.
func (c *Client) SysctlInts(ctx context.Context, name Sysctl) ([]int, error) {
	return nil, notLinux("read sysctl")
}

// Sysctls is only supported on Linux.
func (c *Client) Sysctls(ctx context.Context) (map[Sysctl]string, error) {
	return nil, notLinux("read sysctls")
}

// SetSysctl is only supported on Linux.
func (c *Client) SetSysctl(ctx context.Context, name Sysctl, value string) (*Setup, error) {
	return nil, notLinux("set sysctl")
}
