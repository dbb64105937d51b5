//go:build linux

package ipvs_test

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/stretchr/testify/require"
)

// realServer is an HTTP server in its own namespace that can be stopped
// hard (as a terminated pod is) and started again.
type realServer struct {
	ns   *nstest.NS
	addr netip.AddrPort
	srv  *http.Server
}

func (r *realServer) start(t *testing.T) {
	if r.srv != nil {
		return
	}
	l, err := r.ns.Listen("tcp", r.addr.String())
	require.NoError(t, err)
	name := r.addr.Addr().String()
	r.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(100 * time.Millisecond) // keep requests in flight across applies
		io.WriteString(w, name)
	})}
	go r.srv.Serve(l)
}

func (r *realServer) stop() {
	if r.srv != nil {
		r.srv.Close() // in-flight requests die, as with a killed process
		r.srv = nil
	}
}

// drainSteps are the real-server sets of the 20 applies: additions,
// removals, a removal undone before its drain ends (step 3 to 4), and
// replacements.
var drainSteps = [][]int{
	{0, 1}, {0, 1, 2}, {1, 2}, {0, 1, 2}, {0, 2}, {0, 2, 3}, {2, 3}, {3}, {3, 1}, {1, 0},
	{2, 3}, {2, 3, 0}, {3, 0}, {2, 3, 0}, {2, 0}, {2, 0, 1}, {0, 1}, {1}, {1, 3}, {3, 2},
}

// TestKernelDrainUnderTraffic sends HTTP requests without pause through a
// NAT service while 20 applies add, remove and replace its real servers; a
// server is killed as soon as Apply no longer has it in the kernel. With
// graceful drain no request fails. The same run deleting at once (no
// drain) must see failures: that is what the test is able to catch.
//
// Under load (TCG on a busy host) a request can stall for seconds, so the
// drain timeout is generous: a drain almost always lasts all of it, as the
// kernel counts closed connections in TIME_WAIT as inactive for minutes.
func TestKernelDrainUnderTraffic(t *testing.T) {
	t.Run("drain", func(t *testing.T) {
		failed, restored := drainRun(t, 5*time.Second)
		require.Zero(t, failed, "requests failed during graceful drains")
		require.NotZero(t, restored, "no draining server was restored")
	})
	t.Run("no-drain-control", func(t *testing.T) {
		failed, _ := drainRun(t, 0)
		require.NotZero(t, failed, "deleting and killing servers at once should break requests in flight; the drain test could not fail")
	})
}

func drainRun(t *testing.T, drainTimeout time.Duration) (failed, restored int) {
	c, dir, ctx := applyEnv(t, 60*time.Second)
	client := nstest.New(t)
	nstest.Veth(t, client, "eth0", dir, "eth0")
	client.AddAddr(t, "eth0", netip.MustParsePrefix("10.0.0.2/24"))
	dir.AddAddr(t, "eth0", netip.MustParsePrefix("10.0.0.1/24"))
	require.NoError(t, dir.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0) }))

	members := []nstest.Member{{NS: dir, Name: "eth1", Addrs: []netip.Prefix{netip.MustParsePrefix("10.1.0.1/24")}}}
	servers := make([]*realServer, 4)
	for i := range servers {
		ns := nstest.New(t)
		servers[i] = &realServer{ns: ns, addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(10 + i)}), 8080)}
		members = append(members, nstest.Member{NS: ns, Name: "eth0", Addrs: []netip.Prefix{netip.PrefixFrom(servers[i].addr.Addr(), 24)}})
	}
	nstest.Segment(t, "back", members...)
	for _, s := range servers {
		s.ns.Exec(t, "ip", "route", "add", "default", "via", "10.1.0.1")
		t.Cleanup(s.stop)
	}

	vip := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	desired := func(set []int) ipvs.State {
		s := ipvs.ServiceState{Service: ipvs.Service{ServiceKey: vip, Scheduler: ipvs.RoundRobin}}
		for _, i := range set {
			s.Destinations = append(s.Destinations, ipvs.Destination{Address: servers[i].addr.Addr(), Port: 8080, Forward: ipvs.Masquerade, Weight: 1})
		}
		return ipvs.State{Services: []ipvs.ServiceState{s}}
	}
	opts := &ipvs.ApplyOptions{}
	if drainTimeout > 0 {
		opts.DrainTimeout, opts.Drains = drainTimeout, &ipvs.Drains{}
	}
	// apply starts the servers about to be added, applies, and kills the
	// servers no longer in the kernel.
	apply := func(set []int) ipvs.ApplyResult {
		want := map[netip.Addr]bool{}
		for _, i := range set {
			servers[i].start(t)
			want[servers[i].addr.Addr()] = true
		}
		res, err := c.Apply(ctx, desired(set), opts)
		require.NoError(t, err)
		draining := map[netip.Addr]bool{}
		for _, d := range res.Draining {
			draining[d.Destination.Addr()] = true
		}
		for _, ch := range res.Applied() {
			if ch.Op == ipvs.OpUpdateDestination && ch.Destination.Weight > 0 {
				restored++
			}
		}
		for _, s := range servers {
			if !want[s.addr.Addr()] && !draining[s.addr.Addr()] {
				s.stop()
			}
		}
		return res
	}
	apply(drainSteps[0])

	// Three clients, each sending one request after the other, bounded in
	// count and in time.
	var ok, bad atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := client.HTTPClient()
	hc.Timeout = 20 * time.Second
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 2000; n++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				resp, err := hc.Get("http://10.0.0.1/")
				if err == nil {
					var body []byte
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || len(body) == 0) {
						err = fmt.Errorf("status %d body %q", resp.StatusCode, body)
					}
				}
				if err != nil {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	// Between applies, at least 150 ms and a few finished requests (for
	// at most 10 s), so that traffic spans every apply however slow the
	// machine is.
	settle := func() {
		n0 := ok.Load() + bad.Load()
		time.Sleep(150 * time.Millisecond)
		for deadline := time.Now().Add(10 * time.Second); ok.Load()+bad.Load() < n0+3 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, set := range drainSteps[1:] {
		settle()
		apply(set)
	}
	settle()
	close(stop)
	wg.Wait()
	// Finish the drains: the last servers removed go once timed out.
	last := drainSteps[len(drainSteps)-1]
	for deadline := time.Now().Add(drainTimeout + 15*time.Second); len(apply(last).Draining) > 0; {
		require.True(t, time.Now().Before(deadline), "drains did not finish")
		time.Sleep(200 * time.Millisecond)
	}
	snap, err := c.Snapshot(ctx)
	require.NoError(t, err)
	require.Len(t, snap, 1)
	require.Len(t, snap[0].Destinations, len(last))

	t.Logf("drain %v: %d requests ok, %d failed (first: %v), %d restores", drainTimeout, ok.Load(), bad.Load(), firstErr.Load(), restored)
	require.Greater(t, ok.Load(), int64(30), "too few requests to mean anything")
	return int(bad.Load()), restored
}
