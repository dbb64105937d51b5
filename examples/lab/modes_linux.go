package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/golvs/lvs/internal/netlab"
)

// mode is one forwarding mode the lab demonstrates.
type mode struct {
	key     string // for -modes
	title   string
	explain string // one line for someone new to LVS
	extra   bool   // a variant (IPv6, other backends) run by the tests and -modes all
	build   func(l *netlab.Lab) (*scenario, error)
}

// scenario is a mode's network, servers and example programs.
type scenario struct {
	client  *netlab.NS
	sources []netip.Addr // client source addresses; one zero Addr: the default
	urls    []string     // requests go to these in turn
	servers []*realServer
	agents  []*agent // started in order (director last), stopped in reverse
	sticky  bool     // persistence: each source must stay on one server
	picture string   // the hosts, in one line
	// ready, if set, runs once the agents are ready, before the traffic;
	// then after it, before they are stopped.
	ready func(ctx context.Context, w io.Writer) error
	then  func(ctx context.Context, w io.Writer, bins map[string]string) error
}

// realServer is a host running small HTTP servers that answer its name.
type realServer struct {
	name  string
	ns    *netlab.NS
	ports []uint16
}

func modes() []mode {
	return []mode{
		{key: "nat", title: "NAT",
			explain: "NAT: the director rewrites each request to a real server's address (and port) and the reply back to the VIP; replies must route back through it.",
			build:   func(l *netlab.Lab) (*scenario, error) { return buildNAT(l, false) }},
		{key: "dr", title: "DR (direct routing)",
			explain: "DR: the director only swaps the destination MAC and hands each request to a real server on its LAN, which holds the VIP itself (hidden from ARP) and answers the client directly.",
			build:   func(l *netlab.Lab) (*scenario, error) { return buildDR(l, false) }},
		{key: "tun-ipip", title: "TUN (ipip)",
			explain: "TUN: the director wraps each request in an outer IP header to a real server, which unwraps it onto its tunnel device holding the VIP and answers the client directly.",
			build:   func(l *netlab.Lab) (*scenario, error) { return buildTUN(l, "ipip") }},
		{key: "tun-gue", title: "TUN (gue)",
			explain: "TUN over GUE: the same, with the request wrapped in UDP (port 6080), which crosses networks that only pass TCP and UDP.",
			build:   func(l *netlab.Lab) (*scenario, error) { return buildTUN(l, "gue") }},
		{key: "tun-gre", title: "TUN (gre)",
			explain: "TUN over GRE: the same, with the request wrapped in a GRE header.",
			build:   func(l *netlab.Lab) (*scenario, error) { return buildTUN(l, "gre") }},
		{key: "fwmark", title: "fwmark (ports 80 and 443, persistent, DR)",
			explain: "fwmark: a firewall rule marks packets to VIP:80 and VIP:443 alike, one IPVS service balances the mark, and persistence keeps each client on one real server for both ports.",
			build:   func(l *netlab.Lab) (*scenario, error) { return buildFwmark(l, false, "") }},
		{key: "nat6", title: "NAT over IPv6", extra: true,
			explain: "NAT with IPv6 addresses.",
			build:   func(l *netlab.Lab) (*scenario, error) { return buildNAT(l, true) }},
		{key: "nat-snat", title: "NAT one-arm (-snat)", extra: true,
			explain: "One-arm NAT: the real servers share the client's LAN; the director also rewrites the source, so replies come back through it.",
			build:   buildOneArm},
		{key: "dr6", title: "DR over IPv6", extra: true,
			explain: "DR with IPv6 addresses: a VIP on lo is never advertised by neighbour discovery.",
			build:   func(l *netlab.Lab) (*scenario, error) { return buildDR(l, true) }},
		{key: "ha", title: "HA: two DR directors, VRRP and the sync daemon", extra: true,
			explain: "HA: two directors elect the VIP's holder with VRRP (keepalived's protocol); the IPVS sync daemon copies the connection table to the backup. The master is killed with SIGKILL while a client holds a TCP connection through the VIP; the backup takes over and the connection goes on; the first director comes back and takes the VIP back after its preempt delay.",
			build:   buildHA},
		{key: "fwmark6", title: "fwmark over IPv6, iptables", extra: true,
			explain: "fwmark with IPv6 addresses and ip6tables rules.",
			build:   func(l *netlab.Lab) (*scenario, error) { return buildFwmark(l, true, "iptables") }},
	}
}

// addr returns host h of network n: 10.0.n.h, or fd00:n::h with v6.
func addr(v6 bool, n, h int) netip.Addr {
	if v6 {
		return netip.MustParseAddr(fmt.Sprintf("fd00:%d::%d", n, h))
	}
	return netip.AddrFrom4([4]byte{10, 0, byte(n), byte(h)})
}

func pfx(a netip.Addr) []netip.Prefix {
	bits := 24
	if a.Is6() {
		bits = 64
	}
	return []netip.Prefix{netip.PrefixFrom(a, bits)}
}

func url(a netip.Addr, port uint16) string {
	return "http://" + netip.AddrPortFrom(a, port).String() + "/"
}

func join[T fmt.Stringer](xs []T, sep string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	return strings.Join(s, sep)
}

// hosts creates the client, the director and n real servers.
func hosts(l *netlab.Lab, n int, ports ...uint16) (client, dir *netlab.NS, rss []*realServer, err error) {
	if client, err = l.NS("client"); err != nil {
		return
	}
	if dir, err = l.NS("director"); err != nil {
		return
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("rs%d", i)
		ns, e := l.NS(name)
		if e != nil {
			return nil, nil, nil, e
		}
		rss = append(rss, &realServer{name: name, ns: ns, ports: ports})
	}
	return
}

// lan puts the client (.2), the director (.1) and the real servers (.11,
// .12, ...) on one segment, network n.
func lan(l *netlab.Lab, v6 bool, n int, client, dir *netlab.NS, rss []*realServer) ([]netip.Addr, error) {
	members := []netlab.Member{
		{NS: client, Name: "eth0", Addrs: pfx(addr(v6, n, 2))},
		{NS: dir, Name: "eth0", Addrs: pfx(addr(v6, n, 1))},
	}
	var rips []netip.Addr
	for i, rs := range rss {
		rip := addr(v6, n, 11+i)
		rips = append(rips, rip)
		members = append(members, netlab.Member{NS: rs.ns, Name: "eth0", Addrs: pfx(rip)})
	}
	_, err := l.Segment("lan", members...)
	return rips, err
}

func buildNAT(l *netlab.Lab, v6 bool) (*scenario, error) {
	client, dir, rss, err := hosts(l, 3, 8080)
	if err != nil {
		return nil, err
	}
	// Two networks: the client's (1) and the real servers' (2), the
	// director on both and the real servers' gateway.
	if _, err := l.Segment("front",
		netlab.Member{NS: client, Name: "eth0", Addrs: pfx(addr(v6, 1, 2))},
		netlab.Member{NS: dir, Name: "eth0", Addrs: pfx(addr(v6, 1, 1))}); err != nil {
		return nil, err
	}
	back := []netlab.Member{{NS: dir, Name: "eth1", Addrs: pfx(addr(v6, 2, 1))}}
	var rs []string
	for i, r := range rss {
		rip := addr(v6, 2, 11+i)
		back = append(back, netlab.Member{NS: r.ns, Name: "eth0", Addrs: pfx(rip)})
		rs = append(rs, netip.AddrPortFrom(rip, 8080).String())
	}
	if _, err := l.Segment("back", back...); err != nil {
		return nil, err
	}
	for _, r := range rss {
		if err := r.ns.AddRoute(netip.Prefix{}, addr(v6, 2, 1)); err != nil {
			return nil, err
		}
	}
	vip := addr(v6, 1, 100)
	return &scenario{
		client: client, sources: []netip.Addr{{}}, urls: []string{url(vip, 80)}, servers: rss,
		agents: []*agent{newAgent("director", dir, "nat", "-vip", netip.AddrPortFrom(vip, 80).String(),
			"-rs", strings.Join(rs, ","), "-iface", "eth0")},
		picture: fmt.Sprintf("client %v → director (VIP %v:80) → rs1..rs3 %v..%v:8080, whose gateway is the director",
			addr(v6, 1, 2), vip, addr(v6, 2, 11), addr(v6, 2, 13)),
	}, nil
}

func buildOneArm(l *netlab.Lab) (*scenario, error) {
	client, dir, rss, err := hosts(l, 2, 8080)
	if err != nil {
		return nil, err
	}
	rips, err := lan(l, false, 6, client, dir, rss)
	if err != nil {
		return nil, err
	}
	var rs []string
	for _, rip := range rips {
		rs = append(rs, netip.AddrPortFrom(rip, 8080).String())
	}
	vip := addr(false, 6, 100)
	return &scenario{
		client: client, sources: []netip.Addr{{}}, urls: []string{url(vip, 80)}, servers: rss,
		agents: []*agent{newAgent("director", dir, "nat", "-vip", netip.AddrPortFrom(vip, 80).String(),
			"-rs", strings.Join(rs, ","), "-iface", "eth0", "-snat")},
		picture: fmt.Sprintf("client %v, director (VIP %v:80) and rs1, rs2 %v on one LAN", addr(false, 6, 2), vip, join(rips, ", ")),
	}, nil
}

func buildDR(l *netlab.Lab, v6 bool) (*scenario, error) {
	client, dir, rss, err := hosts(l, 3, 80)
	if err != nil {
		return nil, err
	}
	rips, err := lan(l, v6, 3, client, dir, rss)
	if err != nil {
		return nil, err
	}
	vip := addr(v6, 3, 100)
	s := &scenario{client: client, sources: []netip.Addr{{}}, urls: []string{url(vip, 80)}, servers: rss,
		picture: fmt.Sprintf("client %v, director (VIP %v:80) and rs1..rs3 %v on one LAN", addr(v6, 3, 2), vip, join(rips, ", "))}
	// One ARP-suppression backend per real server, to show all three.
	arp := []string{"sysctl", "arptables", "nft"}
	for i, r := range rss {
		args := []string{"realserver", "-vip", vip.String()}
		if !v6 {
			args = append(args, "-arp", arp[i])
		}
		s.agents = append(s.agents, newAgent(r.name, r.ns, "dr", args...))
	}
	s.agents = append(s.agents, newAgent("director", dir, "dr", "director", "-vip", netip.AddrPortFrom(vip, 80).String(),
		"-rs", join(rips, ","), "-iface", "eth0"))
	return s, nil
}

func buildTUN(l *netlab.Lab, typ string) (*scenario, error) {
	client, dir, rss, err := hosts(l, 3, 80)
	if err != nil {
		return nil, err
	}
	rips, err := lan(l, false, 4, client, dir, rss)
	if err != nil {
		return nil, err
	}
	vip := addr(false, 4, 100)
	s := &scenario{client: client, sources: []netip.Addr{{}}, urls: []string{url(vip, 80)}, servers: rss,
		picture: fmt.Sprintf("client %v, director (VIP %v:80) and rs1..rs3 %v, tunnels from the director to each", addr(false, 4, 2), vip, join(rips, ", "))}
	for _, r := range rss {
		s.agents = append(s.agents, newAgent(r.name, r.ns, "tun", "realserver", "-vip", vip.String(), "-type", typ))
	}
	s.agents = append(s.agents, newAgent("director", dir, "tun", "director", "-vip", netip.AddrPortFrom(vip, 80).String(),
		"-rs", join(rips, ","), "-iface", "eth0", "-type", typ))
	return s, nil
}

func buildFwmark(l *netlab.Lab, v6 bool, backend string) (*scenario, error) {
	client, dir, rss, err := hosts(l, 3, 80, 443)
	if err != nil {
		return nil, err
	}
	rips, err := lan(l, v6, 5, client, dir, rss)
	if err != nil {
		return nil, err
	}
	// Three client addresses: persistence is per client address.
	srcs := []netip.Addr{addr(v6, 5, 2), addr(v6, 5, 3), addr(v6, 5, 4)}
	var more []netip.Prefix
	for _, a := range srcs[1:] {
		more = append(more, pfx(a)...)
	}
	if err := client.AddAddr("eth0", more...); err != nil {
		return nil, err
	}
	vip := addr(v6, 5, 100)
	s := &scenario{client: client, sources: srcs, urls: []string{url(vip, 80), url(vip, 443)}, servers: rss, sticky: true,
		picture: fmt.Sprintf("clients %v, director (VIP %v, ports 80 and 443) and rs1..rs3 %v on one LAN", join(srcs, ", "), vip, join(rips, ", "))}
	for _, r := range rss {
		s.agents = append(s.agents, newAgent(r.name, r.ns, "dr", "realserver", "-vip", vip.String()))
	}
	args := []string{"director", "-vip", vip.String(), "-ports", "80,443", "-mark", "1",
		"-rs", join(rips, ","), "-iface", "eth0", "-persist", "60s"}
	if backend != "" {
		args = append(args, "-backend", backend)
	}
	s.agents = append(s.agents, newAgent("director", dir, "fwmark", args...))
	return s, nil
}
