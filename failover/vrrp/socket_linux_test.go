package vrrp

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
)

// socketPair opens two nodes (not running) on a bridge: a sends, b
// receives.
func socketPair(t testing.TB, v6, unicast bool) (a, b *Node) {
	na, nb := nstest.New(t), nstest.New(t)
	p := netip.MustParsePrefix
	nstest.Segment(t, "br0",
		nstest.Member{NS: na, Name: "eth0", Addrs: []netip.Prefix{p("10.9.0.1/24"), p("fe80::1/64")}},
		nstest.Member{NS: nb, Name: "eth0", Addrs: []netip.Prefix{p("10.9.0.2/24"), p("fe80::2/64")}},
	)
	open := func(ns *nstest.NS, self, peer netip.Addr) *Node {
		cfg := baseConfig()
		cfg.NetNSPath, cfg.Source = ns.Path, self
		if v6 {
			cfg.VIPs = []netip.Addr{vip6}
		}
		if unicast {
			cfg.UnicastPeers = []netip.Addr{peer}
		}
		n, err := New(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	a4, b4 := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
	if v6 {
		a4, b4 = netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2")
	}
	return open(na, a4, b4), open(nb, b4, a4)
}

// recvOne receives b's next packet and checks it as Run's reader does.
func recvOne(t testing.TB, b *Node) (rxMsg, bool) {
	pkt, src, dst, ttl, err := b.c.recv()
	if err != nil {
		t.Fatal(err)
	}
	return b.receive(pkt, src, dst, ttl)
}

// TestSocket: what one node sends the other receives with TTL 255 from
// the right source, multicast or unicast, IPv4 or IPv6, and the sender
// does not hear itself; receiving allocates nothing.
func TestSocket(t *testing.T) {
	for _, tc := range []struct {
		name        string
		v6, unicast bool
	}{{"ipv4", false, false}, {"ipv6", true, false}, {"ipv4-unicast", false, true}, {"ipv6-unicast", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := socketPair(t, tc.v6, tc.unicast)
			b.c.setDeadline(time.Now().Add(time.Minute))
			// The first packets can meet a bridge port still learning:
			// retry, bounded.
			var msg rxMsg
			var ok bool
			for i := 0; i < 20 && !ok; i++ {
				a.send(100)
				b.c.setDeadline(time.Now().Add(time.Second))
				pkt, src, dst, ttl, err := b.c.recv()
				if errors.Is(err, errDeadline) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				msg, ok = b.receive(pkt, src, dst, ttl)
				if !ok {
					t.Fatalf("dropped: %+v (ttl %d, %v -> %v)", b.Stats(), ttl, src, dst)
				}
			}
			if !ok || !msg.accept || msg.src != a.Source() || msg.prio != 100 {
				t.Fatalf("received %+v %v, stats %+v", msg, ok, b.Stats())
			}
			// Multicast loop is off: a hears nothing of its own.
			a.c.setDeadline(time.Now().Add(300 * time.Millisecond))
			if _, _, _, _, err := a.c.recv(); !errors.Is(err, errDeadline) {
				t.Fatalf("the sender received a packet: %v", err)
			}
			b.c.setDeadline(time.Now().Add(time.Minute))
			allocs := testing.AllocsPerRun(200, func() {
				a.send(100)
				if _, ok := recvOne(t, b); !ok {
					t.Fatal("dropped")
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per advert sent and received, want 0", allocs)
			}
		})
	}
}

// BenchmarkSocket is the CPU of one advert sent by one node and received
// by another through the kernel (raw sockets, a bridge), system calls
// included.
func BenchmarkSocket(b *testing.B) {
	for _, v6 := range []bool{false, true} {
		name := "IPv4"
		if v6 {
			name = "IPv6"
		}
		b.Run(name, func(bb *testing.B) {
			x, y := socketPair(bb, v6, false)
			y.c.setDeadline(time.Now().Add(time.Minute))
			for range 20 { // let the bridge learn
				x.send(100)
				y.c.setDeadline(time.Now().Add(200 * time.Millisecond))
				if _, _, _, _, err := y.c.recv(); err == nil {
					break
				}
			}
			y.c.setDeadline(time.Now().Add(time.Minute))
			bb.ReportAllocs()
			for bb.Loop() {
				x.send(100)
				recvOne(bb, y)
			}
		})
	}
}
