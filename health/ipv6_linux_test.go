//go:build linux

package health_test

import (
	"context"
	"net/http"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/stretchr/testify/require"
)

// pair is a director and a peer on one veth, with IPv4 and IPv6
// addresses (no duplicate address detection, so they work at once).
type pair struct {
	director, peer *nstest.NS
	ipvs           *ipvs.Client
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{director: nstest.New(t), peer: nstest.New(t)}
	nstest.Veth(t, p.director, "eth0", p.peer, "eth0")
	p.director.AddAddr(t, "eth0", netip.MustParsePrefix("10.7.0.1/24"), netip.MustParsePrefix("fd07::1/64"))
	p.peer.AddAddr(t, "eth0", netip.MustParsePrefix("10.7.0.2/24"), netip.MustParsePrefix("fd07::2/64"))
	c, err := ipvs.New(&ipvs.Config{NetNSPath: p.director.Path})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	p.ipvs = c
	return p
}

// verdict runs a one-server pool in the director until the server is up,
// or has failed three checks in a row and never been up, and returns its
// state. One lost packet (a neighbour still being resolved on a loaded
// machine) does not decide.
func (p *pair) verdict(t *testing.T, svc ipvs.ServiceKey, s health.Server) health.ServerState {
	t.Helper()
	pool, stop := run(t, health.Config{IPVS: p.ipvs, Service: svc, NetNSPath: p.director.Path, Start: health.StartDown,
		Timing: health.Timing{Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1}, Servers: []health.Server{s}})
	defer stop()
	var st health.ServerState
	waitFor(t, "a verdict", 60*time.Second, func() bool {
		st = pool.Snapshot().Servers[0]
		return st.Up && st.Weight > 0 || st.Failures >= 3 && st.Successes == 0 && st.Checks == uint64(st.Failures)
	})
	return st
}

// ICMP and ICMPv6 echo from the director's namespace: through a raw socket
// where ping_group_range admits no group (the default), through a ping
// socket where it admits root's; an address nobody has fails.
func TestKernelICMP(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	for i, rangeVal := range []string{"1 0", "0 2147483647"} {
		sysctl(t, p.director, "net.ipv4.ping_group_range", rangeVal)
		for _, tc := range []struct {
			svc    ipvs.ServiceKey
			server string
			up     bool
		}{
			{ipvs.ServiceKey{Family: ipvs.IPv4, Fwmark: uint32(10 + i)}, "10.7.0.2", true},
			{ipvs.ServiceKey{Family: ipvs.IPv4, Fwmark: uint32(20 + i)}, "10.7.0.9", false},
			{ipvs.ServiceKey{Family: ipvs.IPv6, Fwmark: uint32(30 + i)}, "fd07::2", true},
			{ipvs.ServiceKey{Family: ipvs.IPv6, Fwmark: uint32(40 + i)}, "fd07::9", false},
		} {
			require.NoError(t, p.ipvs.CreateService(ctx(t), ipvs.Service{ServiceKey: tc.svc, Scheduler: ipvs.RoundRobin}))
			st := p.verdict(t, tc.svc, health.Server{
				Destination: ipvs.Destination{Address: netip.MustParseAddr(tc.server), Port: 0, Forward: ipvs.DirectRoute, Weight: 2},
				Checker:     health.ICMP{}})
			require.Equal(t, tc.up, st.Up, "ping %s with ping_group_range %q: %+v", tc.server, rangeVal, st)
			if !tc.up {
				require.ErrorIs(t, st.LastError, health.ErrCheckFailed)
			}
		}
	}
}

// An IPv6 virtual service whose real server is checked over IPv6 (TCP and
// HTTP, from a given source address) is driven like an IPv4 one.
func TestKernelIPv6Service(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.peer.ServeHTTP(t, "[fd07::2]:80", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	svc := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("fd07::100"), Port: 80}
	require.NoError(t, p.ipvs.CreateService(ctx(t), ipvs.Service{ServiceKey: svc, Scheduler: ipvs.RoundRobin}))
	rs := netip.MustParseAddrPort("[fd07::2]:80")
	pool, _ := run(t, health.Config{IPVS: p.ipvs, Service: svc, NetNSPath: p.director.Path,
		Timing: health.Timing{Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1},
		Servers: []health.Server{{
			Destination: ipvs.Destination{Address: rs.Addr(), Port: 80, Forward: ipvs.Masquerade, Weight: 4},
			Source:      netip.MustParseAddr("fd07::1"),
			Checker:     &health.HTTP{Path: "/", Body: regexp.MustCompile("^ok$")},
		}}})
	weight := func() (uint32, bool) {
		ds, err := p.ipvs.Destinations(context.Background(), svc)
		require.NoError(t, err)
		for _, d := range ds {
			if d.Address == rs.Addr() {
				return d.Weight, true
			}
		}
		return 0, false
	}
	waitFor(t, "the IPv6 server up", 30*time.Second, func() bool { w, _ := weight(); return w == 4 })
	require.True(t, pool.Snapshot().Servers[0].Up)

	require.NoError(t, pool.AddServer(ctx(t), svc, health.Server{
		Destination: ipvs.Destination{Address: netip.MustParseAddr("fd07::2"), Port: 81, Forward: ipvs.Masquerade, Weight: 3},
		Checker:     health.TCP{}}))
	waitFor(t, "a server with nothing on its port down", 30*time.Second, func() bool {
		for _, s := range pool.Snapshot().Servers {
			if s.Server.Port() == 81 {
				return s.Checks > 0 && !s.Up && s.InIPVS && s.Weight == 0
			}
		}
		return false
	})
}
