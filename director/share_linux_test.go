//go:build linux

package director_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/internal/nstest"
	"golang.org/x/sys/unix"
)

// Two NAT directors in one namespace share ip_forward and send_redirects
// (issue 15 item 2): stopping the first leaves forwarding on for the
// second; stopping the second restores everything. They share a routed
// VIP's dummy device too: it goes with the last VIP on it.
func TestTwoDirectorsShare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := vethNS(t)
	before := state(t, ns)
	// Two agents, each with an identity of its own.
	agent := func(id string) *director.Client {
		return nstest.Open(director.New(&director.Config{NetNSPath: ns.Path, Identity: id}))(t)
	}
	a, b := agent("nat-a"), agent("nat-b")
	g := director.NATGateway{Forwarding: director.Forwarding{IPv4: true, IPv6: true}, Interfaces: []string{"eth1"}}
	sa, err := a.NATGateway(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	va, err := a.AddVIP(ctx, director.VIP{Address: netip.MustParseAddr("10.9.0.1"), Announce: director.AnnounceRouted})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.NATGateway(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if len(sb.Changes()) == 0 {
		t.Fatal("the second director's set-up recorded nothing: it would not keep forwarding on")
	}
	vb, err := b.AddVIP(ctx, director.VIP{Address: netip.MustParseAddr("10.9.0.2"), Announce: director.AnnounceRouted})
	if err != nil {
		t.Fatal(err)
	}
	teardown(t, sa)
	teardown(t, va)
	st := state(t, ns)
	wantState(t, "after the first director's teardown", st, map[string]string{
		"sysctl net/ipv4/ip_forward":               "1",
		"sysctl net/ipv6/conf/all/forwarding":      "1",
		"sysctl net/ipv4/conf/all/send_redirects":  "0",
		"sysctl net/ipv4/conf/eth1/send_redirects": "0",
	})
	if _, ok := st["addr lvs0 10.9.0.2/32"]; !ok {
		t.Errorf("the second director's VIP is gone with the first's teardown (lvs0: %q)", st["link lvs0"])
	}
	teardown(t, sb)
	teardown(t, vb)
	nstest.SameState(t, "after both directors", before, state(t, ns))
}

// A second identical set-up reports no changes (issue 16), including a
// routed VIP's: its device is held by the first.
func TestSecondSetupNoChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := vethNS(t)
	before := state(t, ns)
	d := newDirector(t, ns)
	for _, v := range []director.VIP{
		{Address: netip.MustParseAddr("10.9.0.1"), Announce: director.AnnounceRouted},
		{Address: netip.MustParseAddr("10.9.0.3"), Announce: director.AnnounceARP, Interface: "eth0", Gratuitous: director.Gratuitous{Count: -1}},
	} {
		setUpTwice(t, fmt.Sprintf("AddVIP(%v)", v.Address), func() (*director.Setup, error) { return d.AddVIP(ctx, v) })
	}
	f := director.Forwarding{IPv4: true}
	setUpTwice(t, "EnableForwarding", func() (*director.Setup, error) { return d.EnableForwarding(ctx, f) })
	nstest.SameState(t, "after teardown", before, state(t, ns))
}

// setUpTwice runs setUp twice: the second, identical, must record no
// changes. Both are torn down, the second first.
func setUpTwice(t *testing.T, what string, setUp func() (*director.Setup, error)) {
	t.Helper()
	s1, err := setUp()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := setUp()
	if err != nil {
		t.Fatal(err)
	}
	if c := s2.Changes(); len(c) != 0 {
		t.Errorf("second identical %s records %q", what, c)
	}
	teardown(t, s2)
	teardown(t, s1)
}

// IPv6 forwarding keeps router advertisements accepted (issue 15 item 5):
// interfaces with accept_ra=1 get 2, which accepts them while forwarding,
// conf/default too; an interface with accept_ra=0 is left alone; teardown
// restores every value.
func TestForwardingKeepsRA(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := vethNS(t)
	ns.Sysctl(t, "net.ipv6.conf.eth1.accept_ra", "0", "net.ipv6.conf.default.accept_ra", "1", "net.ipv6.conf.eth0.accept_ra", "1")
	before := state(t, ns)
	d := newDirector(t, ns)
	s, err := d.EnableForwarding(ctx, director.Forwarding{IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, "with IPv6 forwarding", state(t, ns), map[string]string{
		"sysctl net/ipv6/conf/all/forwarding":    "1",
		"sysctl net/ipv6/conf/eth0/forwarding":   "1",
		"sysctl net/ipv6/conf/eth0/accept_ra":    "2",
		"sysctl net/ipv6/conf/default/accept_ra": "2",
		"sysctl net/ipv6/conf/eth1/accept_ra":    "0",
	})
	t.Logf("changes: %q", s.Changes())
	teardown(t, s)
	nstest.SameState(t, "after teardown", before, state(t, ns))
}

// sendRA sends one router advertisement (router lifetime 1800 s) from ns
// out of dev to all nodes, from dev's link-local address, hop limit 255 as
// RFC 4861 requires. The kernel fills in the ICMPv6 checksum.
func sendRA(ns *nstest.NS, dev string) error {
	return ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index); err != nil {
			return err
		}
		// type 134, code 0, checksum, cur hop limit 64, flags 0, router
		// lifetime 1800, reachable time 0, retrans timer 0.
		ra := []byte{134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
		to := &unix.SockaddrInet6{ZoneId: uint32(ifi.Index)}
		copy(to.Addr[:], netip.MustParseAddr("ff02::1").AsSlice())
		return unix.Sendto(fd, ra, 0, to)
	})
}

// defaultRouteVia6 reports whether ns has an IPv6 default route learnt
// from a router advertisement.
func defaultRouteVia6(t *testing.T, ns *nstest.NS) bool {
	out, err := ns.TryExec("ip", "-6", "route", "show", "default")
	if err != nil {
		t.Fatalf("ip -6 route: %v: %s", err, out)
	}
	return strings.Contains(out, "proto ra")
}

// raOutcome sends router advertisements from the router namespace for up
// to wait and reports whether host learnt a default route from them.
func raOutcome(t *testing.T, router, host *nstest.NS, wait time.Duration) bool {
	t.Helper()
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if err := sendRA(router, "eth0"); err != nil {
			t.Logf("send RA: %v", err) // the link-local address may still be tentative
		}
		if defaultRouteVia6(t, host) {
			return true
		}
	}
	return false
}

// A director that turns IPv6 forwarding on keeps learning its default
// route from router advertisements (issue 15 item 5). Control: with
// forwarding on, an RA teaches nothing with accept_ra=1 and a default
// route with accept_ra=2.
func TestForwardingKeepsRATraffic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	router, host, control := nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Veth(t, router, "eth0", host, "eth0")
	router2 := nstest.New(t)
	nstest.Veth(t, router2, "eth0", control, "eth0")
	control.Sysctl(t, "net.ipv6.conf.all.forwarding", "1", "net.ipv6.conf.eth0.accept_ra", "1")
	if raOutcome(t, router2, control, 5*time.Second) {
		t.Fatal("control: a forwarding host with accept_ra=1 learnt a route from an RA; the test proves nothing")
	}
	control.Sysctl(t, "net.ipv6.conf.eth0.accept_ra", "2")
	if !raOutcome(t, router2, control, 30*time.Second) {
		t.Fatal("control: a forwarding host with accept_ra=2 learnt no route either: the RAs do not arrive")
	}
	host.Sysctl(t, "net.ipv6.conf.eth0.accept_ra", "1")
	d := newDirector(t, host)
	s, err := d.EnableForwarding(ctx, director.Forwarding{IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	defer teardown(t, s)
	if !raOutcome(t, router, host, 30*time.Second) {
		t.Fatal("with forwarding on, the director learnt no default route from router advertisements")
	}
}
