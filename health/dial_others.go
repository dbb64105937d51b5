//go:build !linux

package health

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"runtime"
	"time"
)

var errOS = errors.New("socket marks and network namespaces need Linux, not " + runtime.GOOS)

// DialContext connects to t.Addr over network ("tcp" or "udp"). Marks and
// namespaces need Linux.
func (t Target) DialContext(ctx context.Context, network string) (net.Conn, error) {
	if t.Mark != 0 || t.ns != nil {
		return nil, pkg.New("dial", t.Addr.String(), ErrNotSupported, errOS)
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

// runGroup runs cmd and kills it when ctx ends. Process groups and
// namespaces are Linux's here.
func runGroup(ctx context.Context, fd int, cmd *exec.Cmd, grace time.Duration) error {
	if fd >= 0 {
		return pkg.New("check", cmd.Path, ErrNotSupported, errOS)
	}
	cmd.WaitDelay = grace
	if err := cmd.Start(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer stop()
	return cmd.Wait()
}

func openNetNS(path string) (int, error) {
	if path == "" {
		return -1, nil
	}
	return -1, pkg.New("open network namespace", path, ErrNotSupported, errOS)
}

func closeNetNS(int) {}

func (t Target) openICMP() (*os.File, bool, error) {
	return nil, false, pkg.New("check", t.Addr.String(), ErrNotSupported, errOS)
}
