package main

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/internal/peers"
)

var nexthop6RE = regexp.MustCompile(`via (2001:db8::[0-9a-f]+)`)

// TestECMPIPv6Password: the IPv6 lab, every BGP session signed with TCP
// MD5 (RFC 2385). A director with the wrong password never gets a session
// (the router's kernel drops its wrongly signed segments) and fails its
// start within -wait, leaving nothing; two with the right one announce the /128 VIP over
// IPv6 sessions, the router's kernel route has both next hops, and
// requests reach both real servers (DR over IPv6).
//
//	client 2001:db8:1::2 ── 2001:db8:1::1 router (BIRD) 2001:db8::1 ── br0
//	br0: directors 2001:db8::11, ::12, real servers 2001:db8::21, ::22
func TestECMPIPv6Password(t *testing.T) {
	const (
		vip6   = "2001:db8:9::10"
		router = "2001:db8::1"
		secret = "golvs-md5-secret"
	)
	client, rtr := nstest.New(t), nstest.New(t)
	dirs := []*nstest.NS{nstest.New(t), nstest.New(t)}
	rs := []*nstest.NS{nstest.New(t), nstest.New(t)}
	members := []nstest.Member{{NS: rtr, Name: "eth1", Addrs: []netip.Prefix{netip.MustParsePrefix(router + "/64")}}}
	for i, d := range dirs {
		members = append(members, nstest.Member{NS: d, Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("2001:db8::%d/64", 11+i))}})
	}
	for i, r := range rs {
		members = append(members, nstest.Member{NS: r, Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("2001:db8::%d/64", 21+i))}})
	}
	nstest.Segment(t, "br0", members...)
	nstest.Veth(t, client, "eth0", rtr, "eth0")
	client.AddAddr(t, "eth0", netip.MustParsePrefix("2001:db8:1::2/64"))
	rtr.AddAddr(t, "eth0", netip.MustParsePrefix("2001:db8:1::1/64"))
	client.Exec(t, "ip", "-6", "route", "add", "default", "via", "2001:db8:1::1")
	rtr.Sysctl(t, "net.ipv6.conf.all.forwarding", "1")
	rtr.Sysctl(t, "net.ipv6.fib_multipath_hash_policy", "1")
	for i, r := range rs {
		r.AddAddr(t, "lo", netip.MustParsePrefix(vip6+"/128"))
		r.Exec(t, "ip", "-6", "route", "add", "default", "via", router)
		name := fmt.Sprintf("rs%d", i+1)
		r.ServeHTTP(t, "["+vip6+"]:80", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
	}
	conf := "router id 10.0.0.1;\nprotocol device { scan time 1; }\n" +
		"protocol kernel { ipv6 { export all; }; merge paths on; }\n"
	for i := range dirs {
		conf += fmt.Sprintf("protocol bgp d%d { local %s as 65000; neighbor 2001:db8::%d as 65001; passive on; hold time 9; password %q; ipv6 { import all; export none; }; }\n",
			i+1, router, 11+i, secret)
	}
	bird := peers.Bird(t, rtr, conf)
	args := func(i int, password string) []string {
		return []string{"director", "-vip", "[" + vip6 + "]:80", "-rs", "2001:db8::22,2001:db8::21",
			"-asn", "65001", "-router-id", dirAddr(i), "-peer", router, "-peer-asn", "65000", "-password", password, "-wait", "8s"}
	}

	// The wrong password: no session, a failed start that leaves nothing.
	bad := peers.Start(t, dirs[0], t.TempDir(), "bgp", args(0, "wrong")...)
	waitFor(t, 60*time.Second, "the director with the wrong password to give up", func() bool {
		exited, _ := bad.Exited()
		return exited
	})
	if _, err := bad.Exited(); err == nil || strings.Contains(bad.Log(), "announced") {
		t.Fatalf("a director with the wrong password started (err %v):\n%s", err, bad.Log())
	}
	if out := dirs[0].Exec(t, "ipvsadm", "-Sn"); strings.TrimSpace(out) != "" {
		t.Errorf("the failed start left IPVS rules:\n%s", out)
	}
	if out := bird.Birdc(t, "show", "protocols", "d1"); strings.Contains(out, "Established") {
		t.Fatalf("BIRD established a session with the wrong password:\n%s", out)
	}

	for i := range dirs {
		p := peers.Start(t, dirs[i], t.TempDir(), "bgp", args(i, secret)...)
		waitFor(t, 60*time.Second, fmt.Sprintf("director %d announced", i+1), func() bool {
			if exited, err := p.Exited(); exited {
				t.Fatalf("director %d exited: %v\n%s", i+1, err, p.Log())
			}
			return inOrder(p.Log(), "ready", "announced")
		})
	}
	want := []string{"2001:db8::11", "2001:db8::12"}
	var hops []string
	waitFor(t, 30*time.Second, fmt.Sprintf("router next hops %v", want), func() bool {
		hops = nil
		for _, m := range nexthop6RE.FindAllStringSubmatch(rtr.Exec(t, "ip", "-6", "route", "show", vip6+"/128"), -1) {
			hops = append(hops, m[1])
		}
		slices.Sort(hops)
		return slices.Equal(hops, want)
	})
	got := client.Tally("http://["+vip6+"]/", 40, 10*time.Second)
	if got["rs1"]+got["rs2"] != 40 || got["rs1"] == 0 || got["rs2"] == 0 {
		t.Fatalf("40 requests to the IPv6 VIP through two directors: %v", got)
	}
	t.Logf("IPv6 /128 over MD5-signed IPv6 sessions: router next hops %v; 40 requests %v", hops, got)
}
