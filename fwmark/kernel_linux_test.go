package fwmark_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/fwmark"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/stretchr/testify/require"
)

// backendCase is one way of installing marks that the kernel tests cover.
type backendCase struct {
	name string
	cfg  fwmark.Config
	// list shows what the backend installed, as an operator would look.
	list func(t *testing.T, ns *nstest.NS) string
	// other installs a mark rule of another owner in prerouting, running
	// before ours.
	other []string
}

// eachBackend runs body as a parallel subtest for each backend case (see
// backends), each in a namespace of its own and within 90 s.
func eachBackend(t *testing.T, body func(t *testing.T, ctx context.Context, ns *nstest.NS, bc backendCase), variants ...string) {
	for _, bc := range backends(variants...) {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			body(t, ctx, nstest.New(t), bc)
		})
	}
}

// backends returns the nftables backend and the iptables one with the
// given variants ("iptables-nft", "iptables-legacy").
func backends(variants ...string) []backendCase {
	ipt := func(cmd string) backendCase {
		return backendCase{
			name: cmd,
			cfg:  fwmark.Config{Backend: fwmark.BackendIPTables, IPTables: cmd},
			list: func(t *testing.T, ns *nstest.NS) string {
				// Every table that exists, without -t: naming a legacy
				// table creates it.
				return stable(ns.Exec(t, cmd+"-save") + ns.Exec(t, strings.Replace(cmd, "iptables", "ip6tables", 1)+"-save"))
			},
			other: []string{cmd, "-w", "-t", "mangle", "-A", "PREROUTING", "-d", "10.9.9.9/32", "-j", "MARK", "--set-mark", "0x10"},
		}
	}
	out := []backendCase{
		{
			name: "nftables",
			cfg:  fwmark.Config{Backend: fwmark.BackendNFTables},
			list: func(t *testing.T, ns *nstest.NS) string { return ns.Exec(t, "nft", "list", "ruleset") },
			other: []string{"nft", "add table ip other; add chain ip other pre { type filter hook prerouting priority -200; };" +
				" add rule ip other pre ip daddr 10.9.9.9 meta mark set 0x10"},
		},
	}
	for _, v := range variants {
		out = append(out, ipt(v))
	}
	return out
}

// webRule marks http and https of vip with mark.
func webRule(mark uint32, vip netip.Addr) fwmark.Rule {
	return fwmark.Rule{Mark: mark, Protocol: fwmark.ProtocolTCP, Destinations: []netip.Prefix{netip.PrefixFrom(vip, vip.BitLen())},
		Ports: []fwmark.PortRange{fwmark.Port(443), fwmark.Port(80)}}
}

var (
	vip = netip.MustParseAddr("10.0.0.100")
	web = webRule(1, vip)
)

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// stable drops what changes by itself in iptables-save output: the dated
// comments and the built-in chains' packet counters.
func stable(save string) string {
	var out []string
	for _, l := range strings.Split(save, "\n") {
		if !strings.HasPrefix(l, "#") {
			out = append(out, counters.ReplaceAllString(l, "[-]"))
		}
	}
	return strings.Join(out, "\n")
}

// lab is one DR topology on one segment, shared by the backends' subtests
// so that each pays only for its own director: a client with several
// source addresses of each family, two real servers answering "r1"/"r2" on
// ports 80 and 443 for every VIP (on lo, ARP suppressed), and one director
// per backend with an address and VIPs of its own, 10.0.0.100+i and
// fd00::100+i, and two persistent rr fwmark services with both real
// servers: mark 1 (IPv4) and mark 2 (IPv6).
type lab struct {
	client    *nstest.NS
	sources   []netip.Addr // IPv4 clients
	sources6  []netip.Addr // IPv6 clients
	directors []*nstest.NS
	// probePort is the last source port unreachable used: ports below
	// the ephemeral range, so that a probe never reuses the 4-tuple of
	// an earlier connection whose IPVS entry (kept for minutes after
	// it closed) would forward it whatever the marks say.
	probePort atomic.Uint32
}

func vipOf(i int) netip.Addr  { return netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)}) }
func vip6Of(i int) netip.Addr { return netip.AddrFrom16([16]byte{0: 0xfd, 14: 1, 15: byte(i)}) }

func newLab(t *testing.T, directors int) *lab {
	l := &lab{client: nstest.New(t)}
	r1, r2 := nstest.New(t), nstest.New(t)
	var clientAddrs, vips []netip.Prefix
	for i := range 4 {
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(11 + i)})
		l.sources = append(l.sources, a)
		clientAddrs = append(clientAddrs, netip.PrefixFrom(a, 24))
	}
	for i := range 2 {
		a := netip.AddrFrom16([16]byte{0: 0xfd, 15: byte(0x11 + i)})
		l.sources6 = append(l.sources6, a)
		clientAddrs = append(clientAddrs, netip.PrefixFrom(a, 64))
	}
	members := []nstest.Member{
		{NS: l.client, Name: "eth0", Addrs: clientAddrs},
		{NS: r1, Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24"), netip.MustParsePrefix("fd00::2/64")}},
		{NS: r2, Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.3/24"), netip.MustParsePrefix("fd00::3/64")}},
	}
	for i := range directors {
		d := nstest.New(t)
		l.directors = append(l.directors, d)
		v, v6 := netip.PrefixFrom(vipOf(i), 32), netip.PrefixFrom(vip6Of(i), 128)
		vips = append(vips, v, v6)
		members = append(members, nstest.Member{NS: d, Name: "eth0", Addrs: []netip.Prefix{
			netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(20 + i)}), 24), v,
			netip.PrefixFrom(netip.AddrFrom16([16]byte{0: 0xfd, 15: byte(0x20 + i)}), 64), v6}})
	}
	nstest.Segment(t, "br0", members...)
	for name, rs := range map[string]*nstest.NS{"r1": r1, "r2": r2} {
		rs.Sysctl(t, "net.ipv4.conf.all.arp_ignore", "1", "net.ipv4.conf.all.arp_announce", "2")
		rs.AddAddr(t, "lo", vips...)
		rs.ServeName(t, ":80", name) // both families
		rs.ServeName(t, ":443", name)
	}

	ctx := context.Background()
	for _, d := range l.directors {
		c, err := ipvs.New(&ipvs.Config{NetNSPath: d.Path})
		require.NoError(t, err)
		for _, svc := range []struct {
			fam ipvs.Family
			fwm uint32
			rss []string
		}{{ipvs.IPv4, 1, []string{"10.0.0.2", "10.0.0.3"}}, {ipvs.IPv6, 2, []string{"fd00::2", "fd00::3"}}} {
			key := ipvs.ServiceKey{Family: svc.fam, Fwmark: svc.fwm}
			require.NoError(t, c.CreateService(ctx, ipvs.Service{ServiceKey: key, Scheduler: ipvs.RoundRobin,
				Flags: ipvs.FlagPersistent, Timeout: 5 * time.Minute}))
			for _, rs := range svc.rss {
				require.NoError(t, c.CreateDestination(ctx, key, ipvs.Destination{
					Address: netip.MustParseAddr(rs), Forward: ipvs.DirectRoute, Weight: 1}))
			}
		}
		c.Close()
	}
	return l
}

// get fetches http://dst:port/ from the client namespace with source
// address src and returns the body (the real server's name).
func (l *lab) get(src, dst netip.Addr, port uint16) (string, error) {
	return l.getFrom(src, 0, dst, port)
}

// getFrom is get from source port srcPort (0: an ephemeral one).
func (l *lab) getFrom(src netip.Addr, srcPort int, dst netip.Addr, port uint16) (string, error) {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := l.client.Do(func() (err error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice(), Port: srcPort}, FallbackDelay: -1}
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + netip.AddrPortFrom(dst, port).String() + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// getRetry is get, retried for a bounded time while the network, not the
// service, failed: a timeout, or a neighbour not yet resolved (a loaded
// emulated VM can miss one ARP or ND round). A refused or reset connection,
// or an answer, ends it.
func (l *lab) getRetry(src, dst netip.Addr, port uint16) (body string, err error) {
	return l.getRetryFrom(src, 0, dst, port)
}

func (l *lab) getRetryFrom(src netip.Addr, srcPort int, dst netip.Addr, port uint16) (body string, err error) {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		body, err = l.getFrom(src, srcPort, dst, port)
		var ne net.Error
		transient := errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EHOSTUNREACH)
		if !transient || time.Now().After(deadline) {
			return body, err
		}
	}
}

// unreachable checks that without marks nothing reaches the fwmark
// service: the director itself refuses the connection.
func (l *lab) unreachable(t *testing.T, src, dst netip.Addr) {
	t.Helper()
	for _, port := range []uint16{80, 443} {
		body, err := l.getRetryFrom(src, 20000+int(l.probePort.Add(1)%10000), dst, port)
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("%v port %d without marks: got %q, %v; want connection refused by the director", dst, port, body, err)
		}
	}
}

// persistent sends each client's requests to ports 80 then 443 of dst:
// both must land on one real server (persistence across the ports of the
// fwmark service), and consecutive clients on different ones (rr schedules
// each client's persistence template on its own).
func (l *lab) persistent(t *testing.T, sources []netip.Addr, dst netip.Addr) {
	t.Helper()
	var order []string
	for _, src := range sources {
		var first string
		for i, port := range []uint16{80, 443} {
			body, err := l.getRetry(src, dst, port)
			if err != nil {
				t.Fatalf("client %v to %v port %d: %v", src, dst, port, err)
			}
			if i == 0 {
				first = body
			} else if body != first {
				t.Fatalf("client %v: port %d of %v went to %s, port 80 to %s: persistence across ports broken", src, port, dst, body, first)
			}
		}
		order = append(order, first)
	}
	for i := 1; i < len(order); i++ {
		if order[i] == order[i-1] {
			t.Fatalf("clients' servers %v for %v: want rr alternation between independently scheduled clients", order, dst)
		}
	}
}

// TestTraffic proves with real HTTP traffic that the marks feed a
// persistent fwmark service covering ports 80 and 443: every client sticks
// to one real server across both ports, clients are scheduled one by one
// (rr alternates), and without the marks the service gets nothing. The
// nftables backend does it for IPv4 and IPv6 in one table.
func TestTraffic(t *testing.T) {
	t.Parallel()
	// Traffic runs with both iptables variants: they differ in the kernel
	// side (x_tables vs nf_tables) that must set the mark.
	bcs := backends("iptables-nft", "iptables-legacy")
	l := newLab(t, len(bcs))
	for i, bc := range bcs {
		d, vip, vip6 := l.directors[i], vipOf(i), vip6Of(i)
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // the whole subtest, iptables tools under TCG on a loaded host: 90 s ran out once
			defer cancel()
			nft := bc.cfg.Backend == fwmark.BackendNFTables
			d.Exec(t, bc.other[0], bc.other[1:]...)
			otherBefore := bc.list(t, d)

			l.unreachable(t, l.sources[0], vip)
			rules := []fwmark.Rule{webRule(1, vip)}
			if nft {
				l.unreachable(t, l.sources6[0], vip6)
				rules = append(rules, webRule(2, vip6))
			}

			cfg := bc.cfg
			cfg.NetNSPath = d.Path
			fw, err := fwmark.New(ctx, &cfg)
			require.NoError(t, err)
			defer fw.Close()
			require.NoError(t, fw.Sync(ctx, rules))
			listed := bc.list(t, d)
			require.NoError(t, fw.Sync(ctx, rules)) // idempotent
			undo, err := fw.Add(ctx, rules[0])      // already there: no-op
			require.NoError(t, err)
			require.NoError(t, undo.Teardown(ctx))
			if again := bc.list(t, d); again != listed {
				t.Fatalf("second Sync/Add changed the rules:\n%s\nthen:\n%s", listed, again)
			}
			v6 := netip.Addr{}
			if nft {
				v6 = vip6
			}
			checkListing(t, bc.name, listed, vip, v6)
			got, err := fw.Rules(ctx)
			require.NoError(t, err)
			var gs, want []string
			for _, r := range rules {
				c, err := r.Canonical()
				require.NoError(t, err)
				want = append(want, c.String())
			}
			for _, r := range got {
				gs = append(gs, r.String())
			}
			if slices.Sort(want); !slices.Equal(gs, want) {
				t.Fatalf("Rules = %v, want %v", gs, want)
			}
			conf, err := fw.Conflicts(ctx)
			require.NoError(t, err)
			if len(conf) != 1 || !strings.Contains(conf[0].Problem, "runs before ours") || conf[0].Severity != fwmark.SeverityWarning ||
				(!strings.Contains(conf[0].Subject, " other/") && !strings.Contains(conf[0].Problem, "10.9.9.9")) {
				t.Fatalf("Conflicts = %v, want the other owner's rule, before ours", conf)
			}
			if bc.name != "iptables-legacy" { // TestBadInput mixes legacy
				mixing(ctx, t, d, bc)
			}

			l.persistent(t, l.sources, vip)
			if nft {
				l.persistent(t, l.sources6, vip6)
			}

			require.NoError(t, fw.RemoveAll(ctx))
			require.NoError(t, fw.RemoveAll(ctx)) // idempotent
			after := bc.list(t, d)
			if after != otherBefore {
				t.Fatalf("after RemoveAll the ruleset differs from before install:\nbefore:\n%s\nafter:\n%s", otherBefore, after)
			}
			if !strings.Contains(after, "10.9.9.9") {
				t.Fatalf("the other owner's rule is gone:\n%s", after)
			}
			l.unreachable(t, l.sources[1], vip)
			if nft {
				l.unreachable(t, l.sources6[1], vip6)
			}
		})
	}
}

// mixing checks, with bc's rules installed in ns, that the other backend
// refuses to start and that BackendAuto follows bc.
func mixing(ctx context.Context, t *testing.T, ns *nstest.NS, bc backendCase) {
	t.Helper()
	other := fwmark.Config{NetNSPath: ns.Path, Backend: fwmark.BackendNFTables}
	if bc.cfg.Backend == fwmark.BackendNFTables {
		other = fwmark.Config{NetNSPath: ns.Path, Backend: fwmark.BackendIPTables, IPTables: "iptables-legacy"}
	}
	if _, err := fwmark.New(ctx, &other); !errors.Is(err, fwmark.ErrConflict) {
		t.Errorf("%s installed, New(%v) = %v, want ErrConflict", bc.name, other.Backend, err)
	}
	auto, err := fwmark.New(ctx, &fwmark.Config{NetNSPath: ns.Path, IPTables: bc.cfg.IPTables})
	require.NoError(t, err)
	if want := bc.cfg.Backend; auto.Backend() != want {
		t.Errorf("%s installed: BackendAuto chose %v", bc.name, auto.Backend())
	}
	auto.Close()
}

// checkListing checks the operator's view of exactly the web rule for vip
// (mark 1) and, if valid, the one for vip6 (mark 2).
func checkListing(t *testing.T, backend, out string, vip, vip6 netip.Addr) {
	t.Helper()
	if backend == "nftables" {
		must := []string{
			"table inet golvs_fwmark {",
			"chain prerouting {",
			"type filter hook prerouting priority mangle; policy accept;",
			"ip daddr " + vip.String() + " tcp dport { 80, 443 } meta mark set 0x00000001",
			`comment "lvs-fwmark mark=0x1 proto=tcp dst=` + vip.String() + `/32 ports=80,443"`,
		}
		rules := 1
		if vip6.IsValid() {
			rules = 2
			must = append(must, "ip6 daddr "+vip6.String()+" tcp dport { 80, 443 } meta mark set 0x00000002",
				`comment "lvs-fwmark mark=0x2 proto=tcp dst=`+vip6.String()+`/128 ports=80,443"`)
		}
		for _, s := range must {
			if !strings.Contains(out, s) {
				t.Fatalf("nft list ruleset lacks %q:\n%s", s, out)
			}
		}
		if n := strings.Count(out, "meta mark set"); n != rules+1 { // and the other owner's
			t.Fatalf("%d rules set a mark, want %d of ours and the other owner's:\n%s", n, rules, out)
		}
		if n := strings.Count(out, "table inet golvs_fwmark"); n != 1 {
			t.Fatalf("%d tables inet golvs_fwmark:\n%s", n, out)
		}
		return
	}
	var ours []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, fwmark.ChainName) {
			ours = append(ours, line)
		}
	}
	v := vip.String()
	want := []string{
		":LVS-FWMARK - [-]",
		"-A PREROUTING -j LVS-FWMARK",
		`-A LVS-FWMARK -d ` + v + `/32 -p tcp -m multiport --dports 80,443 -m comment --comment "lvs-fwmark mark=0x1 proto=tcp dst=` + v + `/32 ports=80,443" -j MARK --set-xmark 0x1/0xffffffff`,
	}
	if !slices.Equal(ours, want) {
		t.Fatalf("%s-save shows\n%s\nwant\n%s\nfull output:\n%s", backend, strings.Join(ours, "\n"), strings.Join(want, "\n"), out)
	}
}

// TestBadInput: invalid rules, a missing binary and mixing backends give
// clear errors and change nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, ctx context.Context, ns *nstest.NS, bc backendCase) {
		// Every table that exists, without creating any.
		snapshot := func() string {
			return ns.Exec(t, "nft", "list", "ruleset") + stable(ns.Exec(t, "iptables-legacy-save")+ns.Exec(t, "ip6tables-legacy-save"))
		}
		cfg := bc.cfg
		cfg.NetNSPath = ns.Path
		fw, err := fwmark.New(ctx, &cfg)
		require.NoError(t, err)
		defer fw.Close()
		require.NoError(t, fw.Sync(ctx, []fwmark.Rule{web}))
		before := snapshot()
		bad := []struct {
			name, field string
			r           fwmark.Rule
		}{
			{"mark 0", "Mark", fwmark.Rule{Protocol: fwmark.ProtocolTCP, Destinations: web.Destinations, Ports: web.Ports}},
			{"families", "Destinations[1]", fwmark.Rule{Mark: 2, Protocol: fwmark.ProtocolTCP, Ports: web.Ports,
				Destinations: []netip.Prefix{web.Destinations[0], netip.MustParsePrefix("fd00::1/128")}}},
			{"no ports", "Ports", fwmark.Rule{Mark: 2, Protocol: fwmark.ProtocolUDP, Destinations: web.Destinations}},
			{"overlap", "rules[1]", fwmark.Rule{Mark: 2, Protocol: fwmark.ProtocolAny, Destinations: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}},
		}
		for _, b := range bad {
			err := fw.Sync(ctx, []fwmark.Rule{web, b.r})
			if !errors.Is(err, fwmark.ErrInvalid) || !strings.Contains(err.Error(), b.field) {
				t.Errorf("%s: Sync = %v, want ErrInvalid naming %s", b.name, err, b.field)
			}
			_, err = fw.Add(ctx, b.r)
			if !errors.Is(err, fwmark.ErrInvalid) {
				t.Errorf("%s: Add = %v, want ErrInvalid", b.name, err)
			}
		}
		// The other backend refuses to mix with this one; BackendAuto
		// follows it.
		mixing(ctx, t, ns, bc)
		// A missing binary.
		_, err = fwmark.New(ctx, &fwmark.Config{NetNSPath: ns.Path, Backend: fwmark.BackendIPTables, IPTables: "/nonexistent/iptables"})
		if !errors.Is(err, fwmark.ErrUnavailable) || !strings.Contains(err.Error(), "/nonexistent/iptables-save") {
			t.Errorf("missing binary: New = %v, want ErrUnavailable naming the binary", err)
		}
		if after := snapshot(); after != before {
			t.Fatalf("bad input changed the rules:\n%s\nthen:\n%s", before, after)
		}

		// The other backend's objects appear after New: every write
		// that would leave rules installed refuses and changes
		// nothing.
		create, remove := []string{"iptables-legacy", "-w", "-t", "mangle", "-N", fwmark.ChainName},
			[]string{"iptables-legacy", "-w", "-t", "mangle", "-X", fwmark.ChainName}
		if bc.cfg.Backend == fwmark.BackendIPTables {
			create, remove = []string{"nft", "add table inet " + fwmark.TableName}, []string{"nft", "delete table inet " + fwmark.TableName}
		}
		ns.Exec(t, create[0], create[1:]...)
		have, err := fw.Rules(ctx)
		require.NoError(t, err)
		dns := fwmark.Rule{Mark: 3, Protocol: fwmark.ProtocolUDP, Destinations: web.Destinations, Ports: []fwmark.PortRange{fwmark.Port(53)}}
		if err := fw.Sync(ctx, []fwmark.Rule{web, dns}); !errors.Is(err, fwmark.ErrConflict) {
			t.Errorf("Sync with the other backend's objects present = %v, want ErrConflict", err)
		}
		if _, err := fw.Add(ctx, dns); !errors.Is(err, fwmark.ErrConflict) {
			t.Errorf("Add with the other backend's objects present = %v, want ErrConflict", err)
		}
		now, err := fw.Rules(ctx)
		require.NoError(t, err)
		if fmt.Sprint(now) != fmt.Sprint(have) {
			t.Fatalf("refused writes changed the rules: %v, then %v", have, now)
		}
		ns.Exec(t, remove[0], remove[1:]...)
		require.NoError(t, fw.RemoveAll(ctx))
	}, "iptables-legacy")
}

// TestIPv6SetsOutput installs IPv6 and IPv4 rules with several
// destinations, ranges and ProtocolAny, with the output hook, and reads them back.
func TestIPv6SetsOutput(t *testing.T) {
	t.Parallel()
	rules := []fwmark.Rule{
		{Mark: 7, Protocol: fwmark.ProtocolAny, Destinations: []netip.Prefix{
			netip.MustParsePrefix("fd00::/64"), netip.MustParsePrefix("fd01::5/128"), netip.MustParsePrefix("fd00::1/128")},
			Ports: []fwmark.PortRange{{8000, 8080}, fwmark.Port(443), fwmark.Port(65535)}},
		{Mark: 8, Protocol: fwmark.ProtocolUDP, Destinations: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.3.0.1/32")},
			Ports: []fwmark.PortRange{fwmark.Port(53)}},
		{Mark: 9, Protocol: fwmark.ProtocolAny, Destinations: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}},
	}
	var want []string
	for _, r := range rules {
		c, err := r.Canonical()
		require.NoError(t, err)
		want = append(want, c.String())
	}
	slices.Sort(want)
	eachBackend(t, func(t *testing.T, ctx context.Context, ns *nstest.NS, bc backendCase) {
		cfg := bc.cfg
		cfg.NetNSPath = ns.Path
		cfg.Output = true
		fw, err := fwmark.New(ctx, &cfg)
		require.NoError(t, err)
		defer fw.Close()
		require.NoError(t, fw.Sync(ctx, rules))
		got, err := fw.Rules(ctx)
		require.NoError(t, err)
		var gs []string
		for _, r := range got {
			gs = append(gs, r.String())
		}
		if !slices.Equal(gs, want) {
			t.Fatalf("Rules:\n%s\nwant:\n%s", strings.Join(gs, "\n"), strings.Join(want, "\n"))
		}
		out := bc.list(t, ns)
		t.Logf("%s:\n%s", bc.name, out)
		var must []string
		if bc.name == "nftables" {
			must = []string{"hook output priority mangle", "ip6 daddr { fd00::/64, fd01::5 }", `dst=fd00::/64,fd01::5/128 ports`,
				"dport { 443, 8000-8080, 65535 }", "ip daddr { 10.1.0.0/16, 10.3.0.1 }", "ip daddr 10.2.0.0/24", "meta mark set 0x00000009"}
		} else {
			must = []string{"-A OUTPUT -j LVS-FWMARK", "-A LVS-FWMARK -d fd00::/64 -p sctp -m multiport --dports 443,8000:8080,65535",
				"-A LVS-FWMARK -d 10.2.0.0/24 -m comment", "-A LVS-FWMARK -d 10.3.0.1/32 -p udp -m multiport --dports 53"}
		}
		for _, s := range must {
			if !strings.Contains(out, s) {
				t.Fatalf("listing lacks %q:\n%s", s, out)
			}
		}
		// Sync to a subset removes exactly the others.
		require.NoError(t, fw.Sync(ctx, rules[2:]))
		got, err = fw.Rules(ctx)
		require.NoError(t, err)
		if len(got) != 1 || got[0].Mark != 9 {
			t.Fatalf("after Sync to one rule: %v", got)
		}
		require.NoError(t, fw.Sync(ctx, nil))
		if out := bc.list(t, ns); strings.Contains(out, "lvs") || strings.Contains(out, fwmark.ChainName) {
			t.Fatalf("Sync(nil) left rules:\n%s", out)
		}
	}, "iptables-legacy")
}

// With the nftables backend, mark-writing rules of legacy iptables
// (x_tables, which nft cannot list) are reported too, and reading them
// creates no table; without iptables-legacy-save there is nothing to scan.
// Not parallel: it changes PATH at the end.
func TestLegacyConflictsWithNFTables(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ns := nstest.New(t)
	open := func(output bool) *fwmark.Client {
		fw, err := fwmark.New(ctx, &fwmark.Config{NetNSPath: ns.Path, Backend: fwmark.BackendNFTables, Output: output})
		require.NoError(t, err)
		t.Cleanup(func() { fw.Close() })
		return fw
	}
	fw, fwIn := open(true), open(false)
	require.NoError(t, fw.Sync(ctx, []fwmark.Rule{web}))
	conf, err := fw.Conflicts(ctx)
	require.NoError(t, err)
	if len(conf) != 0 {
		t.Fatalf("Conflicts = %v, want none", conf)
	}
	if names := ns.Exec(t, "cat", "/proc/net/ip_tables_names", "/proc/net/ip6_tables_names"); strings.Contains(names, "mangle") {
		t.Fatalf("looking for conflicts created a legacy mangle table: %q", names)
	}

	for _, args := range [][]string{
		{"iptables-legacy", "-w", "-t", "mangle", "-A", "PREROUTING", "-d", "10.9.9.8/32", "-j", "MARK", "--set-mark", "0x20"},
		{"iptables-legacy", "-w", "-t", "mangle", "-A", "PREROUTING", "-d", "10.9.9.7/32", "-j", "ACCEPT"}, // not a mark
		{"iptables-legacy", "-w", "-t", "mangle", "-A", "INPUT", "-j", "MARK", "--set-xmark", "0x1/0x1"},
		{"ip6tables-legacy", "-w", "-t", "mangle", "-A", "OUTPUT", "-d", "2001:db8::8/128", "-j", "CONNMARK", "--restore-mark"},
	} {
		ns.Exec(t, args[0], args[1:]...)
	}
	// seen is "SUBJECT hook HOOK ORDER" of a finding.
	type seen string
	got := func(fw *fwmark.Client) []seen {
		conf, err := fw.Conflicts(ctx)
		require.NoError(t, err)
		var out []seen
		for _, c := range conf {
			chain := strings.TrimPrefix(strings.Fields(c.Subject)[1], "mangle/")
			if !strings.Contains(c.Subject, " mangle/") || !strings.Contains(c.Problem, "rule -A "+chain+" ") {
				t.Fatalf("conflict %v: not a legacy mangle rule", c)
			}
			hook := strings.Fields(c.Problem[strings.Index(c.Problem, "in hook ")+len("in hook "):])[0]
			order := "unknown"
			for _, o := range []string{"before", "after"} {
				if strings.Contains(c.Problem, "runs "+o+" ours") {
					order = o
				}
			}
			out = append(out, seen(c.Subject+" hook "+hook+" "+order))
		}
		return out
	}
	want := []seen{
		"ipv4 mangle/INPUT hook input after",
		"ipv4 mangle/PREROUTING hook prerouting unknown",
		"ipv6 mangle/OUTPUT hook output unknown",
	}
	if g := got(fw); !slices.Equal(g, want) {
		t.Fatalf("Conflicts = %v, want %v", g, want)
	}
	if g := got(fwIn); !slices.Equal(g, want[:2]) {
		t.Fatalf("Conflicts without Output = %v, want %v", g, want[:2])
	}
	// Our rules are still in place and writable next to legacy tables.
	require.NoError(t, fw.Sync(ctx, []fwmark.Rule{web, webRule(2, netip.MustParseAddr("10.0.0.101"))}))

	// No iptables-legacy-save on the PATH: nothing to scan, no error.
	t.Setenv("PATH", t.TempDir())
	if g := got(fw); len(g) != 0 {
		t.Fatalf("Conflicts without the tool = %v, want none", g)
	}
}
