package realserver_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
)

func TestValidate(t *testing.T) {
	rip := netip.MustParseAddr("10.0.0.11")
	for _, c := range []struct {
		name string
		err  error
		want error
		msg  string
	}{
		{"ok v4", realserver.DR{VIPs: nstest.Addrs("192.0.2.1")}.Validate(), nil, ""},
		{"ok v6", realserver.DR{VIPs: nstest.Addrs("2001:db8::1"), Device: "lvs0"}.Validate(), nil, ""},
		{"none", realserver.DR{}.Validate(), realserver.ErrInvalid, "VIPs: no VIP given"},
		{"unspecified", realserver.DR{VIPs: nstest.Addrs("192.0.2.1", "0.0.0.0")}.Validate(), realserver.ErrInvalid, "VIPs[1]: 0.0.0.0 cannot be a VIP"},
		{"broadcast", realserver.DR{VIPs: nstest.Addrs("255.255.255.255")}.Validate(), realserver.ErrInvalid, "VIPs[0]: 255.255.255.255 cannot be a VIP"},
		{"zone", realserver.DR{VIPs: []netip.Addr{netip.MustParseAddr("2001:db8::1%eth0")}}.Validate(), realserver.ErrInvalid, "has no zone"},
		{"mapped twice", realserver.DR{VIPs: nstest.Addrs("192.0.2.1", "::ffff:192.0.2.1")}.Validate(), realserver.ErrInvalid, "VIPs[1]: 192.0.2.1 given twice"},
		{"mapped", realserver.TUN{VIPs: nstest.Addrs("::ffff:192.0.2.1"), Type: ipvs.GRE}.Validate(), nil, ""},
		{"loopback", realserver.DR{VIPs: nstest.Addrs("127.0.0.2")}.Validate(), realserver.ErrInvalid, "cannot be a VIP"},
		{"twice", realserver.DR{VIPs: nstest.Addrs("192.0.2.1", "192.0.2.1")}.Validate(), realserver.ErrInvalid, "given twice"},
		{"bad device", realserver.DR{VIPs: nstest.Addrs("192.0.2.1"), Device: "a/b"}.Validate(), realserver.ErrInvalid, "Device"},
		{"long device", realserver.DR{VIPs: nstest.Addrs("192.0.2.1"), Device: "abcdefghijklmnop"}.Validate(), realserver.ErrInvalid, "Device"},
		{"rip missing", realserver.DR{VIPs: nstest.Addrs("192.0.2.1"), ARP: realserver.ARP{Backend: realserver.ARPTables}}.Validate(), realserver.ErrInvalid, "ARP.RIP: the arptables backend needs"},
		{"rip with sysctl", realserver.DR{VIPs: nstest.Addrs("192.0.2.1"), ARP: realserver.ARP{RIP: rip}}.Validate(), realserver.ErrInvalid, "ARP.RIP: only used"},
		{"rip is vip", realserver.DR{VIPs: nstest.Addrs("10.0.0.11"), ARP: realserver.ARP{Backend: realserver.ARPNFTables, RIP: rip}}.Validate(), realserver.ErrInvalid, "also a VIP"},
		{"v6 only nft", realserver.DR{VIPs: nstest.Addrs("2001:db8::1"), ARP: realserver.ARP{Backend: realserver.ARPNFTables}}.Validate(), nil, ""},
		{"backend", realserver.DR{VIPs: nstest.Addrs("192.0.2.1"), ARP: realserver.ARP{Backend: 9}}.Validate(), realserver.ErrInvalid, "unknown backend"},
		{"tun ok", realserver.TUN{VIPs: nstest.Addrs("192.0.2.1"), Type: ipvs.GRE}.Validate(), nil, ""},
		{"gue port", realserver.TUN{VIPs: nstest.Addrs("192.0.2.1"), Type: ipvs.GUE}.Validate(), realserver.ErrInvalid, "Port: GUE needs"},
		{"ipip port", realserver.TUN{VIPs: nstest.Addrs("192.0.2.1"), Port: 1}.Validate(), realserver.ErrInvalid, "Port: only GUE"},
		{"tun type", realserver.TUN{VIPs: nstest.Addrs("192.0.2.1"), Type: 7}.Validate(), realserver.ErrInvalid, "unknown tunnel type"},
		{"tun v6", realserver.TUN{VIPs: nstest.Addrs("2001:db8::1")}.Validate(), realserver.ErrNotSupported, "IPv6 VIPs are not supported in TUN mode"},
	} {
		if c.want == nil {
			if c.err != nil {
				t.Errorf("%s: %v", c.name, c.err)
			}
			continue
		}
		var e *realserver.Error
		if !errors.Is(c.err, c.want) || !errors.As(c.err, &e) || !strings.Contains(c.err.Error(), c.msg) {
			t.Errorf("%s: got %v, want %v with %q", c.name, c.err, c.want, c.msg)
		}
		for _, other := range []error{realserver.ErrConflict, realserver.ErrUnavailable, realserver.ErrKernel} {
			if errors.Is(c.err, other) {
				t.Errorf("%s: also matches %v", c.name, other)
			}
		}
	}
}

func TestTUNDevice(t *testing.T) {
	for typ, dev := range map[ipvs.TunnelType]string{ipvs.IPIP: "tunl0", ipvs.GUE: "tunl0", ipvs.GRE: "gre0"} {
		if got := (realserver.TUN{Type: typ}).Device(); got != dev {
			t.Errorf("%v: %s, want %s", typ, got, dev)
		}
	}
}

func TestFindingsString(t *testing.T) {
	var r realserver.Findings
	if !r.OK() || r.String() != "ok" {
		t.Fatal(r)
	}
	r = append(r, realserver.Finding{Severity: realserver.SeverityBroken, Subject: "device eth0", Problem: "eth0 answers ARP", Fix: "sysctl -w x=1"},
		realserver.Finding{Severity: realserver.SeverityNote, Subject: "MTU", Problem: "mtu"})
	if r.OK() || r.String() != "broken: device eth0: eth0 answers ARP; fix: sysctl -w x=1\nnote: MTU: mtu" {
		t.Fatalf("%q", r.String())
	}
	if realserver.ARPNFTables.String() != "nftables" || realserver.ARPBackend(9).String() != "ARPBackend(9)" {
		t.Fatal("ARPBackend.String")
	}
}
