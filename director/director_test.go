package director

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/ipvs"
)

var mac = net.HardwareAddr{0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc}

func TestGratuitousARP(t *testing.T) {
	b := gratuitousARP(mac, netip.MustParseAddr("192.0.2.10"))
	want := "ffffffffffff" + "020000aabbcc" + "0806" + // Ethernet
		"0001" + "0800" + "06" + "04" + "0001" + // Ethernet/IPv4 request
		"020000aabbcc" + "c000020a" + // sender = us, VIP
		"000000000000" + "c000020a" // target = VIP
	if got := net.HardwareAddr(b).String(); strings.ReplaceAll(got, ":", "") != want {
		t.Errorf("frame\n got %x\nwant %s", b, want)
	}
}

func TestUnsolicitedNA(t *testing.T) {
	vip := netip.MustParseAddr("2001:db8::10")
	for _, router := range []bool{false, true} {
		b := unsolicitedNA(mac, vip, router)
		if len(b) != 14+40+32 {
			t.Fatalf("length %d", len(b))
		}
		if got := net.HardwareAddr(b[0:6]).String(); got != "33:33:00:00:00:01" {
			t.Errorf("destination MAC %s", got)
		}
		ip := b[14:54]
		if ip[0]>>4 != 6 || binary.BigEndian.Uint16(ip[4:6]) != 32 || ip[6] != 58 || ip[7] != 255 {
			t.Errorf("IPv6 header %x", ip)
		}
		src, _ := netip.AddrFromSlice(ip[8:24])
		dst, _ := netip.AddrFromSlice(ip[24:40])
		if src != vip || dst != netip.MustParseAddr("ff02::1") {
			t.Errorf("addresses %s → %s", src, dst)
		}
		m := b[54:]
		flags := byte(0x20)
		if router {
			flags |= 0x80
		}
		if m[0] != 136 || m[1] != 0 || m[4] != flags {
			t.Errorf("type/code/flags %x", m[:8])
		}
		if tgt, _ := netip.AddrFromSlice(m[8:24]); tgt != vip {
			t.Errorf("target %s", tgt)
		}
		if m[24] != 2 || m[25] != 1 || net.HardwareAddr(m[26:32]).String() != mac.String() {
			t.Errorf("option %x", m[24:])
		}
		// A correct checksum sums (with the pseudo-header) to 0xffff,
		// i.e. recomputing over the message including it gives 0.
		if c := icmpv6Checksum(vip.As16(), dst.As16(), m); c != 0 {
			t.Errorf("checksum does not verify: %#x", c)
		}
	}
}

// An odd trailing byte is padded, and the length is in the pseudo-header.
func TestChecksumOddLength(t *testing.T) {
	var z [16]byte
	a := icmpv6Checksum(z, z, []byte{1})
	b := icmpv6Checksum(z, z, []byte{1, 0})
	if a == b { // lengths differ in the pseudo-header
		t.Errorf("odd and even lengths gave the same checksum %#x", a)
	}
}

func TestValidateVIP(t *testing.T) {
	ok := VIP{Address: netip.MustParseAddr("192.0.2.1"), Announce: AnnounceARP, Interface: "eth0"}
	if err := validateVIP("t", ok); err != nil {
		t.Fatal(err)
	}
	routed := VIP{Address: netip.MustParseAddr("::ffff:192.0.2.1"), Announce: AnnounceRouted}
	if err := validateVIP("t", routed); err != nil || routed.device() != DefaultVIPDevice || routed.prefix().String() != "192.0.2.1/32" {
		t.Errorf("routed default: %v %s %s", err, routed.device(), routed.prefix())
	}
	bad := map[string]VIP{
		"VIP.Address":             {Announce: AnnounceARP, Interface: "eth0"},
		"VIP.Address ":            {Address: netip.MustParseAddr("fe80::1"), Announce: AnnounceARP, Interface: "eth0"},
		"VIP.Address  ":           {Address: netip.MustParseAddr("127.0.0.1"), Announce: AnnounceARP, Interface: "eth0"},
		"VIP.Address   ":          {Address: netip.MustParseAddr("255.255.255.255"), Announce: AnnounceARP, Interface: "eth0"},
		"VIP.Announce":            {Address: netip.MustParseAddr("192.0.2.1"), Interface: "eth0"},
		"VIP.Announce ":           {Address: netip.MustParseAddr("192.0.2.1"), Announce: 9, Interface: "eth0"},
		"VIP.Interface":           {Address: netip.MustParseAddr("192.0.2.1"), Announce: AnnounceARP},
		"VIP.Interface ":          {Address: netip.MustParseAddr("192.0.2.1"), Announce: AnnounceRouted, Interface: "a/b"},
		"VIP.Interface  ":         {Address: netip.MustParseAddr("192.0.2.1"), Announce: AnnounceRouted, Interface: "sixteen-chars-xx"},
		"VIP.Gratuitous.Interval": {Address: netip.MustParseAddr("192.0.2.1"), Announce: AnnounceARP, Interface: "eth0", Gratuitous: Gratuitous{Interval: -time.Second}},
		"VIP.Gratuitous.Count":    {Address: netip.MustParseAddr("192.0.2.1"), Announce: AnnounceARP, Interface: "eth0", Gratuitous: Gratuitous{Count: 1000}},
	}
	for field, v := range bad {
		err := validateVIP("t", v)
		var e *Error
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) || e.Field != strings.TrimSpace(field) {
			t.Errorf("%+v: got %v, want ErrInvalid on %s", v, err, strings.TrimSpace(field))
		}
	}
}

func TestGratuitousDefaults(t *testing.T) {
	if g := (Gratuitous{}).normalized(); g.Count != DefaultGratuitousCount || g.Interval != DefaultGratuitousInterval {
		t.Errorf("zero value: %+v", g)
	}
	if g := (Gratuitous{Count: -1}).normalized(); g.Count != 0 {
		t.Errorf("negative count: %+v", g)
	}
}

func TestValidateOneArmNAT(t *testing.T) {
	svc := SNATService{Protocol: ipvs.TCP, VIP: netip.MustParseAddrPort("10.0.0.1:80")}
	if err := validateOneArmNAT("t", OneArmNAT{Services: []SNATService{svc}, Interface: "eth0"}); err != nil {
		t.Fatal(err)
	}
	mapped := SNATService{Protocol: ipvs.TCP, VIP: netip.MustParseAddrPort("[::ffff:10.0.0.1]:80")}
	for name, n := range map[string]OneArmNAT{
		"no services":   {Interface: "eth0"},
		"protocol":      {Services: []SNATService{{Protocol: 1, VIP: svc.VIP}}, Interface: "eth0"},
		"port 0":        {Services: []SNATService{{Protocol: ipvs.TCP, VIP: netip.MustParseAddrPort("10.0.0.1:0")}}, Interface: "eth0"},
		"duplicate":     {Services: []SNATService{svc, mapped}, Interface: "eth0"},
		"no interface":  {Services: []SNATService{svc}},
		"backend":       {Services: []SNATService{svc}, Interface: "eth0", Backend: 7},
		"multicast VIP": {Services: []SNATService{{Protocol: ipvs.UDP, VIP: netip.MustParseAddrPort("239.1.1.1:53")}}, Interface: "eth0"},
	} {
		if err := validateOneArmNAT("t", n); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestValidateOthers(t *testing.T) {
	if err := validateNATGateway("t", NATGateway{Forwarding: Forwarding{IPv4: true}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("NAT gateway without interfaces: %v", err)
	}
	if err := validateNATGateway("t", NATGateway{Forwarding: Forwarding{IPv6: true}}); err != nil {
		t.Errorf("IPv6-only NAT gateway needs no interface: %v", err)
	}
	if err := validateForwarding("t", "f", Forwarding{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no family: %v", err)
	}
	rs := netip.MustParseAddr("10.0.0.11")
	for name, p := range map[string]ReturnPath{
		"no gateway":       {RealServer: rs},
		"family":           {RealServer: rs, Gateway: netip.MustParseAddr("fd00::1")},
		"netns, no client": {RealServer: rs, RealServerNetNS: "/run/netns/x"},
		"no real server":   {Gateway: rs},
	} {
		if err := validateReturnPaths("t", []ReturnPath{p}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSysctlTable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Sysctls() {
		if seen[s.Name] || s.Meaning == "" || s.Default < s.Min || s.Default > s.Max || strings.Contains(s.Name, "/") {
			t.Errorf("bad entry %+v", s)
		}
		seen[s.Name] = true
	}
	for _, p := range [][]Sysctl{PresetFailover(), PresetConntrack(), PresetKubeProxy()} {
		if err := validateSysctls("t", p); err != nil {
			t.Errorf("preset %v: %v", p, err)
		}
	}
	if err := validateSysctls("t", []Sysctl{{"net.ipv4.vs.conntrack", 1}, {"net.ipv4.vs.conntrack", 0}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("duplicate: %v", err)
	}
	if got := (Sysctl{"net.ipv4.vs.conntrack", 1}).path(); got != "net/ipv4/vs/conntrack" {
		t.Errorf("path %s", got)
	}
}

func TestErrorFormat(t *testing.T) {
	err := invalid("add VIP", "VIP.Address", "missing")
	if got := err.Error(); got != "director: add VIP: VIP.Address: missing" {
		t.Errorf("got %q", got)
	}
	inner := errors.New("boom")
	err = newError("x", ErrNotSupported, inner)
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, inner) || errors.Is(err, ErrInvalid) {
		t.Errorf("Is: %v", err)
	}
}

func TestFindingString(t *testing.T) {
	f := finding(SeverityBroken, "VIP 10.0.0.1 on eth0", "never answered", "lower arp_ignore")
	if got := f.String(); got != "broken: VIP 10.0.0.1 on eth0: never answered; fix: lower arp_ignore" {
		t.Errorf("got %q", got)
	}
}
