//go:build linux

package realserver_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

var (
	vip      = netip.MustParseAddr("10.0.0.100")
	vip32    = netip.PrefixFrom(vip, 32)
	clientIP = netip.MustParseAddr("10.0.0.1")
	dirIP    = netip.MustParseAddr("10.0.0.2")
	rsIPs    = [2]netip.Addr{netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.12")}
)

// lab is the topology: client, director and two real servers, each
// in its own namespace on one L2 segment; HTTP servers on the real servers
// answer with their name.
type lab struct {
	client, director *nstest.NS
	rs               [2]*nstest.NS
	vipUp            bool
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{client: nstest.New(t), director: nstest.New(t)}
	for i := range l.rs {
		l.rs[i] = nstest.New(t)
	}
	p := func(a netip.Addr) []netip.Prefix { return []netip.Prefix{netip.PrefixFrom(a, 24)} }
	nstest.Segment(t, "br0",
		nstest.Member{NS: l.client, Name: "eth0", Addrs: p(clientIP)},
		nstest.Member{NS: l.director, Name: "eth0", Addrs: p(dirIP)},
		nstest.Member{NS: l.rs[0], Name: "eth0", Addrs: p(rsIPs[0])},
		nstest.Member{NS: l.rs[1], Name: "eth0", Addrs: p(rsIPs[1])},
	)
	for i, rs := range l.rs {
		name := fmt.Sprintf("rs%d", i+1)
		rs.ServeHTTP(t, ":80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	}
	return l
}

// direct configures the director with our ipvs package: the VIP on its
// segment NIC (it answers ARP for it) and a round-robin TCP service whose
// two destinations forward with d, replacing any earlier service.
func (l *lab) direct(t *testing.T, d ipvs.Destination) {
	t.Helper()
	if !l.vipUp {
		l.director.AddAddr(t, "eth0", vip32)
		l.vipUp = true
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
	key := ipvs.ServiceKey{Family: ipvs.IPv4, Protocol: ipvs.TCP, Address: vip, Port: 80}
	if err := c.CreateService(ctx, ipvs.Service{ServiceKey: key, Scheduler: ipvs.RoundRobin}); err != nil {
		t.Fatal(err)
	}
	for _, a := range rsIPs {
		d.Address, d.Port, d.Weight = a, 80, 1
		if err := c.CreateDestination(ctx, key, d); err != nil {
			t.Fatal(err)
		}
	}
}

func client(t *testing.T, ns *nstest.NS) *realserver.Client {
	t.Helper()
	c, err := realserver.New(&realserver.Config{NetNSPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// state is everything set-up may touch: sysctls, devices, addresses, fou
// ports (netcfg.Snapshot) plus the nftables rule set and arptables rules.
func state(t *testing.T, ns *nstest.NS) map[string]string {
	t.Helper()
	h, err := netcfg.Open(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// realserver touches IPv4 conf sysctls only; reading IPv6's too would
	// double the cost (sysctl reads are slow under TCG).
	m, err := h.Snapshot("net/ipv4/conf")
	if err != nil {
		t.Fatal(err)
	}
	// Every nftables table, chain and rule (arptables here is
	// arptables-nft, so its rules are nftables rules too), read over
	// netlink: exec'ing nft under TCG costs seconds.
	fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	nc, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	chains, err := nc.ListChains()
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chains {
		rules, err := nc.GetRules(ch.Table, ch)
		if err != nil {
			t.Fatal(err)
		}
		var rs []string
		for _, r := range rules {
			rs = append(rs, fmt.Sprintf("%q %d exprs", r.UserData, len(r.Exprs)))
		}
		m[fmt.Sprintf("nft chain %d %s %s", ch.Table.Family, ch.Table.Name, ch.Name)] = strings.Join(rs, "; ")
	}
	tables, err := nc.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		m[fmt.Sprintf("nft table %d %s", tb.Family, tb.Name)] = "present"
	}
	return m
}

func sameState(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	var d []string
	for _, line := range netcfg.Diff(before, after) {
		// Bringing a tunnel device up makes the kernel create its IPv6
		// conf directory (addrconf), which stays when the device goes
		// down again: a kernel side effect no set-up can undo. Only that
		// is tolerated, and only for a device that existed before.
		if rest, ok := strings.CutPrefix(line, "sysctl net/ipv6/conf/"); ok && strings.Contains(line, ": (absent) → ") {
			if dev, _, _ := strings.Cut(rest, "/"); before["link "+dev] != "" {
				continue
			}
		}
		d = append(d, line)
	}
	if len(d) > 0 {
		t.Fatalf("%s: state differs from before:\n%s", what, strings.Join(d, "\n"))
	}
}

// split sends n requests to the VIP from the client and counts answers per
// real server. Bounded: n requests, each with a deadline.
func (l *lab) split(t *testing.T, n int) map[string]int {
	t.Helper()
	hc := l.client.HTTPClient()
	hc.Timeout = 3 * time.Second
	got := map[string]int{}
	for range n {
		resp, err := hc.Get("http://" + vip.String() + "/")
		if err != nil {
			got["error: "+err.Error()]++
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got[string(b)]++
	}
	return got
}

func wantSplit(t *testing.T, got map[string]int, n int) {
	t.Helper()
	if got["rs1"] == 0 || got["rs2"] == 0 || got["rs1"]+got["rs2"] != n {
		t.Fatalf("requests to the VIP not split across both real servers: %v", got)
	}
}

func mac(t *testing.T, ns *nstest.NS, dev string) string {
	t.Helper()
	var hw string
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err == nil {
			hw = ifi.HardwareAddr.String()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return hw
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

// arpProbe broadcasts one ARP request for target from ns's eth0 and returns
// the sender MACs of every reply within a second: with ARP suppression
// only the director answers for the VIP.
func arpProbe(t *testing.T, ns *nstest.NS, src, target netip.Addr) []string {
	t.Helper()
	var macs []string
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ARP)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			return err
		}
		pkt := make([]byte, 28)
		binary.BigEndian.PutUint16(pkt[0:], 1)      // Ethernet
		binary.BigEndian.PutUint16(pkt[2:], 0x0800) // IPv4
		pkt[4], pkt[5] = 6, 4
		binary.BigEndian.PutUint16(pkt[6:], 1) // request
		copy(pkt[8:], ifi.HardwareAddr)
		copy(pkt[14:], src.AsSlice())
		copy(pkt[24:], target.AsSlice())
		to := &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
		if err := unix.Sendto(fd, pkt, 0, to); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		deadline := time.Now().Add(time.Second)
		buf := make([]byte, 128)
		for time.Now().Before(deadline) {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue // timeout slice; loop is bounded by the deadline
			}
			if n >= 28 && binary.BigEndian.Uint16(buf[6:]) == 2 && netip.AddrFrom4([4]byte(buf[14:18])) == target {
				macs = append(macs, net.HardwareAddr(buf[8:14]).String())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return macs
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// wantOnlyDirector proves that nobody but the director answers ARP for the
// VIP and that the client's neighbour entry points at the director.
func (l *lab) wantOnlyDirector(t *testing.T) {
	t.Helper()
	dmac := mac(t, l.director, "eth0")
	for _, m := range arpProbe(t, l.client, clientIP, vip) {
		if m != dmac {
			t.Errorf("a real server (%s) answered ARP for the VIP; director is %s", m, dmac)
		}
	}
	if got := neighMAC(t, l.client, vip); got != dmac {
		t.Errorf("client's neighbour entry for the VIP is %q, want the director's %s", got, dmac)
	}
}

// variant is one mode of the traffic tests: the director's destinations
// and how each real server is set up and checked.
type variant struct {
	name  string
	dest  ipvs.Destination
	setup func(c *realserver.Client, i int) (*realserver.Setup, error)
	check func(c *realserver.Client, i int) (*realserver.Report, error)
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
	for i, rs := range l.rs {
		befores[i] = state(t, rs)
	}
	for _, v := range variants {
		ok := t.Run(v.name, func(t *testing.T) {
			l.direct(t, v.dest)
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
			wantSplit(t, l.split(t, n), n)
			l.wantOnlyDirector(t)
			if v.after != nil {
				v.after(t, l)
			}
			for i, rs := range l.rs {
				if err := setups[i].Teardown(ctx); err != nil {
					t.Fatal(err)
				}
				sameState(t, fmt.Sprintf("rs%d after teardown", i+1), befores[i], state(t, rs))
			}
		})
		if !ok {
			return
		}
	}
}

func sysctlW(t *testing.T, ns *nstest.NS, key, value string) {
	t.Helper()
	h, err := netcfg.Open(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.SetSysctl(new(netcfg.Journal), key, value); err != nil {
		t.Fatal(err)
	}
}

func TestDRTraffic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLab(t)
	// rs1 starts from non-default values that must come back exactly:
	// arp_announce 1 (raised to 2, restored to 1) and arp_ignore 2 (already
	// enough: left alone).
	sysctlW(t, l.rs[0], "net/ipv4/conf/all/arp_announce", "1")
	sysctlW(t, l.rs[0], "net/ipv4/conf/all/arp_ignore", "2")
	var vs []variant
	for _, backend := range []realserver.ARPBackend{realserver.ARPSysctl, realserver.ARPTables, realserver.ARPNftables} {
		cfg := func(i int) realserver.DR {
			c := realserver.DR{VIPs: []netip.Prefix{vip32}}
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
			check:       func(c *realserver.Client, i int) (*realserver.Report, error) { return c.CheckDR(ctx, cfg(i)) },
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

// The same topology without ARP suppression fails the way the seeds
// describe: real servers answer ARP for the VIP, so clients can learn a
// real server's MAC for it and bypass the director. CheckDR says why.
func TestDRWithoutARPSuppressionFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLab(t)
	l.direct(t, ipvs.Destination{Forward: ipvs.DirectRoute})
	cfg := realserver.DR{VIPs: []netip.Prefix{vip32}, ARP: realserver.ARP{Backend: realserver.ARPNone}}
	for _, rs := range l.rs {
		if _, err := client(t, rs).SetupDR(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	dmac := mac(t, l.director, "eth0")
	rsmacs := map[string]bool{mac(t, l.rs[0], "eth0"): true, mac(t, l.rs[1], "eth0"): true}
	answered := 0
	for _, m := range arpProbe(t, l.client, clientIP, vip) {
		if rsmacs[m] {
			answered++
		} else if m != dmac {
			t.Fatalf("unknown MAC %s answered", m)
		}
	}
	if answered == 0 {
		t.Fatal("without ARP suppression no real server answered ARP for the VIP: the proof cannot fail")
	}
	cfg.ARP.Backend = realserver.ARPSysctl
	r, err := client(t, l.rs[0]).CheckDR(ctx, cfg)
	if err != nil || r.OK() || !strings.Contains(r.String(), "eth0 answers ARP requests for the VIPs (arp_ignore 0 = max(all 0, eth0 0))") {
		t.Fatalf("check does not explain the failure:\n%v %v", r, err)
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
		sysctlW(t, rs, "net/ipv4/conf/all/rp_filter", "1")
	}
	var vs []variant
	for _, c := range []struct {
		typ  ipvs.TunnelType
		port uint16
	}{{ipvs.IPIP, 0}, {ipvs.GUE, 6080}, {ipvs.GRE, 0}} {
		cfg := realserver.TUN{VIPs: []netip.Prefix{vip32}, Type: c.typ, Port: c.port, MSS: clampMSS}
		vs = append(vs, variant{
			name:        c.typ.String(),
			dest:        ipvs.Destination{Forward: ipvs.Tunnel, TunnelType: c.typ, TunnelPort: c.port},
			setup:       func(rc *realserver.Client, _ int) (*realserver.Setup, error) { return rc.SetupTUN(ctx, cfg) },
			check:       func(rc *realserver.Client, _ int) (*realserver.Report, error) { return rc.CheckTUN(ctx, cfg) },
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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
	r, err := c.CheckDR(ctx, realserver.DR{VIPs: []netip.Prefix{netip.MustParsePrefix("10.9.0.5/32")}})
	if err != nil || !strings.Contains(r.String(), "lo carries 10.9.0.1/16, which contains VIP 10.9.0.5: every address in that prefix is local") {
		t.Errorf("check misses the wide prefix on lo:\n%v %v", r, err)
	}
	for _, tc := range []struct {
		name string
		do   func() error
		want error
		msg  string
	}{
		{"wide prefix", func() error {
			_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.100/24")}})
			return err
		}, realserver.ErrInvalid, "VIPs[0]: 10.0.0.100/24 is wider than a single address"},
		{"wide IPv6 prefix", func() error {
			_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")}})
			return err
		}, realserver.ErrInvalid, "must be /128"},
		{"NIC as DR device", func() error {
			_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Prefix{vip32}, Device: "eth0"})
			return err
		}, realserver.ErrInvalid, "eth0 is a veth device"},
		{"conflicting address", func() error {
			_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.77/32")}})
			return err
		}, realserver.ErrConflict, "10.0.0.77 is already configured as 10.0.0.77/24 on eth0"},
		{"RIP not local", func() error {
			_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Prefix{vip32}, ARP: realserver.ARP{Backend: realserver.ARPNftables, RIP: netip.MustParseAddr("10.0.0.99")}})
			return err
		}, realserver.ErrInvalid, "10.0.0.99 is not an address of this host"},
		{"GUE without port", func() error {
			_, err := c.SetupTUN(ctx, realserver.TUN{VIPs: []netip.Prefix{vip32}, Type: ipvs.GUE})
			return err
		}, realserver.ErrInvalid, "GUE needs the UDP port"},
		{"IPv6 TUN", func() error {
			_, err := c.SetupTUN(ctx, realserver.TUN{VIPs: []netip.Prefix{netip.MustParsePrefix("2001:db8::1/128")}})
			return err
		}, realserver.ErrNotSupported, "IPv6 VIPs are not supported in TUN mode"},
		{"fou port taken by another type", func() error {
			ns.Exec(t, "ip", "fou", "add", "port", "6080", "ipproto", "4")
			defer ns.Exec(t, "ip", "fou", "del", "port", "6080")
			_, err := c.SetupTUN(ctx, realserver.TUN{VIPs: []netip.Prefix{vip32}, Type: ipvs.GUE, Port: 6080})
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
	sameState(t, "after the bad inputs", before, state(t, ns))
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
	_, err := c.SetupDR(ctx, realserver.DR{VIPs: []netip.Prefix{vip32}, ARP: realserver.ARP{Backend: realserver.ARPTables, RIP: netip.MustParseAddr("10.0.0.11")}})
	if !errors.Is(err, realserver.ErrNoTool) || !strings.Contains(err.Error(), "needs the arptables command, which is not installed") {
		t.Fatalf("got %v", err)
	}
	os.Setenv("PATH", path)
	sameState(t, "missing tool", before, state(t, ns))
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
	cfg := realserver.TUN{VIPs: []netip.Prefix{vip32}, ARP: realserver.ARP{Backend: realserver.ARPNone}}
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
	sameState(t, "after teardown", before, state(t, ns))
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
	cfg := realserver.DR{VIPs: []netip.Prefix{vip32}, ARP: realserver.ARP{Backend: realserver.ARPNone}}
	s, err := c.SetupDR(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := s.Teardown(ctx); !errors.Is(err, realserver.ErrClosed) {
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
