//go:build linux

package health

import (
	"context"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// tcpPoller runs a pool's TCP connect checks (TCP, without retries) the
// way keepalived's TCP_CHECK does: a non-blocking connect whose outcome
// one epoll instance reports, for every check in flight, to one goroutine,
// and a close with a reset. A check costs a socket, a connect, an
// epoll_ctl, a getsockopt and a close: no goroutine, timer, context or
// net.Conn of its own, which is most of what a net.Dialer costs.
type tcpPoller struct {
	epfd, evfd int // the epoll instance; an eventfd that wakes it
	results    chan<- []result
	quit       chan struct{}

	mu        sync.Mutex
	inflight  map[int32]*tcpCheck // by socket
	deadlines minHeap[*tcpCheck]  // checks by deadline; finished ones stay until theirs
	waitUntil time.Time           // the poller's wait ends then (zero: not before an event)
	seq       uint32
	closed    bool // stopped: no more checks, no more results
	fdsClosed bool // epfd and evfd are closed: their numbers may be another's
}

// tcpCheck is one connect in flight.
type tcpCheck struct {
	fd                   int32
	seq                  uint32 // tells a socket's uses apart
	pr                   *probe
	due, start, deadline time.Time
	done                 bool
}

func (c *tcpCheck) before(o *tcpCheck) bool { return c.deadline.Before(o.deadline) }

// fastTCP reports whether pr's checks can run on the poller.
func fastTCP(pr *probe) bool {
	switch pr.checker.(type) {
	case TCP, *TCP:
		return pr.timing.Retries == 0
	}
	return false
}

// newTCPPoller starts a poller that sends its results, those of one
// round of epoll at a time, to results until
// stop or the end of ctx; wg counts its goroutine.
func newTCPPoller(ctx context.Context, results chan<- []result, wg *sync.WaitGroup) (*tcpPoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	pl := &tcpPoller{epfd: epfd, evfd: evfd, results: results, quit: make(chan struct{}), inflight: map[int32]*tcpCheck{}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		pl.run(ctx)
	}()
	return pl, nil
}

// start starts one check of pr. A check decided at once (a refused
// connect to a local address, an error) returns its result with ok true,
// for the caller to handle: the poller's results are for later ones.
func (pl *tcpPoller) start(pr *probe, due time.Time) (r result, ok bool) {
	now := time.Now()
	r = result{probe: pr, due: due, start: now}
	fd, pending, err := pr.target.connect(unix.SOCK_STREAM)
	if pl.isClosed() {
		// Stopping: the check is abandoned, as one in flight is.
		if err == nil {
			unix.Close(fd)
		}
		return result{}, false
	}
	if err != nil || !pending {
		if err == nil {
			closeReset(fd)
		}
		r.err, r.dur = failed(err), time.Since(now)
		return r, true
	}
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		unix.Close(fd)
		return result{}, false
	}
	pl.seq++
	c := &tcpCheck{fd: int32(fd), seq: pl.seq, pr: pr, due: due, start: now, deadline: now.Add(pr.timing.Timeout)}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: c.fd, Pad: int32(c.seq)}
	if err := unix.EpollCtl(pl.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		pl.mu.Unlock()
		unix.Close(fd)
		r.err, r.dur = failed(os.NewSyscallError("epoll_ctl", err)), time.Since(now)
		return r, true
	}
	pl.inflight[c.fd] = c
	pl.deadlines.push(c)
	wake := pl.waitUntil.IsZero() || c.deadline.Before(pl.waitUntil)
	pl.mu.Unlock()
	if wake {
		pl.wake()
	}
	return result{}, false
}

func (pl *tcpPoller) isClosed() bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.closed
}

func (pl *tcpPoller) wake() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if !pl.fdsClosed {
		one := [8]byte{1}
		unix.Write(pl.evfd, one[:])
	}
}

// stop ends the poller: checks in flight are abandoned (their sockets
// closed) and no more results are sent. Once its goroutine has ended
// (the pool's WaitGroup), close releases the epoll instance: not before,
// so that no check ever uses a closed descriptor's number.
func (pl *tcpPoller) stop() {
	pl.mu.Lock()
	pl.closed = true
	pl.mu.Unlock()
	close(pl.quit)
	pl.wake()
}

func (pl *tcpPoller) close() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.fdsClosed = true
	unix.Close(pl.epfd)
	unix.Close(pl.evfd)
}

// finished is a check decided by the poller, timedOut if by its deadline.
type finished struct {
	c        *tcpCheck
	timedOut bool
	events   uint32 // epoll's (poll's bits are the same)
	at       time.Time
}

func (pl *tcpPoller) run(ctx context.Context) {
	var fin []finished
	defer func() {
		pl.mu.Lock()
		pl.closed = true
		for fd := range pl.inflight {
			unix.Close(int(fd))
		}
		pl.inflight = nil
		pl.mu.Unlock()
	}()
	stopped := context.AfterFunc(ctx, pl.wake)
	defer stopped()
	events := make([]unix.EpollEvent, 1024)
	var buf [8]byte
	for {
		pl.mu.Lock()
		if pl.closed || ctx.Err() != nil {
			pl.mu.Unlock()
			return
		}
		msec := -1
		pl.waitUntil = time.Time{}
		if pl.deadlines.len() > 0 {
			pl.waitUntil = pl.deadlines.peek().deadline
			msec = max(int((time.Until(pl.waitUntil)+time.Millisecond-1)/time.Millisecond), 0)
		}
		pl.mu.Unlock()
		n, err := unix.EpollWait(pl.epfd, events, msec)
		if err != nil && err != unix.EINTR {
			// Cannot wait: what is in flight times out below, after a
			// pause that keeps this from spinning.
			time.Sleep(10 * time.Millisecond)
		}
		now := time.Now()
		fin = fin[:0]
		pl.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == pl.evfd {
				unix.Read(pl.evfd, buf[:])
				continue
			}
			c := pl.inflight[ev.Fd]
			if c == nil || c.seq != uint32(ev.Pad) {
				continue
			}
			delete(pl.inflight, ev.Fd)
			c.done = true
			fin = append(fin, finished{c: c, events: ev.Events, at: now})
		}
		for pl.deadlines.len() > 0 && !pl.deadlines.peek().deadline.After(now) {
			c := pl.deadlines.pop()
			if c.done {
				continue
			}
			delete(pl.inflight, c.fd)
			c.done = true
			// Connected in time, though its event is not read yet (a
			// busy round): not a timeout.
			fds := []unix.PollFd{{Fd: c.fd, Events: unix.POLLOUT}}
			n, _ := unix.Poll(fds, 0)
			fin = append(fin, finished{c: c, timedOut: n != 1, events: uint32(fds[0].Revents), at: now})
		}
		pl.mu.Unlock()
		if len(fin) == 0 {
			continue
		}
		rs := make([]result, len(fin))
		for i, f := range fin {
			rs[i] = f.c.result(f)
			f.c.pr = nil // the heap may hold c until its deadline
		}
		select {
		case pl.results <- rs:
		case <-pl.quit:
			return
		case <-ctx.Done():
			return
		}
	}
}

// result reads the outcome of c's connect and closes its socket.
// Writable without an error or hang-up: connected, nothing to ask.
func (c *tcpCheck) result(f finished) result {
	r := result{probe: c.pr, due: c.due, start: c.start, dur: f.at.Sub(c.start)}
	fd := int(c.fd)
	t := c.pr.target
	switch {
	case f.timedOut:
		r.err = failed(dialError(t, "tcp", context.DeadlineExceeded))
	case f.events&(unix.EPOLLERR|unix.EPOLLHUP) == 0 && f.events&unix.EPOLLOUT != 0:
	default:
		switch v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); {
		case err != nil:
			r.err = failed(dialError(t, "tcp", os.NewSyscallError("getsockopt", err)))
		case v != 0:
			r.err = failed(dialError(t, "tcp", os.NewSyscallError("connect", unix.Errno(v))))
		}
	}
	closeReset(fd)
	return r
}

// closeReset closes a socket with a reset rather than a FIN: the check
// leaves no TIME_WAIT socket behind, as many checks a second would.
func closeReset(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(fd)
}
