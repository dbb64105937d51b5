package ipvstest_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvstest"
	"github.com/stretchr/testify/require"
)

// planTable holds web (rr) with rs1 (weight 1) and rs2 (weight 2), and
// dns (UDP 10.0.0.1:53) with rs1.
func planTable(t *testing.T) (*ipvstest.Client, ipvs.ServiceKey, ipvs.Destination) {
	t.Helper()
	ctx := context.Background()
	c := ipvstest.New()
	dns := ipvs.ServiceKey{Protocol: ipvs.UDP, Address: web.Address, Port: 53}
	rs2 := rs1
	rs2.Address, rs2.Weight = netip.MustParseAddr("192.168.1.3"), 2
	require.NoError(t, c.CreateService(ctx, ipvs.Service{ServiceKey: web, Scheduler: ipvs.RoundRobin}))
	require.NoError(t, c.CreateDestination(ctx, web, rs1))
	require.NoError(t, c.CreateDestination(ctx, web, rs2))
	require.NoError(t, c.CreateService(ctx, ipvs.Service{ServiceKey: dns, Scheduler: ipvs.RoundRobin}))
	require.NoError(t, c.CreateDestination(ctx, dns, rs1))
	return c, dns, rs2
}

// planDesired keeps web, with rr→wlc, rs1 at weight 5, rs2 gone and rs3
// new, drops dns and adds https (MaxDeleteShare 1 allows dropping one of
// two).
func planDesired() ipvs.State {
	rs1w := rs1
	rs1w.Weight = 5
	rs3 := rs1
	rs3.Address = netip.MustParseAddr("192.168.1.4")
	https := web
	https.Port = 443
	return ipvs.State{Services: []ipvs.ServiceState{
		{Service: ipvs.Service{ServiceKey: web, Scheduler: ipvs.WeightedLeastConnection}, Destinations: []ipvs.Destination{rs1w, rs3}},
		{Service: ipvs.Service{ServiceKey: https, Scheduler: ipvs.RoundRobin}, Destinations: []ipvs.Destination{rs1}},
	}}
}

func TestPlanWritesNothingThenConverges(t *testing.T) {
	ctx := context.Background()
	c, dns, rs2 := planTable(t)
	before, err := c.Snapshot(ctx)
	require.NoError(t, err)
	writes := c.Writes()

	p, err := c.Plan(ctx, planDesired(), nil)
	require.NoError(t, err)
	require.Equal(t, writes, c.Writes(), "Plan wrote")
	after, err := c.Snapshot(ctx)
	require.NoError(t, err)
	require.Equal(t, before, after)

	https := web
	https.Port = 443
	rs1w := rs1
	rs1w.Weight = 5
	rs3 := rs1
	rs3.Address = netip.MustParseAddr("192.168.1.4")
	wlc := ipvs.Service{ServiceKey: web, Scheduler: ipvs.WeightedLeastConnection}
	want := []ipvs.PlanStep{
		{Change: ipvs.Change{Op: ipvs.OpDeleteDestination, Service: ipvs.Service{ServiceKey: web}, Destination: ipvs.Destination{Address: rs2.Address, Port: 80}},
			Before: ipvs.Change{Op: ipvs.OpDeleteDestination, Service: ipvs.Service{ServiceKey: web}, Destination: rs2}},
		{Change: ipvs.Change{Op: ipvs.OpDeleteService, Service: ipvs.Service{ServiceKey: dns, Scheduler: ipvs.RoundRobin}},
			Before: ipvs.Change{Op: ipvs.OpDeleteService, Service: ipvs.Service{ServiceKey: dns, Scheduler: ipvs.RoundRobin}}},
		{Change: ipvs.Change{Op: ipvs.OpUpdateService, Service: wlc},
			Before: ipvs.Change{Op: ipvs.OpUpdateService, Service: ipvs.Service{ServiceKey: web, Scheduler: ipvs.RoundRobin}}},
		{Change: ipvs.Change{Op: ipvs.OpUpdateDestination, Service: ipvs.Service{ServiceKey: web}, Destination: rs1w},
			Before: ipvs.Change{Op: ipvs.OpUpdateDestination, Service: ipvs.Service{ServiceKey: web}, Destination: rs1}},
		{Change: ipvs.Change{Op: ipvs.OpCreateDestination, Service: ipvs.Service{ServiceKey: web}, Destination: rs3}},
		{Change: ipvs.Change{Op: ipvs.OpCreateService, Service: ipvs.Service{ServiceKey: https, Scheduler: ipvs.RoundRobin}}},
		{Change: ipvs.Change{Op: ipvs.OpCreateDestination, Service: ipvs.Service{ServiceKey: https}, Destination: rs1}},
	}
	// The plan's service keys carry the family the kernel reports.
	steps := p.Steps()
	for i := range steps {
		steps[i].Service.Family, steps[i].Before.Service.Family = 0, 0
	}
	require.Equal(t, want, steps)
	require.Equal(t, 7, p.Len())
	require.Equal(t, "7 writes (3 create, 2 update, 2 delete), 0 draining", p.String())

	res, err := c.ApplyPlan(ctx, p)
	require.NoError(t, err)
	require.Equal(t, 7, res.Writes())
	again, err := c.Plan(ctx, planDesired(), nil)
	require.NoError(t, err)
	require.Zero(t, again.Len(), "the applied plan did not converge: %v", again.Steps())
}

// Apply is Plan then ApplyPlan: on two equal tables, Apply's writes are
// the plan's steps, in order.
func TestApplyWritesWhatPlanShows(t *testing.T) {
	ctx := context.Background()
	a, _, _ := planTable(t)
	b, _, _ := planTable(t)
	p, err := a.Plan(ctx, planDesired(), nil)
	require.NoError(t, err)
	res, err := b.Apply(ctx, planDesired(), nil)
	require.NoError(t, err)
	var planned []ipvs.Change
	for _, s := range p.Steps() {
		planned = append(planned, s.Change)
	}
	require.Equal(t, res.Applied(), planned)
}

func TestApplyPlanRefusesAChangedTable(t *testing.T) {
	ctx := context.Background()
	rs2 := rs1
	rs2.Address = netip.MustParseAddr("192.168.1.3")
	changes := map[string]func(c *ipvstest.Client) error{
		"destination weight": func(c *ipvstest.Client) error {
			d := rs1
			d.Weight = 9
			return c.UpdateDestination(ctx, web, d)
		},
		"destination added": func(c *ipvstest.Client) error {
			d := rs1
			d.Address = netip.MustParseAddr("192.168.1.9")
			return c.CreateDestination(ctx, web, d)
		},
		"destination deleted": func(c *ipvstest.Client) error {
			return c.DeleteDestination(ctx, web, netip.AddrPortFrom(rs2.Address, 80))
		},
		"scheduler": func(c *ipvstest.Client) error {
			return c.UpdateService(ctx, ipvs.Service{ServiceKey: web, Scheduler: ipvs.SourceHashing})
		},
		"service added": func(c *ipvstest.Client) error {
			k := web
			k.Port = 8080
			return c.CreateService(ctx, ipvs.Service{ServiceKey: k})
		},
		"service deleted": func(c *ipvstest.Client) error {
			return c.DeleteService(ctx, ipvs.ServiceKey{Protocol: ipvs.UDP, Address: web.Address, Port: 53})
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			c, _, _ := planTable(t)
			p, err := c.Plan(ctx, planDesired(), nil)
			require.NoError(t, err)
			require.NoError(t, change(c))
			before, err := c.Snapshot(ctx)
			require.NoError(t, err)
			writes := c.Writes()

			res, err := c.ApplyPlan(ctx, p)
			require.ErrorIs(t, err, ipvs.ErrConflict)
			require.ErrorContains(t, err, "the kernel changed since the plan was made")
			var e *ipvs.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, "apply plan", e.Op)
			require.NotEmpty(t, e.Object)
			require.Zero(t, res.Writes())
			require.Equal(t, writes, c.Writes(), "a refused plan wrote")
			after, err := c.Snapshot(ctx)
			require.NoError(t, err)
			require.Equal(t, before, after)
		})
	}
}

// Counters and connection counts move all the time: they are no conflict.
func TestApplyPlanIgnoresCounters(t *testing.T) {
	ctx := context.Background()
	c, _, _ := planTable(t)
	p, err := c.Plan(ctx, planDesired(), nil)
	require.NoError(t, err)
	require.NoError(t, c.SetConnections(web, netip.AddrPortFrom(rs1.Address, 80), 3, 4, 5))
	_, err = c.ApplyPlan(ctx, p)
	require.NoError(t, err)
}

// Services the plan does not own may change freely.
func TestApplyPlanIgnoresServicesNotOwned(t *testing.T) {
	ctx := context.Background()
	c, dns, _ := planTable(t)
	st := planDesired()
	opts := &ipvs.ApplyOptions{Owns: func(k ipvs.ServiceKey) bool { return k.Protocol == ipvs.TCP }}
	p, err := c.Plan(ctx, st, opts)
	require.NoError(t, err)
	require.NoError(t, c.DeleteService(ctx, dns))
	other := web
	other.Protocol = ipvs.SCTP
	require.NoError(t, c.CreateService(ctx, ipvs.Service{ServiceKey: other}))
	_, err = c.ApplyPlan(ctx, p)
	require.NoError(t, err)
}

func TestPlanRefusesWhatApplyRefuses(t *testing.T) {
	ctx := context.Background()
	c, _, _ := planTable(t)
	writes := c.Writes()
	_, err := c.Plan(ctx, ipvs.State{}, nil)
	require.ErrorIs(t, err, ipvs.ErrConflict)
	require.ErrorContains(t, err, "the desired state is empty")
	_, err = c.Plan(ctx, planDesired(), &ipvs.ApplyOptions{DrainTimeout: time.Second})
	require.ErrorIs(t, err, ipvs.ErrInvalid)
	var e *ipvs.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "Drains", e.Field)
	bad := planDesired()
	bad.Services[0].Destinations[0].Address = netip.Addr{}
	_, err = c.Plan(ctx, bad, nil)
	require.ErrorIs(t, err, ipvs.ErrInvalid)
	require.Equal(t, writes, c.Writes())
	_, err = c.ApplyPlan(ctx, nil)
	require.ErrorIs(t, err, ipvs.ErrInvalid)
}

// A plan with drains records them when applied, as Apply does, and a
// later Apply finishes them.
func TestPlanDrains(t *testing.T) {
	ctx := context.Background()
	c, _, rs2 := planTable(t)
	require.NoError(t, c.SetConnections(web, netip.AddrPortFrom(rs2.Address, 80), 2, 0, 0))
	drains := &ipvs.Drains{}
	opts := &ipvs.ApplyOptions{DrainTimeout: time.Hour, Drains: drains, MaxDeleteShare: 1}
	p, err := c.Plan(ctx, planDesired(), opts)
	require.NoError(t, err)
	require.Len(t, p.Draining(), 1)
	require.Equal(t, netip.AddrPortFrom(rs2.Address, 80), p.Draining()[0].Destination)
	_, err = c.ApplyPlan(ctx, p)
	require.NoError(t, err)
	ds, err := c.Destinations(ctx, web)
	require.NoError(t, err)
	weights := map[netip.Addr]uint32{}
	for _, d := range ds {
		weights[d.Address] = d.Weight
	}
	require.Equal(t, map[netip.Addr]uint32{rs1.Address: 5, rs2.Address: 0, netip.MustParseAddr("192.168.1.4"): 1}, weights)

	require.NoError(t, c.SetConnections(web, netip.AddrPortFrom(rs2.Address, 80), 0, 0, 0))
	p, err = c.Plan(ctx, planDesired(), opts)
	require.NoError(t, err)
	require.Empty(t, p.Draining())
	require.Equal(t, ipvs.OpDeleteDestination, p.Steps()[0].Op)
}
