package ipvstest_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvstest"
	"github.com/stretchr/testify/require"
)

// step is one call of the sequence, made on the kernel and on the fake.
type step struct {
	name string
	call func(ctx context.Context, c ipvstest.IPVS) (any, error)
}

func do(name string, f func(ctx context.Context, c ipvstest.IPVS) error) step {
	return step{name, func(ctx context.Context, c ipvstest.IPVS) (any, error) { return nil, f(ctx, c) }}
}

func get[T any](name string, f func(ctx context.Context, c ipvstest.IPVS) (T, error)) step {
	return step{name, func(ctx context.Context, c ipvstest.IPVS) (any, error) { return f(ctx, c) }}
}

// sequence exercises every call, with the failures a program meets: the
// kernel's refusals (missing, existing, no module, no device, mixed
// families with a sync daemon) and the package's (validation).
func sequence() []step {
	ctxCancelled, cancel := context.WithCancel(context.Background())
	cancel()
	web := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	dns := ipvs.ServiceKey{Protocol: ipvs.UDP, Address: netip.MustParseAddr("10.0.0.1"), Port: 53}
	mark := ipvs.ServiceKey{Family: ipvs.IPv6, Fwmark: 7}
	v6 := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("2001:db8::1"), Port: 443}
	mapped := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 80}
	// An IPv6 service at an IPv4-mapped address, kept IPv6 by its Family.
	kept6 := ipvs.ServiceKey{Family: ipvs.IPv6, Protocol: ipvs.TCP, Address: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 80}
	rs6m := ipvs.Destination{Family: ipvs.IPv6, Address: netip.MustParseAddr("::ffff:192.168.1.4"), Port: 8080, Forward: ipvs.Masquerade, Weight: 2}
	missing := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.9"), Port: 80}
	mask64, _ := ipvs.NetmaskBits(ipvs.IPv6, 64)
	mask24, _ := ipvs.NetmaskBits(ipvs.IPv4, 24)
	rs := func(a string, port uint16, fwd ipvs.ForwardMethod, w uint32) ipvs.Destination {
		return ipvs.Destination{Address: netip.MustParseAddr(a), Port: port, Forward: fwd, Weight: w}
	}
	tunnel4 := rs("192.168.1.9", 443, ipvs.Tunnel, 1) // an IPv4 server of an IPv6 service
	return []step{
		do("create", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: web, Scheduler: ipvs.RoundRobin})
		}),
		do("create again", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: web, Scheduler: ipvs.WeightedRoundRobin})
		}),
		do("create again through a mapped address", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: mapped})
		}),
		do("unknown scheduler", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: dns, Scheduler: "nosuch"})
		}),
		do("unknown persistence engine", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: dns, Flags: ipvs.FlagPersistent, Timeout: time.Minute, PersistenceEngine: "nope"})
		}),
		do("create UDP with defaults", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: dns, Flags: ipvs.FlagOnePacket | ipvs.FlagPersistent, Timeout: time.Minute, Netmask: mask24, PersistenceEngine: ipvs.PersistenceEngineSIP})
		}),
		do("create fwmark", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: mark, Scheduler: ipvs.WeightedRoundRobin})
		}),
		do("create IPv6", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: v6, Scheduler: ipvs.MaglevHashing, Flags: ipvs.FlagPersistent | ipvs.FlagMHPort, Timeout: 300 * time.Second, Netmask: mask64})
		}),
		do("persistence timeout past the bound", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: missing, Flags: ipvs.FlagPersistent, Timeout: 5000 * time.Hour})
		}),
		do("cancelled context", func(_ context.Context, c ipvstest.IPVS) error {
			return c.CreateService(ctxCancelled, ipvs.Service{ServiceKey: missing})
		}),
		get("get", func(ctx context.Context, c ipvstest.IPVS) (ipvs.ServiceInfo, error) { return c.Service(ctx, web) }),
		get("get through a mapped address", func(ctx context.Context, c ipvstest.IPVS) (ipvs.ServiceInfo, error) { return c.Service(ctx, mapped) }),
		get("get missing", func(ctx context.Context, c ipvstest.IPVS) (ipvs.ServiceInfo, error) { return c.Service(ctx, missing) }),
		get("get invalid", func(ctx context.Context, c ipvstest.IPVS) (ipvs.ServiceInfo, error) {
			return c.Service(ctx, ipvs.ServiceKey{Fwmark: 1})
		}),
		do("update missing", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.UpdateService(ctx, ipvs.Service{ServiceKey: missing})
		}),
		do("update", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.UpdateService(ctx, ipvs.Service{ServiceKey: web, Flags: ipvs.FlagPersistent, Timeout: ipvs.MaxPersistTimeout})
		}),
		do("update to an unknown scheduler", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.UpdateService(ctx, ipvs.Service{ServiceKey: web, Scheduler: "nosuch"})
		}),
		do("delete missing", func(ctx context.Context, c ipvstest.IPVS) error { return c.DeleteService(ctx, missing) }),
		do("destination of a missing service", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateDestination(ctx, missing, rs("192.168.1.2", 8080, ipvs.Masquerade, 1))
		}),
		do("destination", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateDestination(ctx, web, rs("192.168.1.2", 8080, ipvs.Masquerade, 1))
		}),
		do("another", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateDestination(ctx, web, rs("192.168.1.3", 8080, ipvs.Masquerade, 2))
		}),
		do("a third, mapped", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateDestination(ctx, web, rs("::ffff:192.168.1.4", 8080, ipvs.Masquerade, 3))
		}),
		do("create IPv6 at a mapped address", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: kept6, Scheduler: ipvs.RoundRobin})
		}),
		get("get IPv6 at a mapped address", func(ctx context.Context, c ipvstest.IPVS) (ipvs.ServiceInfo, error) { return c.Service(ctx, kept6) }),
		do("its IPv6 destination at a mapped address", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateDestination(ctx, kept6, rs6m)
		}),
		do("that destination again", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateDestination(ctx, kept6, rs6m)
		}),
		do("update that destination", func(ctx context.Context, c ipvstest.IPVS) error {
			d := rs6m
			d.Weight = 6
			return c.UpdateDestination(ctx, kept6, d)
		}),
		get("destinations of IPv6 at a mapped address", func(ctx context.Context, c ipvstest.IPVS) ([]ipvs.DestinationInfo, error) {
			return c.Destinations(ctx, kept6)
		}),
		do("delete IPv6 at a mapped address", func(ctx context.Context, c ipvstest.IPVS) error { return c.DeleteService(ctx, kept6) }),
		do("destination again", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateDestination(ctx, web, rs("192.168.1.2", 8080, ipvs.Masquerade, 7))
		}),
		do("update missing destination", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.UpdateDestination(ctx, web, rs("192.168.1.99", 8080, ipvs.Masquerade, 1))
		}),
		do("update destination", func(ctx context.Context, c ipvstest.IPVS) error {
			d := rs("192.168.1.2", 8080, ipvs.Masquerade, 5)
			d.UpperThreshold, d.LowerThreshold = 100, 10
			return c.UpdateDestination(ctx, web, d)
		}),
		do("update destination of a missing service", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.UpdateDestination(ctx, missing, rs("192.168.1.2", 8080, ipvs.Masquerade, 5))
		}),
		do("delete missing destination", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.DeleteDestination(ctx, web, netip.MustParseAddrPort("192.168.1.99:8080"))
		}),
		do("delete destination of a missing service", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.DeleteDestination(ctx, missing, netip.MustParseAddrPort("192.168.1.2:8080"))
		}),
		do("delete destination without address", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.DeleteDestination(ctx, web, netip.AddrPort{})
		}),
		do("delete a destination", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.DeleteDestination(ctx, web, netip.MustParseAddrPort("192.168.1.3:8080"))
		}),
		get("destinations", func(ctx context.Context, c ipvstest.IPVS) ([]ipvs.DestinationInfo, error) {
			return c.Destinations(ctx, web)
		}),
		get("destinations of a missing service", func(ctx context.Context, c ipvstest.IPVS) ([]ipvs.DestinationInfo, error) {
			return c.Destinations(ctx, missing)
		}),
		get("no destinations", func(ctx context.Context, c ipvstest.IPVS) ([]ipvs.DestinationInfo, error) {
			return c.Destinations(ctx, mark)
		}),
		do("link-local destination", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateDestination(ctx, v6, rs("fe80::2", 443, ipvs.Masquerade, 1))
		}),
		do("lower threshold without upper", func(ctx context.Context, c ipvstest.IPVS) error {
			d := rs("192.168.1.5", 8080, ipvs.Masquerade, 1)
			d.LowerThreshold = 1
			return c.CreateDestination(ctx, web, d)
		}),
		do("fwmark destinations", func(ctx context.Context, c ipvstest.IPVS) error {
			if err := c.CreateDestination(ctx, mark, rs("2001:db8::10", 0, ipvs.DirectRoute, 1)); err != nil {
				return err
			}
			return c.CreateDestination(ctx, mark, rs("2001:db8::11", 0, ipvs.DirectRoute, 1))
		}),
		do("IPv4 tunnel of an IPv6 service", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateDestination(ctx, v6, tunnel4)
		}),
		do("daemon with mixed families", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "dum0"})
		}),
		do("delete the tunnel", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.DeleteDestination(ctx, v6, netip.AddrPortFrom(tunnel4.Address, tunnel4.Port))
		}),
		do("master", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "dum0", SyncID: 3})
		}),
		do("master again", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "dum0"})
		}),
		do("backup on a missing interface", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonBackup, Interface: "nosuch0"})
		}),
		do("backup", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonBackup, Interface: "dum0", Group: netip.MustParseAddr("ff02::1:3"), Port: 8850, TTL: 3})
		}),
		get("daemons", func(ctx context.Context, c ipvstest.IPVS) ([]ipvs.Daemon, error) { return c.Daemons(ctx) }),
		do("mixed families with a daemon", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.CreateDestination(ctx, v6, tunnel4)
		}),
		do("stop backup", func(ctx context.Context, c ipvstest.IPVS) error { return c.StopDaemon(ctx, ipvs.DaemonBackup) }),
		do("stop backup again", func(ctx context.Context, c ipvstest.IPVS) error { return c.StopDaemon(ctx, ipvs.DaemonBackup) }),
		do("stop no role", func(ctx context.Context, c ipvstest.IPVS) error { return c.StopDaemon(ctx, 0) }),
		do("stop master", func(ctx context.Context, c ipvstest.IPVS) error { return c.StopDaemon(ctx, ipvs.DaemonMaster) }),
		get("no daemons", func(ctx context.Context, c ipvstest.IPVS) ([]ipvs.Daemon, error) { return c.Daemons(ctx) }),
		get("default timeouts", func(ctx context.Context, c ipvstest.IPVS) (ipvs.Timeouts, error) { return c.Timeouts(ctx) }),
		do("set a timeout", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.SetTimeouts(ctx, ipvs.Timeouts{TCPFin: 60 * time.Second})
		}),
		do("timeout past the bound", func(ctx context.Context, c ipvstest.IPVS) error {
			return c.SetTimeouts(ctx, ipvs.Timeouts{UDP: ipvs.MaxProtocolTimeout + time.Second})
		}),
		get("timeouts", func(ctx context.Context, c ipvstest.IPVS) (ipvs.Timeouts, error) { return c.Timeouts(ctx) }),
		get("info", func(ctx context.Context, c ipvstest.IPVS) (ipvs.Info, error) { return c.Info(ctx) }),
		do("zero", func(ctx context.Context, c ipvstest.IPVS) error { return c.Zero(ctx) }),
		do("zero a service", func(ctx context.Context, c ipvstest.IPVS) error { return c.ZeroService(ctx, web) }),
		do("zero a missing service", func(ctx context.Context, c ipvstest.IPVS) error { return c.ZeroService(ctx, missing) }),
		do("delete", func(ctx context.Context, c ipvstest.IPVS) error { return c.DeleteService(ctx, dns) }),
		apply("apply a truncated state", func(cur ipvs.State) ipvs.State {
			return ipvs.State{Services: cur.Services[:1]}
		}, nil),
		apply("apply an empty state", func(ipvs.State) ipvs.State { return ipvs.State{} }, nil),
		apply("apply with a missing scheduler", func(cur ipvs.State) ipvs.State {
			bad := ipvs.ServiceState{Service: ipvs.Service{ServiceKey: dns, Scheduler: "nosuch"}, Destinations: []ipvs.Destination{rs("192.168.1.7", 53, ipvs.Masquerade, 1)}}
			good := ipvs.ServiceState{Service: ipvs.Service{ServiceKey: missing, Scheduler: ipvs.SourceHashing, Flags: ipvs.FlagSHPort}, Destinations: []ipvs.Destination{rs("192.168.1.8", 80, ipvs.DirectRoute, 4)}}
			return ipvs.State{Services: append(cur.Services, bad, good)}
		}, nil),
		apply("apply changes", func(cur ipvs.State) ipvs.State {
			out := ipvs.State{}
			for _, s := range cur.Services {
				if s.Fwmark != 0 {
					continue // deleted: one of four
				}
				s.Scheduler = ipvs.LeastConnection
				if len(s.Destinations) > 0 {
					s.Destinations[0].Weight++
					s.Destinations = s.Destinations[:1]
				}
				out.Services = append(out.Services, s)
			}
			return out
		}, nil),
		apply("apply the same", func(cur ipvs.State) ipvs.State { return cur }, nil),
		apply("apply an invalid state", func(cur ipvs.State) ipvs.State {
			return ipvs.State{Services: append(cur.Services, cur.Services[0])}
		}, nil),
		get("services", func(ctx context.Context, c ipvstest.IPVS) ([]ipvs.ServiceInfo, error) {
			return sortedServices(c.Services(ctx))
		}),
		get("snapshot", func(ctx context.Context, c ipvstest.IPVS) ([]ipvs.ServiceSnapshot, error) {
			return sortedSnapshot(c.Snapshot(ctx))
		}),
		do("flush", func(ctx context.Context, c ipvstest.IPVS) error { return c.Flush(ctx) }),
		get("empty", func(ctx context.Context, c ipvstest.IPVS) ([]ipvs.ServiceSnapshot, error) { return c.Snapshot(ctx) }),
	}
}

// applyOutcome is what a caller can ask an ApplyResult, in an order that
// does not depend on the kernel's listing order.
type applyOutcome struct {
	Writes   int
	Applied  []string
	Failed   []string
	Draining []ipvs.Draining
}

// apply applies the state made from the current one (read with Snapshot).
func apply(name string, desired func(cur ipvs.State) ipvs.State, opts *ipvs.ApplyOptions) step {
	return get(name, func(ctx context.Context, c ipvstest.IPVS) (applyOutcome, error) {
		snap, err := sortedSnapshot(c.Snapshot(ctx))
		if err != nil {
			return applyOutcome{}, err
		}
		var cur ipvs.State
		for _, s := range snap {
			st := ipvs.ServiceState{Service: s.Service}
			for _, d := range s.Destinations {
				st.Destinations = append(st.Destinations, d.Destination)
			}
			cur.Services = append(cur.Services, st)
		}
		res, err := c.Apply(ctx, desired(cur), opts)
		out := applyOutcome{Writes: res.Writes(), Draining: res.Draining}
		for _, ch := range res.Applied() {
			out.Applied = append(out.Applied, fmt.Sprintf("%v %+v", ch, ch.Destination))
		}
		failed, errs := res.Failed()
		for i, ch := range failed {
			out.Failed = append(out.Failed, fmt.Sprintf("%v: %+v", ch, *shape(errs[i])))
		}
		slices.Sort(out.Applied)
		slices.Sort(out.Failed)
		return out, err
	})
}

// The kernel lists services in its hash table's order.
func sortedServices(s []ipvs.ServiceInfo, err error) ([]ipvs.ServiceInfo, error) {
	slices.SortFunc(s, func(a, b ipvs.ServiceInfo) int { return compare(a.ServiceKey, b.ServiceKey) })
	return s, err
}

func sortedSnapshot(s []ipvs.ServiceSnapshot, err error) ([]ipvs.ServiceSnapshot, error) {
	slices.SortFunc(s, func(a, b ipvs.ServiceSnapshot) int { return compare(a.ServiceKey, b.ServiceKey) })
	return s, err
}

func compare(a, b ipvs.ServiceKey) int {
	return slices.Compare([]string{fmt.Sprint(a.Fwmark), a.String()}, []string{fmt.Sprint(b.Fwmark), b.String()})
}

// errorShape is everything a caller can ask an error.
type errorShape struct {
	Text              string
	Op, Object, Field string
	Sentinels         []string
	Errno             syscall.Errno
}

func shape(err error) *errorShape {
	if err == nil {
		return nil
	}
	s := &errorShape{Text: err.Error()}
	var e *ipvs.Error
	if errors.As(err, &e) {
		s.Op, s.Object, s.Field = e.Op, e.Object, e.Field
	}
	for _, sentinel := range append(errs.All(), context.Canceled) {
		if errors.Is(err, sentinel) {
			s.Sentinels = append(s.Sentinels, sentinel.Error())
		}
	}
	slices.Sort(s.Sentinels)
	errors.As(err, &s.Errno)
	return s
}

// TestKernelSameAsFake runs one sequence of calls against the kernel and
// against ipvstest and compares every result and every error.
func TestKernelSameAsFake(t *testing.T) {
	ns := nstest.New(t)
	ns.Exec(t, "ip", "link", "add", "dum0", "type", "dummy")
	ns.Exec(t, "ip", "link", "set", "dum0", "multicast", "on")
	ns.AddAddr(t, "dum0", netip.MustParsePrefix("192.168.77.1/24"), netip.MustParsePrefix("fd00:77::1/64"))
	kernel, err := ipvs.New(&ipvs.Config{NetNSPath: ns.Path})
	require.NoError(t, err)
	t.Cleanup(func() { kernel.Close() })
	fake := ipvstest.New()
	fake.AddInterface("dum0", 1500)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	failures := 0
	for i, st := range sequence() {
		want, werr := st.call(ctx, kernel)
		got, gerr := st.call(ctx, fake)
		require.Equal(t, shape(werr), shape(gerr), "step %d %q: errors differ (kernel: %v; fake: %v)", i, st.name, werr, gerr)
		require.Equal(t, want, got, "step %d %q: results differ", i, st.name)
		if werr != nil {
			failures++
		}
	}
	t.Logf("%d calls, %d of them failing, alike on the kernel and the fake", len(sequence()), failures)
	require.GreaterOrEqual(t, failures, 25, "the sequence no longer exercises the failures")
}
