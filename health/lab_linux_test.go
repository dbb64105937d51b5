//go:build linux

package health_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/stretchr/testify/require"
)

// The DR lab: one L2 segment 10.0.0.0/24 with a client (.10), a director
// (.1, VIP .100 on eth0) and real servers (.11, .12, ...) that hold the VIP
// on lo with ARP suppression, as direct routing needs.
var vip = netip.MustParseAddr("10.0.0.100")

type lab struct {
	client, director *nstest.NS
	rs               []*realServer
	ipvs             *ipvs.Client
	svc              ipvs.ServiceKey
}

// realServer is an HTTP server in its own namespace answering its name,
// that a test can stop and start again.
type realServer struct {
	ns   *nstest.NS
	name string
	addr netip.Addr
	mu   sync.Mutex
	srv  *http.Server
	hits atomic.Int64 // requests answered
}

func (r *realServer) start(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return
	}
	l, err := r.ns.Listen("tcp", ":80")
	require.NoError(t, err)
	name := r.name
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r.hits.Add(1)
		io.WriteString(w, name)
	}), ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(l)
}

func (r *realServer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

func (r *realServer) dest() netip.AddrPort { return netip.AddrPortFrom(r.addr, 80) }

func sysctl(t *testing.T, ns *nstest.NS, key, val string) {
	t.Helper()
	require.NoError(t, ns.Do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/")), []byte(val), 0)
	}))
}

// newLab builds the DR lab with n real servers; with brokenVIP[i] the i-th
// real server lacks the VIP on lo, the classic broken DR set-up.
func newLab(t *testing.T, names []string, brokenVIP map[int]bool) *lab {
	t.Helper()
	l := &lab{client: nstest.New(t), director: nstest.New(t)}
	members := []nstest.Member{
		{NS: l.client, Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.10/24")}},
		{NS: l.director, Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24"), netip.PrefixFrom(vip, 32)}},
	}
	for i, name := range names {
		r := &realServer{ns: nstest.New(t), name: name, addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(11 + i)})}
		sysctl(t, r.ns, "net.ipv4.conf.all.arp_ignore", "1")
		sysctl(t, r.ns, "net.ipv4.conf.all.arp_announce", "2")
		if !brokenVIP[i] {
			r.ns.AddAddr(t, "lo", netip.PrefixFrom(vip, 32))
		}
		members = append(members, nstest.Member{NS: r.ns, Name: "eth0", Addrs: []netip.Prefix{netip.PrefixFrom(r.addr, 24)}})
		l.rs = append(l.rs, r)
	}
	nstest.Segment(t, "br0", members...)
	for _, r := range l.rs {
		r.start(t)
		t.Cleanup(r.stop)
	}
	c, err := ipvs.New(&ipvs.Config{NetNSPath: l.director.Path})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	l.ipvs = c
	l.svc = ipvs.ServiceKey{Protocol: ipvs.TCP, Address: vip, Port: 80}
	require.NoError(t, c.CreateService(ctx(t), ipvs.Service{ServiceKey: l.svc, Scheduler: ipvs.RoundRobin}))
	return l
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// servers returns pool servers for every real server, DR, weight w.
func (l *lab) servers(w uint32, c health.Checker) []health.Server {
	var out []health.Server
	for _, r := range l.rs {
		out = append(out, health.Server{
			Destination: ipvs.Destination{Address: r.addr, Port: 80, Forward: ipvs.DirectRoute, Weight: w},
			Checker:     c,
		})
	}
	return out
}

// weights reads the service's destinations: address → weight.
func (l *lab) weights(t *testing.T) map[netip.AddrPort]uint32 {
	t.Helper()
	return weights(t, l.ipvs, l.svc)
}

// weights reads a service's destinations: address → weight.
func weights(t *testing.T, c *ipvs.Client, svc ipvs.ServiceKey) map[netip.AddrPort]uint32 {
	t.Helper()
	ds, err := c.Destinations(ctx(t), svc)
	require.NoError(t, err)
	m := map[netip.AddrPort]uint32{}
	for _, d := range ds {
		m[netip.AddrPortFrom(d.Address, d.Port)] = d.Weight
	}
	return m
}

// get makes one request to the VIP from the client: the answering
// server's name, or an error.
func (l *lab) get() (string, error) {
	return getVIP(&http.Transport{DialContext: l.client.DialContext, DisableKeepAlives: true})
}

// getVIP makes one request to the VIP through tr.
func getVIP(tr *http.Transport) (string, error) {
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + vip.String() + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// run starts the pool and stops it at the test's end; events are
// collected.
type runner struct {
	pool   *health.Pool
	mu     sync.Mutex
	events []health.Event
}

func startPool(t *testing.T, cfg health.Config) *runner {
	t.Helper()
	r := &runner{}
	cfg.Notify = func(e health.Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	}
	p, err := health.New(cfg)
	require.NoError(t, err)
	r.pool = p
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(c) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

// waitEvent waits for an event of kind about server (any if invalid) that
// happened at or after since.
func (r *runner) waitEvent(t *testing.T, kind health.EventKind, server netip.AddrPort, since time.Time, within time.Duration) health.Event {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		r.mu.Lock()
		for _, e := range r.events {
			if e.Kind == kind && (!server.IsValid() || e.Server == server) && !e.Time.Before(since) {
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
	}
	t.Fatalf("no %v event for %v within %v; state: %+v", kind, server, within, r.pool.Snapshot())
	return health.Event{}
}

func (r *runner) waitAllUp(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		s := r.pool.Snapshot()
		up := 0
		for _, sv := range s.Servers {
			// Up changes just before the write; Weight follows it.
			if sv.Up && sv.InIPVS && sv.Weight > 0 && sv.Checks > 0 {
				up++
			}
		}
		if up == len(s.Servers) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not all servers up within %v: %+v", within, r.pool.Snapshot())
}

func (r *runner) count(kind health.EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func (l *lab) httpChecker() health.Checker {
	return &health.HTTP{Path: "/"}
}

func checkerCfg(l *lab, servers []health.Server, tm health.Timing) health.Config {
	return health.Config{IPVS: l.ipvs, Service: l.svc, Servers: servers, Timing: tm, NetNSPath: l.director.Path}
}

func fmtWeights(m map[netip.AddrPort]uint32) string { return fmt.Sprint(m) }

// eventList copies the events seen so far.
func (r *runner) eventList() []health.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]health.Event(nil), r.events...)
}
