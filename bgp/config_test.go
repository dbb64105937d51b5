package bgp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func goodConfig() *Config {
	return &Config{
		ASN:      65001,
		RouterID: netip.MustParseAddr("10.0.0.2"),
		Peers:    []Peer{{Address: netip.MustParseAddr("10.0.0.1"), ASN: 65000}},
	}
}

// TestConfigValidate feeds one bad field at a time: each is refused with
// ErrInvalid naming that field, and New starts nothing.
func TestConfigValidate(t *testing.T) {
	if err := goodConfig().Validate(); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	cases := []struct {
		field string
		mod   func(c *Config)
	}{
		{"Config.ASN", func(c *Config) { c.ASN = 0 }},
		{"Config.ASN", func(c *Config) { c.ASN = 23456 }},
		{"Config.ASN", func(c *Config) { c.ASN = 65535 }},
		{"Config.ASN", func(c *Config) { c.ASN = 4294967295 }},
		{"Config.RouterID", func(c *Config) { c.RouterID = netip.Addr{} }},
		{"Config.RouterID", func(c *Config) { c.RouterID = netip.MustParseAddr("2001:db8::1") }},
		{"Config.RouterID", func(c *Config) { c.RouterID = netip.MustParseAddr("0.0.0.0") }},
		{"Config.RouterID", func(c *Config) { c.RouterID = netip.MustParseAddr("224.0.0.5") }},
		{"Config.Peers", func(c *Config) { c.Peers = nil }},
		{"Config.Peers[0].Address", func(c *Config) { c.Peers[0].Address = netip.Addr{} }},
		{"Config.Peers[0].Address", func(c *Config) { c.Peers[0].Address = netip.MustParseAddr("::ffff:10.0.0.1") }},
		{"Config.Peers[0].Address", func(c *Config) { c.Peers[0].Address = netip.MustParseAddr("255.255.255.255") }},
		{"Config.Peers[0].Address", func(c *Config) { c.Peers[0].Address = netip.MustParseAddr("fe80::1%eth0") }},
		{"Config.Peers[0].ASN", func(c *Config) { c.Peers[0].ASN = 0 }},
		{"Config.Peers[0].ASN", func(c *Config) { c.Peers[0].ASN = 23456 }},
		{"Config.Peers[0].HoldTime", func(c *Config) { c.Peers[0].HoldTime = 2 * time.Second }},
		{"Config.Peers[0].HoldTime", func(c *Config) { c.Peers[0].HoldTime = 1500 * time.Millisecond * 3 }},
		{"Config.Peers[0].HoldTime", func(c *Config) { c.Peers[0].HoldTime = 70000 * time.Second }},
		{"Config.Peers[0].Keepalive", func(c *Config) { c.Peers[0].Keepalive = 9 * time.Second }},
		{"Config.Peers[0].Keepalive", func(c *Config) { c.Peers[0].HoldTime = 3 * time.Second; c.Peers[0].Keepalive = 3 * time.Second }},
		{"Config.Peers[0].ConnectRetry", func(c *Config) { c.Peers[0].ConnectRetry = -time.Second }},
		{"Config.Peers[0].Password", func(c *Config) { c.Peers[0].Password = strings.Repeat("x", 81) }},
		{"Config.Peers[0].BFD", func(c *Config) { c.Peers[0].Multihop = 2; c.Peers[0].BFD = &BFD{} }},
		{"Config.Peers[0].BFD.MinTx", func(c *Config) { c.Peers[0].BFD = &BFD{MinTx: time.Millisecond} }},
		{"Config.Peers[0].BFD.MinRx", func(c *Config) { c.Peers[0].BFD = &BFD{MinRx: 2 * time.Minute} }},
		{"Config.Peers[1].Address", func(c *Config) { c.Peers = append(c.Peers, c.Peers[0]) }},
	}
	for _, tc := range cases {
		c := goodConfig()
		tc.mod(c)
		err := c.Validate()
		var e *Error
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) || e.Field != tc.field {
			t.Errorf("%s: got %v, want ErrInvalid naming %s", tc.field, err, tc.field)
			continue
		}
		if cl, err := New(c); err == nil || cl != nil {
			t.Errorf("%s: New accepted it", tc.field)
		}
	}
	if err := (*Config)(nil).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil config: %v", err)
	}
}

func TestRouteValidate(t *testing.T) {
	med := uint32(10)
	good := []Route{
		{VIP: netip.MustParsePrefix("192.0.2.10/32")},
		{VIP: netip.MustParsePrefix("2001:db8::10/128"), NextHop: netip.MustParseAddr("2001:db8::1")},
		{VIP: netip.MustParsePrefix("192.0.2.10/32"), Communities: []string{"65000:100", "0:65535"}, MED: &med},
	}
	for _, r := range good {
		if err := r.Validate(); err != nil {
			t.Errorf("%+v refused: %v", r, err)
		}
	}
	bad := []struct {
		field string
		r     Route
	}{
		{"Route.VIP", Route{}},
		{"Route.VIP", Route{VIP: netip.MustParsePrefix("192.0.2.0/24")}},
		{"Route.VIP", Route{VIP: netip.MustParsePrefix("2001:db8::/64")}},
		{"Route.VIP", Route{VIP: netip.MustParsePrefix("::ffff:192.0.2.10/128")}},
		{"Route.VIP", Route{VIP: netip.MustParsePrefix("0.0.0.0/32")}},
		{"Route.VIP", Route{VIP: netip.MustParsePrefix("127.0.0.1/32")}},
		{"Route.VIP", Route{VIP: netip.MustParsePrefix("239.1.1.1/32")}},
		{"Route.NextHop", Route{VIP: netip.MustParsePrefix("192.0.2.10/32"), NextHop: netip.MustParseAddr("2001:db8::1")}},
		{"Route.NextHop", Route{VIP: netip.MustParsePrefix("192.0.2.10/32"), NextHop: netip.MustParseAddr("0.0.0.0")}},
		{"Route.Communities[1]", Route{VIP: netip.MustParsePrefix("192.0.2.10/32"), Communities: []string{"1:2", "70000:1"}}},
		{"Route.Communities[0]", Route{VIP: netip.MustParsePrefix("192.0.2.10/32"), Communities: []string{"100"}}},
	}
	for _, tc := range bad {
		err := tc.r.Validate()
		var e *Error
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) || e.Field != tc.field {
			t.Errorf("%+v: got %v, want ErrInvalid naming %s", tc.r, err, tc.field)
		}
	}
}

// TestFamilyMismatch: a VIP of a family no peer's session carries is
// refused before anything is announced.
func TestFamilyMismatch(t *testing.T) {
	c := goodConfig()
	err := c.checkFamily(Route{VIP: netip.MustParsePrefix("2001:db8::10/128")})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no IPv6 peer") {
		t.Errorf("IPv6 VIP over an IPv4 peer: %v", err)
	}
	if err := c.checkFamily(Route{VIP: netip.MustParsePrefix("192.0.2.10/32")}); err != nil {
		t.Errorf("IPv4 VIP over an IPv4 peer: %v", err)
	}
}

func TestParseCommunity(t *testing.T) {
	v, err := parseCommunity("65000:100")
	if err != nil || v != 65000<<16|100 {
		t.Errorf("65000:100 = %#x, %v", v, err)
	}
}
