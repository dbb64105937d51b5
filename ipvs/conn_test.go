package ipvs

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const connFixture = `Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP AC100009 C738 0A000001 0050 C0A80A01 0050 ESTABLISHED     898
UDP 2001:0db8:0000:0000:0000:0000:0000:0009 D431 2001:0db8:0000:0000:0000:0000:0000:0001 0035 2001:0db8:0000:0000:0000:0000:0000:0002 0035 UDP             287
IP  AC100009 0000 00000007 0000 C0A80A01 0000 NONE            359
TCP 0A000009 1F90 0A000001 0050 2001:0db8:0000:0000:0000:0000:0000:0002 0050 SYN_RECV         58
UDP 0A000009 13C4 0A000001 13C4 C0A80A01 13C4 UDP             170 sip abc@host
`

func TestParseConnections(t *testing.T) {
	cs, err := ParseConnections(strings.NewReader(connFixture))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 5 {
		t.Fatalf("got %d entries", len(cs))
	}
	want0 := Connection{Protocol: TCP, Client: netip.MustParseAddrPort("172.16.0.9:51000"),
		Virtual: netip.MustParseAddrPort("10.0.0.1:80"), Destination: netip.MustParseAddrPort("192.168.10.1:80"),
		State: "ESTABLISHED", Expires: 898 * time.Second}
	if cs[0] != want0 {
		t.Errorf("entry 0 = %+v", cs[0])
	}
	if cs[1].Client != netip.MustParseAddrPort("[2001:db8::9]:54321") || cs[1].State != "UDP" {
		t.Errorf("entry 1 = %+v", cs[1])
	}
	if cs[2].Protocol != 0 || cs[2].Virtual.Addr() != netip.MustParseAddr("0.0.0.7") {
		t.Errorf("template = %+v", cs[2])
	}
	if !cs[3].Destination.Addr().Is6() || !cs[3].Client.Addr().Is4() {
		t.Errorf("mixed = %+v", cs[3])
	}
	if cs[4].PersistenceEngine != "sip" || cs[4].PEData != "abc@host" {
		t.Errorf("pe = %+v", cs[4])
	}
	var b bytes.Buffer
	if err := formatConnections(&b, cs); err != nil {
		t.Fatal(err)
	}
	if b.String() != connFixture {
		t.Errorf("format round trip:\n%s\nwant\n%s", b.String(), connFixture)
	}
}

func TestParseConnectionsRejects(t *testing.T) {
	for _, s := range []string{
		"TCP AC100009 C738 0A000001 0050 C0A80A01 0050 ESTABLISHED\n",
		"XYZ AC100009 C738 0A000001 0050 C0A80A01 0050 ESTABLISHED 1\n",
		"TCP AC1000 C738 0A000001 0050 C0A80A01 0050 ESTABLISHED 1\n",
		"TCP AC100009 C7 0A000001 0050 C0A80A01 0050 ESTABLISHED 1\n",
		"TCP AC100009 C738 0A000001 0050 C0A80A01 0050 ESTABLISHED -1\n",
	} {
		if _, err := ParseConnections(strings.NewReader(s)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: err = %v", s, err)
		}
	}
}

func FuzzParseConnections(f *testing.F) {
	f.Add(connFixture)
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseConnections(strings.NewReader(s))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := formatConnections(&b, cs); err != nil {
			t.Fatal(err)
		}
		again, err := ParseConnections(&b)
		if err != nil {
			t.Fatalf("reparse: %v\n%s", err, b.String())
		}
		if len(again) != len(cs) {
			t.Fatalf("round trip lost entries")
		}
		for i := range cs {
			if again[i] != cs[i] {
				t.Fatalf("round trip: %+v != %+v", again[i], cs[i])
			}
		}
	})
}

const statsFixture = `   Total Incoming Outgoing         Incoming         Outgoing
   Conns  Packets  Packets            Bytes            Bytes
      1A      12C       F0             5DC0            1D4C0

 Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
       1        2        3                4                5
`

func TestParseGlobalStats(t *testing.T) {
	s, err := ParseGlobalStats(strings.NewReader(statsFixture))
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Connections: 26, PacketsIn: 300, PacketsOut: 240, BytesIn: 24000, BytesOut: 120000,
		CPS: 1, PPSIn: 2, PPSOut: 3, BPSIn: 4, BPSOut: 5}
	if s != want {
		t.Errorf("got %+v", s)
	}
	if _, err := ParseGlobalStats(strings.NewReader("1 2 3\n")); err == nil {
		t.Error("short row accepted")
	}
}

// formatGlobalStats writes s as the kernel writes /proc/net/ip_vs_stats.
func formatGlobalStats(s Stats) string {
	return fmt.Sprintf("   Total Incoming Outgoing         Incoming         Outgoing\n"+
		"   Conns  Packets  Packets            Bytes            Bytes\n"+
		"%8X %8X %8X %16X %16X\n\n"+
		" Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n"+
		"%8X %8X %8X %16X %16X\n",
		s.Connections, s.PacketsIn, s.PacketsOut, s.BytesIn, s.BytesOut, s.CPS, s.PPSIn, s.PPSOut, s.BPSIn, s.BPSOut)
}

// Every accepted input reads back the same after writing it in the
// kernel's format.
func FuzzParseGlobalStats(f *testing.F) {
	f.Add(statsFixture)
	f.Add(formatGlobalStats(Stats{Connections: 1<<64 - 1, BytesIn: 1 << 40, BPSOut: 7}))
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseGlobalStats(strings.NewReader(s))
		if err != nil {
			return
		}
		again, err := ParseGlobalStats(strings.NewReader(formatGlobalStats(st)))
		if err != nil || again != st {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, st)
		}
	})
}

func TestSysctlNames(t *testing.T) {
	for _, bad := range []Sysctl{"", "../x", "a/b", "Upper"} {
		if err := validSysctlName("x", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := validSysctlName("x", SysctlExpireNodestConn); err != nil {
		t.Error(err)
	}
	if n, err := parseSysctlInts("3 50"); err != nil || len(n) != 2 || n[1] != 50 {
		t.Errorf("%v %v", n, err)
	}
}

// connHeader starts /proc/net/ip_vs_conn.
const connHeader = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData"

// formatConnections writes conns in the kernel's /proc/net/ip_vs_conn
// format, header included: the inverse of ParseConnections.
func formatConnections(w io.Writer, conns []Connection) error {
	var b strings.Builder
	b.WriteString(connHeader + "\n")
	for _, c := range conns {
		pe := ""
		if c.PersistenceEngine != "" {
			pe = " " + c.PersistenceEngine + " " + c.PEData
		}
		fmt.Fprintf(&b, "%-3s %s %04X %s %04X %s %04X %-11s %7d%s\n",
			ProtocolName(c.Protocol),
			procAddr(c.Client.Addr()), c.Client.Port(),
			procAddr(c.Virtual.Addr()), c.Virtual.Port(),
			procAddr(c.Destination.Addr()), c.Destination.Port(),
			c.State, uint32(c.Expires/time.Second), pe)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func procAddr(a netip.Addr) string {
	if a.Is4() {
		b := a.As4()
		return strings.ToUpper(hex.EncodeToString(b[:]))
	}
	b := a.As16()
	h := hex.EncodeToString(b[:])
	var s strings.Builder
	for i := 0; i < 32; i += 4 {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteString(h[i : i+4])
	}
	return s.String()
}
