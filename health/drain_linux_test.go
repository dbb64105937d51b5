//go:build linux

package health_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/golvs/lvs/ipvs"
	"github.com/stretchr/testify/require"
)

// failSwitch runs its checker until the test switches it to failing.
type failSwitch struct {
	c    health.Checker
	fail atomic.Bool
}

func (f *failSwitch) Check(ctx context.Context, t health.Target) error {
	if f.fail.Load() {
		return health.Failf("switched off by the test")
	}
	return f.c.Check(ctx, t)
}

// heldConn is a client's keep-alive HTTP connection through the VIP.
type heldConn struct {
	c net.Conn
	r *bufio.Reader
}

// get sends one request on the connection and returns the answering
// server's name.
func (h *heldConn) get(t *testing.T) string {
	t.Helper()
	require.NoError(t, h.c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err := io.WriteString(h.c, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(h.r, nil)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	return string(b)
}

// conns reads a destination's active plus inactive connections; -1 when
// it is not listed.
func (l *lab) conns(t *testing.T, k ipvs.ServiceKey, d netip.AddrPort) int {
	t.Helper()
	ds, err := l.ipvs.Destinations(ctx(t), k)
	require.NoError(t, err)
	for _, di := range ds {
		if netip.AddrPortFrom(di.Address, di.Port) == d {
			return int(di.ActiveConns + di.InactiveConns)
		}
	}
	return -1
}

// Graceful drain with real traffic: a failed server with a client's
// connection open stays at weight 0, keeps serving that connection and
// gets no new ones; it is deleted once IPVS counts no connection (soon
// after the client closes, long before Drain), or when Drain has passed
// with the connection still open. A UDP service's server goes at once.
func TestKernelGracefulDrain(t *testing.T) {
	for _, name := range []string{"connections end", "time ends"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t, []string{"rs1", "rs2"}, nil)
			// A closed DR connection lingers in FIN_WAIT for the tcpfin
			// timeout (2 min by default) and counts as inactive.
			require.NoError(t, l.ipvs.SetTimeouts(ctx(t), ipvs.Timeouts{TCPFin: time.Second}))
			drain := 30 * time.Second
			if name == "time ends" {
				drain = 2 * time.Second
			}
			switches := []*failSwitch{{c: l.httpChecker()}, {c: l.httpChecker()}}
			servers := l.servers(1, nil)
			for i := range servers {
				servers[i].Checker = switches[i]
			}
			cfg := checkerCfg(l, servers, health.Timing{Interval: 3 * time.Second, Timeout: 3 * time.Second, Rise: 1, Fall: 2})
			cfg.OnFailure, cfg.Drain, cfg.DrainPoll = health.Remove, drain, 200*time.Millisecond
			cfg.Start = health.StartUp
			r := startPool(t, cfg)
			r.waitAllUp(t, 30*time.Second)

			c, err := l.client.DialContext(ctx(t), "tcp", netip.AddrPortFrom(vip, 80).String())
			require.NoError(t, err)
			defer c.Close()
			held := &heldConn{c: c, r: bufio.NewReader(c)}
			victimName := held.get(t)
			vi := map[string]int{"rs1": 0, "rs2": 1}[victimName]
			victim, other := l.rs[vi], l.rs[1-vi]

			mark := time.Now()
			switches[vi].fail.Store(true)
			down := r.waitEvent(t, health.ServerDown, victim.dest(), mark, 30*time.Second)
			w, listed := l.weights(t)[victim.dest()]
			require.True(t, listed, "draining: still listed")
			require.Zero(t, w, "draining at weight 0")
			require.Equal(t, victimName, held.get(t), "the open connection is still served by the failed server")
			for range 10 {
				got, err := l.get()
				require.NoError(t, err)
				require.Equal(t, other.name, got, "new connections go elsewhere")
			}
			// Several polls with the connection open: still there.
			deadline := time.Now().Add(30 * time.Second)
			for r.pool.Snapshot().Servers[vi].DrainConns == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			require.NotZero(t, r.pool.Snapshot().Servers[vi].DrainConns, "a poll saw the open connection: %+v", r.pool.Snapshot())

			if name == "connections end" {
				time.Sleep(3 * cfg.DrainPoll)
				require.GreaterOrEqual(t, l.conns(t, l.svc, victim.dest()), 1, "still draining with the connection open")
				require.True(t, r.pool.Snapshot().Servers[vi].Draining)
				c.Close()
			}
			var gone time.Time
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if l.conns(t, l.svc, victim.dest()) < 0 {
					gone = time.Now()
					break
				}
			}
			require.False(t, gone.IsZero(), "not deleted: %+v", r.pool.Snapshot())
			took := gone.Sub(down.Time)
			t.Logf("%s: deleted %v after it went down (Drain %v)", name, took.Round(time.Millisecond), drain)
			// The pool records the deletion right after its write: give its
			// snapshot a bounded moment to catch up with the kernel.
			s := r.pool.Snapshot().Servers[vi]
			for deadline := time.Now().Add(10 * time.Second); (s.Draining || s.InIPVS) && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				s = r.pool.Snapshot().Servers[vi]
			}
			require.False(t, s.Draining)
			require.False(t, s.InIPVS)
			if name == "connections end" {
				require.Less(t, took, drain/2, "deleted when its connections ended, not at the drain time")
				require.Zero(t, s.DrainConns)
			} else {
				require.GreaterOrEqual(t, took, drain, "deleted at the drain time")
				require.NotZero(t, s.DrainConns, "deleted with the connection still counted")
			}
		})
	}

	t.Run("udp at once", func(t *testing.T) {
		t.Parallel()
		l := newLab(t, []string{"rs1"}, nil)
		udp := ipvs.ServiceKey{Protocol: ipvs.UDP, Address: vip, Port: 53}
		require.NoError(t, l.ipvs.CreateService(ctx(t), ipvs.Service{ServiceKey: udp, Scheduler: ipvs.RoundRobin}))
		sw := &failSwitch{c: health.TCP{}}
		d := netip.AddrPortFrom(l.rs[0].addr, 53)
		cfg := checkerCfg(l, []health.Server{{
			Destination: ipvs.Destination{Address: d.Addr(), Port: 53, Forward: ipvs.DirectRoute, Weight: 1},
			Checker:     sw, Connect: l.rs[0].dest(), // the HTTP port answers TCP
		}}, health.Timing{Interval: 3 * time.Second, Timeout: 3 * time.Second, Rise: 1, Fall: 2})
		cfg.Service, cfg.OnFailure, cfg.Drain, cfg.DrainPoll = udp, health.Remove, 30*time.Second, 200*time.Millisecond
		cfg.Start = health.StartUp
		r := startPool(t, cfg)
		r.waitAllUp(t, 30*time.Second)
		// A UDP flow through the service: IPVS holds an entry for it.
		u, err := l.client.DialContext(ctx(t), "udp", netip.AddrPortFrom(vip, 53).String())
		require.NoError(t, err)
		defer u.Close()
		for deadline := time.Now().Add(30 * time.Second); l.conns(t, udp, d) < 1 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			u.Write([]byte("query"))
		}
		require.GreaterOrEqual(t, l.conns(t, udp, d), 1, "the UDP flow is in IPVS")
		mark := time.Now()
		sw.fail.Store(true)
		r.waitEvent(t, health.ServerDown, d, mark, 30*time.Second)
		require.Equal(t, -1, l.conns(t, udp, d), "UDP: deleted at once despite its flow")
		require.False(t, r.pool.Snapshot().Servers[0].Draining)
	})
}
