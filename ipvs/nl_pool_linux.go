//go:build linux

package ipvs

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// New opens a client for the IPVS table of the namespace cfg names (nil:
// the caller's). It fails with ErrUnavailable when the kernel has no IPVS.
func New(cfg *Config) (*Client, error) {
	t, err := newNLTransport(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{t: t}, nil
}

const (
	// recvBufSize holds the largest datagram the kernel sends: dumps are
	// packed into skbs of at most 32 KiB.
	recvBufSize = 64 << 10
	// maxBatchBytes bounds one sendmsg of a batch (see batchLimits).
	maxBatchBytes = 512 << 10
	sockBufSize   = 4 << 20
	// maxRequestEstimate is a generous size of one batched write (a
	// destination with its service's key takes about 160 bytes).
	maxRequestEstimate = 192
	// ackTruesize bounds what one error acknowledgement costs in the
	// receive buffer (a small skb: 768 bytes on x86-64 6.x).
	ackTruesize = 1024
	// poolSize bounds the idle sockets kept; busy ones are not limited.
	poolSize = 16
)

type nlTransport struct {
	family uint16
	nsfd   int // -1: the caller's namespace

	mu     sync.Mutex
	idle   []*nlConn
	live   map[*nlConn]struct{}
	closed bool
}

// nlConn is one netlink socket; only one request uses it at a time.
type nlConn struct {
	nc   *netlink.Conn
	rc   syscall.RawConn
	pid  uint32
	seq  uint32
	rbuf []byte
	wbuf []byte
	// exact makes each read exactly the next datagram's length.
	exact bool
	// The size of a batch's chunks (see batchLimits).
	batchBytes, batchReqs int
	// recvmmsg buffers, made on a socket's first dumpMany.
	mbufs [][]byte
	iovs  []unix.Iovec
	mhdrs []mmsghdr
}

func newNLTransport(cfg *Config) (*nlTransport, error) {
	t := &nlTransport{nsfd: -1, live: map[*nlConn]struct{}{}}
	if cfg != nil {
		switch {
		case cfg.NetNS != 0 && cfg.NetNSPath != "":
			e := newError("open", "network namespace", ErrInvalid, errors.New("NetNS and NetNSPath both set: give one"))
			e.Field = "NetNSPath"
			return nil, e
		case cfg.NetNS != 0:
			fd, err := unix.FcntlInt(uintptr(cfg.NetNS), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				e := newError("open", "network namespace", ErrInvalid, err)
				e.Field = "NetNS"
				return nil, e
			}
			t.nsfd = fd
		case cfg.NetNSPath != "":
			fd, err := unix.Open(cfg.NetNSPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				e := newError("open", "network namespace "+cfg.NetNSPath, ErrInvalid, err)
				e.Field = "NetNSPath"
				return nil, e
			}
			t.nsfd = fd
		}
	}
	c, err := t.dial()
	if err != nil {
		t.closeNS()
		return nil, kernelError("open", "netlink socket", opOther, err)
	}
	fam, err := c.lookupFamily()
	if err != nil {
		c.nc.Close()
		t.closeNS()
		if errors.Is(err, os.ErrNotExist) {
			return nil, newError("open", "generic netlink family IPVS", ErrUnavailable, errNoIPVS)
		}
		return nil, kernelError("open", "generic netlink family IPVS", opOther, err)
	}
	t.family = fam
	t.live[c] = struct{}{}
	t.idle = append(t.idle, c)
	return t, nil
}

func (t *nlTransport) closeNS() {
	if t.nsfd >= 0 {
		unix.Close(t.nsfd)
		t.nsfd = -1
	}
}

func (t *nlTransport) dial() (*nlConn, error) {
	cfg := &netlink.Config{}
	if t.nsfd >= 0 {
		cfg.NetNS = t.nsfd
	}
	nc, err := netlink.Dial(unix.NETLINK_GENERIC, cfg)
	if err != nil {
		return nil, err
	}
	rc, err := nc.SyscallConn()
	if err != nil {
		nc.Close()
		return nil, err
	}
	// Acknowledgements without the echoed request keep batches small in
	// the receive buffer; large buffers keep a burst of errors from
	// overflowing it (ENOBUFS). Each is best effort.
	_ = nc.SetOption(netlink.CapAcknowledge, true)
	c := &nlConn{nc: nc, rc: rc, pid: nc.PID(), rbuf: make([]byte, recvBufSize)}
	_ = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBufSize) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, sockBufSize)
		}
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBufSize) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, sockBufSize)
		}
		rcv, err1 := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, err2 := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
		if err1 == nil && err2 == nil {
			c.batchBytes, c.batchReqs = batchLimits(rcv, snd)
		}
	})
	if c.batchReqs == 0 {
		c.batchBytes, c.batchReqs = batchLimits(0, 0)
	}
	return c, nil
}

// lookupFamily asks the generic netlink controller for IPVS's family id,
// reading the answer with the full receive buffer. That read is also why
// every pooled socket does it once: the kernel sizes a dump's datagrams by
// the largest read a socket has made, so after it the services dump comes
// in 32 KiB datagrams, not pages. That matters beyond speed: the kernel
// resumes a services dump by position in one table shared by every
// namespace, so each extra datagram is a chance for another namespace's
// change to repeat or skip one of ours.
func (c *nlConn) lookupFamily() (uint16, error) {
	var w attrWriter
	w.str(unix.CTRL_ATTR_FAMILY_NAME, "IPVS")
	var id uint16
	err := c.roundTrip(unix.GENL_ID_CTRL, request{cmd: unix.CTRL_CMD_GETFAMILY, attrs: w.b}, func(_ uint8, b []byte) error {
		return attrs(b, func(typ uint16, v []byte) error {
			if typ == unix.CTRL_ATTR_FAMILY_ID && len(v) >= 2 {
				id = native.Uint16(v)
			}
			return nil
		})
	})
	if err == nil && id == 0 {
		err = errors.New("controller's answer has no family id")
	}
	return id, err
}

func (t *nlTransport) get() (*nlConn, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, errClosed
	}
	if n := len(t.idle); n > 0 {
		c := t.idle[n-1]
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		return c, nil
	}
	t.mu.Unlock()
	c, err := t.dial()
	if err != nil {
		return nil, err
	}
	if _, err := c.lookupFamily(); err != nil { // see lookupFamily
		c.nc.Close()
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.nc.Close()
		return nil, errClosed
	}
	t.live[c] = struct{}{}
	return c, nil
}

// put returns c to the pool unless err leaves its state unknown (a
// cancelled receive may leave replies queued): then it is closed, and the
// next call dials a fresh socket.
func (t *nlTransport) put(c *nlConn, err error) {
	var errno syscall.Errno
	healthy := err == nil || errors.As(err, &errno) && errno != unix.ENOBUFS
	t.mu.Lock()
	defer t.mu.Unlock()
	if !healthy || t.closed || len(t.idle) >= poolSize {
		delete(t.live, c)
		c.nc.Close()
		return
	}
	t.idle = append(t.idle, c)
}

func (t *nlTransport) close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	live := t.live
	t.live, t.idle = nil, nil
	t.closeNS()
	t.mu.Unlock()
	// Outside the lock: closing a socket whose dumps run under Control
	// waits for them, and they look at t.closed to stop (see stopped).
	for c := range live {
		c.nc.Close()
	}
	return nil
}

// why returns errClosed for an error that came of the client being
// closed meanwhile (a socket closed under a call), err otherwise.
func (t *nlTransport) why(err error) error {
	if err == nil || errors.Is(err, errClosed) {
		return err
	}
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return errClosed
	}
	return err
}

// guard runs f with ctx's deadline and cancellation applied to the socket,
// so a receive blocked in the kernel returns when ctx ends.
func (c *nlConn) guard(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ctx.Done() == nil {
		return f()
	}
	dl, hasDL := ctx.Deadline()
	if hasDL {
		if err := c.nc.SetDeadline(dl); err != nil {
			return err
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	err := f()
	if !stop() || ctx.Err() != nil {
		// The deadline fired or the context ended: report the context's
		// reason, and let put discard the socket.
		if cerr := ctx.Err(); cerr != nil && (err == nil || errors.Is(err, os.ErrDeadlineExceeded)) {
			return cerr
		}
		if err == nil {
			return ctx.Err()
		}
		return err
	}
	if hasDL && errors.Is(err, os.ErrDeadlineExceeded) {
		// The socket's timer for ctx's deadline fired before ctx's own:
		// the same event, reported the same way.
		return context.DeadlineExceeded
	}
	if hasDL {
		if derr := c.nc.SetDeadline(time.Time{}); derr != nil && err == nil {
			return derr
		}
	}
	return err
}
