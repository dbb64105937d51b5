//go:build linux

package ipvs

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

func (t *nlTransport) do(ctx context.Context, req request, fn func(uint8, []byte) error) error {
	c, err := t.get()
	if err != nil {
		return err
	}
	err = c.guard(ctx, func() error { return c.roundTrip(t.family, req, fn) })
	t.put(c, err)
	return t.why(err)
}

func (c *nlConn) appendRequest(b []byte, family uint16, flags uint16, req request) ([]byte, uint32) {
	c.seq++
	w := attrWriter{b: b}
	start := w.msgBegin()
	w.b = append(w.b, req.attrs...) // attribute lengths are 4-aligned already
	w.msgEnd(start, family, flags, c.seq, c.pid, req.cmd)
	return w.b, c.seq
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
		buf := c.rbuf
		if c.exact {
			// The datagram's length first, without a read of any
			// size the kernel would remember (see dumpSized).
			n, _, _, _, rerr = unix.Recvmsg(int(fd), nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
			if rerr != nil {
				return rerr != unix.EAGAIN
			}
			buf = c.rbuf[:min(n, len(c.rbuf))]
		}
		n, _, rflags, _, rerr = unix.Recvmsg(int(fd), buf, nil, 0)
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
		if req.onDatagram != nil {
			req.onDatagram(len(b))
		}
		if err := splitMessages(b, r.take); err != nil {
			return err
		}
		if r.done {
			return r.result()
		}
		if r.cbErr != nil && errors.Is(r.cbErr, errStopDump) {
			// The rest is not wanted; the socket, with a dump still
			// running, is discarded (see put).
			return r.cbErr
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
