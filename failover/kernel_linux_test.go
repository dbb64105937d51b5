package failover_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golvs/lvs/failover"
	"github.com/golvs/lvs/failover/vrrp"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
)

// The kernel tests run two directors of this package (a vrrp.Node each as
// the elector) in namespaces on one bridge, with a DR real server and a
// client: the sync modes, trackers, a tracked interface going down, IPv6
// VIPs with unsolicited neighbour advertisements and unicast VRRP, each
// with the VIP, the daemons and the client's connections checked on the
// real kernel.

const port = "7000"

var (
	addrA, addrB = netip.MustParseAddr("10.8.0.1"), netip.MustParseAddr("10.8.0.2")
	addrRS       = netip.MustParseAddr("10.8.0.11")
	addrCl       = netip.MustParseAddr("10.8.0.100")
	vip4         = netip.MustParseAddr("10.8.0.10")
	vip6         = netip.MustParseAddr("fd00:8::10")
	llA, llB     = netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2")
)

type lab struct {
	a, b, rs, cl *nstest.NS
}

// newLab builds the segment; with service, a DR service VIP4:7000 to the
// real server on both directors (as keepalived's virtual_server, whatever
// the role) and the real server's echo.
func newLab(t *testing.T, service bool) *lab {
	l := &lab{a: nstest.New(t), b: nstest.New(t), rs: nstest.New(t), cl: nstest.New(t)}
	p := netip.MustParsePrefix
	nstest.Segment(t, "br0",
		nstest.Member{NS: l.a, Name: "eth0", Addrs: []netip.Prefix{p("10.8.0.1/24"), p("fd00:8::1/64"), p("fe80::1/64")}},
		nstest.Member{NS: l.b, Name: "eth0", Addrs: []netip.Prefix{p("10.8.0.2/24"), p("fd00:8::2/64"), p("fe80::2/64")}},
		nstest.Member{NS: l.rs, Name: "eth0", Addrs: []netip.Prefix{p("10.8.0.11/24")}},
		nstest.Member{NS: l.cl, Name: "eth0", Addrs: []netip.Prefix{p("10.8.0.100/24"), p("fd00:8::100/64")}})
	if service {
		l.rs.Sysctl(t, "net.ipv4.conf.all.arp_ignore", "1", "net.ipv4.conf.all.arp_announce", "2")
		l.rs.AddAddr(t, "lo", netip.PrefixFrom(vip4, 32))
		l.rs.EchoLines(t, "0.0.0.0:"+port)
		for _, d := range []*nstest.NS{l.a, l.b} {
			d.Exec(t, "ipvsadm", "-A", "-t", vip4.String()+":"+port, "-s", "rr")
			d.Exec(t, "ipvsadm", "-a", "-t", vip4.String()+":"+port, "-r", addrRS.String()+":"+port, "-g")
		}
	}
	return l
}

// node is one director: a vrrp.Node electing, a failover.Client acting.
type node struct {
	t      *testing.T
	name   string
	ns     *nstest.NS
	vn     *vrrp.Node
	fo     *failover.Client
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	events []failover.Event
}

// start runs a director in ns; vc and fc are completed with the
// namespace, the interface, the VIP and the callbacks.
func start(t *testing.T, name string, ns *nstest.NS, vc vrrp.Config, fc failover.Config) *node {
	t.Helper()
	n := &node{t: t, name: name, ns: ns}
	vc.NetNSPath, vc.Interface = ns.Path, "eth0"
	if vc.AdvertInterval == 0 {
		vc.AdvertInterval = time.Second
	}
	vc.OnEvent = func(e vrrp.Event) {
		if e.Kind == vrrp.EventMismatch {
			t.Errorf("%s: %v", name, e)
		}
		n.fo.HandleVRRP(e)
	}
	vn, err := vrrp.New(&vc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	fc.NetNSPath, fc.Interface, fc.VIPs, fc.Elector = ns.Path, "eth0", vc.VIPs, vn
	fc.Identity, fc.VRID, fc.Priority = "fotest-"+name, vc.VRID, vc.Priority
	if fc.CheckInterval == 0 {
		fc.CheckInterval = 100 * time.Millisecond
	}
	fc.OnEvent = n.event
	fo, err := failover.New(&fc)
	if err != nil {
		vn.Close()
		t.Fatalf("%s: %v", name, err)
	}
	n.vn, n.fo = vn, fo
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- fo.Run(ctx) }()
	t.Cleanup(func() {
		if err := n.stop(); err != nil {
			t.Errorf("%s: Run: %v", name, err)
		}
		fo.Close()
		vn.Close()
	})
	return n
}

func (n *node) event(e failover.Event) {
	n.t.Logf("%s: %v", n.name, e)
	if e.Kind == failover.EventError {
		n.t.Errorf("%s: %v", n.name, e)
	}
	n.mu.Lock()
	n.events = append(n.events, e)
	n.mu.Unlock()
}

// stop ends Run (graceful) and returns its error; idempotent.
func (n *node) stop() error {
	n.cancel()
	select {
	case err, ok := <-n.done:
		if ok {
			close(n.done)
		}
		return err
	case <-time.After(60 * time.Second):
		return errors.New("Run did not return within 60s of its context's end")
	}
}

// waitRole waits, at most d, for the host to be set up for r (after
// since role events, when since >= 0) and returns when it was seen.
func (n *node) waitRole(r failover.Role, d time.Duration) time.Time {
	n.t.Helper()
	deadline := time.Now().Add(d)
	for n.fo.Role() != r {
		if time.Now().After(deadline) {
			n.t.Fatalf("%s: role %v after %v, want %v", n.name, n.fo.Role(), d, r)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Now()
}

// priorities returns the priorities the node offered, in order.
func (n *node) priorities() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []int
	for _, e := range n.events {
		if e.Kind == failover.EventPriority {
			out = append(out, e.Priority)
		}
	}
	return out
}

// holds says whether ns has vip on eth0.
func holds(t *testing.T, ns *nstest.NS, vip netip.Addr) bool {
	t.Helper()
	bits := 32
	if vip.Is6() {
		bits = 128
	}
	return strings.Contains(ns.Exec(t, "ip", "-o", "addr", "show", "dev", "eth0"), fmt.Sprintf(" %v/%d ", vip, bits))
}

// waitHolder waits, at most d, until want alone of want and other holds vip.
func waitHolder(t *testing.T, d time.Duration, vip netip.Addr, want, other *node) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		hw, ho := holds(t, want.ns, vip), holds(t, other.ns, vip)
		if hw && !ho {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v on %s %v, on %s %v", d, vip, want.name, hw, other.name, ho)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// daemons returns the sync daemons c sees as "master 1", "backup 2".
func daemons(t *testing.T, c *ipvs.Client) []string {
	t.Helper()
	ds, err := c.Daemons(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%v %d", d.State, d.SyncID))
	}
	slices.Sort(out)
	return out
}

// wantDaemons checks the namespace's daemons, waiting a little for a role
// change's to settle.
func wantDaemons(t *testing.T, n *node, want ...string) {
	t.Helper()
	slices.Sort(want)
	c := nstest.Open(ipvs.New(&ipvs.Config{NetNSPath: n.ns.Path}))(t)
	var got []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if got = daemons(t, c); slices.Equal(got, want) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s's sync daemons: %q, want %q", n.name, got, want)
	}
}

// flag is a tracker's condition, switched by the test.
type flag struct{ failing atomic.Bool }

func (f *flag) check(context.Context) error {
	if f.failing.Load() {
		return errors.New("no quorum")
	}
	return nil
}

var svc = vip4.String() + ":" + port

// SyncBoth: each director runs a master daemon with its own sync ID and a
// backup daemon with its peer's, whatever its role and in FAULT too. A's
// health tracker (weight 0) fails: A goes to FAULT and tells B at once
// (priority 0); the session opened on A goes on through B. A session
// opened while B is master is learnt by A while A is still in FAULT, so
// when A's tracker recovers A preempts at once (no preempt delay) and
// both sessions go on through A: the returning node had already learnt
// the live connections.
func TestKernelSyncBoth(t *testing.T) {
	t.Parallel()
	l := newLab(t, true)
	var quorum flag
	vc := vrrp.Config{VRID: 61, VIPs: []netip.Addr{vip4}}
	vcA, vcB := vc, vc
	vcA.Priority, vcB.Priority = 150, 100
	both := func(id, peer int) failover.Sync {
		return failover.Sync{Mode: failover.SyncBoth, Interface: "eth0", SyncID: id, PeerSyncID: peer}
	}
	b := start(t, "b", l.b, vcB, failover.Config{Sync: both(2, 1)})
	a := start(t, "a", l.a, vcA, failover.Config{Sync: both(1, 2),
		Trackers: []failover.Tracker{{Name: "quorum", Check: quorum.check}}})
	a.waitRole(failover.Master, 30*time.Second)
	b.waitRole(failover.Backup, 30*time.Second)
	waitHolder(t, 10*time.Second, vip4, a, b)
	wantDaemons(t, a, "master 1", "backup 2")
	wantDaemons(t, b, "master 2", "backup 1")

	s1 := l.cl.Session(t, svc)
	s1.Progress(t, 10, 30*time.Second)
	l.b.WaitConn(t, s1.Local, svc, 30*time.Second)

	t0 := time.Now()
	quorum.failing.Store(true)
	a.waitRole(failover.Fault, 10*time.Second)
	tb := b.waitRole(failover.Master, 10*time.Second)
	t.Logf("A's tracker failed: B MASTER %.2fs later", tb.Sub(t0).Seconds())
	waitHolder(t, 10*time.Second, vip4, b, a)
	s1.Progress(t, 10, 60*time.Second)
	wantDaemons(t, a, "master 1", "backup 2")
	wantDaemons(t, b, "master 2", "backup 1")

	s2 := l.cl.Session(t, svc)
	s2.Progress(t, 10, 30*time.Second)
	l.a.WaitConn(t, s2.Local, svc, 30*time.Second)
	if r := a.fo.Role(); r != failover.Fault {
		t.Fatalf("A is %v, want still FAULT: the learning must happen before it comes back", r)
	}

	t0 = time.Now()
	quorum.failing.Store(false)
	a.waitRole(failover.Master, 30*time.Second)
	tb = b.waitRole(failover.Backup, 10*time.Second)
	t.Logf("A's tracker recovered: A preempted, B BACKUP %.2fs later", tb.Sub(t0).Seconds())
	waitHolder(t, 10*time.Second, vip4, a, b)
	s1.Progress(t, 10, 60*time.Second)
	s2.Progress(t, 10, 60*time.Second)
	wantDaemons(t, a, "master 1", "backup 2")
}

// SyncFollow with VRRPv3 unicast peers (no multicast adverts): a weighted
// tracker on A (150, weight -100) fails, A offers 50 and B (100)
// preempts; the daemons follow the roles (one sync ID, the VRID), and the
// session goes on. The tracker recovers: A offers 150 again and preempts
// back, the session still going.
func TestKernelTrackerWeightUnicast(t *testing.T) {
	t.Parallel()
	l := newLab(t, true)
	var health flag
	vcA := vrrp.Config{VRID: 62, Version: 3, VIPs: []netip.Addr{vip4}, Priority: 150, Source: addrA, UnicastPeers: []netip.Addr{addrB}}
	vcB := vrrp.Config{VRID: 62, Version: 3, VIPs: []netip.Addr{vip4}, Priority: 100, Source: addrB, UnicastPeers: []netip.Addr{addrA}}
	follow := failover.Sync{Mode: failover.SyncFollow, Interface: "eth0"}
	b := start(t, "b", l.b, vcB, failover.Config{Sync: follow})
	a := start(t, "a", l.a, vcA, failover.Config{Sync: follow,
		Trackers: []failover.Tracker{{Name: "pool", Check: health.check, Weight: -100}}})
	a.waitRole(failover.Master, 30*time.Second)
	b.waitRole(failover.Backup, 30*time.Second)
	waitHolder(t, 10*time.Second, vip4, a, b)
	wantDaemons(t, a, "master 62")
	wantDaemons(t, b, "backup 62")
	s := l.cl.Session(t, svc)
	s.Progress(t, 10, 30*time.Second)
	l.b.WaitConn(t, s.Local, svc, 30*time.Second)

	t0 := time.Now()
	health.failing.Store(true)
	tb := b.waitRole(failover.Master, 30*time.Second)
	a.waitRole(failover.Backup, 10*time.Second)
	t.Logf("A's priority lowered to 50: B preempted %.2fs later", tb.Sub(t0).Seconds())
	waitHolder(t, 10*time.Second, vip4, b, a)
	wantDaemons(t, a, "backup 62")
	wantDaemons(t, b, "master 62")
	s.Progress(t, 10, 60*time.Second)
	if st := a.vn.Stats(); st.Sent == 0 || st.Received == 0 {
		t.Errorf("A's unicast adverts: %+v", st)
	}

	t0 = time.Now()
	health.failing.Store(false)
	ta := a.waitRole(failover.Master, 30*time.Second)
	b.waitRole(failover.Backup, 10*time.Second)
	t.Logf("A's priority back to 150: A preempted %.2fs later", ta.Sub(t0).Seconds())
	waitHolder(t, 10*time.Second, vip4, a, b)
	wantDaemons(t, a, "master 62")
	wantDaemons(t, b, "backup 62")
	s.Progress(t, 10, 60*time.Second)
	if got := a.priorities(); !slices.Equal(got, []int{50, 150}) {
		t.Errorf("A offered priorities %v, want [50 150]", got)
	}
}

// An IPv6 VIP (VRRPv3 multicast from link-local addresses), A tracking
// its uplink: the uplink's carrier goes (the far end is set down), A goes
// to FAULT and B takes the VIP; the client, which knew A's MAC for the
// VIP and sends nothing meanwhile, learns B's from the unsolicited
// neighbour advertisement alone; exactly one director answers neighbour
// solicitations in each steady state. The uplink comes back: A preempts
// and the client learns A's MAC again.
func TestKernelInterfaceDownIPv6(t *testing.T) {
	t.Parallel()
	l := newLab(t, false)
	up := nstest.New(t)
	nstest.Veth(t, l.a, "up0", up, "up0")
	vc := vrrp.Config{VRID: 63, Version: 3, VIPs: []netip.Addr{vip6}}
	vcA, vcB := vc, vc
	vcA.Priority, vcA.Source = 150, llA
	vcB.Priority, vcB.Source = 100, llB
	b := start(t, "b", l.b, vcB, failover.Config{})
	a := start(t, "a", l.a, vcA, failover.Config{TrackInterfaces: []string{"up0"}})
	a.waitRole(failover.Master, 30*time.Second)
	b.waitRole(failover.Backup, 30*time.Second)
	waitHolder(t, 10*time.Second, vip6, a, b)
	macA, macB := l.a.HardwareAddr(t, "eth0"), l.b.HardwareAddr(t, "eth0")
	src := netip.MustParseAddr("fd00:8::100")
	only := func(want string) {
		t.Helper()
		if got := l.cl.Answerers(t, "eth0", src, vip6, 2*time.Second, nil); !slices.Equal(got, []string{want}) {
			t.Fatalf("answering for %v: %q, want only %s", vip6, got, want)
		}
	}
	only(macA)
	// The client talks to the VIP (a refused connection will do) and so
	// holds a neighbour entry with A's MAC.
	for deadline := time.Now().Add(10 * time.Second); l.cl.Neigh(t, vip6) != macA; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the client's neighbour entry for %v: %q, want A's %s", vip6, l.cl.Neigh(t, vip6), macA)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if c, err := l.cl.DialContext(ctx, "tcp", netip.AddrPortFrom(vip6, 9).String()); err == nil {
			c.Close()
		}
		cancel()
	}

	t0 := time.Now()
	up.Exec(t, "ip", "link", "set", "up0", "down")
	a.waitRole(failover.Fault, 10*time.Second)
	tb := b.waitRole(failover.Master, 10*time.Second)
	t.Logf("A's uplink down: B MASTER %.2fs later", tb.Sub(t0).Seconds())
	waitHolder(t, 10*time.Second, vip6, b, a)
	waitNeigh(t, l.cl, vip6, macB)
	only(macB)

	t0 = time.Now()
	up.Exec(t, "ip", "link", "set", "up0", "up")
	ta := a.waitRole(failover.Master, 30*time.Second)
	b.waitRole(failover.Backup, 10*time.Second)
	t.Logf("A's uplink up: A MASTER %.2fs later", ta.Sub(t0).Seconds())
	waitHolder(t, 10*time.Second, vip6, a, b)
	waitNeigh(t, l.cl, vip6, macA)
	only(macA)
}

// waitNeigh waits (bounded) until ns's neighbour entry for a is mac.
func waitNeigh(t *testing.T, ns *nstest.NS, a netip.Addr, mac string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for ns.Neigh(t, a) != mac {
		if time.Now().After(deadline) {
			t.Fatalf("%s's neighbour entry for %v: %q, want %s (the announcement did not reach it)", ns.Name, a, ns.Neigh(t, a), mac)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// New refuses, before anything changes, a VIP that director would refuse
// on becoming MASTER: here an IPv6 VIP on a device without neighbour
// discovery (lo), where no client would find it.
func TestKernelNewRefusesUnreachableVIP(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	before := ns.Exec(t, "ip", "addr")
	fo, err := failover.New(&failover.Config{NetNSPath: ns.Path, Interface: "lo", VIPs: []netip.Addr{vip6},
		VRID: 51, Priority: 100, Identity: "fotest-refused"})
	if err == nil {
		fo.Close()
	}
	var e *failover.Error
	if !errors.Is(err, failover.ErrIneffective) || !errors.As(err, &e) || e.Field != "VIPs" || !strings.Contains(err.Error(), "neighbour discovery") {
		t.Fatalf("New: %v; want ErrIneffective for VIPs, saying why", err)
	}
	if after := ns.Exec(t, "ip", "addr"); after != before {
		t.Errorf("New changed the namespace's addresses:\n%s\nwas:\n%s", after, before)
	}
}
