//go:build linux

package ipvs_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/stretchr/testify/require"
)

// applyEnv is a client in a fresh namespace and a context bounding the test.
func applyEnv(t *testing.T, limit time.Duration) (*ipvs.Client, *nstest.NS, context.Context) {
	t.Helper()
	ns := nstest.New(t)
	c, err := ipvs.New(&ipvs.Config{NetNSPath: ns.Path})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return c, ns, ctx
}

// randomState draws a desired state from small pools, so that successive
// states overlap: services and destinations are kept, changed, added and
// removed from one step to the next.
func randomState(rng *rand.Rand) ipvs.State {
	keys := []ipvs.ServiceKey{
		{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80},
		{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 443},
		{Protocol: ipvs.UDP, Address: netip.MustParseAddr("10.0.0.2"), Port: 53},
		{Protocol: ipvs.SCTP, Address: netip.MustParseAddr("10.0.0.3"), Port: 3868},
		{Protocol: ipvs.TCP, Address: netip.MustParseAddr("2001:db8::1"), Port: 80},
		{Family: ipvs.IPv4, Fwmark: 7},
		{Family: ipvs.IPv6, Fwmark: 8},
	}
	scheds := []ipvs.Scheduler{"", ipvs.RoundRobin, ipvs.WeightedRoundRobin, ipvs.LeastConnection, ipvs.SourceHashing}
	var st ipvs.State
	for _, k := range keys {
		if rng.Intn(3) == 0 {
			continue
		}
		s := ipvs.ServiceState{Service: ipvs.Service{ServiceKey: k, Scheduler: scheds[rng.Intn(len(scheds))]}}
		if rng.Intn(3) == 0 {
			s.Flags = ipvs.FlagPersistent
			s.Timeout = time.Duration(1+rng.Intn(600)) * time.Second
		}
		if s.Scheduler == ipvs.SourceHashing && rng.Intn(2) == 0 {
			s.Flags |= ipvs.FlagSHPort
		}
		fam := ipvs.FamilyOf(k.Address)
		if k.Fwmark != 0 {
			fam = k.Family
		}
		for i := 1; i <= 6; i++ {
			if rng.Intn(2) == 0 {
				continue
			}
			a := netip.MustParseAddr(fmt.Sprintf("192.168.1.%d", i))
			if fam == ipvs.IPv6 {
				a = netip.MustParseAddr(fmt.Sprintf("2001:db8:1::%d", i))
			}
			d := ipvs.Destination{Address: a, Port: k.Port, Weight: uint32(rng.Intn(4)), Forward: ipvs.DirectRoute}
			if rng.Intn(2) == 0 {
				d.Forward, d.Port = ipvs.Masquerade, uint16(8000+rng.Intn(3))
			}
			if rng.Intn(4) == 0 {
				d.UpperThreshold, d.LowerThreshold = 100, uint32(rng.Intn(100))
			}
			s.Destinations = append(s.Destinations, d)
		}
		st.Services = append(st.Services, s)
	}
	rng.Shuffle(len(st.Services), func(i, j int) { st.Services[i], st.Services[j] = st.Services[j], st.Services[i] })
	return st
}

// render prints a state in a canonical, sorted form: services as the
// kernel reports them (explicit family, wlc for the default scheduler).
func render(svcs []ipvs.ServiceState) string {
	var lines []string
	for _, s := range svcs {
		sv := s.Service
		if sv.Fwmark == 0 {
			sv.Family = ipvs.FamilyOf(sv.Address)
		}
		if sv.Scheduler == "" {
			sv.Scheduler = ipvs.WeightedLeastConnection
		}
		head := fmt.Sprintf("%v %v %v %#x %v %v", sv.ServiceKey, sv.Family, sv.Scheduler, uint32(sv.Flags), sv.Timeout, sv.Netmask)
		lines = append(lines, head)
		for _, d := range s.Destinations {
			lines = append(lines, fmt.Sprintf("%s -> %v %v w%d %d/%d", head, d, d.Forward, d.Weight, d.UpperThreshold, d.LowerThreshold))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func snapshotState(t *testing.T, ctx context.Context, c *ipvs.Client) []ipvs.ServiceState {
	t.Helper()
	snap, err := c.Snapshot(ctx)
	require.NoError(t, err)
	out := make([]ipvs.ServiceState, len(snap))
	for i, s := range snap {
		out[i].Service = s.Service
		for _, d := range s.Destinations {
			out[i].Destinations = append(out[i].Destinations, d.Destination)
		}
	}
	return out
}

// TestKernelApplyRandomStates applies a seeded sequence of random desired
// states and compares the kernel's state with each one, in our own reading
// and in ipvsadm's; applying a state again must write nothing. A service
// outside the caller's scope must survive every step untouched.
func TestKernelApplyRandomStates(t *testing.T) {
	c, ns, ctx := applyEnv(t, 60*time.Second)
	ns.Exec(t, "ipvsadm", "-A", "-t", "10.9.9.9:9999", "-s", "rr")
	ns.Exec(t, "ipvsadm", "-a", "-t", "10.9.9.9:9999", "-r", "10.9.9.10:9999", "-g", "-w", "3")
	foreign := ipvs.ServiceKey{Family: ipvs.IPv4, Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.9.9.9"), Port: 9999}
	// Random states delete most services at times, the last one all.
	opts := &ipvs.ApplyOptions{Owns: func(k ipvs.ServiceKey) bool { return k != foreign }, AllowMassDelete: true}

	const seed = 20261122
	rng := rand.New(rand.NewSource(seed))
	for step := 0; step < 12; step++ {
		want := randomState(rng)
		res, err := c.Apply(ctx, want, opts)
		require.NoError(t, err, "seed %d step %d", seed, step)
		failed, _ := res.Failed()
		require.Empty(t, failed)

		got := snapshotState(t, ctx, c)
		var mine, theirs []ipvs.ServiceState
		for _, s := range got {
			if s.ServiceKey == foreign {
				theirs = append(theirs, s)
			} else {
				mine = append(mine, s)
			}
		}
		require.Equal(t, render(want.Services), render(mine), "seed %d step %d: kernel differs from the desired state after %v", seed, step, res)
		require.Len(t, theirs, 1, "step %d: the foreign service was touched", step)
		require.Len(t, theirs[0].Destinations, 1)

		// ipvsadm sees the same number of services and destinations.
		lines := strings.Split(strings.TrimSpace(stableExec(t, ns, "ipvsadm", "-Sn")), "\n")
		n := 1 + len(theirs[0].Destinations)
		for _, s := range want.Services {
			n += 1 + len(s.Destinations)
		}
		require.Len(t, lines, n, "step %d: ipvsadm -Sn:\n%s", step, strings.Join(lines, "\n"))

		again, err := c.Apply(ctx, want, opts)
		require.NoError(t, err)
		require.Zero(t, again.Writes(), "step %d: a second Apply of the same state wrote %v", step, again.Applied())
	}

	// The empty state removes everything we own, and only that.
	res, err := c.Apply(ctx, ipvs.State{}, opts)
	require.NoError(t, err)
	got := snapshotState(t, ctx, c)
	require.Len(t, got, 1, "after %v", res)
	require.Equal(t, foreign, got[0].ServiceKey)
}

// TestKernelBatchErrorsMidway sends a batch whose middle fails in the
// kernel: the result names exactly what was applied, and the kernel holds
// exactly that.
func TestKernelBatchErrorsMidway(t *testing.T) {
	c, _, ctx := applyEnv(t, 30*time.Second)
	a := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	b := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.2"), Port: 80}
	cc := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.3"), Port: 80}
	dst := func(i int) ipvs.Destination {
		return ipvs.Destination{Address: netip.AddrFrom4([4]byte{192, 168, 1, byte(i)}), Port: 80, Forward: ipvs.DirectRoute, Weight: 1}
	}
	res, err := c.Batch().
		CreateService(ipvs.Service{ServiceKey: a}).
		CreateDestination(a, dst(1)).
		CreateService(ipvs.Service{ServiceKey: b, Scheduler: "nosuchsched"}). // no module: ENOENT
		CreateDestination(b, dst(2)).                                         // its service is missing: ESRCH
		CreateDestination(a, dst(1)).                                         // again: EEXIST
		CreateService(ipvs.Service{ServiceKey: cc}).
		CreateDestination(cc, dst(3)).
		Commit(ctx)
	require.Error(t, err)
	require.ErrorIs(t, err, ipvs.ErrUnavailable, "the error wraps the first failure")
	require.Contains(t, err.Error(), "3 of 7")
	require.Len(t, res.Errs, 7)
	for i, want := range []error{nil, nil, ipvs.ErrUnavailable, ipvs.ErrNotExist, ipvs.ErrExist, nil, nil} {
		if want == nil {
			require.NoError(t, res.Errs[i], "change %d %v", i, res.Changes[i])
		} else {
			require.ErrorIs(t, res.Errs[i], want, "change %d %v", i, res.Changes[i])
		}
	}
	var applied []string
	for _, ch := range res.Applied() {
		applied = append(applied, ch.String())
	}
	require.Equal(t, []string{
		"create service TCP 10.0.0.1:80", "create destination TCP 10.0.0.1:80 -> 192.168.1.1:80",
		"create service TCP 10.0.0.3:80", "create destination TCP 10.0.0.3:80 -> 192.168.1.3:80",
	}, applied)
	require.Equal(t, render([]ipvs.ServiceState{
		{Service: ipvs.Service{ServiceKey: a}, Destinations: []ipvs.Destination{dst(1)}},
		{Service: ipvs.Service{ServiceKey: cc}, Destinations: []ipvs.Destination{dst(3)}},
	}), render(snapshotState(t, ctx, c)))

	// Invalid input is refused before anything is sent.
	_, err = c.Batch().DeleteService(a).CreateDestination(a, ipvs.Destination{Address: netip.MustParseAddr("224.0.0.1"), Port: 80}).Commit(ctx)
	require.ErrorIs(t, err, ipvs.ErrInvalid)
	got := snapshotState(t, ctx, c)
	require.Len(t, got, 2, "a rejected batch must change nothing")

	// Apply reports the same way: the service the kernel refuses fails,
	// and so do its destinations; the rest is applied.
	want := ipvs.State{Services: []ipvs.ServiceState{
		{Service: ipvs.Service{ServiceKey: a}, Destinations: []ipvs.Destination{dst(1), dst(4)}},
		{Service: ipvs.Service{ServiceKey: b, Scheduler: "nosuchsched"}, Destinations: []ipvs.Destination{dst(2)}},
	}}
	ares, err := c.Apply(ctx, want, nil)
	require.ErrorIs(t, err, ipvs.ErrUnavailable)
	var ok, failed []string
	for _, ch := range ares.Applied() {
		ok = append(ok, ch.String())
	}
	refused, errs := ares.Failed()
	for _, ch := range refused {
		failed = append(failed, ch.String())
	}
	sort.Strings(ok)
	require.Equal(t, []string{"create destination TCP 10.0.0.1:80 -> 192.168.1.4:80", "delete service TCP 10.0.0.3:80"}, ok)
	require.Equal(t, []string{"create service TCP 10.0.0.2:80", "create destination TCP 10.0.0.2:80 -> 192.168.1.2:80"}, failed)
	require.True(t, errors.Is(errs[1], ipvs.ErrNotExist))
	require.Equal(t, render(want.Services[:1]), render(snapshotState(t, ctx, c)))
}
