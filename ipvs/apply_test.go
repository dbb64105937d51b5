package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	tcpKey = ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	udpKey = ServiceKey{Family: IPv4, Protocol: UDP, Address: netip.MustParseAddr("10.0.0.1"), Port: 53}
)

func rs(last byte, port uint16, weight uint32) Destination {
	return Destination{Address: netip.AddrFrom4([4]byte{192, 168, 1, last}), Port: port, Forward: DirectRoute, Weight: weight}
}

func kdest(d Destination, active, inactive uint32) DestinationInfo {
	return DestinationInfo{Destination: d, ActiveConns: active, InactiveConns: inactive}
}

// drainWorld runs the planner the way Apply does, against a hand-made
// kernel snapshot, with a clock the test moves.
type drainWorld struct {
	t      *testing.T
	now    time.Time
	drains Drains
	opts   ApplyOptions
}

func newDrainWorld(t *testing.T) *drainWorld {
	w := &drainWorld{t: t, now: time.Unix(1000, 0)}
	w.drains.now = func() time.Time { return w.now }
	w.opts = ApplyOptions{DrainTimeout: 10 * time.Second, Drains: &w.drains}
	return w
}

// plan returns the planned writes as strings, and the draining list.
func (w *drainWorld) plan(desired State, snap []ServiceSnapshot) ([]string, []Draining) {
	w.t.Helper()
	ix, err := indexState(desired)
	if err != nil {
		w.t.Fatal(err)
	}
	p := planner{ix: ix, opts: w.opts, now: w.drains.clock(),
		oldDests: w.drains.dests, oldSvcs: w.drains.svcs,
		newDests: map[drainKey]time.Time{}, newSvcs: map[ServiceKey]time.Time{}}
	var out []string
	pl := p.plan(snap)
	for i := range pl.len() {
		ch := pl.change(i)
		s := ch.String()
		if ch.Op == OpUpdateDestination {
			s += " weight " + string(rune('0'+ch.Destination.Weight))
		}
		out = append(out, s)
	}
	w.drains.dests, w.drains.svcs = p.newDests, p.newSvcs
	return out, p.draining
}

func eq(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("writes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestDrainLifecycle(t *testing.T) {
	w := newDrainWorld(t)
	a, b := rs(1, 80, 3), rs(2, 80, 1)
	both := State{Services: []ServiceState{{Service: Service{ServiceKey: tcpKey}, Destinations: []Destination{a, b}}}}
	onlyA := State{Services: []ServiceState{{Service: Service{ServiceKey: tcpKey}, Destinations: []Destination{a}}}}
	svc := ServiceInfo{Service: Service{ServiceKey: tcpKey, Scheduler: WeightedLeastConnection}}
	snap := func(bd DestinationInfo) []ServiceSnapshot {
		return []ServiceSnapshot{{ServiceInfo: svc, Destinations: []DestinationInfo{kdest(a, 0, 0), bd}}}
	}

	got, draining := w.plan(both, snap(kdest(b, 1, 0)))
	eq(t, got)
	if len(draining) != 0 {
		t.Fatal(draining)
	}

	// b leaves with a connection: quiesced, not deleted.
	got, draining = w.plan(onlyA, snap(kdest(b, 1, 2)))
	eq(t, got, "update destination TCP 10.0.0.1:80 -> 192.168.1.2:80 weight 0")
	if len(draining) != 1 || draining[0].Conns != 3 || !draining[0].Since.Equal(w.now) {
		t.Fatalf("draining %+v", draining)
	}
	start := w.now

	// Still busy, before the timeout: nothing to write, the start is kept.
	b0 := b
	b0.Weight = 0
	w.now = w.now.Add(5 * time.Second)
	got, draining = w.plan(onlyA, snap(kdest(b0, 1, 0)))
	eq(t, got)
	if len(draining) != 1 || !draining[0].Since.Equal(start) {
		t.Fatalf("draining %+v", draining)
	}

	// It comes back: its weight is restored and the drain forgotten.
	got, _ = w.plan(both, snap(kdest(b0, 1, 0)))
	eq(t, got, "update destination TCP 10.0.0.1:80 -> 192.168.1.2:80 weight 1")
	if len(w.drains.dests) != 0 {
		t.Fatalf("record kept %v", w.drains.dests)
	}

	// Leaves again, then the timeout passes with connections left.
	got, _ = w.plan(onlyA, snap(kdest(b, 4, 0)))
	eq(t, got, "update destination TCP 10.0.0.1:80 -> 192.168.1.2:80 weight 0")
	w.now = w.now.Add(10 * time.Second)
	got, draining = w.plan(onlyA, snap(kdest(b0, 4, 0)))
	eq(t, got, "delete destination TCP 10.0.0.1:80 -> 192.168.1.2:80")
	if len(draining) != 0 || len(w.drains.dests) != 0 {
		t.Fatalf("draining %+v, record %v", draining, w.drains.dests)
	}

	// An idle destination goes at once.
	got, _ = w.plan(onlyA, snap(kdest(b, 0, 0)))
	eq(t, got, "delete destination TCP 10.0.0.1:80 -> 192.168.1.2:80")
}

// An agent restarting mid-drain has no record: it finds b at weight 0 and
// not desired, writes nothing, and counts the drain from now.
func TestDrainAfterRestart(t *testing.T) {
	w := newDrainWorld(t)
	a, b0 := rs(1, 80, 3), rs(2, 80, 0)
	onlyA := State{Services: []ServiceState{{Service: Service{ServiceKey: tcpKey}, Destinations: []Destination{a}}}}
	snap := []ServiceSnapshot{{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: tcpKey, Scheduler: WeightedLeastConnection}},
		Destinations: []DestinationInfo{kdest(a, 0, 0), kdest(b0, 2, 0)}}}
	got, draining := w.plan(onlyA, snap)
	eq(t, got)
	if len(draining) != 1 || !draining[0].Since.Equal(w.now) {
		t.Fatalf("draining %+v", draining)
	}
	w.now = w.now.Add(9 * time.Second)
	got, _ = w.plan(onlyA, snap)
	eq(t, got)
	w.now = w.now.Add(time.Second)
	got, _ = w.plan(onlyA, snap)
	eq(t, got, "delete destination TCP 10.0.0.1:80 -> 192.168.1.2:80")
}

func TestDrainUDPAtOnce(t *testing.T) {
	w := newDrainWorld(t)
	a, b := rs(1, 53, 1), rs(2, 53, 1)
	got, draining := w.plan(State{Services: []ServiceState{{Service: Service{ServiceKey: udpKey}, Destinations: []Destination{a}}}},
		[]ServiceSnapshot{{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: udpKey, Scheduler: WeightedLeastConnection}},
			Destinations: []DestinationInfo{kdest(a, 0, 0), kdest(b, 0, 7)}}})
	eq(t, got, "delete destination UDP 10.0.0.1:53 -> 192.168.1.2:53")
	if len(draining) != 0 {
		t.Fatal(draining)
	}
}

func TestDrainServices(t *testing.T) {
	w := newDrainWorld(t)
	w.opts.DrainServices = true
	a, b := rs(1, 80, 1), rs(2, 80, 1)
	a0 := a
	a0.Weight = 0
	svc := ServiceInfo{Service: Service{ServiceKey: tcpKey, Scheduler: WeightedLeastConnection}}

	// One busy destination keeps the service; the idle one goes.
	got, draining := w.plan(State{}, []ServiceSnapshot{{ServiceInfo: svc, Destinations: []DestinationInfo{kdest(a, 1, 0), kdest(b, 0, 0)}}})
	eq(t, got, "update destination TCP 10.0.0.1:80 -> 192.168.1.1:80 weight 0", "delete destination TCP 10.0.0.1:80 -> 192.168.1.2:80")
	if len(draining) != 1 {
		t.Fatal(draining)
	}
	// Once idle, the service goes with it in one write.
	w.now = w.now.Add(time.Second)
	got, _ = w.plan(State{}, []ServiceSnapshot{{ServiceInfo: svc, Destinations: []DestinationInfo{kdest(a0, 0, 0)}}})
	eq(t, got, "delete service TCP 10.0.0.1:80")
	if len(w.drains.svcs) != 0 {
		t.Fatal(w.drains.svcs)
	}
}

// The minimal diff: only what differs is written, in an order the kernel
// accepts (destinations leave before services, a service comes before its
// destinations), and the kernel's spelling of defaults is not a difference.
func TestPlanMinimalDiff(t *testing.T) {
	w := newDrainWorld(t)
	w.opts = ApplyOptions{}
	other := ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("10.0.0.9"), Port: 80}
	fresh := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("::ffff:10.0.0.2"), Port: 443}
	full, _ := NetmaskBits(IPv4, 32)
	desired := State{Services: []ServiceState{
		{Service: Service{ServiceKey: ServiceKey{Protocol: TCP, Address: tcpKey.Address, Port: 80}, Netmask: full},
			Destinations: []Destination{rs(1, 80, 1), rs(2, 80, 5)}},
		{Service: Service{ServiceKey: fresh, Scheduler: RoundRobin}, Destinations: []Destination{rs(3, 443, 1)}},
	}}
	snap := []ServiceSnapshot{
		{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: tcpKey, Scheduler: WeightedLeastConnection}},
			Destinations: []DestinationInfo{kdest(rs(1, 80, 1), 0, 0), kdest(rs(2, 80, 1), 0, 0), kdest(rs(4, 80, 1), 0, 0)}},
		{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: other, Scheduler: RoundRobin}}},
	}
	got, _ := w.plan(desired, snap)
	eq(t, got,
		"delete destination TCP 10.0.0.1:80 -> 192.168.1.4:80",
		"delete service TCP 10.0.0.9:80",
		"update destination TCP 10.0.0.1:80 -> 192.168.1.2:80 weight 5",
		"create service TCP 10.0.0.2:443",
		"create destination TCP 10.0.0.2:443 -> 192.168.1.3:443",
	)
}

func TestApplyRejectsBeforeReading(t *testing.T) {
	f := &fakeTransport{}
	c := newFake(f)
	dup := State{Services: []ServiceState{{Service: Service{ServiceKey: tcpKey}}, {Service: Service{ServiceKey: ServiceKey{Protocol: TCP, Address: tcpKey.Address, Port: 80}}}}}
	dupDest := State{Services: []ServiceState{{Service: Service{ServiceKey: tcpKey}, Destinations: []Destination{rs(1, 80, 1), rs(1, 80, 2)}}}}
	bad := State{Services: []ServiceState{{Service: Service{ServiceKey: tcpKey}, Destinations: []Destination{rs(1, 81, 1)}}}}
	for name, tc := range map[string]struct {
		st   State
		opts *ApplyOptions
		want string
	}{
		"duplicate service":        {dup, nil, "appears twice"},
		"duplicate destination":    {dupDest, nil, "appears twice"},
		"DR port mismatch":         {bad, nil, "Port"},
		"timeout without record":   {State{}, &ApplyOptions{DrainTimeout: time.Second}, "Drains"},
		"services without timeout": {State{}, &ApplyOptions{DrainServices: true}, "DrainServices"},
	} {
		_, err := c.Apply(context.Background(), tc.st, tc.opts)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(f.reqs) != 0 {
		t.Fatalf("sent %d requests before validating", len(f.reqs))
	}
}

// A batch that fails in the transport reports each write's fate.
func TestBatchAttributesErrors(t *testing.T) {
	f := &fakeTransport{replies: func(req request) ([][]byte, error) {
		if req.cmd == cmdNewDest {
			return nil, eSRCH
		}
		return nil, nil
	}}
	c := newFake(f)
	res, err := c.Batch().CreateService(Service{ServiceKey: tcpKey}).CreateDestination(tcpKey, rs(1, 80, 1)).DeleteService(udpKey).Commit(context.Background())
	if !errors.Is(err, ErrNotExist) || !strings.Contains(err.Error(), "1 of 3") {
		t.Fatal(err)
	}
	if res.Errs[0] != nil || !errors.Is(res.Errs[1], ErrNotExist) || res.Errs[2] != nil || len(res.Applied()) != 2 {
		t.Fatalf("%+v", res)
	}
	if !strings.Contains(res.Errs[1].Error(), "create destination TCP 10.0.0.1:80 -> 192.168.1.1:80") {
		t.Fatal(res.Errs[1])
	}
}

// A batch sends byte for byte what the single calls send, whatever the
// order of services and destinations (the key nest is encoded once per
// run of a service's writes).
func TestBatchEncodesLikeSingleCalls(t *testing.T) {
	k2 := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("2001:db8::1"), Port: 80}
	d6 := Destination{Address: netip.MustParseAddr("2001:db8::2"), Port: 8080, Forward: Masquerade, Weight: 2}
	ctx := context.Background()

	single := &fakeTransport{}
	c := newFake(single)
	steps := []func() error{
		func() error { return c.CreateService(ctx, Service{ServiceKey: tcpKey, Scheduler: RoundRobin}) },
		func() error { return c.CreateDestination(ctx, tcpKey, rs(1, 80, 1)) },
		func() error { return c.CreateDestination(ctx, k2, d6) },
		func() error { return c.CreateDestination(ctx, tcpKey, rs(2, 80, 3)) },
		func() error { return c.UpdateDestination(ctx, tcpKey, rs(2, 80, 4)) },
		func() error { return c.DeleteDestination(ctx, k2, netip.AddrPortFrom(d6.Address, d6.Port)) },
		func() error { return c.DeleteService(ctx, tcpKey) },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}

	batched := &fakeTransport{}
	_, err := newFake(batched).Batch().
		CreateService(Service{ServiceKey: tcpKey, Scheduler: RoundRobin}).
		CreateDestination(tcpKey, rs(1, 80, 1)).
		CreateDestination(k2, d6).
		CreateDestination(tcpKey, rs(2, 80, 3)).
		UpdateDestination(tcpKey, rs(2, 80, 4)).
		DeleteDestination(k2, netip.AddrPortFrom(d6.Address, d6.Port)).
		DeleteService(tcpKey).
		Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(batched.reqs) != len(single.reqs) {
		t.Fatalf("%d requests, want %d", len(batched.reqs), len(single.reqs))
	}
	for i := range single.reqs {
		a, b := single.reqs[i], batched.reqs[i]
		if a.cmd != b.cmd || string(a.attrs) != string(b.attrs) {
			t.Errorf("request %d: batch sent cmd %d % x\nsingle call sent cmd %d % x", i, b.cmd, b.attrs, a.cmd, a.attrs)
		}
	}
}
