package vrrp

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/internal/peers"
)

// KAConf is one keepalived VRRP instance, for the interop tests (exported
// to package vrrp_test).
type KAConf struct {
	Name         string // router_id
	Master       bool   // state MASTER at start (else BACKUP)
	Version      int
	VRID         int
	Priority     int
	Interval     time.Duration
	NoPreempt    bool
	PreemptDelay int // seconds
	Pass         string
	Source       netip.Addr // mcast_src_ip or unicast_src_ip
	Peers        []netip.Addr
	VIP          netip.Addr
}

// String is the keepalived.conf text.
func (k KAConf) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id %s\n}\n", k.Name)
	state := "BACKUP"
	if k.Master {
		state = "MASTER"
	}
	fmt.Fprintf(&b, "vrrp_instance VI_1 {\n  state %s\n  interface eth0\n  virtual_router_id %d\n  priority %d\n  advert_int %g\n  version %d\n",
		state, k.VRID, k.Priority, k.Interval.Seconds(), k.Version)
	if k.NoPreempt {
		b.WriteString("  nopreempt\n")
	}
	if k.PreemptDelay > 0 {
		fmt.Fprintf(&b, "  preempt_delay %d\n", k.PreemptDelay)
	}
	if k.Pass != "" {
		fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", k.Pass)
	}
	if len(k.Peers) > 0 {
		fmt.Fprintf(&b, "  unicast_src_ip %v\n  unicast_peer {\n", k.Source)
		for _, p := range k.Peers {
			fmt.Fprintf(&b, "    %v\n", p)
		}
		b.WriteString("  }\n")
	} else {
		fmt.Fprintf(&b, "  mcast_src_ip %v\n", k.Source)
	}
	bits := 32
	if k.VIP.Is6() {
		bits = 128
	}
	fmt.Fprintf(&b, "  virtual_ipaddress {\n    %v/%d dev eth0\n  }\n}\n", k.VIP, bits)
	return b.String()
}

// TestCaptureKeepalived receives keepalived's adverts (and its priority-0
// advert on SIGTERM) on our socket, in every mode: each decodes to what
// keepalived's configuration says, with TTL 255, and our encoder makes the
// same bytes. With LVS_VM_OUT set it writes them as golden files
// (testdata/keepalived, checked on every host run by TestGolden).
func TestCaptureKeepalived(t *testing.T) {
	// Beside the other tests (its modes one after the other): it waits
	// on keepalived's adverts most of its 80 s.
	t.Parallel()
	a1, a2 := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
	l1, l2 := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2")
	g1, g2 := netip.MustParseAddr("fd00:9::1"), netip.MustParseAddr("fd00:9::2")
	for _, tc := range []struct {
		name        string
		version     int
		pass        string
		me, ka, vip netip.Addr
		unicast     bool
	}{
		{"v2-ipv4", 2, "", a1, a2, vip4, false},
		{"v2-ipv4-pass", 2, "s3cret", a1, a2, vip4, false},
		{"v2-ipv4-unicast", 2, "", a1, a2, vip4, true},
		{"v3-ipv4", 3, "", a1, a2, vip4, false},
		{"v3-ipv4-unicast", 3, "", a1, a2, vip4, true},
		{"v3-ipv6", 3, "", l1, l2, vip6, false},
		{"v3-ipv6-unicast", 3, "", g1, g2, vip6, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			na, nb := nstest.New(t), nstest.New(t)
			p := netip.MustParsePrefix
			nstest.Segment(t, "br0",
				nstest.Member{NS: na, Name: "eth0", Addrs: []netip.Prefix{p("10.9.0.1/24"), p("fe80::1/64"), p("fd00:9::1/64")}},
				nstest.Member{NS: nb, Name: "eth0", Addrs: []netip.Prefix{p("10.9.0.2/24"), p("fe80::2/64"), p("fd00:9::2/64")}},
			)
			k := KAConf{Name: "capture", Master: true, Version: tc.version, VRID: 51, Priority: 150, Interval: time.Second, Pass: tc.pass, Source: tc.ka, VIP: tc.vip}
			cfg := Config{NetNSPath: na.Path, Interface: "eth0", VRID: 51, Priority: 100, Version: tc.version, AdvertInterval: time.Second, VIPs: []netip.Addr{tc.vip}, Source: tc.me, AuthPass: tc.pass}
			if tc.unicast {
				k.Peers = []netip.Addr{tc.me}
				cfg.UnicastPeers = []netip.Addr{tc.ka}
			}
			n, err := New(&cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			ka := peers.Keepalived(t, nb, k.String())

			capture := func(what string, prio uint8) {
				deadline := time.Now().Add(30 * time.Second)
				for {
					n.c.setDeadline(deadline)
					pkt, src, dst, ttl, err := n.c.recv()
					if err != nil {
						t.Fatalf("%s: no advert from keepalived: %v\n%s", what, err, ka.Log())
					}
					var a Advert
					if src != tc.ka || decode(&a, pkt, src, dst, false) != dropNone || a.Priority != prio {
						continue
					}
					msg, ok := n.receive(pkt, src, dst, ttl)
					if !ok || !msg.accept || msg.mm != 0 {
						t.Fatalf("%s: our node would not take it: %+v %v, stats %+v", what, msg, ok, n.Stats())
					}
					want := Advert{Version: tc.version, VRID: 51, Priority: prio, Interval: time.Second, Addrs: []netip.Addr{tc.vip}}
					if tc.pass != "" {
						want.AuthType = AuthPass
						copy(want.AuthData[:], tc.pass)
					}
					if fmt.Sprint(a) != fmt.Sprint(want) {
						t.Fatalf("%s: keepalived sent %+v, want %+v", what, a, want)
					}
					sumDst := dst
					mine := a.append(nil, src, dst, sumDst)
					if string(mine) != string(pkt) {
						t.Fatalf("%s: keepalived sent % x, our encoder makes % x", what, pkt, mine)
					}
					writeGolden(t, tc.name+what, k.String(), a, src, dst, ttl, pkt)
					return
				}
			}
			capture("", 150)
			ka.Stop()
			capture("-stop", 0)
		})
	}
}

// writeGolden saves a captured advert under $LVS_VM_OUT/keepalived.
func writeGolden(t *testing.T, name, conf string, a Advert, src, dst netip.Addr, ttl int, pkt []byte) {
	out := os.Getenv("LVS_VM_OUT")
	if out == "" {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# An advert keepalived %s sent, received on our raw socket in the test VM\n", kaVersion())
	fmt.Fprintf(&b, "# (kernel %s) by TestCaptureKeepalived:\n", os.Getenv("LVS_VM_RELEASE"))
	b.WriteString("#   go run ./internal/cmd/vmtest -kernel 6.1 -pkg ./failover/vrrp -run TestCaptureKeepalived -out DIR\n")
	b.WriteString("# keepalived.conf:\n")
	for _, line := range strings.Split(strings.TrimSpace(conf), "\n") {
		b.WriteString("#   " + line + "\n")
	}
	auth := a.AuthType.String()
	if a.AuthType == AuthPass {
		auth += " " + strings.TrimRight(string(a.AuthData[:]), "\x00")
	}
	fmt.Fprintf(&b, "version %d\nvrid %d\npriority %d\ninterval %v\nauth %s\naddrs %v\nsrc %v\ndst %v\nttl %d\npacket %x\n",
		a.Version, a.VRID, a.Priority, a.Interval, auth, a.Addrs[0], src, dst, ttl, pkt)
	dir := filepath.Join(out, "keepalived")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// kaVersion is keepalived's version line.
func kaVersion() string {
	out, _ := exec.Command("keepalived", "--version").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(first)
}
