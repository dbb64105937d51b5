//go:build !linux

package ipvs

import "runtime"

// New fails on every OS but Linux: IPVS is a Linux kernel subsystem.
func New(cfg *Config) (*Client, error) {
	return nil, newError("open", "IPVS on "+runtime.GOOS, ErrNotSupported, nil)
}
