package fwmark

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/golvs/lvs/internal/nstest"
)

func TestCanonical(t *testing.T) {
	r := Rule{Mark: 1, Protocol: ProtocolTCP,
		Destinations: nstest.Prefixes("10.0.0.9/32", "10.0.0.7/24", "10.0.1.1/32", "10.0.1.1/32"),
		Ports:        []PortRange{Port(443), {80, 90}, {85, 100}, Port(101), Port(65535)}}
	c, err := r.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	const want = "mark=0x1 proto=tcp dst=10.0.0.0/24,10.0.1.1/32 ports=80-101,443,65535"
	if c.String() != want {
		t.Fatalf("got %q, want %q", c, want)
	}
	back, err := ParseRule(want)
	if err != nil || back.String() != want {
		t.Fatalf("ParseRule round trip: %v, %v", back, err)
	}
}

func TestInvalid(t *testing.T) {
	ok := Rule{Mark: 1, Protocol: ProtocolTCP, Destinations: nstest.Prefixes("10.0.0.1/32"), Ports: []PortRange{Port(80)}}
	for _, tc := range []struct {
		field string
		edit  func(r *Rule)
	}{
		{"Mark", func(r *Rule) { r.Mark = 0 }},
		{"Protocol", func(r *Rule) { r.Protocol = 1 }},
		{"Destinations", func(r *Rule) { r.Destinations = nil }},
		{"Destinations[1]", func(r *Rule) { r.Destinations = nstest.Prefixes("10.0.0.1/32", "fd00::1/128") }},
		{"Destinations[0]", func(r *Rule) { r.Destinations = nstest.Prefixes("::ffff:10.0.0.1/128") }},
		{"Destinations[0]", func(r *Rule) { r.Destinations = []netip.Prefix{{}} }},
		{"Ports", func(r *Rule) { r.Ports = nil }},
		{"Ports[0]", func(r *Rule) { r.Ports = []PortRange{{0, 10}} }},
		{"Ports[0]", func(r *Rule) { r.Ports = []PortRange{{20, 10}} }},
		{"rule", func(r *Rule) {
			for i := range 40 {
				r.Destinations = append(r.Destinations, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), 0}), 24))
			}
		}},
	} {
		r := ok
		tc.edit(&r)
		_, err := r.Canonical()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	// ProtocolAny without ports is every packet to the destinations.
	if _, err := (Rule{Mark: 1, Destinations: nstest.Prefixes("10.0.0.0/8")}).Canonical(); err != nil {
		t.Error(err)
	}
}

func TestOverlap(t *testing.T) {
	a := Rule{Mark: 1, Protocol: ProtocolTCP, Destinations: nstest.Prefixes("10.0.0.1/32"), Ports: []PortRange{Port(80), Port(443)}}
	for _, tc := range []struct {
		b    Rule
		want bool
	}{
		{Rule{Mark: 2, Protocol: ProtocolTCP, Destinations: nstest.Prefixes("10.0.0.0/24"), Ports: []PortRange{{400, 500}}}, true},
		{Rule{Mark: 2, Protocol: ProtocolUDP, Destinations: nstest.Prefixes("10.0.0.0/24"), Ports: []PortRange{{400, 500}}}, false},
		{Rule{Mark: 2, Protocol: ProtocolAny, Destinations: nstest.Prefixes("10.0.0.0/24")}, true},
		{Rule{Mark: 2, Protocol: ProtocolTCP, Destinations: nstest.Prefixes("10.0.0.2/32"), Ports: []PortRange{Port(80)}}, false},
		{Rule{Mark: 2, Protocol: ProtocolTCP, Destinations: nstest.Prefixes("10.0.0.1/32"), Ports: []PortRange{Port(81)}}, false},
		{Rule{Mark: 2, Protocol: ProtocolAny, Destinations: nstest.Prefixes("::/0")}, false},
	} {
		_, err := canonicalRules("sync", []Rule{a, tc.b})
		if got := err != nil; got != tc.want {
			t.Errorf("%v vs %v: err %v, want overlap %v", a, tc.b, err, tc.want)
		}
	}
	// Duplicates and the same mark are fine.
	rs, err := canonicalRules("sync", []Rule{a, a, {Mark: 1, Protocol: ProtocolAny, Destinations: nstest.Prefixes("10.0.0.0/8")}})
	if err != nil || len(rs) != 2 {
		t.Fatalf("got %v, %v", rs, err)
	}
}

func FuzzParseRule(f *testing.F) {
	f.Add("mark=0x1 proto=tcp dst=10.0.0.0/24,10.0.1.1/32 ports=80-101,443")
	f.Add("mark=7 proto=any dst=fd00::/64")
	f.Add("mark=1 proto=udp dst=1.2.3.4/32 ports=1-0")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			return
		}
		// A parsed rule is canonical: its text parses to itself.
		again, err := ParseRule(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("%q → %q → %q, %v", s, r, again, err)
		}
	})
}
