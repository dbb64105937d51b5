package health_test

import (
	"crypto/rand"
	"net"
	"net/netip"
	"regexp"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/stretchr/testify/require"
)

// listen opens a loopback TCP listener serving each connection with f.
func listen(t *testing.T, f func(net.Conn)) netip.AddrPort {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	nstest.Serve(l, f)
	return netip.MustParseAddrPort(l.Addr().String())
}

// Misbehaving servers (slow, half-open, an endless body, garbage DNS) fail
// within their timeout, never hold up the other checks, and cost no more
// memory than the checks' bounds.
func TestMisbehavingServers(t *testing.T) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	hold := func(c net.Conn) { // half-open: accepts, never answers
		<-done
		c.Close()
	}
	var streamed atomic.Int64
	endless := func(c net.Conn) { // a valid header, then a body without end
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(time.Second))
		c.Read(make([]byte, 4096))
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"))
		b := make([]byte, 32<<10)
		for {
			n, err := c.Write(b)
			streamed.Add(int64(n))
			if err != nil {
				return
			}
		}
	}
	slow := func(c net.Conn) { // a byte of header a second
		defer c.Close()
		for _, b := range []byte("HTTP/1.1 200 OK\r\n\r\n") {
			select {
			case <-done:
				return
			case <-time.After(time.Second):
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	}
	good := listen(t, func(c net.Conn) {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(time.Second))
		c.Read(make([]byte, 4096))
		c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	})
	// Garbage DNS: every query gets random bytes back, many times.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	nstest.ServePackets(pc, 512, func(_ []byte, from net.Addr) {
		junk := make([]byte, 300)
		for i := 0; i < 20; i++ {
			rand.Read(junk)
			pc.WriteTo(junk, from)
		}
	})
	dnsAddr := netip.MustParseAddrPort(pc.LocalAddr().String())

	body := regexp.MustCompile("never")
	bad := map[string]health.Server{
		"half-open": {Destination: dest(2, 1), Connect: listen(t, hold), Checker: &health.HTTP{}},
		"endless":   {Destination: dest(3, 1), Connect: listen(t, endless), Checker: &health.HTTP{Body: body}},
		"slow":      {Destination: dest(4, 1), Connect: listen(t, slow), Checker: &health.HTTP{}},
		"dns":       {Destination: dest(5, 1), Connect: dnsAddr, Checker: &health.DNS{Name: "example.test"}},
	}
	servers := []health.Server{{Destination: dest(1, 1), Connect: good, Checker: &health.HTTP{Body: regexp.MustCompile("ok")}}}
	for _, s := range bad {
		servers = append(servers, s)
	}
	// Generous timing: the emulated VM is slow, and the good server must
	// not fail on its own.
	const interval, timeout = time.Second, time.Second
	f := newTable(svcKey)
	p := runPool(t, health.Config{IPVS: f, Service: svcKey, Servers: servers, Start: health.StartUp,
		Timing: health.Timing{Interval: interval, Timeout: timeout, Rise: 1, Fall: 3}})

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	waitFor(t, "every bad server down", time.Minute, func() bool {
		for _, s := range p.Snapshot().Servers[1:] {
			if s.Up || s.Checks < 3 {
				return false
			}
		}
		return true
	})
	time.Sleep(3 * interval)
	elapsed := time.Since(start)
	snap := p.Snapshot()
	goodState := snap.Servers[0]
	require.True(t, goodState.Up, "the good server stays up: %+v", goodState)
	// On its grid the good server is checked every interval; allow for a
	// loaded host, but a check held up by the others' would show as far
	// fewer.
	require.GreaterOrEqual(t, goodState.Checks, uint64(elapsed/interval/3), "the good server's checks went on")
	for _, s := range snap.Servers[1:] {
		require.ErrorIs(t, s.LastError, health.ErrCheckFailed)
		require.Less(t, s.LastDuration, timeout+time.Second, "a check of %v overran its timeout", s.Server)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	checks := snap.Servers[2].Checks + snap.Servers[3].Checks + snap.Servers[4].Checks + snap.Servers[1].Checks
	t.Logf("%d checks of bad servers; endless server wrote %d KiB in all; heap %d -> %d KiB",
		checks, streamed.Load()>>10, before.HeapAlloc>>10, after.HeapAlloc>>10)
	// The endless body is read up to MaxBody (64 KiB) per check, plus what
	// the sockets buffer.
	endlessChecks := int64(0)
	for _, s := range snap.Servers {
		if s.Server == ap(dest(3, 1)) {
			endlessChecks = int64(s.Checks)
		}
	}
	require.Less(t, streamed.Load(), (endlessChecks+1)*16<<20, "the endless body was not cut off")
	require.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(32<<20), "memory grew")
}
