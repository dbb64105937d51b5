//go:build linux

package ipvs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
)

// Kernel tests: every one works in namespaces it creates (nstest.New), so
// they run in parallel and leave nothing behind.

// newClient opens a client in a fresh namespace of the test's own.
func newClient(t *testing.T) (*ipvs.Client, *nstest.NS) {
	t.Helper()
	ns := nstest.New(t)
	c, err := ipvs.New(&ipvs.Config{NetNSPath: ns.Path})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, ns
}

func tctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func key4(proto ipvs.Protocol, addr string, port uint16) ipvs.ServiceKey {
	return ipvs.ServiceKey{Family: ipvs.FamilyOf(netip.MustParseAddr(addr)), Protocol: proto, Address: netip.MustParseAddr(addr), Port: port}
}

func serviceNamed(name string) ipvs.Service {
	for _, s := range ipvs.GoldenServices {
		if s.Name == name {
			return s.Service
		}
	}
	panic(name)
}

// createGolden creates every golden service and destination in c's
// namespace.
func createGolden(t *testing.T, c *ipvs.Client) {
	t.Helper()
	for _, s := range ipvs.GoldenServices {
		if err := c.CreateService(tctx(t), s.Service); err != nil {
			t.Fatalf("create %s: %v", s.Name, err)
		}
	}
	for _, d := range ipvs.GoldenDestinations {
		if err := c.CreateDestination(tctx(t), serviceNamed(d.Service).ServiceKey, d.Dest); err != nil {
			t.Fatalf("create destination %s: %v", d.Name, err)
		}
	}
}

// TestKernelRoundTrip creates every kind of service and destination and
// reads each back field for field, by listing and by single get.
func TestKernelRoundTrip(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	createGolden(t, c)

	all, err := c.Services(tctx(t))
	must(t, err)
	if len(all) != len(ipvs.GoldenServices) {
		t.Fatalf("listed %d services, want %d", len(all), len(ipvs.GoldenServices))
	}
	byKey := map[ipvs.ServiceKey]ipvs.ServiceInfo{}
	for _, s := range all {
		byKey[s.ServiceKey] = s
	}
	for _, gs := range ipvs.GoldenServices {
		equal(t, gs.Name+" listed", byKey[gs.Service.ServiceKey].Service, gs.Service)
		one, err := c.Service(tctx(t), gs.Service.ServiceKey)
		must(t, err)
		equal(t, gs.Name+" got", one.Service, gs.Service)
	}
	for _, gs := range ipvs.GoldenServices {
		var want []ipvs.Destination
		for _, gd := range ipvs.GoldenDestinations {
			if gd.Service == gs.Name {
				want = append(want, gd.Dest)
			}
		}
		ds, err := c.Destinations(tctx(t), gs.Service.ServiceKey)
		must(t, err)
		var got []ipvs.Destination
		for _, d := range ds {
			got = append(got, d.Destination)
		}
		sortDests(got)
		sortDests(want)
		equal(t, gs.Name+" destinations", got, want)
	}
}

func sortDests(ds []ipvs.Destination) {
	sort.Slice(ds, func(i, j int) bool {
		return netip.AddrPortFrom(ds[i].Address, ds[i].Port).Compare(netip.AddrPortFrom(ds[j].Address, ds[j].Port)) < 0
	})
}

// TestKernelUpdateReplacesEverything proves UpdateService and
// UpdateDestination are full replaces, and that deletes and flush work.
func TestKernelUpdateReplacesEverything(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	full := serviceNamed("tcp6-mh-persistent-prefix64")
	must(t, c.CreateService(tctx(t), full))
	plain := ipvs.Service{ServiceKey: full.ServiceKey, Scheduler: ipvs.RoundRobin}
	must(t, c.UpdateService(tctx(t), plain))
	got, err := c.Service(tctx(t), full.ServiceKey)
	must(t, err)
	equal(t, "after update to plain", got.Service, plain)
	must(t, c.UpdateService(tctx(t), full))
	got, err = c.Service(tctx(t), full.ServiceKey)
	must(t, err)
	equal(t, "after update to full", got.Service, full)

	sip := serviceNamed("udp4-sip")
	must(t, c.CreateService(tctx(t), sip))
	noPE := sip
	noPE.PersistenceEngine = ""
	must(t, c.UpdateService(tctx(t), noPE))
	got, err = c.Service(tctx(t), sip.ServiceKey)
	must(t, err)
	equal(t, "engine removed by update", got.Service, noPE)

	d := ipvs.Destination{Address: netip.MustParseAddr("2001:db8:10::7"), Port: 443, Forward: ipvs.Tunnel, Weight: 9,
		UpperThreshold: 50, LowerThreshold: 5, TunnelType: ipvs.GRE, TunnelFlags: ipvs.TunnelChecksum}
	must(t, c.CreateDestination(tctx(t), full.ServiceKey, d))
	d2 := ipvs.Destination{Address: d.Address, Port: 443, Forward: ipvs.DirectRoute}
	must(t, c.UpdateDestination(tctx(t), full.ServiceKey, d2))
	ds, err := c.Destinations(tctx(t), full.ServiceKey)
	must(t, err)
	if len(ds) != 1 {
		t.Fatalf("%d destinations", len(ds))
	}
	equal(t, "destination after update", ds[0].Destination, d2)

	must(t, c.DeleteDestination(tctx(t), full.ServiceKey, netip.AddrPortFrom(d.Address, 443)))
	ds, err = c.Destinations(tctx(t), full.ServiceKey)
	if err != nil || len(ds) != 0 {
		t.Fatalf("after delete: %v, %v", ds, err)
	}
	must(t, c.DeleteService(tctx(t), full.ServiceKey))
	if _, err := c.Service(tctx(t), full.ServiceKey); !errors.Is(err, ipvs.ErrNotExist) {
		t.Fatalf("deleted service: %v", err)
	}
	must(t, c.CreateService(tctx(t), full))
	must(t, c.Flush(tctx(t)))
	svcs, err := c.Services(tctx(t))
	if err != nil || svcs != nil {
		t.Fatalf("after flush: %v, %v (want nil, nil)", svcs, err)
	}
}

// TestKernelErrors checks that each kernel errno comes back as the
// documented sentinel, with the errno still visible.
func TestKernelErrors(t *testing.T) {
	t.Parallel()
	c, ns := newClient(t)
	vip := key4(ipvs.TCP, "10.0.0.1", 80)
	missing := key4(ipvs.TCP, "10.0.0.9", 80)
	dst := ipvs.Destination{Address: netip.MustParseAddr("192.168.10.1"), Port: 80, Forward: ipvs.Masquerade, Weight: 1}
	must(t, c.CreateService(tctx(t), ipvs.Service{ServiceKey: vip}))
	must(t, c.CreateDestination(tctx(t), vip, dst))
	syncInterface(t, ns)

	svcs, err := c.Services(tctx(t))
	if err != nil || len(svcs) != 1 {
		t.Fatalf("services: %v %v", svcs, err)
	}

	tests := []struct {
		name  string
		call  func(ctx context.Context) error
		want  error
		errno syscall.Errno
	}{
		{"create existing service", func(ctx context.Context) error { return c.CreateService(ctx, ipvs.Service{ServiceKey: vip}) }, ipvs.ErrExist, syscall.EEXIST},
		{"unknown scheduler", func(ctx context.Context) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: missing, Scheduler: "nosuch"})
		}, ipvs.ErrUnavailable, syscall.ENOENT},
		{"unknown scheduler on update", func(ctx context.Context) error {
			return c.UpdateService(ctx, ipvs.Service{ServiceKey: vip, Scheduler: "nosuch"})
		}, ipvs.ErrUnavailable, syscall.ENOENT},
		{"unknown persistence engine", func(ctx context.Context) error {
			return c.CreateService(ctx, ipvs.Service{ServiceKey: missing, Flags: ipvs.FlagPersistent, Timeout: time.Second, PersistenceEngine: "nosuch"})
		}, ipvs.ErrUnavailable, syscall.ENOENT},
		{"update missing service", func(ctx context.Context) error { return c.UpdateService(ctx, ipvs.Service{ServiceKey: missing}) }, ipvs.ErrNotExist, syscall.ESRCH},
		{"delete missing service", func(ctx context.Context) error { return c.DeleteService(ctx, missing) }, ipvs.ErrNotExist, syscall.ESRCH},
		{"get missing service", func(ctx context.Context) error { _, err := c.Service(ctx, missing); return err }, ipvs.ErrNotExist, syscall.ESRCH},
		{"zero missing service", func(ctx context.Context) error { return c.ZeroService(ctx, missing) }, ipvs.ErrNotExist, syscall.ESRCH},
		{"destinations of missing service", func(ctx context.Context) error { _, err := c.Destinations(ctx, missing); return err }, ipvs.ErrNotExist, syscall.ESRCH},
		{"create destination on missing service", func(ctx context.Context) error { return c.CreateDestination(ctx, missing, dst) }, ipvs.ErrNotExist, syscall.ESRCH},
		{"update destination on missing service", func(ctx context.Context) error { return c.UpdateDestination(ctx, missing, dst) }, ipvs.ErrNotExist, syscall.ESRCH},
		{"delete destination on missing service", func(ctx context.Context) error {
			return c.DeleteDestination(ctx, missing, netip.MustParseAddrPort("192.168.10.1:80"))
		}, ipvs.ErrNotExist, syscall.ESRCH},
		{"create existing destination", func(ctx context.Context) error { return c.CreateDestination(ctx, vip, dst) }, ipvs.ErrExist, syscall.EEXIST},
		{"update missing destination", func(ctx context.Context) error {
			d := dst
			d.Port = 81
			return c.UpdateDestination(ctx, vip, d)
		}, ipvs.ErrNotExist, syscall.ENOENT},
		{"delete missing destination", func(ctx context.Context) error {
			return c.DeleteDestination(ctx, vip, netip.MustParseAddrPort("192.168.10.1:81"))
		}, ipvs.ErrNotExist, syscall.ENOENT},
		{"stop daemon not running", func(ctx context.Context) error { return c.StopDaemon(ctx, ipvs.DaemonBackup) }, ipvs.ErrNotExist, syscall.ESRCH},
		{"daemon on missing interface", func(ctx context.Context) error {
			return c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "nosuch0"})
		}, ipvs.ErrInvalid, syscall.ENODEV},
		{"start daemon twice", func(ctx context.Context) error {
			if err := c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "dum0"}); err != nil {
				return fmt.Errorf("first start: %w", err)
			}
			return c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "dum0"})
		}, ipvs.ErrExist, syscall.EEXIST},
		// The kernel refuses mixed-family destinations while a sync daemon
		// runs (the one started just above).
		{"mixed family while syncing", func(ctx context.Context) error {
			return c.CreateDestination(ctx, vip, ipvs.Destination{Address: netip.MustParseAddr("2001:db8::2"), Port: 80, Forward: ipvs.Tunnel, Weight: 1})
		}, ipvs.ErrInvalid, syscall.EINVAL},
	}
	for _, tt := range tests {
		err := tt.call(tctx(t))
		var e *ipvs.Error
		if !errors.As(err, &e) || !errors.Is(err, tt.want) || !errors.Is(err, tt.errno) {
			t.Errorf("%s: got %v, want %v with errno %v", tt.name, err, tt.want, tt.errno)
			continue
		}
		for _, other := range errs.All() {
			if other != tt.want && errors.Is(err, other) {
				t.Errorf("%s: %v also matches %v", tt.name, err, other)
			}
		}
	}
	stopDaemon(t, c, ipvs.DaemonMaster)
	// Nothing above changed the table.
	svcs, err = c.Services(tctx(t))
	if err != nil || len(svcs) != 1 || svcs[0].Service != (ipvs.Service{ServiceKey: vip, Scheduler: "wlc"}) {
		t.Fatalf("table changed: %+v %v", svcs, err)
	}
}

// syncInterface adds dum0, a dummy interface with multicast and an
// address of each family, as the sync daemons need.
func syncInterface(t *testing.T, ns *nstest.NS) {
	t.Helper()
	ns.Exec(t, "ip", "link", "add", "dum0", "type", "dummy")
	ns.Exec(t, "ip", "link", "set", "dum0", "multicast", "on")
	ns.AddAddr(t, "dum0", netip.MustParsePrefix("192.168.77.1/24"), netip.MustParsePrefix("fd00:77::1/64"))
}

// TestKernelTwos: Debian's 6.1 does not build ip_vs_twos, its 6.12 does.
// Where the module file is missing the error must be ErrUnavailable; where it
// exists the scheduler must work.
func TestKernelTwos(t *testing.T) {
	t.Parallel()
	c, ns := newClient(t)
	release := strings.TrimSpace(ns.Exec(t, "uname", "-r"))
	mods, _ := filepath.Glob("/lib/modules/" + release + "/kernel/net/netfilter/ipvs/ip_vs_twos.ko*")
	builtin, _ := os.ReadFile("/lib/modules/" + release + "/modules.builtin")
	have := len(mods) > 0 || strings.Contains(string(builtin), "/ip_vs_twos.ko")
	s := ipvs.Service{ServiceKey: key4(ipvs.TCP, "10.0.0.1", 80), Scheduler: ipvs.TwoRandomChoices}
	err := c.CreateService(tctx(t), s)
	if !have {
		if !errors.Is(err, ipvs.ErrUnavailable) || !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("twos without its module: %v, want ErrUnavailable", err)
		}
		return
	}
	must(t, err)
	got, err := c.Service(tctx(t), s.ServiceKey)
	must(t, err)
	equal(t, "twos service", got.Service, s)
}

// stopDaemon stops a sync daemon.
func stopDaemon(t *testing.T, c *ipvs.Client, s ipvs.DaemonState) {
	t.Helper()
	must(t, c.StopDaemon(tctx(t), s))
}

// TestKernelDaemonsTimeoutsInfo starts and stops both sync daemons with
// every attribute, and sets and reads the timeouts.
func TestKernelDaemonsTimeoutsInfo(t *testing.T) {
	t.Parallel()
	c, ns := newClient(t)
	syncInterface(t, ns)

	ds, err := c.Daemons(tctx(t))
	if err != nil || ds != nil {
		t.Fatalf("daemons before: %v %v", ds, err)
	}
	for _, d := range ipvs.GoldenDaemons {
		must(t, c.StartDaemon(tctx(t), d))
	}
	ds, err = c.Daemons(tctx(t))
	must(t, err)
	sort.Slice(ds, func(i, j int) bool { return ds[i].State < ds[j].State })
	equal(t, "daemons", ds, ipvs.GoldenDaemons)
	stopDaemon(t, c, ipvs.DaemonMaster)
	ds, err = c.Daemons(tctx(t))
	must(t, err)
	equal(t, "daemons after stopping the master", ds, ipvs.GoldenDaemons[1:])
	stopDaemon(t, c, ipvs.DaemonBackup)
	ds, err = c.Daemons(tctx(t))
	if err != nil || ds != nil {
		t.Fatalf("daemons after: %v %v", ds, err)
	}

	// Defaults: the kernel fills in group, port, TTL and the length.
	must(t, c.StartDaemon(tctx(t), ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "dum0"}))
	ds, err = c.Daemons(tctx(t))
	must(t, err)
	equal(t, "default daemon", ds, []ipvs.Daemon{{State: ipvs.DaemonMaster, Interface: "dum0",
		MaxLen: 1472, Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1}})
	stopDaemon(t, c, ipvs.DaemonMaster)

	tm, err := c.Timeouts(tctx(t))
	must(t, err)
	equal(t, "default timeouts", tm, ipvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second})
	must(t, c.SetTimeouts(tctx(t), ipvs.Timeouts{TCPFin: 30 * time.Second}))
	tm, err = c.Timeouts(tctx(t))
	must(t, err)
	equal(t, "timeouts, only TCPFin set", tm, ipvs.Timeouts{TCP: 900 * time.Second, TCPFin: 30 * time.Second, UDP: 300 * time.Second})
	must(t, c.SetTimeouts(tctx(t), ipvs.GoldenTimeouts))
	tm, err = c.Timeouts(tctx(t))
	must(t, err)
	equal(t, "timeouts", tm, ipvs.GoldenTimeouts)
	if out := ns.Exec(t, "ipvsadm", "-Ln", "--timeout"); out != "Timeout (tcp tcpfin udp): 600 60 30\n" {
		t.Fatalf("ipvsadm --timeout: %q", out)
	}

	in, err := c.Info(tctx(t))
	must(t, err)
	equal(t, "info", in, ipvs.GoldenInfo)
}

// lab is a NAT service between three namespaces: a client (10.0.0.2), the
// director (VIP 10.0.0.1 on its eth0) and a real server (192.168.10.1)
// whose default route is the director.
type lab struct {
	cl, lb, rs *nstest.NS
	c          *ipvs.Client
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{cl: nstest.New(t), lb: nstest.New(t), rs: nstest.New(t)}
	nstest.Veth(t, l.cl, "eth0", l.lb, "eth0")
	nstest.Veth(t, l.lb, "eth1", l.rs, "eth0")
	l.cl.AddAddr(t, "eth0", netip.MustParsePrefix("10.0.0.2/24"))
	l.lb.AddAddr(t, "eth0", netip.MustParsePrefix("10.0.0.1/24"))
	l.lb.AddAddr(t, "eth1", netip.MustParsePrefix("192.168.10.254/24"))
	l.rs.AddAddr(t, "eth0", netip.MustParsePrefix("192.168.10.1/24"))
	l.rs.Exec(t, "ip", "route", "add", "default", "via", "192.168.10.254")
	l.lb.Exec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.rs.ServeHTTP(t, "192.168.10.1:8080", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from the real server")
	}))
	var err error
	l.c, err = ipvs.New(&ipvs.Config{NetNSPath: l.lb.Path})
	must(t, err)
	t.Cleanup(func() { l.c.Close() })
	return l
}

// natService makes TCP 10.0.0.1:port a NAT service to the real server.
func (l *lab) natService(t *testing.T, port uint16) ipvs.ServiceKey {
	t.Helper()
	k := key4(ipvs.TCP, "10.0.0.1", port)
	must(t, l.c.CreateService(tctx(t), ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin}))
	must(t, l.c.CreateDestination(tctx(t), k, ipvs.Destination{Address: netip.MustParseAddr("192.168.10.1"), Port: 8080,
		Forward: ipvs.Masquerade, Weight: 1}))
	return k
}

// get makes n HTTP requests through the VIP, each a new connection.
func (l *lab) get(t *testing.T, port uint16, n int) {
	t.Helper()
	hc := l.cl.HTTPClient()
	for i := 0; i < n; i++ {
		resp, err := hc.Get(fmt.Sprintf("http://10.0.0.1:%d/", port))
		if err != nil {
			t.Fatalf("request %d through the VIP: %v", i, err)
		}
		var buf [64]byte
		m, _ := resp.Body.Read(buf[:])
		resp.Body.Close()
		if !strings.HasPrefix(string(buf[:m]), "hello from the real server") {
			t.Fatalf("unexpected answer %q", buf[:m])
		}
	}
}

func (l *lab) stats(t *testing.T, k ipvs.ServiceKey) (ipvs.Stats, ipvs.Stats) {
	t.Helper()
	s, err := l.c.Service(tctx(t), k)
	must(t, err)
	ds, err := l.c.Destinations(tctx(t), k)
	must(t, err)
	if len(ds) != 1 {
		t.Fatalf("%d destinations", len(ds))
	}
	return s.Stats, ds[0].Stats
}

// waitStats polls until the service's counters satisfy ok: the kernel
// folds its per-CPU counters into what it reports every two seconds.
func (l *lab) waitStats(t *testing.T, k ipvs.ServiceKey, ok func(s ipvs.Stats) bool) (ipvs.Stats, ipvs.Stats) {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for {
		s, d := l.stats(t, k)
		if ok(s) {
			return s, d
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v: counters never got there: %+v", k, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// settledStats waits until the counters stop moving across one estimator
// period, so that ipvsadm and we can be compared.
func (l *lab) settledStats(t *testing.T, k ipvs.ServiceKey, conns uint64) (ipvs.Stats, ipvs.Stats) {
	t.Helper()
	s, d := l.waitStats(t, k, func(s ipvs.Stats) bool { return s.Connections == conns })
	for i := 0; i < 5; i++ {
		time.Sleep(2100 * time.Millisecond)
		s2, d2 := l.stats(t, k)
		if ipvs.CountersOnly(s2) == ipvs.CountersOnly(s) && ipvs.CountersOnly(d2) == ipvs.CountersOnly(d) {
			return s2, d2
		}
		s, d = s2, d2
	}
	t.Fatalf("%v: counters never settled: %+v", k, s)
	return s, d
}

// TestKernelStatsAndZero sends real connections through two NAT services,
// checks the counters against the connections made, then zeroes one
// service and then everything.
func TestKernelStatsAndZero(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	a, b := l.natService(t, 80), l.natService(t, 81)
	l.get(t, 80, 3)
	l.get(t, 81, 2)

	for _, x := range []struct {
		k     ipvs.ServiceKey
		conns uint64
	}{{a, 3}, {b, 2}} {
		// A connection's last packets can reach the counters a fold after
		// the connection itself, so wait for every threshold checked.
		enough := func(s ipvs.Stats) bool {
			return s.Connections >= x.conns && s.PacketsIn >= 4*x.conns && s.PacketsOut >= 3*x.conns && s.BytesIn >= 100*x.conns && s.BytesOut >= 100*x.conns
		}
		s, d := l.waitStats(t, x.k, enough)
		// Service and destination are read by two requests, so a fold
		// can fall between them: they must agree within a few folds.
		for deadline := time.Now().Add(8 * time.Second); ipvs.CountersOnly(d) != ipvs.CountersOnly(s) && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			s, d = l.stats(t, x.k)
		}
		if s.Connections != x.conns || !enough(s) {
			t.Fatalf("%v stats after %d connections: %+v", x.k, x.conns, s)
		}
		if ipvs.CountersOnly(d) != ipvs.CountersOnly(s) {
			t.Fatalf("%v: destination %+v, service %+v (one destination: want equal)", x.k, d, s)
		}
	}
	must(t, l.c.ZeroService(tctx(t), a))
	if s, d := l.stats(t, a); ipvs.CountersOnly(s) != (ipvs.Stats{}) || ipvs.CountersOnly(d) != (ipvs.Stats{}) {
		t.Fatalf("after ZeroService: %+v, %+v", s, d)
	}
	if s, _ := l.stats(t, b); s.Connections != 2 {
		t.Fatalf("ZeroService touched another service: %+v", s)
	}
	must(t, l.c.Zero(tctx(t)))
	if s, d := l.stats(t, b); ipvs.CountersOnly(s) != (ipvs.Stats{}) || ipvs.CountersOnly(d) != (ipvs.Stats{}) {
		t.Fatalf("after Zero: %+v, %+v", s, d)
	}
	// Counting starts again from zero.
	l.get(t, 81, 1)
	l.waitStats(t, b, func(s ipvs.Stats) bool { return s.Connections == 1 })
}

// TestKernelNamespaceScope shows a client sees only its own namespace.
func TestKernelNamespaceScope(t *testing.T) {
	t.Parallel()
	a, nsA := newClient(t)
	b, nsB := newClient(t)
	k := key4(ipvs.UDP, "10.0.0.1", 53)
	must(t, a.CreateService(tctx(t), ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin}))
	if svcs, err := b.Services(tctx(t)); err != nil || len(svcs) != 0 {
		t.Fatalf("other namespace sees %v, %v", svcs, err)
	}
	if _, err := b.Service(tctx(t), k); !errors.Is(err, ipvs.ErrNotExist) {
		t.Fatalf("other namespace: %v", err)
	}
	if out := nsB.Exec(t, "ipvsadm", "-Sn"); out != "" {
		t.Fatalf("ipvsadm in the other namespace: %q", out)
	}
	if out := nsA.Exec(t, "ipvsadm", "-Sn"); out != "-A -u 10.0.0.1:53 -s rr\n" {
		t.Fatalf("ipvsadm in the namespace: %q", out)
	}
	// A second client by file descriptor sees the same table as the first.
	f, err := os.Open(nsA.Path)
	must(t, err)
	a2, err := ipvs.New(&ipvs.Config{NetNS: int(f.Fd())})
	f.Close() // New duplicated it
	must(t, err)
	defer a2.Close()
	svcs, err := a2.Services(tctx(t))
	if err != nil || len(svcs) != 1 || svcs[0].ServiceKey != k {
		t.Fatalf("client by fd: %v, %v", svcs, err)
	}
	if _, err := ipvs.New(&ipvs.Config{NetNSPath: filepath.Join(t.TempDir(), "nosuch")}); !errors.Is(err, ipvs.ErrInvalid) {
		t.Fatalf("missing namespace path: %v", err)
	}
}

// TestKernelConcurrent has 64 goroutines share one client, each creating,
// listing and deleting a service of its own. Run with -race.
func TestKernelConcurrent(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx := context.Background()
			k := key4(ipvs.TCP, "10.0.0.1", uint16(1000+i))
			d := ipvs.Destination{Address: netip.AddrFrom4([4]byte{192, 168, 10, byte(i + 1)}), Port: 80, Forward: ipvs.Masquerade, Weight: uint32(i)}
			for _, step := range []func() error{
				func() error { return c.CreateService(ctx, ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin}) },
				func() error { return c.CreateDestination(ctx, k, d) },
				func() error {
					ds, err := c.Destinations(ctx, k)
					if err == nil && (len(ds) != 1 || ds[0].Destination != d) {
						err = fmt.Errorf("%v: destinations %+v", k, ds)
					}
					return err
				},
				func() error {
					svcs, err := c.Services(ctx)
					for _, s := range svcs {
						if s.ServiceKey == k {
							return err
						}
					}
					return fmt.Errorf("%v not among %d services (%v)", k, len(svcs), err)
				},
				func() error { return c.DeleteService(ctx, k) },
			} {
				if err := step(); err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if svcs, err := c.Services(tctx(t)); err != nil || len(svcs) != 0 {
		t.Fatalf("left: %d services, %v", len(svcs), err)
	}
}

// TestKernelGoldenReplies records the kernel's replies for the golden
// tables and checks that they decode to the tables' values. With
// LVS_IPVS_RECORD=1 it writes them as testdata/replies/<kernel>/*.txt
// under $LVS_VM_OUT (in the VM; copy them into ipvs/testdata), or under
// ./testdata elsewhere:
//
//	go test -c -o /tmp/ipvs.test ./ipvs
//	go run ./internal/cmd/vmrun -kernel all -out /tmp/rec -c \
//	  'LVS_IPVS_RECORD=1 /tmp/ipvs.test -test.run TestKernelGoldenReplies' -f /tmp/ipvs.test:/lvs/bin/ipvs.test
func TestKernelGoldenReplies(t *testing.T) {
	t.Parallel()
	c, ns := newClient(t)
	release := strings.TrimSpace(ns.Exec(t, "uname", "-r"))
	files := map[string]ipvs.Golden{}
	take := ipvs.StartRecording(c)
	keep := func(name string, ipvsadm ...string) {
		r := take()
		if len(r) == 0 {
			t.Fatalf("%s: nothing recorded", name)
		}
		files[name] = ipvs.Golden{Release: release, Replies: r, Ipvsadm: ipvsadm}
	}
	// Daemons first: the kernel refuses to start one while mixed-family
	// destinations exist.
	syncInterface(t, ns)
	for _, d := range ipvs.GoldenDaemons {
		must(t, c.StartDaemon(tctx(t), d))
	}
	take()
	_, err := c.Daemons(tctx(t))
	must(t, err)
	keep("daemons")
	stopDaemon(t, c, ipvs.DaemonMaster)
	stopDaemon(t, c, ipvs.DaemonBackup)
	must(t, c.SetTimeouts(tctx(t), ipvs.GoldenTimeouts))
	take()
	_, err = c.Timeouts(tctx(t))
	must(t, err)
	keep("config")
	in, err := c.Info(tctx(t))
	must(t, err)
	equal(t, "info", in, ipvs.GoldenInfo)
	keep("info")
	createGolden(t, c)
	take()
	for _, gs := range ipvs.GoldenServices {
		s, err := c.Service(tctx(t), gs.Service.ServiceKey)
		must(t, err)
		equal(t, gs.Name, s, ipvs.ServiceInfo{Service: gs.Service})
		keep("service-" + gs.Name)
	}
	for _, gd := range ipvs.GoldenDestinations {
		ds, err := c.Destinations(tctx(t), serviceNamed(gd.Service).ServiceKey)
		must(t, err)
		var replies []ipvs.RecordedReply
		for i, r := range take() {
			if ds[i].Destination == gd.Dest {
				equal(t, gd.Name, ds[i], ipvs.DestinationInfo{Destination: gd.Dest})
				replies = append(replies, r)
			}
		}
		if len(replies) != 1 {
			t.Fatalf("%s: %d matching destinations in %+v", gd.Name, len(replies), ds)
		}
		files["dest-"+gd.Name] = ipvs.Golden{Release: release, Replies: replies}
	}

	// Counters after real traffic, with ipvsadm's view as the oracle.
	l := newLab(t)
	k := l.natService(t, 80)
	l.get(t, 80, 3)
	l.settledStats(t, k, 3)
	oracle := strings.Split(strings.TrimSpace(l.lb.Exec(t, "ipvsadm", "-Ln", "--stats", "--exact", "-t", "10.0.0.1:80")), "\n")
	ltake := ipvs.StartRecording(l.c)
	s, d := l.stats(t, k)
	rec := ltake()
	want, err := ipvs.ParseIpvsadmStats(oracle)
	must(t, err)
	if len(want) != 2 || ipvs.CountersOnly(s) != want[0] || ipvs.CountersOnly(d) != want[1] || s.Connections != 3 {
		t.Fatalf("stats %+v / %+v, ipvsadm says %+v", s, d, want)
	}
	files["traffic"] = ipvs.Golden{Release: release, Replies: rec, Ipvsadm: oracle}

	if os.Getenv("LVS_IPVS_RECORD") != "1" {
		return
	}
	kernel := os.Getenv("LVS_VM_KERNEL")
	if kernel == "" {
		kernel = strings.Join(strings.SplitN(release, ".", 3)[:2], ".")
	}
	dir := filepath.Join("testdata", "replies", kernel)
	if out := os.Getenv("LVS_VM_OUT"); out != "" {
		dir = filepath.Join(out, dir)
	}
	must(t, os.MkdirAll(dir, 0o755))
	for name, g := range files {
		must(t, os.WriteFile(filepath.Join(dir, name+".txt"), ipvs.FormatGolden(g), 0o644))
	}
	t.Logf("recorded %d files in %s", len(files), dir)
}

// TestKernelDaemonStopRightAfterStart stops master daemons the moment they
// start. If the kernel stops a daemon whose thread has not run yet,
// kthread_stop returns -EINTR, and netlink_rcv_skb sends no
// acknowledgement at all for -EINTR: a client waiting for one hangs.
func TestKernelDaemonStopRightAfterStart(t *testing.T) {
	t.Parallel()
	c, ns := newClient(t)
	syncInterface(t, ns)
	for i := 0; i < 20; i++ {
		must(t, c.StartDaemon(tctx(t), ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "dum0"}))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		err := c.StopDaemon(ctx, ipvs.DaemonMaster)
		cancel()
		if err != nil {
			ds, derr := c.Daemons(tctx(t))
			t.Fatalf("round %d: stop: %v after %v; daemons now %+v, %v", i, err, time.Since(start), ds, derr)
		}
	}
}

// TestKernelListingWhileAnotherNamespaceGrows: the kernel resumes a
// services dump by position in a table every namespace shares, so services
// created elsewhere during a listing that spans several datagrams shift
// ours and the kernel sends one again (and services the package's other
// tests delete meanwhile make it skip some). Services must list each of
// ours exactly once, and so must Snapshot. Not parallel: the growth would
// make the other tests' ipvsadm listings repeat services without end
// (ipvsadm drops nothing).
func TestKernelListingWhileAnotherNamespaceGrows(t *testing.T) {
	a, _ := newClient(t)
	b, _ := newClient(t)
	const n = 400 // about four 32 KiB datagrams
	want := map[ipvs.ServiceKey]bool{}
	batch := a.Batch()
	for i := range n {
		k := key4(ipvs.TCP, "10.1.0.1", uint16(1000+i))
		want[k] = true
		batch.CreateService(ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin})
	}
	_, err := batch.Commit(tctx(t))
	must(t, err)
	stop := make(chan struct{})
	grown := make(chan int)
	go func() {
		i := 0
		defer func() { grown <- i }()
		for ; i < 5000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := key4(ipvs.UDP, "10.2.0.1", uint16(1+i))
			if err := b.CreateService(context.Background(), ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for round := range 20 {
		// Odd rounds take the listing Snapshot makes.
		var (
			got []ipvs.ServiceInfo
			err error
		)
		if round%2 == 0 {
			got, err = a.Services(tctx(t))
		} else {
			var snap []ipvs.ServiceSnapshot
			snap, err = a.Snapshot(tctx(t))
			for _, s := range snap {
				got = append(got, s.ServiceInfo)
			}
		}
		if err != nil {
			close(stop)
			<-grown
			t.Fatal(err)
		}
		seen := map[ipvs.ServiceKey]bool{}
		var bad []ipvs.ServiceKey
		for _, s := range got {
			if seen[s.ServiceKey] || !want[s.ServiceKey] {
				bad = append(bad, s.ServiceKey)
			}
			seen[s.ServiceKey] = true
		}
		if len(bad) > 0 || len(seen) != n {
			t.Errorf("round %d: %d distinct services of %d wanted; %d listed twice or not ours, first %v", round, len(seen), n, len(bad), bad[:min(len(bad), 1)])
		}
	}
	close(stop)
	if created := <-grown; created < 50 {
		t.Errorf("the other namespace created only %d services while we listed: the test proved little", created)
	}
}
