package fwmark_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/fwmark"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
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

// backends returns the nftables backend and the iptables one with the
// given variants ("iptables-nft", "iptables-legacy").
func backends(variants ...string) []backendCase {
	ipt := func(cmd string) backendCase {
		return backendCase{
			name: cmd,
			cfg:  fwmark.Config{Backend: fwmark.IPTables, IPTables: cmd},
			list: func(t *testing.T, ns *nstest.NS) string {
				return stable(ns.Exec(t, cmd+"-save", "-t", "mangle") + ns.Exec(t, strings.Replace(cmd, "iptables", "ip6tables", 1)+"-save", "-t", "mangle"))
			},
			other: []string{cmd, "-w", "-t", "mangle", "-A", "PREROUTING", "-d", "10.9.9.9/32", "-j", "MARK", "--set-mark", "0x10"},
		}
	}
	out := []backendCase{
		{
			name: "nftables",
			cfg:  fwmark.Config{Backend: fwmark.NFTables},
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

var (
	vip   = netip.MustParseAddr("10.0.0.100")
	vip32 = netip.PrefixFrom(vip, 32)
	web   = fwmark.Rule{Mark: 1, Protocol: fwmark.TCP, Destinations: []netip.Prefix{vip32},
		Ports: []fwmark.PortRange{fwmark.Port(443), fwmark.Port(80)}}
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

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeSysctl(t *testing.T, ns *nstest.NS, kv map[string]string) {
	t.Helper()
	noErr(t, ns.Do(func() error {
		for k, v := range kv {
			if err := os.WriteFile(filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/")), []byte(v), 0o644); err != nil {
				return err
			}
		}
		return nil
	}))
}

// lab is a DR topology on one segment: a client with many source
// addresses, a director with the VIP, and two real servers that answer
// "r1"/"r2" on ports 80 and 443, with the VIP on lo and ARP suppressed.
type lab struct {
	client, director *nstest.NS
	sources          []netip.Addr
}

func newLab(t *testing.T) *lab {
	l := &lab{client: nstest.New(t), director: nstest.New(t)}
	r1, r2 := nstest.New(t), nstest.New(t)
	clientAddrs := []netip.Prefix{}
	for i := range 6 {
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(11 + i)})
		l.sources = append(l.sources, a)
		clientAddrs = append(clientAddrs, netip.PrefixFrom(a, 24))
	}
	nstest.Segment(t, "br0",
		nstest.Member{NS: l.client, Name: "eth0", Addrs: clientAddrs},
		nstest.Member{NS: l.director, Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24"), vip32}},
		nstest.Member{NS: r1, Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}},
		nstest.Member{NS: r2, Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.3/24")}},
	)
	for name, rs := range map[string]*nstest.NS{"r1": r1, "r2": r2} {
		writeSysctl(t, rs, map[string]string{
			"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2"})
		rs.AddAddr(t, "lo", vip32)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name) })
		rs.ServeHTTP(t, ":80", h)
		rs.ServeHTTP(t, ":443", h)
	}

	ctx := context.Background()
	c, err := ipvs.New(&ipvs.Config{NetNSPath: l.director.Path})
	noErr(t, err)
	t.Cleanup(func() { c.Close() })
	key := ipvs.ServiceKey{Family: ipvs.IPv4, Fwmark: 1}
	noErr(t, c.CreateService(ctx, ipvs.Service{ServiceKey: key, Scheduler: ipvs.RoundRobin,
		Flags: ipvs.FlagPersistent, Timeout: 5 * time.Minute}))
	for _, rs := range []string{"10.0.0.2", "10.0.0.3"} {
		noErr(t, c.CreateDestination(ctx, key, ipvs.Destination{
			Address: netip.MustParseAddr(rs), Forward: ipvs.DirectRoute, Weight: 1}))
	}
	return l
}

// get fetches http://VIP:port/ from the client namespace with source
// address src and returns the body (the real server's name).
func (l *lab) get(src netip.Addr, port int) (string, error) {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := l.client.Do(func() (err error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, FallbackDelay: -1}
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := hc.Get(fmt.Sprintf("http://%s:%d/", vip, port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// unreachable checks that without marks nothing reaches the fwmark
// service: the director itself refuses the connection.
func (l *lab) unreachable(t *testing.T) {
	t.Helper()
	for _, port := range []int{80, 443} {
		body, err := l.get(l.sources[0], port)
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("port %d without marks: got %q, %v; want connection refused by the director", port, body, err)
		}
	}
}

// TestTraffic proves with real HTTP traffic that the marks feed a
// persistent fwmark service covering ports 80 and 443: every client sticks
// to one real server across both ports, clients are scheduled one by one
// (rr alternates), and without the marks the service gets nothing.
func TestTraffic(t *testing.T) {
	// Traffic runs with both iptables variants: they differ in the kernel
	// side (x_tables vs nf_tables) that must set the mark.
	for _, bc := range backends("iptables-nft", "iptables-legacy") {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			l := newLab(t)
			d := l.director
			d.Exec(t, bc.other[0], bc.other[1:]...)
			otherBefore := bc.list(t, d)

			l.unreachable(t)

			cfg := bc.cfg
			cfg.NetNSPath = d.Path
			fw, err := fwmark.New(ctx, &cfg)
			noErr(t, err)
			defer fw.Close()
			noErr(t, fw.Sync(ctx, []fwmark.Rule{web}))
			listed := bc.list(t, d)
			noErr(t, fw.Sync(ctx, []fwmark.Rule{web})) // idempotent
			undo, err := fw.Add(ctx, web)              // already there: no-op
			noErr(t, err)
			noErr(t, undo(ctx))
			if again := bc.list(t, d); again != listed {
				t.Fatalf("second Sync/Add changed the rules:\n%s\nthen:\n%s", listed, again)
			}
			checkListing(t, bc.name, listed, false)
			got, err := fw.Rules(ctx)
			noErr(t, err)
			want, _ := web.Canonical()
			if len(got) != 1 || got[0].String() != want.String() {
				t.Fatalf("Rules = %v, want [%v]", got, want)
			}
			conf, err := fw.Conflicts(ctx)
			noErr(t, err)
			if len(conf) != 1 || conf[0].Order != fwmark.Before || (conf[0].Table != "other" && !strings.Contains(conf[0].Rule, "10.9.9.9")) {
				t.Fatalf("Conflicts = %v, want the other owner's rule, before ours", conf)
			}

			seen := map[string]int{}
			var order []string
			for _, src := range l.sources {
				var first string
				for i, port := range []int{80, 443, 80, 443} {
					body, err := l.get(src, port)
					if err != nil {
						t.Fatalf("client %v port %d: %v", src, port, err)
					}
					if i == 0 {
						first = body
					} else if body != first {
						t.Fatalf("client %v: port %d went to %s, earlier requests to %s: persistence across ports broken", src, port, body, first)
					}
				}
				seen[first]++
				order = append(order, first)
			}
			// rr schedules each new client (persistence template) on the
			// next server: clients alternate, so each was scheduled on
			// its own, not glued to the first client's choice.
			for i := 1; i < len(order); i++ {
				if order[i] == order[i-1] {
					t.Fatalf("clients' servers %v: want rr alternation between independently scheduled clients", order)
				}
			}
			if seen["r1"] != 3 || seen["r2"] != 3 {
				t.Fatalf("servers per client %v, want 3 each", seen)
			}

			noErr(t, fw.RemoveAll(ctx))
			noErr(t, fw.RemoveAll(ctx)) // idempotent
			after := bc.list(t, d)
			if after != otherBefore {
				t.Fatalf("after RemoveAll the ruleset differs from before install:\nbefore:\n%s\nafter:\n%s", otherBefore, after)
			}
			if !strings.Contains(after, "10.9.9.9") {
				t.Fatalf("the other owner's rule is gone:\n%s", after)
			}
			l.unreachable(t)
		})
	}
}

// checkListing checks the operator's view of exactly the one web rule.
func checkListing(t *testing.T, backend, out string, output bool) {
	t.Helper()
	if backend == "nftables" {
		for _, s := range []string{
			"table inet lvs {",
			"chain prerouting {",
			"type filter hook prerouting priority mangle; policy accept;",
			"ip daddr 10.0.0.100",
			"dport { 80, 443 }",
			"meta mark set 0x00000001",
			`comment "lvs-fwmark mark=0x1 proto=tcp dst=10.0.0.100/32 ports=80,443"`,
		} {
			if !strings.Contains(out, s) {
				t.Fatalf("nft list ruleset lacks %q:\n%s", s, out)
			}
		}
		if n := strings.Count(out, "meta mark set 0x00000001"); n != 1 {
			t.Fatalf("%d rules set mark 1, want 1:\n%s", n, out)
		}
		return
	}
	var ours []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, fwmark.ChainName) {
			ours = append(ours, line)
		}
	}
	want := []string{
		":LVS-FWMARK - [-]",
		"-A PREROUTING -j LVS-FWMARK",
		`-A LVS-FWMARK -d 10.0.0.100/32 -p tcp -m multiport --dports 80,443 -m comment --comment "lvs-fwmark mark=0x1 proto=tcp dst=10.0.0.100/32 ports=80,443" -j MARK --set-xmark 0x1/0xffffffff`,
	}
	if !slices.Equal(ours, want) {
		t.Fatalf("%s-save shows\n%s\nwant\n%s\nfull output:\n%s", backend, strings.Join(ours, "\n"), strings.Join(want, "\n"), out)
	}
}

// TestBadInput: invalid rules, a missing binary and mixing backends give
// clear errors and change nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ns := nstest.New(t)
	snapshot := func() string {
		return ns.Exec(t, "nft", "list", "ruleset") + stable(ns.Exec(t, "iptables-legacy-save")+ns.Exec(t, "ip6tables-legacy-save"))
	}
	for _, bc := range backends("iptables-legacy") {
		cfg := bc.cfg
		cfg.NetNSPath = ns.Path
		fw, err := fwmark.New(ctx, &cfg)
		noErr(t, err)
		noErr(t, fw.Sync(ctx, []fwmark.Rule{web}))
		before := snapshot()
		bad := []struct {
			name, field string
			r           fwmark.Rule
		}{
			{"mark 0", "Mark", fwmark.Rule{Protocol: fwmark.TCP, Destinations: web.Destinations, Ports: web.Ports}},
			{"families", "Destinations[1]", fwmark.Rule{Mark: 2, Protocol: fwmark.TCP, Ports: web.Ports,
				Destinations: []netip.Prefix{vip32, netip.MustParsePrefix("fd00::1/128")}}},
			{"no ports", "Ports", fwmark.Rule{Mark: 2, Protocol: fwmark.UDP, Destinations: web.Destinations}},
			{"overlap", "rules[1]", fwmark.Rule{Mark: 2, Protocol: fwmark.Any, Destinations: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}},
		}
		for _, b := range bad {
			err := fw.Sync(ctx, []fwmark.Rule{web, b.r})
			if !errors.Is(err, fwmark.ErrInvalid) || !strings.Contains(err.Error(), b.field) {
				t.Errorf("%s: %s: Sync = %v, want ErrInvalid naming %s", bc.name, b.name, err, b.field)
			}
			_, err = fw.Add(ctx, b.r)
			if b.name != "overlap" && !errors.Is(err, fwmark.ErrInvalid) {
				t.Errorf("%s: %s: Add = %v, want ErrInvalid", bc.name, b.name, err)
			}
		}
		if _, err := fw.Add(ctx, bad[3].r); !errors.Is(err, fwmark.ErrInvalid) {
			t.Errorf("%s: Add of an overlapping rule with another mark = %v, want ErrInvalid", bc.name, err)
		}
		if after := snapshot(); after != before {
			t.Fatalf("%s: bad input changed the rules:\n%s\nthen:\n%s", bc.name, before, after)
		}

		// The other backends refuse to mix with this one; Auto follows it.
		for _, other := range backends("iptables-legacy") {
			if other.cfg.Backend == bc.cfg.Backend {
				continue
			}
			ocfg := other.cfg
			ocfg.NetNSPath = ns.Path
			if _, err := fwmark.New(ctx, &ocfg); !errors.Is(err, fwmark.ErrConflict) {
				t.Errorf("%s installed, New(%s) = %v, want ErrConflict", bc.name, other.name, err)
			}
		}
		auto, err := fwmark.New(ctx, &fwmark.Config{NetNSPath: ns.Path, IPTables: bc.cfg.IPTables})
		noErr(t, err)
		if want := bc.cfg.Backend; auto.Backend() != want {
			t.Errorf("%s installed: Auto chose %v", bc.name, auto.Backend())
		}
		auto.Close()
		noErr(t, fw.RemoveAll(ctx))
		fw.Close()
	}

	// A missing binary: clear error, nothing changed.
	before := snapshot()
	_, err := fwmark.New(ctx, &fwmark.Config{NetNSPath: ns.Path, Backend: fwmark.IPTables, IPTables: "/nonexistent/iptables"})
	if !errors.Is(err, fwmark.ErrUnavailable) || !strings.Contains(err.Error(), "/nonexistent/iptables-save") {
		t.Errorf("missing binary: New = %v, want ErrUnavailable naming the binary", err)
	}
	if after := snapshot(); after != before {
		t.Fatalf("a failed New changed the rules:\n%s\nthen:\n%s", before, after)
	}
}

// TestIPv6SetsOutput installs IPv6 and IPv4 rules with several
// destinations, ranges and Any, with the output hook, and reads them back.
func TestIPv6SetsOutput(t *testing.T) {
	t.Parallel()
	rules := []fwmark.Rule{
		{Mark: 7, Protocol: fwmark.Any, Destinations: []netip.Prefix{
			netip.MustParsePrefix("fd00::/64"), netip.MustParsePrefix("fd01::5/128"), netip.MustParsePrefix("fd00::1/128")},
			Ports: []fwmark.PortRange{{8000, 8080}, fwmark.Port(443), fwmark.Port(65535)}},
		{Mark: 8, Protocol: fwmark.UDP, Destinations: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.3.0.1/32")},
			Ports: []fwmark.PortRange{fwmark.Port(53)}},
		{Mark: 9, Protocol: fwmark.Any, Destinations: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")}},
	}
	var want []string
	for _, r := range rules {
		c, err := r.Canonical()
		noErr(t, err)
		want = append(want, c.String())
	}
	slices.Sort(want)
	for _, bc := range backends("iptables-legacy") {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			ns := nstest.New(t)
			cfg := bc.cfg
			cfg.NetNSPath = ns.Path
			cfg.Output = true
			fw, err := fwmark.New(ctx, &cfg)
			noErr(t, err)
			defer fw.Close()
			noErr(t, fw.Sync(ctx, rules))
			got, err := fw.Rules(ctx)
			noErr(t, err)
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
			noErr(t, fw.Sync(ctx, rules[2:]))
			got, err = fw.Rules(ctx)
			noErr(t, err)
			if len(got) != 1 || got[0].Mark != 9 {
				t.Fatalf("after Sync to one rule: %v", got)
			}
			noErr(t, fw.Sync(ctx, nil))
			if out := bc.list(t, ns); strings.Contains(out, "lvs") || strings.Contains(out, fwmark.ChainName) {
				t.Fatalf("Sync(nil) left rules:\n%s", out)
			}
		})
	}
}
