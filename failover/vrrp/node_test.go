package vrrp

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
)

func baseConfig() Config {
	return Config{Interface: "eth0", VRID: 51, Priority: 100, AdvertInterval: time.Second, VIPs: []netip.Addr{vip4}}
}

func TestValidate(t *testing.T) {
	for field, mods := range map[string][]func(c *Config){
		"Interface": {func(c *Config) { c.Interface = "" }},
		"VRID":      {func(c *Config) { c.VRID = 0 }, func(c *Config) { c.VRID = 256 }, func(c *Config) { c.VRID = -1 }},
		"Priority":  {func(c *Config) { c.Priority = 0 }, func(c *Config) { c.Priority = 256 }},
		"VIPs": {
			func(c *Config) { c.VIPs = nil },
			func(c *Config) { c.VIPs = []netip.Addr{vip4, vip6} },
			func(c *Config) { c.VIPs = []netip.Addr{vip4, vip4} },
			func(c *Config) { c.VIPs = []netip.Addr{netip.MustParseAddr("224.0.0.1")} },
			func(c *Config) { c.VIPs = []netip.Addr{{}} },
		},
		"Version": {func(c *Config) { c.Version = 4 }, func(c *Config) { c.Version, c.VIPs = 2, []netip.Addr{vip6} }},
		"AdvertInterval": {
			func(c *Config) { c.AdvertInterval = 0 },
			func(c *Config) { c.AdvertInterval = 256 * time.Second },
			func(c *Config) { c.AdvertInterval = 1500 * time.Millisecond },
			func(c *Config) { c.Version, c.AdvertInterval = 3, 40960*time.Millisecond },
			func(c *Config) { c.Version, c.AdvertInterval = 3, 15*time.Millisecond },
			func(c *Config) { c.AdvertInterval = -time.Second },
		},
		"PreemptDelay": {func(c *Config) { c.PreemptDelay = -1 }, func(c *Config) { c.NoPreempt, c.PreemptDelay = true, time.Second }},
		"AuthPass":     {func(c *Config) { c.AuthPass = "123456789" }, func(c *Config) { c.Version, c.AuthPass = 3, "x" }},
		"Source":       {func(c *Config) { c.Source = vip6 }},
		"UnicastPeers": {
			func(c *Config) { c.UnicastPeers = []netip.Addr{vip6} },
			func(c *Config) { c.UnicastPeers = []netip.Addr{src4, src4} },
			func(c *Config) { c.UnicastPeers = []netip.Addr{GroupIPv4} },
		},
		"OldUnicastChecksum": {func(c *Config) { c.Version, c.OldUnicastChecksum = 3, true }},
	} {
		for i, mod := range mods {
			c := baseConfig()
			mod(&c)
			_, err := New(&c)
			var e *Error
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) || e.Field != field || e.Pkg != "vrrp" {
				t.Errorf("%s #%d: %v, want ErrInvalid naming %s", field, i, err, field)
			}
		}
	}
	if _, err := New(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("New(nil): %v", err)
	}
	// Version defaults by family.
	n := &Node{cfg: baseConfig()}
	n.cfg.VIPs = []netip.Addr{vip6}
	n.cfg.AdvertInterval = 50 * time.Millisecond
	if err := n.validate(); err != nil || n.cfg.Version != 3 {
		t.Errorf("IPv6 VIPs: version %d, %v", n.cfg.Version, err)
	}
}

// testNode builds a node around conn c without opening a socket.
func testNode(t testing.TB, cfg Config, self netip.Addr, c conn) *Node {
	t.Helper()
	n := &Node{cfg: cfg, prioCh: make(chan struct{}, 1), syncCh: make(chan struct{}, 1), self: self, c: c}
	if err := n.validate(); err != nil {
		t.Fatal(err)
	}
	n.finish()
	return n
}

func encode(t testing.TB, a Advert, src, dst netip.Addr) []byte {
	t.Helper()
	b, err := AppendAdvert(nil, &a, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReceive(t *testing.T) {
	peer := netip.MustParseAddr("10.9.0.3")
	n := testNode(t, baseConfig(), src4, nil)
	adv := Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{vip4}}
	good := encode(t, adv, peer, GroupIPv4)
	if msg, ok := n.receive(good, peer, GroupIPv4, 255); !ok || !msg.accept || msg.mm != 0 || msg.prio != 150 || msg.src != peer {
		t.Fatalf("good advert: %+v %v", msg, ok)
	}
	if _, ok := n.receive(good, peer, GroupIPv4, 254); ok {
		t.Fatal("TTL 254 accepted")
	}
	if _, ok := n.receive(good, src4, GroupIPv4, 255); ok {
		t.Fatal("own advert accepted")
	}
	other := adv
	other.VRID = 52
	if _, ok := n.receive(encode(t, other, peer, GroupIPv4), peer, GroupIPv4, 255); ok {
		t.Fatal("other VRID accepted")
	}
	bad := append([]byte(nil), good...)
	bad[7] ^= 1
	n.receive(bad, peer, GroupIPv4, 255)
	n.receive(good[:9], peer, GroupIPv4, 255)

	// Mismatches: reported once, rejected (v2 interval, version, auth).
	long := adv
	long.Interval = 2 * time.Second
	lb := encode(t, long, peer, GroupIPv4)
	msg, ok := n.receive(lb, peer, GroupIPv4, 255)
	if !ok || msg.accept || msg.mm != MismatchInterval {
		t.Fatalf("v2 interval mismatch: %+v %v", msg, ok)
	}
	if _, ok := n.receive(lb, peer, GroupIPv4, 255); ok {
		t.Fatal("the same mismatch handed over twice")
	}
	n.receive(good, peer, GroupIPv4, 255) // agrees again: forgets
	if msg, ok := n.receive(lb, peer, GroupIPv4, 255); !ok || msg.mm != MismatchInterval {
		t.Fatal("a recurring mismatch not reported again")
	}
	pass := adv
	pass.AuthType, pass.AuthData = AuthPass, [8]byte{'p'}
	if msg, _ := n.receive(encode(t, pass, peer, GroupIPv4), peer, GroupIPv4, 255); msg.accept || msg.mm != MismatchAuth {
		t.Fatalf("PASS advert to an auth-none node: %+v", msg)
	}
	v3 := adv
	v3.Version = 3
	if msg, _ := n.receive(encode(t, v3, peer, GroupIPv4), peer, GroupIPv4, 255); msg.accept || msg.mm != MismatchVersion {
		t.Fatalf("v3 advert to a v2 node: %+v", msg)
	}
	addrs := adv
	addrs.Addrs = []netip.Addr{vip4, peer}
	if msg, _ := n.receive(encode(t, addrs, peer, GroupIPv4), peer, GroupIPv4, 255); !msg.accept || msg.mm != MismatchAddrs || !strings.Contains(msg.detail, "10.9.0.3") {
		t.Fatalf("other addresses: %+v", msg)
	}
	s := n.Stats()
	want := Stats{Received: 3, OtherVRID: 1, Mismatched: 5, Malformed: 3, BadTTL: 1, BadChecksum: 1, Truncated: 1}
	if s != want {
		t.Fatalf("stats %+v\nwant  %+v", s, want)
	}

	// PASS: the right password is accepted, another rejected.
	cfg := baseConfig()
	cfg.AuthPass = "p"
	n = testNode(t, cfg, src4, nil)
	if msg, _ := n.receive(encode(t, pass, peer, GroupIPv4), peer, GroupIPv4, 255); !msg.accept {
		t.Fatal("right password rejected")
	}
	pass.AuthData[1] = 'q'
	if msg, _ := n.receive(encode(t, pass, peer, GroupIPv4), peer, GroupIPv4, 255); msg.accept || msg.mm != MismatchAuth {
		t.Fatal("wrong password accepted")
	}

	// VRRPv3 accepts another interval (and reports it); unicast mode only
	// its peers, and keepalived's old checksum.
	cfg = baseConfig()
	cfg.Version, cfg.UnicastPeers, cfg.Source = 3, []netip.Addr{peer}, src4
	n = testNode(t, cfg, src4, nil)
	v3.Interval = 2 * time.Second
	if msg, ok := n.receive(encode(t, v3, peer, src4), peer, src4, 255); !ok || !msg.accept || msg.mm != MismatchInterval || msg.interval != 2*time.Second {
		t.Fatalf("v3 interval: %+v", msg)
	}
	if _, ok := n.receive(encode(t, v3, peer, src4), peer, src4, 64); !ok {
		t.Fatal("unicast advert with TTL 64 dropped (keepalived's IPv6 unicast hop limit)")
	}
	stranger := netip.MustParseAddr("10.9.0.4")
	if _, ok := n.receive(encode(t, v3, stranger, src4), stranger, src4, 255); ok {
		t.Fatal("unicast advert from a stranger accepted")
	}
	v3.Interval = time.Second
	old := v3.append(nil, peer, src4, GroupIPv4)
	if msg, ok := n.receive(old, peer, src4, 255); !ok || !msg.accept {
		t.Fatal("old unicast checksum rejected")
	}
	if s := n.Stats(); s.UnknownPeer != 1 || s.OldChecksum != 1 || s.Received != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// TestReceiveAllocs: a received advert in steady state allocates nothing,
// from the packet to the state machine's step.
func TestReceiveAllocs(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		cfg, self, peer, dst := baseConfig(), src4, netip.MustParseAddr("10.9.0.3"), GroupIPv4
		if v6 {
			cfg.VIPs, self, peer, dst = []netip.Addr{vip6}, src6, netip.MustParseAddr("fe80::3"), GroupIPv6
		}
		n := testNode(t, cfg, self, nil)
		b := encode(t, Advert{Version: n.cfg.Version, VRID: 51, Priority: 150, Interval: time.Second, Addrs: cfg.VIPs}, peer, dst)
		m := machine{prio: 100, interval: time.Second, v3: n.v3, preempt: true, self: self}
		m.start(t0)
		msgs := make(chan rxMsg, 1)
		now := t0
		allocs := testing.AllocsPerRun(1000, func() {
			msg, ok := n.receive(b, peer, dst, 255)
			if !ok {
				t.Fatal("advert dropped")
			}
			msgs <- msg
			msg = <-msgs
			now = now.Add(time.Second)
			m.advert(now, msg.src, msg.prio, msg.interval)
		})
		if allocs != 0 {
			t.Errorf("IPv6 %v: %v allocations per received advert, want 0", v6, allocs)
		}
	}
}

// hub is an in-memory segment for host tests of Run: what one member sends
// reaches every other (TTL 255), unless cut.
type hub struct {
	mu      sync.Mutex
	members map[netip.Addr]*fakeConn
}

type fakeConn struct {
	h        *hub
	self     netip.Addr
	in       chan []byte
	src      chan netip.Addr
	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{}
	closed   chan struct{}
	cut      bool
}

func (h *hub) join(self netip.Addr) *fakeConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.members == nil {
		h.members = map[netip.Addr]*fakeConn{}
	}
	c := &fakeConn{h: h, self: self, in: make(chan []byte, 64), src: make(chan netip.Addr, 64), wake: make(chan struct{}, 1), closed: make(chan struct{})}
	h.members[self] = c
	return c
}

func (c *fakeConn) setCut(cut bool) { c.h.mu.Lock(); c.cut = cut; c.h.mu.Unlock() }

func (c *fakeConn) send(pkt []byte, dst netip.Addr) error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	for a, m := range c.h.members {
		if a == c.self || c.cut || m.cut || (!dst.IsMulticast() && dst != a) {
			continue
		}
		select {
		case <-m.closed:
		case m.in <- append([]byte(nil), pkt...):
			m.src <- c.self
		default:
		}
	}
	return nil
}

func (c *fakeConn) recv() ([]byte, netip.Addr, netip.Addr, int, error) {
	for {
		c.mu.Lock()
		d := c.deadline
		c.mu.Unlock()
		var tc <-chan time.Time
		if !d.IsZero() {
			if !time.Now().Before(d) {
				return nil, netip.Addr{}, netip.Addr{}, 0, errDeadline
			}
			tm := time.NewTimer(time.Until(d))
			defer tm.Stop()
			tc = tm.C
		}
		select {
		case <-c.closed:
			return nil, netip.Addr{}, netip.Addr{}, 0, errors.New("closed")
		case b := <-c.in:
			dst := GroupIPv4
			if !c.self.Is4() {
				dst = GroupIPv6
			}
			return b, <-c.src, dst, 255, nil
		case <-tc:
		case <-c.wake:
		}
	}
}

func (c *fakeConn) setDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

func (c *fakeConn) close() error { close(c.closed); return nil }

// recorder collects a node's events (nstest.Events), the outranked ones
// apart.
type recorder struct {
	nstest.Events[Event]
	mu        sync.Mutex
	outranked []Event
}

func (r *recorder) Add(e Event) {
	if e.Kind != EventOutranked {
		r.Events.Add(e)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outranked = append(r.outranked, e)
}

func (r *recorder) outrankedBy() []netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	var peers []netip.Addr
	for _, e := range r.outranked {
		peers = append(peers, e.Peer)
	}
	return peers
}

// waitStates polls until the nodes are in the given states, for at most d.
func waitStates(t *testing.T, d time.Duration, nodes []*Node, want ...State) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok := true
		for i, n := range nodes {
			ok = ok && n.State() == want[i]
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			got := make([]State, len(nodes))
			for i, n := range nodes {
				got[i] = n.State()
			}
			t.Fatalf("states %v after %v, want %v", got, d, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunHub runs two nodes over the in-memory hub with 200 ms adverts (a
// master-down interval long enough for emulation and -race): the
// run loop's election, graceful stop, crash, partition and healing. The
// kernel tests repeat this over real sockets.
func TestRunHub(t *testing.T) {
	var h hub
	a4, b4 := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
	mk := func(self netip.Addr, prio int, rec *recorder) (*Node, *fakeConn) {
		cfg := baseConfig()
		cfg.Version, cfg.AdvertInterval, cfg.Priority, cfg.OnEvent = 3, 200*time.Millisecond, prio, rec.Add
		c := h.join(self)
		return testNode(t, cfg, self, c), c
	}
	var ra, rb recorder
	a, ca := mk(a4, 150, &ra)
	b, _ := mk(b4, 100, &rb)
	run := func(n *Node) (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		return cancel, done
	}
	cancelA, doneA := run(a)
	cancelB, doneB := run(b)
	defer func() {
		cancelB()
		if err := <-doneB; err != nil {
			t.Error(err)
		}
	}()
	nodes := []*Node{a, b}
	waitStates(t, 10*time.Second, nodes, Master, Backup)

	// Graceful stop: b takes over, after its skew time.
	cancelA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	waitStates(t, 10*time.Second, nodes, Initialize, Master)
	if ev := rb.All(); ev[len(ev)-1].Reason != ReasonMasterStopped {
		t.Fatalf("b's last event %v, want master stopped", ev[len(ev)-1])
	}
	// a comes back and preempts.
	cancelA, doneA = run(a)
	waitStates(t, 10*time.Second, nodes, Master, Backup)
	if ev := ra.All(); ev[len(ev)-1].Reason != ReasonPreempt {
		t.Fatalf("a's last event %v, want preempt", ev[len(ev)-1])
	}
	// Partition: both master; healed: b yields (a reports b's adverts
	// if b spoke first: which one does is a race).
	ca.setCut(true)
	waitStates(t, 10*time.Second, nodes, Master, Master)
	ca.setCut(false)
	waitStates(t, 10*time.Second, nodes, Master, Backup)
	for _, p := range ra.outrankedBy() {
		if p != b4 {
			t.Errorf("a outranked by %v, not b", p)
		}
	}
	if ev := rb.All(); ev[len(ev)-1].Reason != ReasonHigherPriority || ev[len(ev)-1].Peer != a4 {
		t.Fatalf("b's last event %v, want a higher-priority peer", ev[len(ev)-1])
	}
	// Crash: b waits for its master-down timer.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-doneA; !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	waitStates(t, 10*time.Second, nodes, Initialize, Master)
	if ev := rb.All(); ev[len(ev)-1].Reason != ReasonMasterDown || ev[len(ev)-1].Peer != a4 {
		t.Fatalf("b's last event %v, want master down", ev[len(ev)-1])
	}
	if ev := ra.All(); ev[len(ev)-1].Reason != ReasonClosed {
		t.Fatalf("a's last event %v, want closed", ev[len(ev)-1])
	}
	if err := a.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run on a closed node: %v", err)
	}
	if s := a.Stats(); s.Sent == 0 || s.Received == 0 || s.SentPriorityZero != 1 || s.Malformed != 0 {
		t.Fatalf("a's stats %+v", s)
	}
	if s := b.Stats(); s.ReceivedPriorityZero != 1 {
		t.Fatalf("b's stats %+v", s)
	}
}

// TestOutrankedEvent: a Master that hears a master it outranks reports
// the peer, without a transition.
func TestOutrankedEvent(t *testing.T) {
	var h hub
	var rec recorder
	cfg := baseConfig()
	cfg.OnEvent = rec.Add
	self, peer := netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("10.9.0.1")
	n := testNode(t, cfg, self, h.join(self))
	m := machine{prio: 100, interval: time.Second, preempt: true, self: self}
	n.apply(&m, m.start(t0), netip.Addr{}, 0)
	n.apply(&m, m.expire(m.deadline), netip.Addr{}, 0)
	n.apply(&m, m.advert(at(10*time.Second), peer, 50, time.Second), peer, 50)
	if got := rec.outrankedBy(); len(got) != 1 || got[0] != peer || m.state != Master {
		t.Errorf("outranked by %v, state %v; want %v, MASTER", got, m.state, peer)
	}
}

// TestRunHold: a held Backup stays Backup when its timer expires, and
// takes over once Hold lets it.
func TestRunHold(t *testing.T) {
	var h hub
	var rec recorder
	var asked atomic.Int32
	cfg := baseConfig()
	cfg.Version, cfg.AdvertInterval, cfg.OnEvent = 3, 100*time.Millisecond, rec.Add
	cfg.Hold = func() bool { return asked.Add(1) < 3 }
	self := netip.MustParseAddr("10.9.0.1")
	n := testNode(t, cfg, self, h.join(self))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitStates(t, 10*time.Second, []*Node{n}, Master)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := asked.Load(); got != 3 {
		t.Errorf("Hold asked %d times, want 3", got)
	}
	if ev := rec.All(); len(ev) < 2 || ev[1].To != Master || ev[1].Reason != ReasonMasterDown {
		t.Errorf("events %v", ev)
	}
}

// TestRunSync: Sync moves a running backup to Master at once and back.
func TestRunSync(t *testing.T) {
	var h hub
	var rec recorder
	cfg := baseConfig()
	// 10s adverts: the master-down interval (30s+) never comes first.
	cfg.Version, cfg.AdvertInterval, cfg.OnEvent = 3, 10*time.Second, rec.Add
	self := netip.MustParseAddr("10.9.0.1")
	n := testNode(t, cfg, self, h.join(self))
	if err := n.Sync(Initialize); !errors.Is(err, ErrInvalid) {
		t.Errorf("Sync(Initialize): %v", err)
	}
	if err := n.Sync(Master); err != nil || n.State() != Initialize {
		t.Errorf("Sync before Run: %v, state %v", err, n.State())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	nodes := []*Node{n}
	waitStates(t, 10*time.Second, nodes, Backup)
	n.Sync(Master)
	waitStates(t, 10*time.Second, nodes, Master)
	n.Sync(Backup)
	waitStates(t, 10*time.Second, nodes, Backup)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ev := rec.All()
	if len(ev) < 3 || ev[1].To != Master || ev[1].Reason != ReasonSync || ev[2].To != Backup || ev[2].Reason != ReasonSync {
		t.Errorf("events %v", ev)
	}
}
