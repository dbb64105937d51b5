package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// discard is a conn that sends nowhere.
type discard struct{}

func (discard) recv() ([]byte, netip.Addr, netip.Addr, int, error) {
	return nil, netip.Addr{}, netip.Addr{}, 0, errDeadline
}
func (discard) send([]byte, netip.Addr) error { return nil }
func (discard) setDeadline(time.Time) error   { return nil }
func (discard) close() error                  { return nil }

// BenchmarkReceive is the CPU a received advert costs above the kernel:
// checks, decode, hand-over and the state machine's step.
func BenchmarkReceive(b *testing.B) {
	for _, v6 := range []bool{false, true} {
		name := "IPv4-v2"
		cfg, self, peer, dst := baseConfig(), src4, netip.MustParseAddr("10.9.0.3"), GroupIPv4
		if v6 {
			name = "IPv6-v3"
			cfg.VIPs, self, peer, dst = []netip.Addr{vip6}, src6, netip.MustParseAddr("fe80::3"), GroupIPv6
		}
		b.Run(name, func(b *testing.B) {
			n := testNode(b, cfg, self, nil)
			pkt := encode(b, Advert{Version: n.cfg.Version, VRID: 51, Priority: 150, Interval: time.Second, Addrs: cfg.VIPs}, peer, dst)
			m := machine{prio: 100, interval: time.Second, v3: n.v3, preempt: true, self: self}
			m.start(t0)
			msgs := make(chan rxMsg, 1)
			now := t0
			b.ReportAllocs()
			for b.Loop() {
				msg, _ := n.receive(pkt, peer, dst, 255)
				msgs <- msg
				msg = <-msgs
				now = now.Add(time.Second)
				m.advert(now, msg.src, msg.prio, msg.interval)
			}
		})
	}
}

// BenchmarkSend is the CPU an advert costs above the kernel: encoding and
// checksumming it.
func BenchmarkSend(b *testing.B) {
	n := testNode(b, baseConfig(), src4, discard{})
	b.ReportAllocs()
	for b.Loop() {
		n.send(100)
	}
}
