//go:build linux

package ipvs

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

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
	c, release, err := t.own()
	if err != nil {
		return err
	}
	defer release()
	var derr error
	err = c.rc.Control(func(fd uintptr) { derr = c.dumpAll(ctx, t, int(fd), reqs, fn) })
	if err != nil {
		return t.why(err)
	}
	return t.why(derr)
}

// own dials a socket of the caller's own, outside the pool, which Close
// still closes; release closes it and forgets it.
func (t *nlTransport) own() (c *nlConn, release func(), err error) {
	c, err = t.dial()
	if err != nil {
		return nil, nil, err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		c.nc.Close()
		return nil, nil, errClosed
	}
	t.live[c] = struct{}{}
	t.mu.Unlock()
	return c, func() {
		t.mu.Lock()
		if t.live != nil {
			delete(t.live, c)
		}
		t.mu.Unlock()
		c.nc.Close()
	}, nil
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

// dumpSized runs the dump req on a socket of its own whose reads, and so
// the datagrams the kernel sends it, are size bytes: the kernel allocates
// a dump's datagram after the largest read the socket has made (from
// NLMSG_GOODSIZE up to SKB_WITH_OVERHEAD(32 KiB)), and the datagram's
// first part is made when the request is sent, so one read of that size
// (an IPVS info request's answer) comes first. With goodSize, every read
// is exactly the datagram's length: the socket never asks for more than
// NLMSG_GOODSIZE.
func (t *nlTransport) dumpSized(ctx context.Context, req request, size int, fn func(uint8, []byte) error) error {
	c, release, err := t.own()
	if err != nil {
		return t.why(err)
	}
	defer release()
	if size == goodSize {
		c.exact = true
	} else {
		c.rbuf = make([]byte, size)
	}
	err = c.guard(ctx, func() error {
		if !c.exact {
			if err := c.roundTrip(t.family, request{cmd: cmdGetInfo}, func(uint8, []byte) error { return nil }); err != nil {
				return err
			}
		}
		return c.roundTrip(t.family, req, fn)
	})
	return t.why(err)
}
