//go:build linux

package ipvs

import (
	"context"

	"golang.org/x/sys/unix"
)

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
