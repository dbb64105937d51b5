//go:build !linux

package vrrp

import (
	"errors"
	"net/netip"
	"runtime"

	"github.com/golvs/lvs/internal/errs"
)

func open(cfg *Config) (conn, netip.Addr, error) {
	return nil, netip.Addr{}, errs.New(pkg, "open", ErrNotSupported, errors.New("VRRP needs Linux raw sockets, not available on "+runtime.GOOS))
}
