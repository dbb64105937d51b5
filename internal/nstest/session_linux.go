package nstest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// EchoLines serves TCP on addr ("0.0.0.0:7000", "[::]:7000") inside the
// namespace until the test's cleanup, echoing every line back: the real
// server of the failover tests' long-lived sessions.
func (n *NS) EchoLines(t testing.TB, addr string) {
	t.Helper()
	ln, err := n.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	Serve(ln, func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := c.Write([]byte(l)); err != nil {
				return
			}
		}
	})
}

// Session is a long-lived TCP connection from a namespace to an
// EchoLines server: a line every 100 ms, each echo checked. A failover
// stalls it (TCP retransmits, each exchange may take up to 30 s); a reset
// ends it with the error.
type Session struct {
	Local string // the client's address:port
	mu    sync.Mutex
	n     int
	err   error
	stop  chan struct{}
	done  chan struct{}
}

// Session dials addr from the namespace (retrying for up to 30 s: a VIP
// may still be moving into place) and starts the exchange; it stops at the
// test's cleanup.
func (n *NS) Session(t testing.TB, addr string) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var c net.Conn
	var err error
	for ctx.Err() == nil {
		if c, err = n.DialContext(ctx, "tcp", addr); err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("nstest: session to %s: %v", addr, err)
	}
	s := &Session{Local: c.LocalAddr().String(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer c.Close()
		r := bufio.NewReader(c)
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			c.SetDeadline(time.Now().Add(30 * time.Second))
			msg := fmt.Sprintf("ping %d\n", i)
			_, err := c.Write([]byte(msg))
			var l string
			if err == nil {
				l, err = r.ReadString('\n')
			}
			if err == nil && l != msg {
				err = fmt.Errorf("echo %q, want %q", l, msg)
			}
			s.mu.Lock()
			if err != nil {
				s.err = err
			} else {
				s.n++
			}
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// Close ends the session.
func (s *Session) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// State returns the echoes so far and the error that ended the session.
func (s *Session) State() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.err
}

// Progress waits, at most d, until the session has had n more echoes; it
// fails the test if the session failed or was too slow.
func (s *Session) Progress(t testing.TB, n int, d time.Duration) {
	t.Helper()
	start, _ := s.State()
	deadline := time.Now().Add(d)
	for {
		got, err := s.State()
		if err != nil {
			t.Fatalf("nstest: the session %s failed after %d echoes: %v", s.Local, got, err)
		}
		if got >= start+n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nstest: the session %s made %d echoes in %v, want %d", s.Local, got-start, d, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitConn waits, at most d, until the namespace's IPVS connection table
// (ipvsadm -Lnc) lists an ESTABLISHED connection from client (an address,
// or address:port) to vip (address:port): the director has it, e.g.
// learnt from its peer's sync daemon.
func (n *NS) WaitConn(t testing.TB, client, vip string, d time.Duration) {
	t.Helper()
	pat := " " + client + " "
	if a, err := netip.ParseAddr(client); err == nil {
		pat = " " + netip.AddrPortFrom(a, 0).String()
		pat = pat[:len(pat)-1] // " 10.0.0.1:" or " [fd00::1]:"
	}
	deadline := time.Now().Add(d)
	for {
		out := n.Exec(t, "ipvsadm", "-Lnc")
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "ESTABLISHED") && strings.Contains(l, pat) && strings.Contains(l, " "+vip+" ") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nstest: %s's IPVS connections never showed %s -> %s ESTABLISHED within %v:\n%s", n.Name, client, vip, d, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
