package nstest

import (
	"net"
	"net/netip"
	"sync"
	"testing"
)

// Open hands a client to a test: Open(director.New(cfg))(t) fails t when
// New failed and closes the client when the test ends. The one helper for
// every package's "a client of this namespace" in tests.
func Open[C interface{ Close() error }](c C, err error) func(t testing.TB) C {
	return func(t testing.TB) C {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// Addrs parses addresses written in a test; a malformed one panics.
func Addrs(s ...string) []netip.Addr { return parseAll(s, netip.MustParseAddr) }

// Prefixes parses prefixes written in a test; a malformed one panics.
func Prefixes(s ...string) []netip.Prefix { return parseAll(s, netip.MustParsePrefix) }

func parseAll[T any](s []string, parse func(string) T) []T {
	var out []T
	for _, x := range s {
		out = append(out, parse(x))
	}
	return out
}

// Serve accepts connections on ln until it is closed and hands each to f
// on a goroutine of its own: the loop of every scripted server in tests.
func Serve(ln net.Listener, f func(net.Conn)) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f(c)
		}
	}()
}

// CloseConn is Serve's f for a server that only accepts, which TCP
// checks find up.
func CloseConn(c net.Conn) { c.Close() }

// ServePackets reads datagrams of up to size bytes on pc until it is
// closed and hands each to f with its sender; f may answer with
// pc.WriteTo, and must not keep b, which is reused.
func ServePackets(pc net.PacketConn, size int, f func(b []byte, from net.Addr)) {
	go func() {
		b := make([]byte, size)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			f(b[:n], from)
		}
	}()
}

// Events collects what a callback (an OnEvent) reports while the code
// under test runs, for the test to read; the zero value is empty.
type Events[T any] struct {
	mu   sync.Mutex
	list []T
}

// Add records e; it is the callback.
func (l *Events[T]) Add(e T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, e)
}

// All returns a copy of what was recorded, oldest first.
func (l *Events[T]) All() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.list...)
}
