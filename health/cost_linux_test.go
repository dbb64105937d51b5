//go:build linux

package health_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
)

// BenchmarkTCPCheckCost runs a pool of 1000 TCP checks (keepalived's
// TCP_CHECK) against a loopback listener, each server its own address in
// 127.0.0.0/8, every second, and reports the process's CPU time and heap
// allocations per check: the cost healthbench compares with keepalived's
// checker in the VM. The listener's accepts are in the figures too.
func BenchmarkTCPCheckCost(b *testing.B) {
	const n, interval = 1000, time.Second
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	nstest.Serve(l, nstest.CloseConn)
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	servers := make([]health.Server, n)
	for i := range servers {
		a := netip.AddrFrom4([4]byte{127, 1, byte(i >> 8), byte(i)})
		servers[i] = health.Server{Destination: ipvs.Destination{Address: a, Port: port, Forward: ipvs.Masquerade, Weight: 1},
			Checker: health.TCP{}}
	}
	key := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.100"), Port: 80}
	p, err := health.New(health.Config{IPVS: newTable(key), Service: key, Servers: servers, Start: health.StartUp,
		Timing: health.Timing{Interval: interval, Timeout: interval, Rise: 1, Fall: 1, Warmup: interval}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(interval + interval/2) // warm up
	checks := func() (c uint64) {
		for _, s := range p.Snapshot().Servers {
			c += s.Checks
		}
		return c
	}
	var ms0, ms1 runtime.MemStats
	var ru0, ru1 syscall.Rusage
	c0 := checks()
	runtime.ReadMemStats(&ms0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	// b.N checks at n per interval.
	time.Sleep(time.Duration(max(b.N/n, 1)) * interval)
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	runtime.ReadMemStats(&ms1)
	c1 := checks()
	cancel()
	<-done
	failed := 0
	for _, s := range p.Snapshot().Servers {
		if s.LastError != nil {
			failed++
			b.Log(s.LastError)
		}
	}
	if failed > 0 {
		b.Fatalf("%d of %d servers failing: %v", failed, n, p.Snapshot().Servers[0].LastError)
	}
	k := float64(c1 - c0)
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) + syscall.TimevalToNsec(ru1.Stime) - syscall.TimevalToNsec(ru0.Utime) - syscall.TimevalToNsec(ru0.Stime))
	b.ReportMetric(float64(cpu.Microseconds())/k, "cpu-µs/check")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/k, "allocs/check")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/k, "B/check")
	b.ReportMetric(k, "checks")
}

// A pool's TCP checks run on its poller (one epoll for every connect in
// flight): a listening server is up; a closed port is down with the
// kernel's refusal; a server that never answers (its accept queue full, so
// SYNs are dropped) is down at the timeout. Each verdict comes within a
// few intervals and none is shared.
func TestTCPChecksOnThePoller(t *testing.T) {
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	nstest.Serve(open, nstest.CloseConn)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAt := netip.MustParseAddrPort(closed.Addr().String())
	closed.Close()
	// A listener with a backlog of 0 holds one connection (never
	// accepted): after it the kernel drops SYNs and a connect times out.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	fullAt := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sa.(*syscall.SockaddrInet4).Port))
	for range 2 { // fills the queue; a second one may be let in
		c, err := net.DialTimeout("tcp", fullAt.String(), 200*time.Millisecond)
		if err == nil {
			defer c.Close()
		}
	}
	srv := func(i int, to netip.AddrPort) health.Server {
		return health.Server{Destination: dest(i, 1), Connect: to, Checker: health.TCP{}}
	}
	f := newTable(svcKey)
	p := runPool(t, health.Config{IPVS: f, Service: svcKey, Start: health.StartUp,
		Servers: []health.Server{srv(1, netip.MustParseAddrPort(open.Addr().String())), srv(2, closedAt), srv(3, fullAt)},
		Timing:  health.Timing{Interval: 300 * time.Millisecond, Timeout: 200 * time.Millisecond, Rise: 1, Fall: 1}})
	waitFor(t, "two checks of every server", 10*time.Second, func() bool {
		for _, s := range p.Snapshot().Servers {
			if s.Checks < 2 {
				return false
			}
		}
		return true
	})
	st := p.Snapshot().Servers
	if !st[0].Up || st[0].LastError != nil {
		t.Errorf("listening server: up %v, error %v", st[0].Up, st[0].LastError)
	}
	if st[1].Up || !errors.Is(st[1].LastError, syscall.ECONNREFUSED) || !errors.Is(st[1].LastError, health.ErrCheckFailed) {
		t.Errorf("closed port: up %v, error %v; want down, connection refused", st[1].Up, st[1].LastError)
	}
	if st[2].Up || !errors.Is(st[2].LastError, context.DeadlineExceeded) || st[2].LastDuration < 200*time.Millisecond {
		t.Errorf("silent server: up %v, error %v after %v; want down at the 200ms timeout", st[2].Up, st[2].LastError, st[2].LastDuration)
	}
	if w, _ := f.weight(svcKey, ap(dest(1, 1))); w != 1 {
		t.Errorf("listening server's weight %d, want 1", w)
	}
}
