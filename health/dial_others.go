//go:build !linux

package health

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"runtime"
)

var errOS = errors.New("socket marks and network namespaces need Linux, not " + runtime.GOOS)

// DialContext connects to t.Addr over network ("tcp" or "udp"). Marks and
// namespaces need Linux.
func (t Target) DialContext(ctx context.Context, network string) (net.Conn, error) {
	if t.Mark != 0 || t.ns != nil {
		return nil, newErr("dial", t.Addr.String(), ErrNotSupported, errOS)
	}
	d := net.Dialer{}
	if t.Source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: t.Source.AsSlice()}
		if network == "udp" || network == "udp4" || network == "udp6" {
			d.LocalAddr = &net.UDPAddr{IP: t.Source.AsSlice()}
		}
	}
	return d.DialContext(ctx, network, t.Addr.String())
}

func startIn(fd int, cmd *exec.Cmd) error {
	if fd >= 0 {
		return newErr("check", cmd.Path, ErrNotSupported, errOS)
	}
	return cmd.Start()
}

func openNetNS(path string) (int, error) {
	if path == "" {
		return -1, nil
	}
	return -1, newErr("open network namespace", path, ErrNotSupported, errOS)
}

func closeNetNS(int) {}
