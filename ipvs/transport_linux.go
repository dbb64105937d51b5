//go:build linux

package ipvs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

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

// batchLimits sizes the chunks of a batch after the socket's buffers (as
// the kernel reports them): a chunk's failures must all fit in the receive
// buffer, or the kernel drops some and the batch ends in ENOBUFS, so a
// chunk holds at most half the receive buffer's worth of error
// acknowledgements; and it takes at most half the send buffer (beyond it,
// EMSGSIZE). Where the kernel grants the 4 MiB asked for (SO_*BUFFORCE
// needs CAP_NET_ADMIN in the initial user namespace), that is 4096
// requests; in a container's user namespace, with the default rmem_max,
// about 200. Fewer, larger chunks mean fewer system calls: the kernel takes
// its generic netlink lock per message, not per chunk. Unknown buffers
// (0) get the defaults' limits.
func batchLimits(rcvbuf, sndbuf int) (bytes, reqs int) {
	if rcvbuf <= 0 || sndbuf <= 0 {
		rcvbuf, sndbuf = 425984, 425984 // twice the default rmem_max and wmem_max
	}
	return min(maxBatchBytes, sndbuf/2), max(rcvbuf/(2*ackTruesize), 1)
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

func (t *nlTransport) do(ctx context.Context, req request, fn func(uint8, []byte) error) error {
	c, err := t.get()
	if err != nil {
		return err
	}
	err = c.guard(ctx, func() error { return c.roundTrip(t.family, req, fn) })
	t.put(c, err)
	return t.why(err)
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

func (t *nlTransport) batch(ctx context.Context, reqs []request) ([]error, error) {
	errs := make([]error, len(reqs))
	err := t.batchEncode(ctx, len(reqs), func(i int, w *attrWriter) uint8 {
		w.b = append(w.b, reqs[i].attrs...)
		return reqs[i].cmd
	}, func(i int, err error) {
		if errs[i] == nil {
			errs[i] = err
		}
	})
	return errs, err
}

// batchEncode sends a batch of n requests, encoding each straight into the
// socket's send buffer; fail gets the index and error of each request
// that failed, possibly twice (the first error counts).
func (t *nlTransport) batchEncode(ctx context.Context, n int, enc encodeFunc, fail func(i int, err error)) error {
	if n == 0 {
		return nil
	}
	c, err := t.get()
	if err != nil {
		for i := 0; i < n; i++ {
			fail(i, err)
		}
		return err
	}
	sent := 0 // requests before it have their fate known
	err = c.guard(ctx, func() error { return c.sendBatch(t.family, n, enc, fail, &sent) })
	t.put(c, err)
	if err = t.why(err); err != nil {
		for i := sent; i < n; i++ {
			fail(i, &fateUnknown{err})
		}
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

func (c *nlConn) appendRequest(b []byte, family uint16, flags uint16, req request) ([]byte, uint32) {
	c.seq++
	b = native.AppendUint32(b, uint32(nlmsgHdrLen+genlHdrLen+len(req.attrs)))
	b = native.AppendUint16(b, family)
	b = native.AppendUint16(b, flags)
	b = native.AppendUint32(b, c.seq)
	b = native.AppendUint32(b, c.pid)
	b = append(b, req.cmd, 1, 0, 0) // genlmsghdr: cmd, version 1
	b = append(b, req.attrs...)     // attribute lengths are 4-aligned already
	return b, c.seq
}

func (c *nlConn) send(b []byte) error {
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

// recv reads one datagram into c.rbuf: one read, no peek.
func (c *nlConn) recv() ([]byte, error) {
	var (
		n, rflags int
		rerr      error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		n, _, rflags, _, rerr = unix.Recvmsg(int(fd), c.rbuf, nil, 0)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, rerr
	}
	if rflags&unix.MSG_TRUNC != 0 {
		return nil, fmt.Errorf("netlink reply larger than %d bytes", len(c.rbuf))
	}
	return c.rbuf[:n], nil
}

// queued reports, without blocking, whether a datagram waits on the socket.
func (c *nlConn) queued() (bool, error) {
	var (
		b    [1]byte
		rerr error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		_, _, _, _, rerr = unix.Recvmsg(int(fd), b[:], nil, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true
	})
	switch {
	case err != nil:
		return false, err
	case rerr == unix.EAGAIN:
		return false, nil
	}
	return rerr == nil, rerr
}

// nlmsg is one parsed netlink message header and its body.
type nlmsg struct {
	typ   uint16
	flags uint16
	seq   uint32
	body  []byte
}

// splitMessages calls fn for each message of a datagram.
func splitMessages(b []byte, fn func(m nlmsg) error) error {
	for len(b) >= nlmsgHdrLen {
		l := int(native.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return fmt.Errorf("malformed netlink message: length %d of %d bytes", l, len(b))
		}
		m := nlmsg{typ: native.Uint16(b[4:]), flags: native.Uint16(b[6:]), seq: native.Uint32(b[8:]), body: b[nlmsgHdrLen:l]}
		if err := fn(m); err != nil {
			return err
		}
		l = (l + 3) &^ 3
		if l > len(b) {
			l = len(b)
		}
		b = b[l:]
	}
	return nil
}

func errnoOf(body []byte) (syscall.Errno, error) {
	if len(body) < 4 {
		return 0, errors.New("truncated netlink error message")
	}
	code := int32(native.Uint32(body))
	if code > 0 {
		return 0, fmt.Errorf("netlink error message with positive code %d", code)
	}
	return syscall.Errno(-code), nil
}

// roundTrip sends one request and reads every reply to it. A do request
// asks for an acknowledgement, which ends it; a dump ends with DONE.
func (c *nlConn) roundTrip(family uint16, req request, fn func(uint8, []byte) error) error {
	flags := uint16(unix.NLM_F_REQUEST)
	if req.dump {
		flags |= unix.NLM_F_DUMP
	} else {
		flags |= unix.NLM_F_ACK
	}
	var seq uint32
	c.wbuf, seq = c.appendRequest(c.wbuf[:0], family, flags, req)
	if err := c.send(c.wbuf); err != nil {
		return err
	}
	if !req.dump {
		// The kernel carries out a do request inside sendto, so its
		// answer is queued by now. Nothing queued means it answers
		// nothing: waiting would hang until ctx ends.
		if ok, err := c.queued(); err != nil {
			return err
		} else if !ok {
			return errNoReply
		}
	}
	r := replies{seq: seq, family: family, fn: fn}
	for {
		b, err := c.recv()
		if err != nil {
			return err
		}
		if req.datagrams != nil {
			*req.datagrams++
		}
		if err := splitMessages(b, r.take); err != nil {
			return err
		}
		if r.done {
			return r.result()
		}
	}
}

// replies follows the replies to one request: the callback's messages,
// then the DONE or the error that ends them.
type replies struct {
	seq         uint32
	family      uint16
	fn          func(uint8, []byte) error
	done        bool
	kerr, cbErr error
}

func (r *replies) take(m nlmsg) error {
	if m.seq != r.seq || r.done {
		return nil // a stale reply to an earlier request
	}
	switch m.typ {
	case unix.NLMSG_NOOP:
	case unix.NLMSG_ERROR, unix.NLMSG_DONE:
		r.done = true
		if m.typ == unix.NLMSG_DONE && len(m.body) < 4 {
			return nil
		}
		errno, err := errnoOf(m.body)
		if err != nil {
			return err
		}
		if errno != 0 {
			r.kerr = errno
		}
	case r.family:
		if len(m.body) < genlHdrLen {
			return errors.New("truncated generic netlink header")
		}
		if r.cbErr == nil {
			r.cbErr = r.fn(m.body[0], m.body[genlHdrLen:])
		}
	}
	return nil
}

func (r *replies) result() error {
	if r.kerr != nil {
		return r.kerr
	}
	return r.cbErr
}

// sendBatch sends the requests in chunks (see batchLimits). Only the
// last request of a chunk asks for an acknowledgement: the kernel handles a
// datagram's messages in order and reports every failure anyway, so one
// acknowledgement closes the whole chunk and failures come back by
// sequence number, each to its request.
// The requests from *start on have an unknown fate if it fails.
func (c *nlConn) sendBatch(family uint16, n int, enc encodeFunc, fail func(int, error), start *int) error {
	// The buffer for the largest chunk, made once rather than grown by
	// doubling (a batch of a few requests gets a buffer of about its size).
	if need := min(n*maxRequestEstimate, c.batchBytes) + 4096; cap(c.wbuf) < need {
		c.wbuf = make([]byte, 0, need)
	}
	for *start < n {
		first := c.seq + 1
		b, end := frameBatch(c.wbuf[:0], family, c.pid, first, *start, min(n, *start+c.batchReqs), c.batchBytes, enc)
		c.wbuf = b
		c.seq += uint32(end - *start)
		last := c.seq
		if err := c.send(b); err != nil {
			return err
		}
		for acked := false; !acked; {
			d, err := c.recv()
			if err != nil {
				return err
			}
			err = splitMessages(d, func(m nlmsg) error {
				if m.typ != unix.NLMSG_ERROR || m.seq-first > last-first {
					return nil
				}
				errno, err := errnoOf(m.body)
				if err != nil {
					return err
				}
				if errno != 0 {
					fail(*start+int(m.seq-first), errno)
				}
				if m.seq == last {
					acked = true
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		*start = end
	}
	return nil
}

// dumpMany runs many dumps, as a snapshot needs one per service, on one
// socket. The kernel allows one dump in flight per socket (a second one in
// the same datagram gets EBUSY), so each dump is sent alone; its reply and
// its DONE are then read with one recvmmsg, as the kernel queues DONE while
// the reply is being read: two system calls per dump instead of three.
// Spreading dumps over several sockets does not help: IPVS is not a
// parallel generic netlink family, so the kernel serialises every dump on
// genl_mutex, and the waiters' spinning costs more than it saves.
//
// The dumps use a socket of their own, read with buffers of a page at
// most (see dumpBufSize): the kernel sizes each dump datagram after the
// largest read buffer the socket has seen, and a 32 KiB datagram (what the
// pooled sockets' 64 KiB buffers ask for) is a high-order page allocation
// per reply and per DONE, where a small one comes from the slab caches.
//
// The system calls are made directly on the descriptor, which Control
// keeps open meanwhile, not through the runtime's poller: the kernel runs
// a dump's first part inside the send, so its reply is already queued and
// no call waits, and the poller's bookkeeping around each of the two calls
// per service is saved.
func (t *nlTransport) dumpMany(ctx context.Context, reqs []request, fn func(i int, b []byte) error) error {
	c, err := t.dial()
	if err != nil {
		return err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		c.nc.Close()
		return errClosed
	}
	t.live[c] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.live != nil {
			delete(t.live, c)
		}
		t.mu.Unlock()
		c.nc.Close()
	}()
	var derr error
	err = c.rc.Control(func(fd uintptr) { derr = c.dumpAll(ctx, t, int(fd), reqs, fn) })
	if err != nil {
		return t.why(err)
	}
	return t.why(derr)
}

// dumpBufSize is the size of the buffers dumpAll reads into, and so of the
// datagrams the kernel sends it. The kernel allocates a dump's datagram
// with room for max(NLMSG_GOODSIZE, the largest read so far) and sends at
// most that much; NLMSG_GOODSIZE is a page less the skb_shared_info the
// allocation ends with. Reading with exactly that makes every datagram one
// page from the kmalloc-4k slab; a page-sized read would take 4 KiB plus
// that trailer from kmalloc-8k. On a 64-bit kernel with 4 KiB pages the
// trailer takes 320 bytes or more (17 or more 16-byte fragments and their
// header, in 64-byte lines), so 3776 bytes is never below NLMSG_GOODSIZE
// and a datagram never truncated; where it would be more, the kernel sizes
// the datagrams after our reads instead. Anywhere else: a page.
func dumpBufSize() int {
	page := os.Getpagesize()
	if page == 4096 && unsafe.Sizeof(uintptr(0)) == 8 {
		return page - 320
	}
	return min(page, recvBufSize)
}

// dumpSlots is how many datagrams one recvmmsg takes: a reply and its
// DONE, and room for a reply split in two.
const dumpSlots = 4

// mmsghdr is struct mmsghdr; Go pads it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// dumpAll runs the dumps of reqs on fd, each sent alone and read with
// recvmmsg, several datagrams per call.
func (c *nlConn) dumpAll(ctx context.Context, t *nlTransport, fd int, reqs []request, fn func(i int, b []byte) error) error {
	if c.mbufs == nil {
		size := dumpBufSize()
		c.mbufs = make([][]byte, dumpSlots)
		c.iovs = make([]unix.Iovec, dumpSlots)
		c.mhdrs = make([]mmsghdr, dumpSlots)
		for i := range c.mbufs {
			c.mbufs[i] = make([]byte, size)
			c.iovs[i].Base = &c.mbufs[i][0]
			c.iovs[i].SetLen(size)
			c.mhdrs[i].hdr.Iov = &c.iovs[i]
			c.mhdrs[i].hdr.SetIovlen(1)
		}
	}
	cur := 0
	r := replies{family: t.family, fn: func(_ uint8, b []byte) error { return fn(cur, b) }}
	take := r.take
	for i := range reqs {
		if i%64 == 0 {
			if err := t.stopped(ctx); err != nil {
				return err
			}
		}
		cur = i
		c.wbuf, r.seq = c.appendRequest(c.wbuf[:0], t.family, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, reqs[i])
		r.done, r.kerr, r.cbErr = false, nil, nil
		if err := retryEINTR(func() error { _, err := unix.Write(fd, c.wbuf); return err }); err != nil {
			return err
		}
		for !r.done {
			n, err := c.recvMany(fd)
			if err == unix.EAGAIN {
				err = t.waitReadable(ctx, fd)
				n = 0
			}
			if err != nil {
				return err
			}
			for k := 0; k < n; k++ {
				if c.mhdrs[k].hdr.Flags&unix.MSG_TRUNC != 0 {
					return fmt.Errorf("netlink reply larger than %d bytes", len(c.mbufs[k]))
				}
				if err := splitMessages(c.mbufs[k][:c.mhdrs[k].n], take); err != nil {
					return err
				}
			}
		}
		if err := r.result(); err != nil {
			return err
		}
	}
	return nil
}

// recvMany takes the datagrams queued on fd, up to len(c.mhdrs), with one
// recvmmsg that does not wait (EAGAIN if none is queued).
func (c *nlConn) recvMany(fd int) (int, error) {
	for i := range c.mhdrs {
		c.mhdrs[i].n = 0
		c.mhdrs[i].hdr.Flags = 0
	}
	var n uintptr
	err := retryEINTR(func() error {
		var errno syscall.Errno
		n, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&c.mhdrs[0])), uintptr(len(c.mhdrs)), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			return errno
		}
		return nil
	})
	return int(n), err
}

// stopped says why dumps held outside the runtime's poller must stop:
// ctx ended or the client was closed (neither can interrupt them
// otherwise).
func (t *nlTransport) stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errClosed
	}
	return nil
}

// waitReadable waits, in slices of 10 ms, until fd has a datagram, ctx
// ends or the client is closed.
func (t *nlTransport) waitReadable(ctx context.Context, fd int) error {
	for {
		if err := t.stopped(ctx); err != nil {
			return err
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 10)
		switch {
		case err == unix.EINTR || n == 0:
		case err != nil:
			return err
		default:
			return nil
		}
	}
}

// retryEINTR calls f again while a signal interrupts it (the runtime's
// preemption signals land on any thread).
func retryEINTR(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}
