package health_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/stretchr/testify/require"
)

var svcKey = ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.100"), Port: 80}

// switchChecker answers with the health set by the test.
type switchChecker struct{ healthy atomic.Bool }

func (c *switchChecker) Check(context.Context, health.Target) error {
	if c.healthy.Load() {
		return nil
	}
	return health.Failf("switched off")
}

func dest(i int, w uint32) ipvs.Destination {
	return ipvs.Destination{Address: netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)}), Port: 80, Forward: ipvs.DirectRoute, Weight: w}
}

func ap(d ipvs.Destination) netip.AddrPort { return netip.AddrPortFrom(d.Address, d.Port) }

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// waitFor polls f until it holds, for at most within.
func waitFor(t *testing.T, what string, within time.Duration, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", within, what)
}

func runPool(t *testing.T, cfg health.Config) *health.Pool {
	t.Helper()
	p, _ := run(t, cfg)
	return p
}

// run starts a pool and returns its stop function, which waits for Run.
func run(t *testing.T, cfg health.Config) (*health.Pool, func()) {
	t.Helper()
	p, err := health.New(cfg)
	require.NoError(t, err)
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(c) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.Canceled)
			require.ErrorIs(t, err, health.ErrCanceled)
			require.False(t, p.Snapshot().Running)
		case <-time.After(20 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return p, stop
}

func TestRiseFallInhibitRemoveDrain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  health.FailureAction
		drain time.Duration
	}{{"inhibit", health.Inhibit, 0}, {"remove", health.Remove, 0}, {"drain", health.Remove, 500 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTable(svcKey)
			c := &switchChecker{}
			d := dest(1, 7)
			var mu sync.Mutex
			var kinds []health.EventKind
			p := runPool(t, health.Config{IPVS: f, Service: svcKey, OnFailure: tc.mode, Drain: tc.drain,
				Timing:  health.Timing{Interval: 5 * time.Millisecond, Rise: 3, Fall: 2},
				Servers: []health.Server{{Destination: d, Checker: c}},
				Notify: func(e health.Event) {
					mu.Lock()
					kinds = append(kinds, e.Kind)
					mu.Unlock()
				}})
			// Starts down: inhibited or absent.
			eventually(t, "first check", func() bool { return p.Snapshot().Servers[0].Checks > 0 })
			w, listed := f.weight(svcKey, ap(d))
			require.Equal(t, tc.mode == health.Inhibit, listed)
			require.Zero(t, w)
			c.healthy.Store(true)
			// The state changes just before IPVS is written; Weight is
			// what was written (an inhibited server is InIPVS already).
			eventually(t, "up", func() bool {
				s := p.Snapshot().Servers[0]
				return s.Up && s.InIPVS && s.Weight == 7
			})
			require.GreaterOrEqual(t, p.Snapshot().Servers[0].Successes, 3)
			w, listed = f.weight(svcKey, ap(d))
			require.True(t, listed)
			require.Equal(t, uint32(7), w)
			f.setConns(ap(d), 1) // the drain lasts its whole time

			c.healthy.Store(false)
			eventually(t, "down", func() bool {
				s := p.Snapshot().Servers[0]
				return !s.Up && s.Weight == 0 && s.InIPVS == (tc.mode == health.Inhibit || tc.drain > 0)
			})
			require.GreaterOrEqual(t, p.Snapshot().Servers[0].Failures, 2)
			w, listed = f.weight(svcKey, ap(d))
			switch {
			case tc.mode == health.Inhibit:
				require.True(t, listed)
				require.Zero(t, w)
			case tc.drain > 0:
				require.True(t, listed, "draining at weight 0 first")
				require.Zero(t, w)
				require.True(t, p.Snapshot().Servers[0].Draining)
				eventually(t, "removal after the drain", func() bool { _, l := f.weight(svcKey, ap(d)); return !l })
			default:
				require.False(t, listed)
			}
			// Copied under the lock: Notify must never wait on a failed test.
			got := func() []health.EventKind {
				mu.Lock()
				defer mu.Unlock()
				return append([]health.EventKind(nil), kinds...)
			}
			eventually(t, "four events", func() bool { return len(got()) >= 4 })
			require.Equal(t, []health.EventKind{health.ServerUp, health.QuorumRegained, health.ServerDown, health.QuorumLost}, got())
		})
	}
}

// A draining server is deleted as soon as it has no connections, or when
// Drain has passed, or not at all if it recovers first; UDP services
// delete at once.
func TestDrainPollsConnections(t *testing.T) {
	udpKey := svcKey
	udpKey.Protocol = ipvs.UDP
	for _, tc := range []struct {
		name  string
		svc   ipvs.ServiceKey
		drain time.Duration
	}{{"conns end", svcKey, time.Hour}, {"time ends", svcKey, 300 * time.Millisecond}, {"recovers", svcKey, time.Hour}, {"udp", udpKey, time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTable(tc.svc)
			c := &switchChecker{}
			c.healthy.Store(true)
			d := dest(1, 7)
			p := runPool(t, health.Config{IPVS: f, Service: tc.svc, OnFailure: health.Remove, Drain: tc.drain, DrainPoll: 5 * time.Millisecond,
				Timing:  health.Timing{Interval: 5 * time.Millisecond, Rise: 1, Fall: 1},
				Servers: []health.Server{{Destination: d, Checker: c}}})
			eventually(t, "up", func() bool { return p.Snapshot().Servers[0].InIPVS })
			f.setConns(ap(d), 2)
			c.healthy.Store(false)
			down := time.Now()
			eventually(t, "down", func() bool { s := p.Snapshot().Servers[0]; return !s.Up && s.Weight == 0 })
			if tc.name == "udp" {
				eventually(t, "written", func() bool { return !p.Snapshot().Servers[0].InIPVS })
				_, listed := f.weight(tc.svc, ap(d))
				require.False(t, listed, "UDP: deleted without draining")
				require.False(t, p.Snapshot().Servers[0].Draining)
				return
			}
			eventually(t, "a poll", func() bool { return p.Snapshot().Servers[0].DrainConns == 2 })
			w, listed := f.weight(tc.svc, ap(d))
			require.True(t, listed, "draining at weight 0")
			require.Zero(t, w)
			switch tc.name {
			case "conns end":
				time.Sleep(50 * time.Millisecond) // ten polls
				_, listed = f.weight(tc.svc, ap(d))
				require.True(t, listed, "still draining while connections remain")
				f.setConns(ap(d), 0)
			case "recovers":
				c.healthy.Store(true)
				eventually(t, "restored", func() bool { w, l := f.weight(tc.svc, ap(d)); return l && w == 7 })
				require.False(t, p.Snapshot().Servers[0].Draining)
				time.Sleep(50 * time.Millisecond)
				w, listed = f.weight(tc.svc, ap(d))
				require.True(t, listed && w == 7, "a recovered server is not deleted by its old drain")
				return
			}
			eventually(t, "deleted", func() bool { _, l := f.weight(tc.svc, ap(d)); return !l })
			if tc.name == "time ends" {
				require.GreaterOrEqual(t, time.Since(down), tc.drain)
			}
			require.False(t, p.Snapshot().Servers[0].Draining)
		})
	}
}

func TestQuorumHysteresisSorry(t *testing.T) {
	f := newTable(svcKey)
	cs := []*switchChecker{{}, {}, {}}
	var servers []health.Server
	for i, c := range cs {
		c.healthy.Store(true)
		servers = append(servers, health.Server{Destination: dest(i, 1), Checker: c})
	}
	sorry := dest(9, 0)
	p := runPool(t, health.Config{IPVS: f, Service: svcKey, Start: health.StartUp, Quorum: 2, Hysteresis: 1, Sorry: &sorry,
		Timing: health.Timing{Interval: 5 * time.Millisecond, Rise: 1, Fall: 1}, Servers: servers})
	sorryListed := func() bool { _, l := f.weight(svcKey, ap(sorry)); return l }
	eventually(t, "checks", func() bool { return p.Snapshot().Servers[2].Checks > 2 })
	require.True(t, p.Snapshot().Quorum)
	require.False(t, sorryListed())

	cs[0].healthy.Store(false)
	cs[1].healthy.Store(false)
	eventually(t, "two down", func() bool { return p.Snapshot().UpWeight == 1 })
	time.Sleep(30 * time.Millisecond)
	require.True(t, p.Snapshot().Quorum, "inside the band")
	cs[2].healthy.Store(false)
	eventually(t, "quorum lost", func() bool { return !p.Snapshot().Quorum })
	// The state changes before the sorry server is written.
	eventually(t, "sorry server added", sorryListed)
	w, _ := f.weight(svcKey, ap(sorry))
	require.Equal(t, uint32(1), w, "a zero sorry weight means 1")
	cs[0].healthy.Store(true)
	cs[1].healthy.Store(true)
	eventually(t, "two up", func() bool { return p.Snapshot().UpWeight == 2 })
	time.Sleep(30 * time.Millisecond)
	require.False(t, p.Snapshot().Quorum, "inside the band")
	cs[2].healthy.Store(true)
	eventually(t, "quorum regained", func() bool { return p.Snapshot().Quorum })
	eventually(t, "sorry server removed", func() bool { return !sorryListed() })
}

func TestRetries(t *testing.T) {
	f := newTable(svcKey)
	var calls atomic.Int32
	c := health.CheckFunc(func(context.Context, health.Target) error {
		if calls.Add(1)%3 != 0 {
			return health.Failf("flaky")
		}
		return nil
	})
	p := runPool(t, health.Config{IPVS: f, Service: svcKey,
		Timing:  health.Timing{Interval: 5 * time.Millisecond, Rise: 1, Fall: 1, Retries: 2, RetryDelay: time.Millisecond},
		Servers: []health.Server{{Destination: dest(1, 1), Checker: c}}})
	eventually(t, "five checks", func() bool { return p.Snapshot().Servers[0].Checks >= 5 })
	s := p.Snapshot().Servers[0]
	require.True(t, s.Up)
	require.Zero(t, s.Failures, "every check succeeds on its third attempt")
}

func TestConnectAndTimeoutReachChecker(t *testing.T) {
	f := newTable(svcKey)
	got := make(chan health.Target, 1)
	var deadline atomic.Int64
	c := health.CheckFunc(func(ctx context.Context, tg health.Target) error {
		dl, _ := ctx.Deadline()
		deadline.Store(int64(time.Until(dl)))
		select {
		case got <- tg:
		default:
		}
		return nil
	})
	connect := netip.MustParseAddrPort("192.0.2.1:8080")
	runPool(t, health.Config{IPVS: f, Service: svcKey,
		Timing:  health.Timing{Interval: 300 * time.Millisecond, Timeout: 300 * time.Millisecond},
		Servers: []health.Server{{Destination: dest(1, 1), Checker: c, Connect: connect, Mark: 9}}})
	tg := <-got
	require.Equal(t, connect, tg.Addr)
	require.Equal(t, ap(dest(1, 1)), tg.Server)
	require.Equal(t, uint32(9), tg.Mark)
	require.InDelta(t, float64(300*time.Millisecond), float64(deadline.Load()), float64(100*time.Millisecond))
}

func TestRunFailsWithoutService(t *testing.T) {
	p, err := health.New(health.Config{IPVS: newTable(), Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1), Checker: health.TCP{}}}})
	require.NoError(t, err)
	err = p.Run(context.Background())
	require.ErrorIs(t, err, ipvs.ErrNotExist)
}

func TestValidation(t *testing.T) {
	ok := health.Server{Destination: dest(1, 1), Checker: health.TCP{}}
	f := newTable(svcKey)
	for _, tc := range []struct {
		field string
		cfg   health.Config
	}{
		{"IPVS", health.Config{Service: svcKey, Servers: []health.Server{ok}}},
		{"Service", health.Config{IPVS: f, Servers: []health.Server{ok}}},
		{"Destination", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok, ok}}},
		{"Checker", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1)}}}},
		{"Mark", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1), Checker: health.TCP{}, ViaVIP: true}}}},
		{"Mark", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{
			{Destination: dest(1, 1), Checker: health.TCP{}, ViaVIP: true, Mark: 5},
			{Destination: dest(2, 1), Checker: health.TCP{}, ViaVIP: true, Mark: 5}}}},
		{"ViaVIP", health.Config{IPVS: f, Service: ipvs.ServiceKey{Family: ipvs.IPv4, Fwmark: 3}, Servers: []health.Server{{Destination: dest(1, 1), Checker: health.TCP{}, ViaVIP: true, Mark: 5}}}},
		{"Drain", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok}, Drain: time.Second}},
		{"Timing", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok}, Timing: health.Timing{Rise: -1}}},
		{"Timing", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok}, Timing: health.Timing{Interval: -1}}},
		{"Sorry", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok}, Sorry: &ipvs.Destination{Address: dest(1, 1).Address, Port: 80}}},
		{"Quorum", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok}, Quorum: -1}},
		{"Timing.Timeout", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok}, Timing: health.Timing{Interval: time.Second, Timeout: 2 * time.Second}}},
		{"Timing.Timeout", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1), Checker: health.TCP{}, Timing: health.Timing{Interval: 100 * time.Millisecond}}}, Timing: health.Timing{Timeout: time.Second}}},
		{"Timing.Interval", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1), Checker: health.TCP{}, Timing: health.Timing{Interval: -time.Second}}}}},
		{"Timing.Fall", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok}, Timing: health.Timing{Fall: -1}}},
		{"Timing.Retries", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok}, Timing: health.Timing{Retries: -1}}},
		{"Checker", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1), Checker: (*health.HTTP)(nil)}}}},
		{"Checker.Status[1]", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1), Checker: &health.HTTP{Status: []health.StatusRange{{200, 299}, {300, 600}}}}}}},
		{"Checker.Status[0]", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1), Checker: &health.HTTP{Status: []health.StatusRange{{99, 200}}}}}}},
		{"Checker.Status[0]", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1), Checker: &health.HTTP{Status: []health.StatusRange{{300, 200}}}}}}},
		{"Checker.Name", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1), Checker: &health.DNS{Name: "a..b"}}}}},
		{"Checker.Path", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1), Checker: &health.Command{}}}}},
		{"Servers[0].Destination.Address", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: ipvs.Destination{Address: netip.MustParseAddr("2001:db8::1"), Port: 80, Weight: 1}, Checker: health.TCP{}}}}},
		{"Source", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: dest(1, 1), Checker: health.TCP{}, Source: netip.MustParseAddr("2001:db8::1")}}}},
		{"Sorry.Address", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok}, Sorry: &ipvs.Destination{Address: netip.MustParseAddr("2001:db8::9"), Port: 80}}},
		{"WriteDelay", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok}, WriteDelay: -1}},
		{"Start", health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{ok}, Start: 7}},
		{"Service", health.Config{IPVS: f}},
	} {
		_, err := health.New(tc.cfg)
		require.ErrorIs(t, err, health.ErrInvalid, tc.field)
		var he *health.Error
		require.True(t, errors.As(err, &he))
		require.Contains(t, he.Field, tc.field)
		require.Contains(t, err.Error(), tc.field, "the message names the field")
	}
	// A tunnelled server may be of the other family.
	_, err := health.New(health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{
		Destination: ipvs.Destination{Address: netip.MustParseAddr("2001:db8::1"), Port: 80, Weight: 1, Forward: ipvs.Tunnel}, Checker: health.TCP{}}}})
	require.NoError(t, err)
}

func TestRunTwice(t *testing.T) {
	block := make(chan struct{})
	p := runPool(t, health.Config{IPVS: newTable(svcKey), Service: svcKey,
		Servers: []health.Server{{Destination: dest(1, 1), Checker: health.CheckFunc(func(ctx context.Context, _ health.Target) error {
			select {
			case <-block:
			case <-ctx.Done():
			}
			return nil
		})}}})
	eventually(t, "running", func() bool { return p.Snapshot().Running })
	require.ErrorIs(t, p.Run(context.Background()), health.ErrBusy)
	close(block)
}

// startLog wraps a checker and records when each server's checks start.
type startLog struct {
	c      health.Checker
	mu     sync.Mutex
	starts map[netip.AddrPort][]time.Time
}

func newStartLog(c health.Checker) *startLog {
	return &startLog{c: c, starts: map[netip.AddrPort][]time.Time{}}
}

func (l *startLog) Check(ctx context.Context, t health.Target) error {
	now := time.Now()
	l.mu.Lock()
	l.starts[t.Server] = append(l.starts[t.Server], now)
	l.mu.Unlock()
	return l.c.Check(ctx, t)
}

// count is the number of servers checked so far.
func (l *startLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.starts)
}

// gridStats measures how checks kept to their grid of interval. Drift is
// how late a server's last check started against its first plus whole
// intervals (scheduling that drifts adds up here); jitter is how far each
// gap between two checks was from the interval.
type gridStats struct {
	servers, minChecks, checks int
	p50Drift, maxDrift         time.Duration
	p99Jitter, maxJitter       time.Duration
}

func (l *startLog) stats(interval time.Duration) gridStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var drifts, gaps []time.Duration
	st := gridStats{servers: len(l.starts), minChecks: -1}
	for _, ts := range l.starts {
		st.checks += len(ts)
		if st.minChecks < 0 || len(ts) < st.minChecks {
			st.minChecks = len(ts)
		}
		for i := 1; i < len(ts); i++ {
			gaps = append(gaps, (ts[i].Sub(ts[i-1]) - interval).Abs())
		}
		if len(ts) > 1 {
			drifts = append(drifts, (ts[len(ts)-1].Sub(ts[0]) - time.Duration(len(ts)-1)*interval).Abs())
		}
	}
	if len(drifts) == 0 {
		return st
	}
	slices.Sort(drifts)
	slices.Sort(gaps)
	st.p50Drift, st.maxDrift = drifts[len(drifts)/2], drifts[len(drifts)-1]
	st.p99Jitter, st.maxJitter = gaps[len(gaps)*99/100], gaps[len(gaps)-1]
	return st
}

func (s gridStats) String() string {
	return fmt.Sprintf("%d servers, %d checks (at least %d each): drift p50 %v max %v, jitter p99 %v max %v",
		s.servers, s.checks, s.minChecks, s.p50Drift, s.maxDrift, s.p99Jitter, s.maxJitter)
}

// BenchmarkPool1000Servers checks 1000 servers (real TCP connects to a
// loopback listener) at a 1 s interval for b.N intervals and reports how
// late checks start against their 1 s grid (see gridStats). Run with
// -benchtime=5x -cpu=2. TestKernel1000Servers does the same in the VM
// against real IPVS and real peers.
func BenchmarkPool1000Servers(b *testing.B) {
	const n, interval = 1000, time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	nstest.Serve(l, nstest.CloseConn)
	target := netip.MustParseAddrPort(l.Addr().String())
	log := newStartLog(health.TCP{})
	var servers []health.Server
	for i := 0; i < n; i++ {
		servers = append(servers, health.Server{
			Destination: ipvs.Destination{Address: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80, Weight: 1},
			Connect:     target, Checker: log})
	}
	f := newTable(svcKey)
	p, err := health.New(health.Config{IPVS: f, Service: svcKey, Servers: servers,
		Timing: health.Timing{Interval: interval, Timeout: 500 * time.Millisecond, Rise: 1, Fall: 1, Warmup: interval}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	go func() { done <- p.Run(ctx) }()
	time.Sleep(interval + time.Duration(b.N)*interval + interval/2)
	cancel()
	<-done
	b.StopTimer()

	failed := 0
	for _, s := range p.Snapshot().Servers {
		if s.LastError != nil {
			failed++
		}
	}
	st := log.stats(interval)
	if st.servers < n || st.minChecks < 2 || failed > 0 {
		b.Fatalf("%v; %d failing", st, failed)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(st.maxDrift), "max-drift-ms")
	b.ReportMetric(ms(st.p50Drift), "p50-drift-ms")
	b.ReportMetric(ms(st.p99Jitter), "p99-jitter-ms")
	b.ReportMetric(ms(st.maxJitter), "max-jitter-ms")
	b.ReportMetric(float64(st.checks), "checks")
}

// countChecker counts its checks per target and answers with the health
// set by the test.
type countChecker struct {
	healthy atomic.Bool
	mu      sync.Mutex
	n       map[netip.AddrPort]int
}

func (c *countChecker) Check(_ context.Context, t health.Target) error {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[netip.AddrPort]int{}
	}
	c.n[t.Addr]++
	c.mu.Unlock()
	if c.healthy.Load() {
		return nil
	}
	return health.Failf("switched off")
}

func (c *countChecker) count(a netip.AddrPort) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[a]
}

func server(s health.State, a netip.AddrPort) (health.ServerState, bool) {
	for _, sv := range s.Servers {
		if sv.Server == a {
			return sv, true
		}
	}
	return health.ServerState{}, false
}

// A restart adopts the kernel's state: servers IPVS serves with their
// configured weight stay there until checks fail (nothing is written), a
// new server starts down; with StartDown every server goes to 0 first,
// the outage this default avoids.
func TestStartAdoptsKernelState(t *testing.T) {
	for _, mode := range []health.StartMode{health.StartAdopt, health.StartDown} {
		f := newTable(svcKey)
		d1, d2, d3 := dest(1, 5), dest(2, 5), dest(3, 5)
		d4 := dest(4, 5)
		d4.Weight = 2 // served, but not with its configured weight
		for _, d := range []ipvs.Destination{d1, d2, d4} {
			require.NoError(t, f.CreateDestination(context.Background(), svcKey, d))
		}
		d4.Weight = 5
		base := f.Writes()
		block := make(chan struct{})
		c := health.CheckFunc(func(ctx context.Context, _ health.Target) error {
			select {
			case <-block:
			case <-ctx.Done():
			}
			return ctx.Err()
		})
		p := runPool(t, health.Config{IPVS: f, Service: svcKey, Start: mode,
			Timing:  health.Timing{Interval: time.Second, Rise: 3},
			Servers: []health.Server{{Destination: d1, Checker: c}, {Destination: d2, Checker: c}, {Destination: d3, Checker: c}, {Destination: d4, Checker: c}}})
		eventually(t, "started", func() bool { s, _ := server(p.Snapshot(), ap(d3)); return s.InIPVS })
		for _, d := range []ipvs.Destination{d1, d2} {
			w, _ := f.weight(svcKey, ap(d))
			s, _ := server(p.Snapshot(), ap(d))
			if mode == health.StartAdopt {
				require.Equal(t, uint32(5), w, "adopted %v", d)
				require.True(t, s.Up)
			} else {
				require.Zero(t, w, "StartDown takes %v out", d)
				require.False(t, s.Up)
			}
		}
		for _, d := range []ipvs.Destination{d3, d4} {
			w, listed := f.weight(svcKey, ap(d))
			require.True(t, listed)
			require.Zero(t, w, "%v starts down", d)
		}
		writes := f.Writes() - base
		if mode == health.StartAdopt {
			require.Equal(t, 2, writes, "only the new server and the one at another weight are written")
		} else {
			require.Equal(t, 4, writes)
		}
		want := 0
		if mode == health.StartAdopt {
			want = 10
		}
		require.Equal(t, want, p.Snapshot().UpWeight)
		close(block)
	}
}

// Servers and services come and go, change and go into maintenance while
// the pool runs; the others' checks go on undisturbed.
func TestLiveChanges(t *testing.T) {
	svc2 := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.101"), Port: 80}
	f := newTable(svcKey, svc2)
	c := &countChecker{}
	c.healthy.Store(true)
	var mu sync.Mutex
	var events []health.Event
	d1, d2 := dest(1, 3), dest(2, 4)
	p := runPool(t, health.Config{IPVS: f, Service: svcKey, OnFailure: health.Remove, Drain: time.Hour,
		Timing:  health.Timing{Interval: 5 * time.Millisecond, Rise: 1, Fall: 1},
		Servers: []health.Server{{Destination: d1, Checker: c}},
		Notify: func(e health.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}})
	ctx := context.Background()
	eventually(t, "d1 up", func() bool { w, _ := f.weight(svcKey, ap(d1)); return w == 3 })

	require.NoError(t, p.AddServer(ctx, svcKey, health.Server{Destination: d2, Checker: c}))
	eventually(t, "d2 up", func() bool { w, _ := f.weight(svcKey, ap(d2)); return w == 4 })
	require.ErrorIs(t, p.AddServer(ctx, svcKey, health.Server{Destination: d2, Checker: c}), health.ErrExist)

	d2.Weight = 9
	require.NoError(t, p.UpdateServer(ctx, svcKey, health.Server{Destination: d2, Checker: c}))
	eventually(t, "d2 reweighed", func() bool { w, _ := f.weight(svcKey, ap(d2)); return w == 9 })

	require.NoError(t, p.SetMaintenance(ctx, svcKey, ap(d2), true))
	eventually(t, "d2 in maintenance", func() bool { w, l := f.weight(svcKey, ap(d2)); return l && w == 0 })
	s, _ := server(p.Snapshot(), ap(d2))
	require.True(t, s.Maintenance)
	require.True(t, s.Up, "still checked and healthy")
	n := s.Checks
	eventually(t, "d2 still checked", func() bool { s, _ := server(p.Snapshot(), ap(d2)); return s.Checks > n+2 })
	require.Equal(t, 3, p.Snapshot().UpWeight, "maintenance does not count toward quorum")
	require.NoError(t, p.SetMaintenance(ctx, svcKey, ap(d2), false))
	eventually(t, "d2 back", func() bool { w, _ := f.weight(svcKey, ap(d2)); return w == 9 })

	// Removal drains: weight 0 while connections last, deleted after.
	f.setConns(ap(d2), 2)
	require.NoError(t, p.RemoveServer(ctx, svcKey, ap(d2)))
	eventually(t, "d2 leaving", func() bool { w, l := f.weight(svcKey, ap(d2)); return l && w == 0 })
	s, _ = server(p.Snapshot(), ap(d2))
	require.True(t, s.Leaving)
	f.setConns(ap(d2), 0)
	eventually(t, "d2 deleted", func() bool { _, l := f.weight(svcKey, ap(d2)); return !l })
	eventually(t, "d2 gone", func() bool { _, ok := server(p.Snapshot(), ap(d2)); return !ok })
	require.ErrorIs(t, p.RemoveServer(ctx, svcKey, ap(d2)), health.ErrNotExist)

	// A whole service: its servers adopted and checked, then dropped.
	d3 := dest(3, 2)
	require.NoError(t, p.AddService(ctx, health.ServiceConfig{Service: svc2, Servers: []health.Server{{Destination: d3, Checker: c}}}))
	eventually(t, "svc2 up", func() bool { w, _ := f.weight(svc2, ap(d3)); return w == 2 })
	require.Len(t, p.Snapshots(), 2)
	require.ErrorIs(t, p.AddService(ctx, health.ServiceConfig{Service: svc2}), health.ErrExist)
	require.NoError(t, p.RemoveService(ctx, svc2))
	require.Len(t, p.Snapshots(), 1)
	w, _ := f.weight(svc2, ap(d3))
	require.Equal(t, uint32(2), w, "a removed service is left as written")
	require.ErrorIs(t, p.RemoveService(ctx, svc2), health.ErrNotExist)

	// Through all of it d1 stayed up, written once.
	mu.Lock()
	defer mu.Unlock()
	for _, e := range events {
		require.False(t, e.Kind == health.ServerDown, "no server went down: %+v", e)
	}
	s, _ = server(p.Snapshot(), ap(d1))
	require.True(t, s.Up)
	require.Greater(t, s.Checks, uint64(5))
}

// Live changes on a pool that is not running edit its configuration.
func TestLiveChangesStopped(t *testing.T) {
	f := newTable(svcKey)
	base := f.Writes()
	d1, d2 := dest(1, 3), dest(2, 4)
	p, err := health.New(health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: d1, Checker: health.TCP{}}}})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, p.AddServer(ctx, svcKey, health.Server{Destination: d2, Checker: health.TCP{}}))
	require.NoError(t, p.RemoveServer(ctx, svcKey, ap(d1)))
	require.NoError(t, p.SetMaintenance(ctx, svcKey, ap(d2), true))
	s := p.Snapshot()
	require.Len(t, s.Servers, 1)
	require.Equal(t, ap(d2), s.Servers[0].Server)
	require.True(t, s.Servers[0].Maintenance)
	require.Zero(t, f.Writes()-base, "nothing written while stopped")
	err = p.AddServer(ctx, svcKey, health.Server{Destination: dest(3, 1), Checker: &health.HTTP{Status: []health.StatusRange{{Min: 200, Max: 700}}}})
	require.ErrorIs(t, err, health.ErrInvalid)
}

// One check per target: the same backend behind two services is checked
// once per interval, and its verdict moves it in both.
func TestOneCheckFeedsTwoServices(t *testing.T) {
	svc443 := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: svcKey.Address, Port: 443}
	f := newTable(svcKey, svc443)
	c := &countChecker{}
	c.healthy.Store(true)
	d := dest(1, 5)
	d.Forward = ipvs.Masquerade // port 80 behind :443 too: only NAT maps ports
	const interval = 20 * time.Millisecond
	p := runPool(t, health.Config{IPVS: f, Service: svcKey, Servers: []health.Server{{Destination: d, Checker: c}},
		Services: []health.ServiceConfig{{Service: svc443, Servers: []health.Server{{Destination: d, Checker: c}}}},
		Timing:   health.Timing{Interval: interval, Rise: 1, Fall: 1}})
	eventually(t, "up in both", func() bool {
		w1, _ := f.weight(svcKey, ap(d))
		w2, _ := f.weight(svc443, ap(d))
		return w1 == 5 && w2 == 5
	})
	eventually(t, "ten checks", func() bool { return c.count(ap(d)) >= 10 })
	all := p.Snapshots()
	a, _ := server(all[0], ap(d))
	b, _ := server(all[1], ap(d))
	probes := c.count(ap(d))
	// Each check's result reaches both services: each counts every
	// check (give or take the one in flight), and the server was probed
	// once per result, not once per service.
	require.InDelta(t, float64(probes), float64(a.Checks), 1)
	require.InDelta(t, float64(probes), float64(b.Checks), 1)

	c.healthy.Store(false)
	eventually(t, "down in both", func() bool {
		w1, _ := f.weight(svcKey, ap(d))
		w2, _ := f.weight(svc443, ap(d))
		return w1 == 0 && w2 == 0
	})
}

// Desired puts a passive pool's verdicts into a state for Apply: its
// servers as their health says, other destinations and services as given.
func TestDesired(t *testing.T) {
	f := newTable(svcKey)
	writes := f.Writes()
	c := &countChecker{}
	d1, d2 := dest(1, 5), dest(2, 6)
	sorry := dest(9, 0)
	p := runPool(t, health.Config{IPVS: f, Service: svcKey, Passive: true, Sorry: &sorry, Quorum: 5,
		Timing:  health.Timing{Interval: 5 * time.Millisecond, Rise: 1, Fall: 1},
		Servers: []health.Server{{Destination: d1, Checker: c}, {Destination: d2, Checker: health.CheckFunc(func(context.Context, health.Target) error { return nil })}}})
	other := ipvs.ServiceKey{Protocol: ipvs.UDP, Address: svcKey.Address, Port: 53}
	foreign := dest(7, 1)
	stale := dest(1, 1) // the pool's server, as the caller last knew it
	base := ipvs.State{Services: []ipvs.ServiceState{
		{Service: ipvs.Service{ServiceKey: svcKey}, Destinations: []ipvs.Destination{foreign, stale}},
		{Service: ipvs.Service{ServiceKey: other}, Destinations: []ipvs.Destination{dest(8, 1)}},
	}}
	eventually(t, "d2 up, d1 down", func() bool {
		s := p.Snapshot()
		return s.Servers[0].Checks > 0 && s.Servers[1].Up && s.Quorum
	})
	got := p.Desired(base)
	require.Equal(t, base.Services[1], got.Services[1], "other services as given")
	d1down := d1
	d1down.Weight = 0
	require.ElementsMatch(t, []ipvs.Destination{foreign, d1down, d2}, got.Services[0].Destinations)
	require.Equal(t, []ipvs.Destination{foreign, stale}, base.Services[0].Destinations, "desired is not modified")
	c.healthy.Store(true)
	eventually(t, "d1 up", func() bool { return p.Snapshot().Servers[0].Up })
	require.ElementsMatch(t, []ipvs.Destination{foreign, d1, d2}, p.Desired(base).Services[0].Destinations)
	require.Zero(t, f.Writes()-writes, "a passive pool writes nothing")
	_, err := health.New(health.Config{IPVS: f, Service: svcKey, Passive: true, Servers: []health.Server{{Destination: d1, Checker: c, ViaVIP: true, Mark: 1}}})
	require.ErrorIs(t, err, health.ErrInvalid)
}
