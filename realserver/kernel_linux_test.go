//go:build linux

package realserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
	"golang.org/x/sys/unix"
)

var (
	vip      = netip.MustParseAddr("10.0.0.100")
	vip32    = netip.PrefixFrom(vip, 32)
	clientIP = netip.MustParseAddr("10.0.0.1")
	dirIP    = netip.MustParseAddr("10.0.0.2")
	rsIPs    = [2]netip.Addr{netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.12")}

	vip6      = netip.MustParseAddr("fd00::100")
	vip128    = netip.PrefixFrom(vip6, 128)
	clientIP6 = netip.MustParseAddr("fd00::1")
	rsIPs6    = [2]netip.Addr{netip.MustParseAddr("fd00::11"), netip.MustParseAddr("fd00::12")}
)

// lab is the topology: client, director and two real servers, each
// in its own namespace on one L2 segment; HTTP servers on the real servers
// answer with their name.
type lab struct {
	client, director *nstest.NS
	rs               [2]*nstest.NS
	vipUp            map[netip.Addr]bool
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{client: nstest.New(t), director: nstest.New(t), vipUp: map[netip.Addr]bool{}}
	for i := range l.rs {
		l.rs[i] = nstest.New(t)
	}
	p := func(a, a6 netip.Addr) []netip.Prefix {
		return []netip.Prefix{netip.PrefixFrom(a, 24), netip.PrefixFrom(a6, 64)}
	}
	nstest.Segment(t, "br0",
		nstest.Member{NS: l.client, Name: "eth0", Addrs: p(clientIP, clientIP6)},
		nstest.Member{NS: l.director, Name: "eth0", Addrs: p(dirIP, netip.MustParseAddr("fd00::2"))},
		nstest.Member{NS: l.rs[0], Name: "eth0", Addrs: p(rsIPs[0], rsIPs6[0])},
		nstest.Member{NS: l.rs[1], Name: "eth0", Addrs: p(rsIPs[1], rsIPs6[1])},
	)
	for i, rs := range l.rs {
		name := fmt.Sprintf("rs%d", i+1)
		rs.ServeName(t, ":80", name)
	}
	return l
}

// direct configures the director with our ipvs package: the VIP (vip or
// vip6) on its segment NIC (it answers ARP or neighbour discovery for it)
// and a round-robin TCP service whose two destinations (the real servers'
// addresses of the VIP's family) forward with d, replacing any earlier
// service.
func (l *lab) direct(t *testing.T, vip netip.Addr, d ipvs.Destination) {
	t.Helper()
	if !l.vipUp[vip] {
		l.director.AddAddr(t, "eth0", netip.PrefixFrom(vip, vip.BitLen()))
		l.vipUp[vip] = true
	}
	c, err := ipvs.New(&ipvs.Config{NetNSPath: l.director.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	key := ipvs.ServiceKey{Family: ipvs.FamilyOf(vip), Protocol: ipvs.TCP, Address: vip, Port: 80}
	if err := c.CreateService(ctx, ipvs.Service{ServiceKey: key, Scheduler: ipvs.RoundRobin}); err != nil {
		t.Fatal(err)
	}
	rips := rsIPs
	if vip.Is6() {
		rips = rsIPs6
	}
	for _, a := range rips {
		d.Address, d.Port, d.Weight = a, 80, 1
		if err := c.CreateDestination(ctx, key, d); err != nil {
			t.Fatal(err)
		}
	}
}

func client(t *testing.T, ns *nstest.NS) *realserver.Client {
	t.Helper()
	return nstest.Open(realserver.New(&realserver.Config{NetNSPath: ns.Path}))(t)
}

// state is everything set-up may touch in ns. realserver writes IPv4 conf
// sysctls only; reading IPv6's too would double the cost under TCG.
func state(t *testing.T, ns *nstest.NS) map[string]string {
	t.Helper()
	return nstest.State(t, ns, "net/ipv4/conf")
}

// split sends n requests to vip from the client and counts answers per
// real server. The deadline per request is generous enough for a first
// connection's neighbour resolution and SYN retransmission under TCG; a
// broken set-up fails every request, not one.
func (l *lab) split(vip netip.Addr, n int) map[string]int {
	return l.client.Tally("http://"+netip.AddrPortFrom(vip, 80).String()+"/", n, 10*time.Second)
}

func wantSplit(t *testing.T, got map[string]int, n int) {
	t.Helper()
	if got["rs1"] == 0 || got["rs2"] == 0 || got["rs1"]+got["rs2"] != n {
		t.Fatalf("requests to the VIP not split across both real servers: %v", got)
	}
}

// neighMAC is the client's neighbour-cache entry for a.
func neighMAC(t *testing.T, ns *nstest.NS, a netip.Addr) string {
	t.Helper()
	f := strings.Fields(ns.Exec(t, "ip", "neigh", "show", a.String(), "dev", "eth0"))
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// wantOnlyDirector proves that nobody but the director answers ARP (or
// neighbour solicitations) for vip, listening for a second and until the
// director has answered (at most 5 s: proof the question got through), and
// that the client's neighbour entry points at the director.
func (l *lab) wantOnlyDirector(t *testing.T, vip netip.Addr) {
	t.Helper()
	dmac := l.director.HardwareAddr(t, "eth0")
	src := clientIP
	if vip.Is6() {
		src = clientIP6
	}
	start := time.Now()
	macs := l.client.Answerers(t, "eth0", src, vip, 5*time.Second, func(macs []string) bool {
		return time.Since(start) > time.Second && slices.Contains(macs, dmac)
	})
	if !slices.Contains(macs, dmac) {
		t.Errorf("the director (%s) never answered for %s: the probe proves nothing", dmac, vip)
	}
	for _, m := range macs {
		if m != dmac {
			t.Errorf("a real server (%s) answered for the VIP %s; director is %s", m, vip, dmac)
		}
	}
	if got := neighMAC(t, l.client, vip); got != dmac {
		t.Errorf("client's neighbour entry for the VIP is %q, want the director's %s", got, dmac)
	}
}

// variant is one mode of the traffic tests: the VIP (vip if not set), the
// director's destinations and how each real server is set up and checked.
type variant struct {
	name  string
	vip   netip.Addr
	dest  ipvs.Destination
	setup func(c *realserver.Client, i int) (*realserver.Setup, error)
	check func(c *realserver.Client, i int) (realserver.Findings, error)
	// checkBefore: the check must find problems before set-up (skipped
	// where each check execs tools, which costs seconds under TCG).
	checkBefore bool
	// after, if set, runs with the real servers set up.
	after func(t *testing.T, l *lab)
}

// run sets up both real servers, proves requests split across them and
// that only the director answers ARP for the VIP, proves a second set-up
// changes nothing, tears down and compares the state with before. The
// variants share one lab, one after the other, to keep the suite fast; each
// starts from the state the previous one restored.
func (l *lab) run(t *testing.T, variants []variant) {
	ctx := context.Background()
	var befores [2]map[string]string
	var intact [2]func(testing.TB)
	for i, rs := range l.rs {
		intact[i] = rs.AddUserTables(t) // a user's tables of names we used before
		befores[i] = state(t, rs)
	}
	for _, v := range variants {
		ok := t.Run(v.name, func(t *testing.T) {
			if !v.vip.IsValid() {
				v.vip = vip
			}
			l.direct(t, v.vip, v.dest)
			var setups [2]*realserver.Setup
			for i, rs := range l.rs {
				c := client(t, rs)
				if v.checkBefore {
					if r, err := v.check(c, i); err != nil || r.OK() {
						t.Fatalf("check before set-up found nothing: %v %v", r, err)
					}
				}
				s, err := v.setup(c, i)
				if err != nil {
					t.Fatal(err)
				}
				setups[i] = s
				if r, err := v.check(c, i); err != nil || !r.OK() {
					t.Fatalf("check after set-up: %v %v", r, err)
				}
				again, err := v.setup(c, i)
				if err != nil || len(again.Changes()) != 0 {
					t.Fatalf("second set-up changed %v (%v)", again.Changes(), err)
				}
			}
			const n = 10
			wantSplit(t, l.split(v.vip, n), n)
			l.wantOnlyDirector(t, v.vip)
			if v.after != nil {
				v.after(t, l)
			}
			for i, rs := range l.rs {
				intact[i](t)
				if err := setups[i].Teardown(ctx); err != nil {
					t.Fatal(err)
				}
				nstest.SameState(t, fmt.Sprintf("rs%d after teardown", i+1), befores[i], state(t, rs))
			}
		})
		if !ok {
			return
		}
	}
}

func TestDRTraffic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLab(t)
	// rs1 starts from non-default values that must come back exactly:
	// arp_announce 1 (raised to 2, restored to 1) and arp_ignore 2 (already
	// enough: left alone).
	l.rs[0].Sysctl(t, "net/ipv4/conf/all/arp_announce", "1")
	l.rs[0].Sysctl(t, "net/ipv4/conf/all/arp_ignore", "2")
	var vs []variant
	for _, backend := range []realserver.ARPBackend{realserver.ARPSysctl, realserver.ARPTables, realserver.ARPNFTables} {
		cfg := func(i int) realserver.DR {
			c := realserver.DR{VIPs: []netip.Addr{vip}}
			if backend != realserver.ARPSysctl {
				c.ARP = realserver.ARP{Backend: backend, RIP: rsIPs[i]}
			}
			if i == 1 {
				c.Device = "lvs0" // a dummy device, created and removed
			}
			return c
		}
		vs = append(vs, variant{
			name:        backend.String(),
			dest:        ipvs.Destination{Forward: ipvs.DirectRoute},
			setup:       func(c *realserver.Client, i int) (*realserver.Setup, error) { return c.SetupDR(ctx, cfg(i)) },
			check:       func(c *realserver.Client, i int) (realserver.Findings, error) { return c.CheckDR(ctx, cfg(i)) },
			checkBefore: backend == realserver.ARPSysctl,
		})
	}
	l.run(t, vs)
	h, err := netcfg.Open(l.rs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for key, want := range map[string]string{"arp_announce": "1", "arp_ignore": "2"} {
		if got, err := h.Sysctl("net/ipv4/conf/all/" + key); got != want {
			t.Errorf("rs1 all/%s = %s (%v), want its starting value %s", key, got, err, want)
		}
	}
}

// An IPv6 /128 VIP, on lo on rs1 and a dummy device on rs2. IPv6 needs no
// suppression (see TestDRWithoutARPSuppressionFails); wantOnlyDirector
// proves nobody but the director answers neighbour solicitations for it. A
// lab of its own, in parallel with the IPv4 variants, to keep the suite
// short.
func TestDRTrafficIPv6(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLab(t)
	cfg6 := func(i int) realserver.DR {
		c := realserver.DR{VIPs: []netip.Addr{vip6}}
		if i == 1 {
			c.Device = "lvs0"
		}
		return c
	}
	l.run(t, []variant{{
		name:        "IPv6",
		vip:         vip6,
		dest:        ipvs.Destination{Forward: ipvs.DirectRoute},
		setup:       func(c *realserver.Client, i int) (*realserver.Setup, error) { return c.SetupDR(ctx, cfg6(i)) },
		check:       func(c *realserver.Client, i int) (realserver.Findings, error) { return c.CheckDR(ctx, cfg6(i)) },
		checkBefore: true,
	}})
}

// The same topology without ARP suppression fails the way the seeds
// describe: real servers answer ARP for the VIP, so clients can learn a
// real server's MAC for it and bypass the director. CheckDR says why.
//
// IPv6 has no such failure, so DR does nothing for IPv6 VIPs: Linux
// answers a neighbour solicitation only for an address of the interface it
// arrived on (ndisc_recv_ns looks the target up strictly on that device)
// and takes the source of its own solicitations from the outgoing
// interface's addresses, so a VIP on lo or a dummy device is neither
// answered nor announced on eth0. Shown here: with the IPv6 VIP on lo and
// nothing suppressed only the director answers, while the same probe does
// hear a real server that carries the VIP on eth0 (configured wrongly).
func TestDRWithoutARPSuppressionFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLab(t)
	l.director.AddAddr(t, "eth0", vip32, vip128)
	cfg := realserver.DR{VIPs: []netip.Addr{vip, vip6}, ARP: realserver.ARP{Backend: realserver.ARPNone}}
	for _, rs := range l.rs {
		if _, err := client(t, rs).SetupDR(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	dmac := l.director.HardwareAddr(t, "eth0")
	rsmacs := []string{l.rs[0].HardwareAddr(t, "eth0"), l.rs[1].HardwareAddr(t, "eth0")}
	fromRS := func(macs []string) bool {
		return slices.ContainsFunc(macs, func(m string) bool { return slices.Contains(rsmacs, m) })
	}
	macs := l.client.Answerers(t, "eth0", clientIP, vip, 5*time.Second, fromRS)
	if !fromRS(macs) {
		t.Fatalf("without ARP suppression no real server answered ARP for the VIP (answers %v): the proof cannot fail", macs)
	}
	for _, m := range macs {
		if m != dmac && !slices.Contains(rsmacs, m) {
			t.Fatalf("unknown MAC %s answered", m)
		}
	}
	r, err := client(t, l.rs[0]).CheckDR(ctx, realserver.DR{VIPs: []netip.Addr{vip}})
	if err != nil || r.OK() || !strings.Contains(r.String(), "eth0 answers ARP requests for the VIPs (arp_ignore 0 = max(all 0, eth0 0))") {
		t.Fatalf("check does not explain the failure:\n%v %v", r, err)
	}

	start := time.Now()
	macs = l.client.Answerers(t, "eth0", clientIP6, vip6, 5*time.Second, func(macs []string) bool {
		return time.Since(start) > time.Second && slices.Contains(macs, dmac)
	})
	if fromRS(macs) || !slices.Contains(macs, dmac) {
		t.Fatalf("IPv6 VIP on lo, nothing suppressed: answers %v, want only the director's %s", macs, dmac)
	}
	l.rs[0].AddAddr(t, "eth0", vip128) // wrong: the VIP on the NIC
	macs = l.client.Answerers(t, "eth0", clientIP6, vip6, 5*time.Second, fromRS)
	if !slices.Contains(macs, rsmacs[0]) {
		t.Fatalf("rs1 with the IPv6 VIP on eth0 did not answer for it (answers %v): the probe cannot fail", macs)
	}
}

func TestTUNTraffic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLab(t)
	// Strict reverse-path filtering host-wide, as many distributions ship:
	// decapsulated packets are dropped unless set-up makes the tunnel
	// device loose, and the value must survive teardown.
	for _, rs := range l.rs {
		rs.Sysctl(t, "net/ipv4/conf/all/rp_filter", "1")
	}
	var vs []variant
	for _, c := range []struct {
		typ  ipvs.TunnelType
		port uint16
	}{{ipvs.IPIP, 0}, {ipvs.GUE, 6080}, {ipvs.GRE, 0}} {
		cfg := realserver.TUN{VIPs: []netip.Addr{vip}, Type: c.typ, Port: c.port, MSS: clampMSS}
		vs = append(vs, variant{
			name:        c.typ.String(),
			dest:        ipvs.Destination{Forward: ipvs.Tunnel, TunnelType: c.typ, TunnelPort: c.port},
			setup:       func(rc *realserver.Client, _ int) (*realserver.Setup, error) { return rc.SetupTUN(ctx, cfg) },
			check:       func(rc *realserver.Client, _ int) (realserver.Findings, error) { return rc.CheckTUN(ctx, cfg) },
			checkBefore: true,
			after:       wantClampedMSS,
		})
	}
	l.run(t, vs)
}

const clampMSS = 1400

// wantClampedMSS connects to the VIP and reads the client's MSS, which
// follows what the real server's SYN-ACK advertised: 1448 (1460 less
// timestamps) on these 1500-byte links without the clamp.
func wantClampedMSS(t *testing.T, l *lab) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := l.client.DialContext(ctx, "tcp", netip.AddrPortFrom(vip, 80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var mss int
	var serr error
	raw.Control(func(fd uintptr) { mss, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG) })
	if serr != nil || mss > clampMSS || mss < clampMSS-40 {
		t.Fatalf("client's MSS toward the VIP is %d (%v), want at most %d", mss, serr, clampMSS)
	}
}

// Bad inputs give clear errors and change nothing.
func TestBadInputsChangeNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := nstest.New(t)
	peer := nstest.New(t)
	nstest.Veth(t, ns, "eth0", peer, "eth0")
	ns.AddAddr(t, "eth0", netip.MustParsePrefix("10.0.0.11/24"), netip.MustParsePrefix("10.0.0.77/24"))
	// A wider prefix on lo, as scripts using `netmask 255.255.0.0` leave.
	ns.AddAddr(t, "lo", netip.MustParsePrefix("10.9.0.1/16"))
	c := client(t, ns)
	before := state(t, ns)
	r, err := c.CheckDR(ctx, realserver.DR{VIPs: []netip.Addr{netip.MustParseAddr("10.9.0.5")}})
	if err != nil || !strings.Contains(r.String(), "lo carries 10.9.0.1/16, which contains VIP 10.9.0.5: every address in that prefix is local") {
		t.Errorf("check misses the wide prefix on lo:\n%v %v", r, err)
	}
	for _, tc := range []struct {
		name string
		do   func() error
		want error
		msg  string
	}{
		{"broadcast VIP", func() error {
			_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Addr{netip.MustParseAddr("10.0.0.255"), netip.MustParseAddr("255.255.255.255")}})
			return err
		}, realserver.ErrInvalid, "VIPs[1]: 255.255.255.255 cannot be a VIP"},
		{"IPv4 VIP twice, once IPv4-mapped", func() error {
			_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("::ffff:192.0.2.1")}})
			return err
		}, realserver.ErrInvalid, "VIPs[2]: 192.0.2.1 given twice"},
		{"NIC as DR device", func() error {
			_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Addr{vip}, Device: "eth0"})
			return err
		}, realserver.ErrInvalid, "eth0 is a veth device"},
		{"conflicting address", func() error {
			_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Addr{netip.MustParseAddr("10.0.0.77")}})
			return err
		}, realserver.ErrConflict, "10.0.0.77 is already configured as 10.0.0.77/24 on eth0"},
		{"RIP not local", func() error {
			_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Addr{vip}, ARP: realserver.ARP{Backend: realserver.ARPNFTables, RIP: netip.MustParseAddr("10.0.0.99")}})
			return err
		}, realserver.ErrInvalid, "10.0.0.99 is not an address of this host"},
		{"GUE without port", func() error {
			_, err := c.SetupTUN(ctx, realserver.TUN{VIPs: []netip.Addr{vip}, Type: ipvs.GUE})
			return err
		}, realserver.ErrInvalid, "GUE needs the UDP port"},
		{"IPv6 TUN", func() error {
			_, err := c.SetupTUN(ctx, realserver.TUN{VIPs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}})
			return err
		}, realserver.ErrNotSupported, "IPv6 VIPs are not supported in TUN mode"},
		{"fou port taken by another type", func() error {
			ns.Exec(t, "ip", "fou", "add", "port", "6080", "ipproto", "4")
			defer ns.Exec(t, "ip", "fou", "del", "port", "6080")
			_, err := c.SetupTUN(ctx, realserver.TUN{VIPs: []netip.Addr{vip}, Type: ipvs.GUE, Port: 6080})
			return err
		}, realserver.ErrConflict, "fou port 6080 is already open as 6080/ipv4 ipproto 4"},
	} {
		err := tc.do()
		var e *realserver.Error
		if !errors.Is(err, tc.want) || !errors.As(err, &e) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %v containing %q", tc.name, err, tc.want, tc.msg)
		}
	}
	// One comparison for all cases: each reading costs seconds under TCG,
	// and a change by any case would show.
	nstest.SameState(t, "after the bad inputs", before, state(t, ns))
}

// A missing tool is named; nothing changes. Not parallel: it empties PATH.
func TestMissingArptables(t *testing.T) {
	ctx := context.Background()
	ns := nstest.New(t)
	ns.AddAddr(t, "lo", netip.MustParsePrefix("10.0.0.11/32"))
	before := state(t, ns)
	c := client(t, ns)
	path := os.Getenv("PATH")
	t.Setenv("PATH", t.TempDir())
	_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Addr{vip}, ARP: realserver.ARP{Backend: realserver.ARPTables, RIP: netip.MustParseAddr("10.0.0.11")}})
	if !errors.Is(err, realserver.ErrUnavailable) || !strings.Contains(err.Error(), "needs the arptables command, which is not installed") {
		t.Fatalf("got %v", err)
	}
	os.Setenv("PATH", path)
	nstest.SameState(t, "missing tool", before, state(t, ns))
}

// In a namespace without fallback tunnel devices (as with
// net.core.fb_tunnels_only_for_init_net=1), CheckTUN says tunl0 is missing,
// SetupTUN creates it and Teardown removes it again. Not parallel: it flips
// a sysctl of the VM's initial namespace while creating the namespace.
func TestTUNCreatesMissingDevice(t *testing.T) {
	ctx := context.Background()
	const fb = "/proc/sys/net/core/fb_tunnels_only_for_init_net"
	old, err := os.ReadFile(fb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fb, []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	ns := nstest.New(t)
	if err := os.WriteFile(fb, old, 0); err != nil {
		t.Fatal(err)
	}
	before := state(t, ns)
	if before["link tunl0"] != "" {
		t.Fatal("tunl0 exists in a namespace created with fb_tunnels_only_for_init_net=1")
	}
	c := client(t, ns)
	cfg := realserver.TUN{VIPs: []netip.Addr{vip}, ARP: realserver.ARP{Backend: realserver.ARPNone}}
	r, err := c.CheckTUN(ctx, cfg)
	if err != nil || !strings.Contains(r.String(), "tunnel device tunl0 does not exist: kernel module(s) ipip not loaded") {
		t.Fatalf("check: %v %v", r, err)
	}
	s, err := c.SetupTUN(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(s.Changes(), "\n"), "delete device tunl0") {
		t.Fatalf("changes: %v", s.Changes())
	}
	if r, err := c.CheckTUN(ctx, cfg); err != nil || !r.OK() {
		t.Fatalf("check after set-up: %v %v", r, err)
	}
	if err := s.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	nstest.SameState(t, "after teardown", before, state(t, ns))
}

// After Close nothing acts on any namespace (a closed netlink handle would
// otherwise fall back to the caller's): set-ups and teardowns fail with
// ErrClosed and change nothing.
func TestClosedClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := nstest.New(t)
	c, err := realserver.New(&realserver.Config{NetNSPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	cfg := realserver.DR{VIPs: []netip.Addr{vip}, ARP: realserver.ARP{Backend: realserver.ARPNone}}
	s, err := c.SetupDR(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := s.Teardown(ctx); !errors.Is(err, errs.ErrClosed) {
		t.Fatalf("teardown after Close: %v", err)
	}
	if _, err := c.SetupDR(ctx, cfg); !errors.Is(err, realserver.ErrClosed) {
		t.Fatalf("set-up after Close: %v", err)
	}
	if _, err := c.CheckTUN(ctx, realserver.TUN{VIPs: cfg.VIPs}); !errors.Is(err, realserver.ErrClosed) {
		t.Fatalf("check after Close: %v", err)
	}
	if out := ns.Exec(t, "ip", "-o", "addr", "show", "dev", "lo"); !strings.Contains(out, "10.0.0.100/32") {
		t.Fatalf("the VIP went away after a failed teardown:\n%s", out)
	}
}

// A table of our name that we did not make is refused, nothing changed.
func TestForeignTableRefused(t *testing.T) {
	ctx := context.Background()
	ns := nstest.New(t)
	ns.AddAddr(t, "lo", netip.MustParsePrefix("10.0.0.11/32"))
	ns.Exec(t, "nft", "add table arp golvs_realserver")
	ns.Exec(t, "nft", "add table ip golvs_realserver")
	before := state(t, ns)
	// By descriptor, closed at once: the Client keeps a duplicate.
	fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := realserver.New(&realserver.Config{NetNS: fd})
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.SetupDR(ctx, realserver.DR{VIPs: []netip.Addr{vip}, ARP: realserver.ARP{Backend: realserver.ARPNFTables, RIP: netip.MustParseAddr("10.0.0.11")}})
	if !errors.Is(err, realserver.ErrConflict) || !strings.Contains(err.Error(), "table arp golvs_realserver") {
		t.Errorf("SetupDR with a foreign table arp golvs_realserver: %v, want ErrConflict naming it", err)
	}
	_, err = c.SetupTUN(ctx, realserver.TUN{VIPs: []netip.Addr{vip}, Type: ipvs.IPIP, MSS: clampMSS, ARP: realserver.ARP{Backend: realserver.ARPNone}})
	if !errors.Is(err, realserver.ErrConflict) || !strings.Contains(err.Error(), "table ip golvs_realserver") {
		t.Errorf("SetupTUN with a foreign table ip golvs_realserver: %v, want ErrConflict naming it", err)
	}
	nstest.SameState(t, "after the refusals", before, state(t, ns))
}
