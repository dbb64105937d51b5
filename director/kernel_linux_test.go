//go:build linux

package director_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/vishvananda/netlink"
)

var pfx = netip.MustParsePrefix

// state is everything a director set-up may touch in a namespace:
// devices, addresses, conf and IPVS sysctls, and the nftables rule set
// (which holds iptables-nft's rules too).
func state(t *testing.T, ns *nstest.NS) map[string]string {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("state snapshot took %v", time.Since(start)) }()
	return nstest.State(t, ns, "net/ipv4/conf", "net/ipv6/conf", "net/ipv4/vs")
}

func newDirector(t *testing.T, ns *nstest.NS) *director.Client {
	t.Helper()
	return nstest.Open(director.New(&director.Config{NetNSPath: ns.Path}))(t)
}

func newIPVS(t *testing.T, ns *nstest.NS) *ipvs.Client {
	t.Helper()
	return nstest.Open(ipvs.New(&ipvs.Config{NetNSPath: ns.Path}))(t)
}

// wantState checks values of a state snapshot (see state).
func wantState(t *testing.T, when string, st, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if st[k] != v {
			t.Errorf("%s %s = %q, want %q", when, k, st[k], v)
		}
	}
}

func teardown(t *testing.T, u *director.Setup) {
	t.Helper()
	if err := u.Teardown(context.Background()); err != nil {
		t.Fatalf("undo: %v", err)
	}
}

// vethNS returns a new namespace with a veth pair eth0/eth1 inside, both
// up: Ethernet devices without a second namespace.
func vethNS(t *testing.T) *nstest.NS {
	t.Helper()
	ns := nstest.New(t)
	err := ns.Do(func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth1"}); err != nil {
			return err
		}
		for _, n := range []string{"eth0", "eth1"} {
			l, err := netlink.LinkByName(n)
			if err == nil {
				err = netlink.LinkSetUp(l)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// route adds a route to dst via gw inside ns.
func route(t *testing.T, ns *nstest.NS, dst netip.Prefix, gw string) {
	t.Helper()
	err := ns.Do(func() error {
		return netlink.RouteAdd(&netlink.Route{
			Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())},
			Gw:  netip.MustParseAddr(gw).AsSlice(),
		})
	})
	if err != nil {
		t.Fatalf("route %s via %s: %v", dst, gw, err)
	}
}

// serveName serves the real server's name on addr.
func serveName(t *testing.T, ns *nstest.NS, addr, name string) {
	ns.ServeName(t, addr, name)
}

func addService(t *testing.T, c *ipvs.Client, vip netip.Addr, port uint16, rs ...netip.AddrPort) {
	t.Helper()
	ctx := context.Background()
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: vip, Port: port}
	if err := c.CreateService(ctx, ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin}); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if err := c.CreateDestination(ctx, k, ipvs.Destination{Address: r.Addr(), Port: r.Port(), Forward: ipvs.Masquerade, Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTwoArmNAT: client network and real-server network in separate
// namespaces, real servers' default route via the director, which is
// configured only by director and ipvs. IPv4 uses an ARP-announced VIP,
// IPv6 a routed VIP on a dummy device. Teardown restores the director
// namespace exactly, including non-default starting values.
func TestTwoArmNAT(t *testing.T) {
	t.Parallel()
	dir := nstest.New(t)
	cl, rs1, rs2 := nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Veth(t, cl, "eth0", dir, "ext")
	cl.AddAddr(t, "eth0", pfx("10.0.1.2/24"), pfx("fd00:1::2/64"))
	dir.AddAddr(t, "ext", pfx("10.0.1.1/24"), pfx("fd00:1::1/64"))
	nstest.Segment(t, "rsnet",
		nstest.Member{NS: dir, Name: "int", Addrs: []netip.Prefix{pfx("10.0.2.1/24"), pfx("fd00:2::1/64")}},
		nstest.Member{NS: rs1, Name: "eth0", Addrs: []netip.Prefix{pfx("10.0.2.11/24"), pfx("fd00:2::11/64")}},
		nstest.Member{NS: rs2, Name: "eth0", Addrs: []netip.Prefix{pfx("10.0.2.12/24"), pfx("fd00:2::12/64")}},
	)
	for _, rs := range []*nstest.NS{rs1, rs2} {
		route(t, rs, pfx("0.0.0.0/0"), "10.0.2.1")
		route(t, rs, pfx("::/0"), "fd00:2::1")
	}
	// The IPv6 VIP is routed to the director.
	route(t, cl, pfx("fd00:99::80/128"), "fd00:1::1")
	serveName(t, rs1, ":8080", "rs1")
	serveName(t, rs2, ":8080", "rs2")

	// Non-default starting values that the set-up must give back.
	dir.Sysctl(t, "net.ipv4.conf.all.accept_redirects", "0", "net.ipv4.conf.int.send_redirects", "0",
		"net.ipv4.conf.ext.forwarding", "1", "net.ipv6.conf.ext.forwarding", "1")
	ipv := newIPVS(t, dir) // loads ip_vs, so that its sysctls exist before the snapshot
	if _, err := ipv.Services(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := state(t, dir)

	ctx := context.Background()
	d := newDirector(t, dir)
	var undos []*director.Setup
	step := func(u *director.Setup, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		undos = append(undos, u)
	}
	step(d.NATGateway(ctx, director.NATGateway{Forwarding: director.Forwarding{IPv4: true, IPv6: true}, Interfaces: []string{"int"}}))
	step(d.AddVIP(ctx, director.VIP{Address: netip.MustParseAddr("10.0.1.100"), Announce: director.AnnounceARP, Interface: "ext",
		Gratuitous: director.Gratuitous{Count: 1}}))
	step(d.AddVIP(ctx, director.VIP{Address: netip.MustParseAddr("fd00:99::80"), Announce: director.AnnounceRouted}))
	step(d.ApplySysctls(ctx, director.PresetFailover()...))
	// Idempotent: the same calls again change nothing more.
	u, err := d.AddVIP(ctx, director.VIP{Address: netip.MustParseAddr("fd00:99::80"), Announce: director.AnnounceRouted})
	if err != nil {
		t.Fatal(err)
	}
	undos = append(undos, u)

	addService(t, ipv, netip.MustParseAddr("10.0.1.100"), 80, netip.MustParseAddrPort("10.0.2.11:8080"), netip.MustParseAddrPort("10.0.2.12:8080"))
	addService(t, ipv, netip.MustParseAddr("fd00:99::80"), 80, netip.MustParseAddrPort("[fd00:2::11]:8080"), netip.MustParseAddrPort("[fd00:2::12]:8080"))

	for _, url := range []string{"http://10.0.1.100/", "http://[fd00:99::80]/"} {
		got := cl.Tally(url, 6, 10*time.Second)
		if got["rs1"] != 3 || got["rs2"] != 3 {
			t.Errorf("%s: answers %v, want 3 from each real server (round robin, VIP:80 → RS:8080)", url, got)
		}
	}

	// The return-path check agrees, and catches a wrong gateway and a
	// client on the real servers' subnet.
	fs, err := d.CheckReturnPath(ctx,
		director.ReturnPath{RealServer: netip.MustParseAddr("10.0.2.11"), Gateway: netip.MustParseAddr("10.0.2.1"), Client: netip.MustParseAddr("10.0.1.2")},
		director.ReturnPath{RealServer: netip.MustParseAddr("fd00:2::12"), RealServerNetNS: rs2.Path, Client: netip.MustParseAddr("fd00:1::2")},
	)
	if err != nil || len(fs) != 0 {
		t.Errorf("CheckReturnPath on a correct set-up: %v, %v", fs, err)
	}
	fs, err = d.CheckReturnPath(ctx,
		director.ReturnPath{RealServer: netip.MustParseAddr("10.0.2.11"), Gateway: netip.MustParseAddr("10.0.2.254")},
		director.ReturnPath{RealServer: netip.MustParseAddr("10.0.2.12"), Gateway: netip.MustParseAddr("10.0.2.1"), Client: netip.MustParseAddr("10.0.2.50")},
	)
	if err != nil || len(fs) != 2 || fs[0].Severity != director.SeverityBroken || !strings.Contains(fs[0].Problem, "10.0.2.254") ||
		!strings.Contains(fs[1].Problem, "own segment") {
		t.Errorf("CheckReturnPath on broken paths: %v, %v", fs, err)
	}

	for _, k := range []ipvs.ServiceKey{{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.1.100"), Port: 80}, {Protocol: ipvs.TCP, Address: netip.MustParseAddr("fd00:99::80"), Port: 80}} {
		if err := ipv.DeleteService(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	for i := len(undos) - 1; i >= 0; i-- {
		teardown(t, undos[i])
	}
	nstest.SameState(t, "after teardown", before, state(t, dir))
}

// connects makes one HTTP/1.0 request to addr from ns and reports why it
// did not get a 200 within timeout.
func connects(ns *nstest.NS, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := ns.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), "200 OK") {
		return fmt.Errorf("reply %q", b)
	}
	return nil
}

// TestOneArmNAT: the client is on the real servers' own subnet, so without
// source NAT the real servers answer it directly and the connection fails;
// with OneArmNAT it succeeds, with either backend; after undo it fails
// again and the namespace is as before.
func TestOneArmNAT(t *testing.T) {
	t.Parallel()
	dir, cl, rs1, rs2 := nstest.New(t), nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Segment(t, "lan",
		nstest.Member{NS: dir, Name: "eth0", Addrs: []netip.Prefix{pfx("10.0.0.1/24"), pfx("fd00::1/64")}},
		nstest.Member{NS: cl, Name: "eth0", Addrs: []netip.Prefix{pfx("10.0.0.2/24"), pfx("fd00::2/64")}},
		nstest.Member{NS: rs1, Name: "eth0", Addrs: []netip.Prefix{pfx("10.0.0.11/24"), pfx("fd00::11/64")}},
		nstest.Member{NS: rs2, Name: "eth0", Addrs: []netip.Prefix{pfx("10.0.0.12/24"), pfx("fd00::12/64")}},
	)
	for _, rs := range []*nstest.NS{rs1, rs2} {
		route(t, rs, pfx("0.0.0.0/0"), "10.0.0.1")
		route(t, rs, pfx("::/0"), "fd00::1")
	}
	serveName(t, rs1, ":8080", "rs1")
	serveName(t, rs2, ":8080", "rs2")
	ctx := context.Background()
	ipv := newIPVS(t, dir)
	d := newDirector(t, dir)
	vip, vip6 := netip.MustParseAddr("10.0.0.100"), netip.MustParseAddr("fd00::100")
	for _, a := range []netip.Addr{vip, vip6} {
		uv, err := d.AddVIP(ctx, director.VIP{Address: a, Announce: director.AnnounceARP, Interface: "eth0", Gratuitous: director.Gratuitous{Count: -1}})
		if err != nil {
			t.Fatal(err)
		}
		defer teardown(t, uv)
	}
	addService(t, ipv, vip, 80, netip.MustParseAddrPort("10.0.0.11:8080"), netip.MustParseAddrPort("10.0.0.12:8080"))
	addService(t, ipv, vip6, 80, netip.MustParseAddrPort("[fd00::11]:8080"), netip.MustParseAddrPort("[fd00::12]:8080"))
	un, err := d.NATGateway(ctx, director.NATGateway{Forwarding: director.Forwarding{IPv4: true}, Interfaces: []string{"eth0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer teardown(t, un)

	// The check predicts the failure.
	fs, err := d.CheckReturnPath(ctx, director.ReturnPath{RealServer: netip.MustParseAddr("10.0.0.11"), Gateway: netip.MustParseAddr("10.0.0.1"), Client: netip.MustParseAddr("10.0.0.2")})
	if err != nil || len(fs) != 1 || fs[0].Severity != director.SeverityBroken {
		t.Errorf("CheckReturnPath for a client on the real servers' subnet: %v, %v", fs, err)
	}
	// Both families at once: each attempt waits out its timeout.
	errc := make(chan error, 2)
	for _, a := range []string{"10.0.0.100:80", "[fd00::100]:80"} {
		go func() {
			if err := connects(cl, a, 2*time.Second); err == nil {
				errc <- fmt.Errorf("%s: without source NAT a client on the real servers' subnet got an answer: the test cannot tell SNAT works", a)
				return
			}
			errc <- nil
		}()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	intact := dir.AddUserTables(t) // a user's tables of names we used before
	before := state(t, dir)
	v4 := director.SNATService{Protocol: ipvs.TCP, VIP: netip.AddrPortFrom(vip, 80)}
	v6 := director.SNATService{Protocol: ipvs.TCP, VIP: netip.AddrPortFrom(vip6, 80)}
	for _, tc := range []struct {
		b    director.Backend
		svcs []director.SNATService
		urls []string
	}{
		{director.BackendNFTables, []director.SNATService{v4, v6}, []string{"http://10.0.0.100/", "http://[fd00::100]/"}},
		{director.BackendIPTables, []director.SNATService{v4, v6}, []string{"http://10.0.0.100/", "http://[fd00::100]/"}},
	} {
		t.Run(tc.b.String(), func(t *testing.T) {
			n := director.OneArmNAT{Services: tc.svcs, Interface: "eth0", Backend: tc.b}
			u, err := d.OneArmNAT(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("changes: %q", u.Changes())
			u2, err := d.OneArmNAT(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if c := u2.Changes(); len(c) != 0 {
				t.Errorf("the second identical call changed %q", c)
			}
			for _, url := range tc.urls {
				got := cl.Tally(url, 4, 10*time.Second)
				if got["rs1"] != 2 || got["rs2"] != 2 {
					t.Errorf("%s with one-arm NAT (%s): answers %v, want 2 from each real server", url, tc.b, got)
				}
			}
			intact(t)
			teardown(t, u)
			nstest.SameState(t, "after teardown", before, state(t, dir))
			if err := connects(cl, "10.0.0.100:80", time.Second); err == nil {
				t.Error("after teardown the client still gets answers: SNAT was left behind")
			}
		})
	}
	// A table of our name that we did not make: refused, nothing changed.
	t.Run("foreign table", func(t *testing.T) {
		dir.Exec(t, "nft", "add table ip golvs_director")
		defer dir.Exec(t, "nft", "delete table ip golvs_director")
		before := state(t, dir)
		_, err := d.OneArmNAT(ctx, director.OneArmNAT{Services: []director.SNATService{v4}, Interface: "eth0", Backend: director.BackendNFTables})
		if !errors.Is(err, director.ErrConflict) {
			t.Errorf("OneArmNAT with a foreign table ip golvs_director: %v, want ErrConflict", err)
		}
		nstest.SameState(t, "after the refusal", before, state(t, dir))
	})
}

// TestGratuitousMove: a VIP moves from one director namespace to another;
// an observer on the segment learns the new director's MAC from our
// gratuitous ARP (IPv4) and unsolicited neighbour advertisement (IPv6), and
// not without them.
func TestGratuitousMove(t *testing.T) {
	t.Parallel()
	d1, d2, obs := nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Segment(t, "lan",
		nstest.Member{NS: d1, Name: "eth0", Addrs: []netip.Prefix{pfx("10.0.3.1/24"), pfx("fd00:3::1/64")}},
		nstest.Member{NS: d2, Name: "eth0", Addrs: []netip.Prefix{pfx("10.0.3.2/24"), pfx("fd00:3::2/64")}},
		nstest.Member{NS: obs, Name: "eth0", Addrs: []netip.Prefix{pfx("10.0.3.9/24"), pfx("fd00:3::9/64")}},
	)
	ctx := context.Background()
	c1, c2 := newDirector(t, d1), newDirector(t, d2)
	mac1, mac2 := d1.HardwareAddr(t, "eth0"), d2.HardwareAddr(t, "eth0")
	// With arp_ignore=0 a routed VIP would be answered on eth0 too.
	fs, err := c1.CheckVIP(ctx, director.VIP{Address: netip.MustParseAddr("192.0.2.10"), Announce: director.AnnounceRouted})
	if err != nil || len(fs) != 1 || fs[0].Severity != director.SeverityWarning || !strings.Contains(fs[0].Problem, "eth0") {
		t.Errorf("CheckVIP for a routed VIP with arp_ignore=0: %v, %v", fs, err)
	}
	for _, vip := range []netip.Addr{netip.MustParseAddr("10.0.3.100"), netip.MustParseAddr("fd00:3::100")} {
		t.Run(vip.String(), func(t *testing.T) {
			v := director.VIP{Address: vip, Announce: director.AnnounceARP, Interface: "eth0", Gratuitous: director.Gratuitous{Count: -1}}
			u1, err := c1.AddVIP(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			// The observer talks to the VIP and so learns d1's MAC. Under
			// TCG neighbour discovery can outlast one attempt, so retry
			// for a bounded time.
			for deadline := time.Now().Add(5 * time.Second); obs.Neigh(t, vip) != mac1 && time.Now().Before(deadline); {
				connects(obs, netip.AddrPortFrom(vip, 9).String(), time.Second)
			}
			if got := obs.Neigh(t, vip); got != mac1 {
				t.Fatalf("observer's neighbour entry for %s is %q, want d1's %s", vip, got, mac1)
			}
			teardown(t, u1)
			u2, err := c2.AddVIP(ctx, v) // Count -1: silently
			if err != nil {
				t.Fatal(err)
			}
			defer teardown(t, u2)
			time.Sleep(300 * time.Millisecond)
			if got := obs.Neigh(t, vip); got != mac1 {
				t.Fatalf("without an announcement the observer's entry changed to %q: the test cannot tell announcing works", got)
			}
			if err := c2.Announce(ctx, "eth0", vip, director.Gratuitous{Count: 2, Interval: 50 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(3 * time.Second)
			for obs.Neigh(t, vip) != mac2 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if got := obs.Neigh(t, vip); got != mac2 {
				t.Errorf("after the announcement the observer's entry for %s is %q, want d2's %s", vip, got, mac2)
			}
		})
	}
}

// TestBadInputsChangeNothing: invalid or ineffective requests fail with
// the right sentinel, and a failure midway rolls back; routed VIPs sharing
// a device are torn down cleanly; the namespace ends as it started.
func TestBadInputsChangeNothing(t *testing.T) {
	t.Parallel()
	ns := vethNS(t)
	ns.AddAddr(t, "eth0", pfx("10.0.4.1/24"))
	if err := ns.Do(func() error { return netlink.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "dum0"}}) }); err != nil {
		t.Fatal(err)
	}
	ns.Sysctl(t, "net.ipv4.conf.all.arp_ignore", "1")
	ipv := newIPVS(t, ns)
	if _, err := ipv.Services(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := state(t, ns)
	ctx := context.Background()
	d := newDirector(t, ns)
	vip := netip.MustParseAddr("10.0.4.100")
	cases := []struct {
		name string
		call func() (*director.Setup, error)
		want error
	}{
		{"no announce mode", func() (*director.Setup, error) {
			return d.AddVIP(ctx, director.VIP{Address: vip, Interface: "eth0"})
		}, director.ErrInvalid},
		{"ARP VIP on a dummy with arp_ignore=1", func() (*director.Setup, error) {
			return d.AddVIP(ctx, director.VIP{Address: vip, Announce: director.AnnounceARP, Interface: "dum0"})
		}, director.ErrIneffective},
		{"ARP VIP on lo", func() (*director.Setup, error) {
			return d.AddVIP(ctx, director.VIP{Address: netip.MustParseAddr("fd00:4::100"), Announce: director.AnnounceARP, Interface: "lo"})
		}, director.ErrIneffective},
		{"ARP VIP on a missing interface", func() (*director.Setup, error) {
			return d.AddVIP(ctx, director.VIP{Address: vip, Announce: director.AnnounceARP, Interface: "nope0"})
		}, director.ErrNotExist},
		{"routed VIP on a veth", func() (*director.Setup, error) {
			return d.AddVIP(ctx, director.VIP{Address: vip, Announce: director.AnnounceRouted, Interface: "eth0"})
		}, director.ErrConflict},
		{"VIP already there with another prefix", func() (*director.Setup, error) {
			return d.AddVIP(ctx, director.VIP{Address: netip.MustParseAddr("10.0.4.1"), Announce: director.AnnounceARP, Interface: "eth0"})
		}, director.ErrConflict},
		{"multicast VIP", func() (*director.Setup, error) {
			return d.AddVIP(ctx, director.VIP{Address: netip.MustParseAddr("224.0.0.1"), Announce: director.AnnounceARP, Interface: "eth0"})
		}, director.ErrInvalid},
		{"unknown sysctl", func() (*director.Setup, error) {
			return d.ApplySysctls(ctx, director.Sysctl{Name: "net.ipv4.vs.conntrack", Value: 1}, director.Sysctl{Name: "kernel.panic", Value: 1})
		}, director.ErrInvalid},
		{"sysctl out of range", func() (*director.Setup, error) {
			return d.ApplySysctls(ctx, director.Sysctl{Name: "net.ipv4.vs.conn_reuse_mode", Value: 7})
		}, director.ErrInvalid},
		{"NAT gateway with a missing interface", func() (*director.Setup, error) {
			return d.NATGateway(ctx, director.NATGateway{Forwarding: director.Forwarding{IPv4: true}, Interfaces: []string{"eth0", "nope0"}})
		}, director.ErrNotExist},
		{"one-arm NAT without a port", func() (*director.Setup, error) {
			return d.OneArmNAT(ctx, director.OneArmNAT{Services: []director.SNATService{{Protocol: ipvs.TCP, VIP: netip.AddrPortFrom(vip, 0)}}, Interface: "eth0"})
		}, director.ErrInvalid},
		{"announce cancelled midway rolls the VIP back", func() (*director.Setup, error) {
			ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			return d.AddVIP(ctx, director.VIP{Address: vip, Announce: director.AnnounceARP, Interface: "eth0", Gratuitous: director.Gratuitous{Count: 5, Interval: time.Second}})
		}, context.DeadlineExceeded},
	}
	for _, c := range cases {
		u, err := c.call()
		if !errors.Is(err, c.want) || u != nil {
			t.Errorf("%s: got %v (undo %v), want %v", c.name, err, u != nil, c.want)
		}
		var de *director.Error
		if err != nil && !errors.As(err, &de) {
			t.Errorf("%s: error %T is not a *director.Error", c.name, err)
		}
		t.Logf("%s: %v", c.name, err)
	}

	// Two routed VIPs on the default dummy device, which the first call
	// creates: tearing that call down keeps the device for the other VIP;
	// tearing both down removes it. (Here rather than in a test of its own
	// because every state snapshot costs seconds under TCG.)
	a := director.VIP{Address: netip.MustParseAddr("192.0.2.10"), Announce: director.AnnounceRouted}
	b := director.VIP{Address: netip.MustParseAddr("2001:db8::10"), Announce: director.AnnounceRouted}
	if fs, err := d.CheckVIP(ctx, a); err != nil || len(fs) != 0 {
		t.Errorf("CheckVIP for a routed VIP with arp_ignore=1: %v, %v", fs, err)
	}
	ua, err := d.AddVIP(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	ub, err := d.AddVIP(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	teardown(t, ua)
	out := ns.Exec(t, "ip", "addr", "show", "dev", director.DefaultVIPDevice)
	if !strings.Contains(out, "2001:db8::10/128") || strings.Contains(out, "192.0.2.10") {
		t.Errorf("after tearing down the first VIP, %s holds:\n%s", director.DefaultVIPDevice, out)
	}
	teardown(t, ub)
	nstest.SameState(t, "after bad inputs and routed VIPs", before, state(t, ns))
}

// TestSysctlDefaults: the defaults Sysctls documents are the kernel's, in
// a fresh namespace with ip_vs loaded.
func TestSysctlDefaults(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	ipv := newIPVS(t, ns)
	if _, err := ipv.Services(context.Background()); err != nil {
		t.Fatal(err)
	}
	h, err := netcfg.Open(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, s := range director.Sysctls() {
		v, err := h.SysctlInt(strings.ReplaceAll(s.Name, ".", "/"))
		if err != nil || v != s.Default {
			t.Errorf("%s: kernel has %d (%v), documented default %d", s.Name, v, err, s.Default)
		}
	}
}
