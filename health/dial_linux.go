//go:build linux

package health

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/golvs/lvs/internal/netns"
	"golang.org/x/sys/unix"
)

// DialContext connects to t.Addr over network ("tcp" or "udp") from the
// pool's network namespace, with t.Mark set on the socket.
func (t Target) DialContext(ctx context.Context, network string) (net.Conn, error) {
	if t.ns == nil {
		d := net.Dialer{FallbackDelay: -1}
		if t.Source.IsValid() {
			if typ(network) == unix.SOCK_DGRAM {
				d.LocalAddr = &net.UDPAddr{IP: t.Source.AsSlice()}
			} else {
				d.LocalAddr = &net.TCPAddr{IP: t.Source.AsSlice()}
			}
		}
		if t.Mark != 0 {
			d.Control = func(_, _ string, c syscall.RawConn) error { return setMark(c, t.Mark) }
		}
		return d.DialContext(ctx, network, t.Addr.String())
	}
	return t.dialIn(ctx, network)
}

func typ(network string) int {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return unix.SOCK_STREAM
	case "udp", "udp4", "udp6":
		return unix.SOCK_DGRAM
	}
	return -1
}

func sockaddr(a netip.AddrPort) (int, unix.Sockaddr) {
	if a.Addr().Is4() {
		return unix.AF_INET, &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return unix.AF_INET6, &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

func setMark(c syscall.RawConn, mark uint32) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
	}); err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("setsockopt SO_MARK", serr)
	}
	return nil
}

// dialIn creates the socket inside the namespace, which only takes a
// moment on a locked thread, and connects outside it through the runtime's
// poller: a thread is not held per connection in progress.
func (t Target) dialIn(ctx context.Context, network string) (net.Conn, error) {
	typ := typ(network)
	if typ < 0 {
		return nil, pkg.New("dial", network, ErrInvalid, errors.New("unsupported network"))
	}
	s, pending, err := t.connect(typ)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(s), "health-check") // owns s from here on
	defer f.Close()
	if pending {
		if err := waitConnected(ctx, f); err != nil {
			return nil, dialError(t, network, err)
		}
	}
	return net.FileConn(f) // a duplicate; f's own descriptor is closed above
}

func dialError(t Target, network string, err error) error {
	return &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(t.Addr), Err: err}
}

// connect opens a non-blocking socket of type typ in t's namespace, with
// t's mark and source, and starts connecting it to t.Addr; pending says
// the connection is still in progress (a TCP handshake). On error the
// socket is closed.
func (t Target) connect(typ int) (s int, pending bool, err error) {
	family, sa := sockaddr(netip.AddrPortFrom(t.Addr.Addr().Unmap(), t.Addr.Port()))
	open := func() (err error) {
		s, err = unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	}
	if t.ns == nil {
		err = open()
	} else {
		err = netns.Do(t.ns.fd, open)
	}
	if err != nil {
		return -1, false, os.NewSyscallError("socket", err)
	}
	if t.Mark != 0 {
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_MARK, int(t.Mark)); err != nil {
			unix.Close(s)
			return -1, false, os.NewSyscallError("setsockopt SO_MARK", err)
		}
	}
	if t.Source.IsValid() {
		_, local := sockaddr(netip.AddrPortFrom(t.Source.Unmap(), 0))
		if err := unix.Bind(s, local); err != nil {
			unix.Close(s)
			return -1, false, os.NewSyscallError("bind", err)
		}
	}
	switch err := unix.Connect(s, sa); err {
	case nil:
		return s, false, nil
	case unix.EINPROGRESS:
		return s, true, nil
	default:
		unix.Close(s)
		network := "tcp"
		if typ == unix.SOCK_DGRAM {
			network = "udp"
		}
		return -1, false, dialError(t, network, os.NewSyscallError("connect", err))
	}
}

// waitConnected waits for a non-blocking connect to finish.
func waitConnected(ctx context.Context, f *os.File) error {
	if dl, ok := ctx.Deadline(); ok {
		f.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var soerr error
	werr := rc.Write(func(fd uintptr) bool {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			soerr = err
		case v == int(unix.EINPROGRESS) || v == int(unix.EALREADY):
			return false
		case v != 0:
			soerr = os.NewSyscallError("connect", unix.Errno(v))
		}
		return true
	})
	if werr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return werr
	}
	return soerr
}

// runGroup runs cmd inside the namespace (the child inherits the network
// namespace of the thread that forks it) as the leader of a process group
// of its own, and kills the whole group when ctx ends and when the leader
// exits: a check that forks (sh -c "daemon &") leaves nothing behind.
// Output pipes that a descendant which left the group still holds end
// grace after that.
func runGroup(ctx context.Context, fd int, cmd *exec.Cmd, grace time.Duration) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = grace
	if err := netns.Do(fd, cmd.Start); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		// WNOWAIT: the leader stays a zombie, unreaped, so its group id
		// cannot be reused before the group is killed below.
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
		}
	}()
	select {
	case <-exited:
	case <-ctx.Done():
		unix.Kill(-pid, unix.SIGKILL)
		<-exited
	}
	unix.Kill(-pid, unix.SIGKILL) // whatever the leader left behind
	return cmd.Wait()
}

func openNetNS(path string) (int, error) {
	if path == "" {
		return -1, nil
	}
	return netns.Open(path)
}

func closeNetNS(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// openICMP opens an ICMP (or ICMPv6) socket to t.Addr's address in the
// pool's namespace, with t's mark and source: an unprivileged ping socket
// where net.ipv4.ping_group_range admits the caller's group, a raw socket
// otherwise (which needs CAP_NET_RAW). raw says which.
func (t Target) openICMP() (f *os.File, raw bool, err error) {
	a := t.Addr.Addr().Unmap()
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if a.Is6() {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	var s int
	err = netns.Do(t.ns.fdOr(), func() (err error) {
		s, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		if err == unix.EACCES || err == unix.EPERM || err == unix.EPROTONOSUPPORT {
			raw = true
			s, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		}
		return err
	})
	if err != nil {
		return nil, false, os.NewSyscallError("socket", err)
	}
	fail := func(op string, err error) (*os.File, bool, error) {
		unix.Close(s)
		return nil, false, os.NewSyscallError(op, err)
	}
	if t.Mark != 0 {
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_MARK, int(t.Mark)); err != nil {
			return fail("setsockopt SO_MARK", err)
		}
	}
	if t.Source.IsValid() {
		_, local := sockaddr(netip.AddrPortFrom(t.Source.Unmap(), 0))
		if err := unix.Bind(s, local); err != nil {
			return fail("bind", err)
		}
	}
	_, sa := sockaddr(netip.AddrPortFrom(a, 0))
	if err := unix.Connect(s, sa); err != nil {
		return fail("connect", err)
	}
	return os.NewFile(uintptr(s), "icmp-check"), raw, nil
}
