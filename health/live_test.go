package health_test

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/golvs/lvs/ipvs"
	"github.com/stretchr/testify/require"
)

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
