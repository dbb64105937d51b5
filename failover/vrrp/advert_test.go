package vrrp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

var (
	src4 = netip.MustParseAddr("10.9.0.2")
	src6 = netip.MustParseAddr("fe80::2")
	vip4 = netip.MustParseAddr("10.9.0.100")
	vip6 = netip.MustParseAddr("fd00:9::100")
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeKeepalivedSample decodes an advert keepalived 2.2.7 sent in an
// earlier session (issue notes, failover.md), checksum included, and
// encodes it back to the same bytes.
func TestDecodeKeepalivedSample(t *testing.T) {
	b := mustHex(t, "2133960100013e5d0a09006400000000"+"00000000")
	var a Advert
	if err := DecodeAdvert(&a, b, src4, GroupIPv4); err != nil {
		t.Fatal(err)
	}
	want := Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{vip4}}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("decoded %+v, want %+v", a, want)
	}
	got, err := AppendAdvert(nil, &a, src4, GroupIPv4)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("encoded % x (%v), want % x", got, err, b)
	}
}

func TestRoundTrip(t *testing.T) {
	pass := [8]byte{'s', 'e', 'c', 'r', 'e', 't'}
	for name, tc := range map[string]struct {
		a        Advert
		src, dst netip.Addr
	}{
		"v2":            {Advert{Version: 2, VRID: 1, Priority: 100, Interval: 3 * time.Second, Addrs: []netip.Addr{vip4, src4}}, src4, GroupIPv4},
		"v2 PASS":       {Advert{Version: 2, VRID: 255, Priority: 255, Interval: 255 * time.Second, AuthType: AuthPass, AuthData: pass, Addrs: []netip.Addr{vip4}}, src4, GroupIPv4},
		"v3 IPv4":       {Advert{Version: 3, VRID: 7, Priority: 1, Interval: 40950 * time.Millisecond, Addrs: []netip.Addr{vip4}}, src4, GroupIPv4},
		"v3 IPv4 ucast": {Advert{Version: 3, VRID: 7, Priority: 0, Interval: 10 * time.Millisecond, Addrs: []netip.Addr{vip4}}, src4, netip.MustParseAddr("10.9.0.3")},
		"v3 IPv6":       {Advert{Version: 3, VRID: 9, Priority: 200, Interval: time.Second, Addrs: []netip.Addr{vip6, netip.MustParseAddr("fe80::100")}}, src6, GroupIPv6},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := AppendAdvert([]byte{0xee}, &tc.a, tc.src, tc.dst)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != 0xee {
				t.Fatal("AppendAdvert overwrote the prefix")
			}
			var got Advert
			if err := DecodeAdvert(&got, b[1:], tc.src, tc.dst); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.a) {
				t.Fatalf("got %+v, want %+v", got, tc.a)
			}
			if tc.a.Version == 3 {
				// The pseudo-header counts: another destination fails.
				other := tc.src
				if err := DecodeAdvert(&got, b[1:], tc.src, other); !errors.Is(err, ErrInvalid) {
					t.Fatalf("v3 advert accepted with another destination in the pseudo-header: %v", err)
				}
			}
		})
	}
}

// TestOldUnicastChecksum: keepalived before 1.3.6 put the group in the
// pseudo-header of unicast adverts; decode accepts that only when asked.
func TestOldUnicastChecksum(t *testing.T) {
	a := Advert{Version: 3, VRID: 7, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip4}}
	peer := netip.MustParseAddr("10.9.0.3")
	b := a.append(nil, src4, peer, GroupIPv4)
	var got Advert
	if d := decode(&got, b, src4, peer, false); d != dropChecksum {
		t.Fatalf("old checksum decoded as %v, want a checksum drop", dropText[d])
	}
	if d := decode(&got, b, src4, peer, true); d != dropNone {
		t.Fatalf("old checksum not accepted when asked: %v", dropText[d])
	}
}

// fixSum rewrites b's checksum (v2: no pseudo-header) so that a test can
// break another field alone.
func fixSum(b []byte, src, dst netip.Addr) []byte {
	b[6], b[7] = 0, 0
	var s uint32
	if b[0]>>4 == 3 {
		s = pseudo(src, dst, len(b))
	}
	binary.BigEndian.PutUint16(b[6:8], ^fold(checksum(s, b)))
	return b
}

func TestDecodeDrops(t *testing.T) {
	good := func() []byte {
		a := Advert{Version: 2, VRID: 51, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip4}}
		return a.append(nil, src4, GroupIPv4, GroupIPv4)
	}
	mod := func(f func(b []byte) []byte) []byte { return fixSum(f(good()), src4, GroupIPv4) }
	v3over6 := Advert{Version: 3, VRID: 1, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip6}}
	for name, tc := range map[string]struct {
		b        []byte
		src, dst netip.Addr
		want     drop
	}{
		"empty":          {nil, src4, GroupIPv4, dropShort},
		"header only":    {good()[:8], src4, GroupIPv4, dropShort},
		"one byte short": {good()[:19], src4, GroupIPv4, dropShort},
		"one byte long":  {append(good(), 0), src4, GroupIPv4, dropLong},
		"version 1":      {mod(func(b []byte) []byte { b[0] = 0x11; return b }), src4, GroupIPv4, dropVersion},
		"type 2":         {mod(func(b []byte) []byte { b[0] = 0x22; return b }), src4, GroupIPv4, dropType},
		"count 0":        {mod(func(b []byte) []byte { b[3] = 0; return b[:16] }), src4, GroupIPv4, dropCount},
		"count 2":        {mod(func(b []byte) []byte { b[3] = 2; return b }), src4, GroupIPv4, dropShort},
		"interval 0":     {mod(func(b []byte) []byte { b[5] = 0; return b }), src4, GroupIPv4, dropInterval},
		"checksum":       {func() []byte { b := good(); b[7]++; return b }(), src4, GroupIPv4, dropChecksum},
		"families":       {good(), src4, GroupIPv6, dropFamily},
		"v2 in IPv6": {func() []byte {
			b := v3over6.append(nil, src6, GroupIPv6, GroupIPv6)
			b[0] = 0x21
			return fixSum(b, src6, GroupIPv6)
		}(), src6, GroupIPv6, dropVersion},
	} {
		t.Run(name, func(t *testing.T) {
			var a Advert
			if d := decode(&a, tc.b, tc.src, tc.dst, false); d != tc.want {
				t.Fatalf("decode: %q, want %q", dropText[d], dropText[tc.want])
			}
			if err := DecodeAdvert(&a, tc.b, tc.src, tc.dst); !errors.Is(err, ErrInvalid) {
				t.Fatalf("DecodeAdvert: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestAppendAdvertChecks(t *testing.T) {
	ok := Advert{Version: 2, VRID: 1, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip4}}
	for name, f := range map[string]func(a *Advert){
		"version 4":         func(a *Advert) { a.Version = 4 },
		"v2 interval 1.5s":  func(a *Advert) { a.Interval = 1500 * time.Millisecond },
		"v2 interval 256s":  func(a *Advert) { a.Interval = 256 * time.Second },
		"v3 interval 41s":   func(a *Advert) { a.Version, a.Interval = 3, 41*time.Second },
		"v3 interval 5ms":   func(a *Advert) { a.Version, a.Interval = 3, 5*time.Millisecond },
		"no addresses":      func(a *Advert) { a.Addrs = nil },
		"IPv6 address":      func(a *Advert) { a.Addrs = []netip.Addr{vip6} },
		"v3 authentication": func(a *Advert) { a.Version, a.AuthType = 3, AuthPass },
	} {
		a := ok
		f(&a)
		if _, err := AppendAdvert(nil, &a, src4, GroupIPv4); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := AppendAdvert(nil, &ok, src4, GroupIPv4); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecodeAdvert: decoding never panics, and whatever it accepts encodes
// back to the same packet, but for VRRPv3's reserved bits, which receivers
// ignore, and the checksum's two forms of zero (0x0000 and 0xffff both
// verify; testdata/fuzz holds the case the fuzzer found).
func FuzzDecodeAdvert(f *testing.F) {
	f.Add(mustHex(f, "2133960100013e5d0a09006400000000"+"00000000"), false)
	for _, a := range []Advert{
		{Version: 3, VRID: 7, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip4}},
		{Version: 2, VRID: 7, Priority: 100, Interval: time.Second, AuthType: AuthPass, AuthData: [8]byte{'x'}, Addrs: []netip.Addr{vip4, src4}},
	} {
		f.Add(a.append(nil, src4, GroupIPv4, GroupIPv4), false)
	}
	a6 := Advert{Version: 3, VRID: 7, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip6}}
	f.Add(a6.append(nil, src6, GroupIPv6, GroupIPv6), true)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		src, dst := src4, GroupIPv4
		if v6 {
			src, dst = src6, GroupIPv6
		}
		var a Advert
		if decode(&a, b, src, dst, false) != dropNone {
			return
		}
		out, err := AppendAdvert(nil, &a, src, dst)
		if err != nil {
			t.Fatalf("accepted %x but cannot encode it: %v", b, err)
		}
		in := bytes.Clone(b)
		if a.Version == 3 {
			in[4] &= 0x0f
		}
		fixSum(in, src, dst)
		if !bytes.Equal(out, in) {
			t.Fatalf("decoded % x, encoded back % x", in, out)
		}
	})
}
