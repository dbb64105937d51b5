package ipvs

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// procText writes keys as the kernel writes /proc/net/ip_vs, each service
// with one destination line.
func procText(keys ...ServiceKey) []byte {
	var b strings.Builder
	b.WriteString("IP Virtual Server version 1.2.1 (size=4096)\n")
	b.WriteString("Prot LocalAddress:Port Scheduler Flags\n")
	b.WriteString("  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n")
	for _, k := range keys {
		switch {
		case k.Fwmark != 0:
			fmt.Fprintf(&b, "FWM  %08X rr \n", k.Fwmark)
		case k.Family == IPv6:
			a := k.Address.As16()
			fmt.Fprintf(&b, "%s  [", ProtocolName(k.Protocol))
			for i := 0; i < 16; i += 2 {
				if i > 0 {
					b.WriteByte(':')
				}
				fmt.Fprintf(&b, "%02x%02x", a[i], a[i+1])
			}
			fmt.Fprintf(&b, "]:%04X rr \n", k.Port)
		default:
			a := k.Address.As4()
			fmt.Fprintf(&b, "%s  %02X%02X%02X%02X:%04X wlc persistent 300 FFFFFFFF\n", ProtocolName(k.Protocol), a[0], a[1], a[2], a[3], k.Port)
		}
		b.WriteString("  -> 0A000002:0050      Masq    1      0          0         \n")
	}
	return []byte(b.String())
}

func portKey(port uint16) ServiceKey {
	return ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: port}
}

func fwmKey(f Family, mark uint32) ServiceKey { return ServiceKey{Family: f, Fwmark: mark} }

func svcMsg(k ServiceKey) []byte {
	return encode(func(w *attrWriter) { serviceAttr(w, &Service{ServiceKey: k, Scheduler: RoundRobin}) })
}

// TestServicesListing: a dump that came in one datagram with room to
// spare is taken as it is; any other is checked against /proc/net/ip_vs,
// whose keys decide which services exist and in what order, a service the
// dump missed being read on its own.
func TestServicesListing(t *testing.T) {
	v6 := ServiceKey{Family: IPv6, Protocol: UDP, Address: netip.MustParseAddr("2001:db8::1"), Port: 53}
	mapped := ServiceKey{Family: IPv6, Protocol: TCP, Address: netip.MustParseAddr("::ffff:10.0.0.9"), Port: 80}
	tests := []struct {
		name   string
		gram   int            // see fakeTransport
		dumps  [][]ServiceKey // the kernel's answers to dumps, in turn
		proc   [][]ServiceKey // /proc/net/ip_vs at each read, in turn
		exist  []ServiceKey   // what a lookup of one service finds
		want   []ServiceKey   // nil: ErrBusy
		nDumps int
	}{
		{name: "one datagram with room", dumps: [][]ServiceKey{{portKey(1), portKey(2)}}, want: []ServiceKey{portKey(1), portKey(2)}, nDumps: 1},
		{name: "none", dumps: [][]ServiceKey{nil}, want: []ServiceKey{}, nDumps: 1},
		{name: "one datagram that may have been full", gram: 3000, dumps: [][]ServiceKey{{portKey(1)}},
			proc: [][]ServiceKey{{portKey(1), portKey(2)}}, exist: []ServiceKey{portKey(2)}, want: []ServiceKey{portKey(1), portKey(2)}, nDumps: 1},
		{name: "several, as the file", gram: 32000, dumps: [][]ServiceKey{{portKey(1), v6, mapped, fwmKey(IPv4, 7)}},
			proc: [][]ServiceKey{{portKey(1), v6, mapped, fwmKey(IPv4, 7)}}, want: []ServiceKey{portKey(1), v6, mapped, fwmKey(IPv4, 7)}, nDumps: 1},
		{name: "repeats dropped", gram: 32000, dumps: [][]ServiceKey{{portKey(1), portKey(2), portKey(2), portKey(3)}},
			proc: [][]ServiceKey{{portKey(1), portKey(2), portKey(3)}}, want: []ServiceKey{portKey(1), portKey(2), portKey(3)}, nDumps: 1},
		{name: "skipped ones read on their own, in the file's order", gram: 32000, dumps: [][]ServiceKey{{portKey(1), portKey(4)}},
			proc: [][]ServiceKey{{portKey(1), portKey(2), portKey(3), portKey(4)}}, exist: []ServiceKey{portKey(2), portKey(3)},
			want: []ServiceKey{portKey(1), portKey(2), portKey(3), portKey(4)}, nDumps: 1},
		{name: "a key the file repeats", gram: 32000, dumps: [][]ServiceKey{{portKey(1), portKey(2)}},
			proc: [][]ServiceKey{{portKey(1), portKey(2), portKey(2)}}, want: []ServiceKey{portKey(1), portKey(2)}, nDumps: 1},
		{name: "a missed fwmark service of the other family", gram: 32000, dumps: [][]ServiceKey{{fwmKey(IPv6, 7)}},
			proc: [][]ServiceKey{{fwmKey(0, 7), fwmKey(0, 7)}}, exist: []ServiceKey{fwmKey(IPv4, 7)},
			want: []ServiceKey{fwmKey(IPv6, 7), fwmKey(IPv4, 7)}, nDumps: 1},
		{name: "one gone between the file and the lookup: list again", gram: 32000,
			dumps: [][]ServiceKey{{portKey(1)}, {portKey(1)}},
			proc:  [][]ServiceKey{{portKey(1), portKey(2)}, {portKey(1)}},
			want:  []ServiceKey{portKey(1)}, nDumps: 2},
		{name: "dumped, then gone from the file: list again", gram: 32000,
			dumps: [][]ServiceKey{{portKey(1), portKey(2)}, {portKey(1)}},
			proc:  [][]ServiceKey{{portKey(1)}, {portKey(1)}},
			want:  []ServiceKey{portKey(1)}, nDumps: 2},
		{name: "changing all the time", gram: 32000,
			dumps:  [][]ServiceKey{{portKey(1), portKey(2)}, {portKey(1), portKey(3)}, {portKey(1), portKey(4)}},
			proc:   [][]ServiceKey{{portKey(1)}, {portKey(1)}, {portKey(1)}},
			nDumps: maxListings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dumps, reads := 0, 0
			f := &fakeTransport{gram: tt.gram}
			f.replies = func(req request) ([][]byte, error) {
				if req.cmd != cmdGetService {
					t.Fatalf("request cmd %d", req.cmd)
				}
				if !req.dump {
					s, err := decodeService(req.attrs)
					if err != nil {
						t.Fatal(err)
					}
					if slices.Contains(tt.exist, s.ServiceKey) {
						return [][]byte{svcMsg(s.ServiceKey)}, nil
					}
					return nil, eSRCH
				}
				dumps++
				var out [][]byte
				for _, k := range tt.dumps[dumps-1] {
					out = append(out, svcMsg(k))
				}
				return out, nil
			}
			f.proc = func(path string) ([]byte, error) {
				if path != "/proc/thread-self/net/ip_vs" {
					t.Fatalf("read %s", path)
				}
				reads++
				return procText(tt.proc[reads-1]...), nil
			}
			got, err := (&Client{t: f}).Services(context.Background())
			if tt.want == nil {
				checkOneKind(t, tt.name, err, ErrBusy)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []ServiceKey
			for _, s := range got {
				keys = append(keys, s.ServiceKey)
			}
			if !slices.Equal(keys, tt.want) || dumps != tt.nDumps || reads != len(tt.proc) {
				t.Errorf("got %v after %d dumps and %d reads of the file, want %v after %d and %d", keys, dumps, reads, tt.want, tt.nDumps, len(tt.proc))
			}
		})
	}
}

// TestServicesWithoutProc: a dump that needs checking and no
// /proc/net/ip_vs to check it with is an error, never a guess.
func TestServicesWithoutProc(t *testing.T) {
	f := &fakeTransport{gram: 32000, replies: func(req request) ([][]byte, error) {
		return [][]byte{svcMsg(portKey(1)), svcMsg(portKey(2))}, nil
	}}
	_, err := (&Client{t: f}).Services(context.Background())
	checkOneKind(t, "no /proc", err, ErrUnavailable)
}

func TestWholeDump(t *testing.T) {
	lo, hi := goodSize()
	tests := []struct {
		name  string
		grams []datagram
		want  bool
	}{
		{"nothing", nil, true},
		{"only DONE", []datagram{{bytes: 20}}, true},
		{"small, then DONE", []datagram{{bytes: 400, services: 1}, {bytes: 20}}, true},
		{"room left in the smallest skb", []datagram{{bytes: lo - maxServiceMessage, services: 7}, {bytes: 20}}, true},
		{"may have been a full fallback skb", []datagram{{bytes: lo - maxServiceMessage + 4, services: 7}}, false},
		{"at most NLMSG_GOODSIZE: a fallback skb, perhaps", []datagram{{bytes: hi, services: 11}}, false},
		{"large skb with room", []datagram{{bytes: hi + 4, services: 12}}, true},
		{"large skb, full", []datagram{{bytes: largeDatagram - maxServiceMessage + 4, services: 90}}, false},
		{"two", []datagram{{bytes: 400, services: 1}, {bytes: 400, services: 1}}, false},
	}
	for _, tt := range tests {
		if got := wholeDump(tt.grams); got != tt.want {
			t.Errorf("%s: wholeDump(%v) = %v, want %v", tt.name, tt.grams, got, tt.want)
		}
	}
}

func TestParseServiceKeys(t *testing.T) {
	v6 := ServiceKey{Family: IPv6, Protocol: SCTP, Address: netip.MustParseAddr("2001:db8::1"), Port: 443}
	keys := []ServiceKey{portKey(80), v6, {Fwmark: 0x10}, {Family: IPv4, Protocol: UDP, Address: netip.MustParseAddr("192.168.1.1"), Port: 53}}
	got, err := parseServiceKeys(procText(keys...))
	if err != nil || !slices.Equal(got, keys) {
		t.Fatalf("got %v, %v; want %v", got, err, keys)
	}
	for _, bad := range []string{
		"not the header\n",
		"IP Virtual Server version 1.2.1 (size=4096)\nProt\n  ->\nTCP\n",
		"IP Virtual Server version 1.2.1 (size=4096)\nProt\n  ->\nXTP  0A000001:0050 rr\n",
		"IP Virtual Server version 1.2.1 (size=4096)\nProt\n  ->\nTCP  0A000001 rr\n",
		"IP Virtual Server version 1.2.1 (size=4096)\nProt\n  ->\nTCP  [0A000001]:0050 rr\n",
		"IP Virtual Server version 1.2.1 (size=4096)\nProt\n  ->\nFWM  00000000 rr\n",
		"IP Virtual Server version 1.2.1 (size=4096)\nProt\n  ->\nFWM  7 rr\n",
	} {
		if k, err := parseServiceKeys([]byte(bad)); err == nil {
			t.Errorf("%q: parsed as %v", bad, k)
		}
	}
}

// FuzzParseServiceKeys: any text gives keys in the form the listing
// compares (procForm), or an error.
func FuzzParseServiceKeys(f *testing.F) {
	f.Add(procText(portKey(80), ServiceKey{Fwmark: 3}))
	f.Add(procText(ServiceKey{Family: IPv6, Protocol: TCP, Address: netip.MustParseAddr("::ffff:1.2.3.4"), Port: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseServiceKeys(b)
		if err != nil {
			return
		}
		for _, k := range keys {
			if procForm(k) != k {
				t.Fatalf("%v is not in procForm (%v)", k, procForm(k))
			}
			if k.Fwmark == 0 && (k.Family == IPv4) != k.Address.Is4() {
				t.Fatalf("%v: family and address disagree", k)
			}
		}
	})
}

// TestApplyPlansFromTheExactListing: a dump that skipped a service (as a
// neighbour's deletes make it) does not make Apply create it again: the
// listing it plans from has it.
func TestApplyPlansFromTheExactListing(t *testing.T) {
	writes := 0
	f := &fakeTransport{gram: 32000, replies: func(req request) ([][]byte, error) {
		switch {
		case req.cmd == cmdGetService && req.dump:
			return [][]byte{svcMsg(portKey(1)), svcMsg(portKey(3))}, nil // 2 skipped
		case req.cmd == cmdGetService:
			return [][]byte{svcMsg(portKey(2))}, nil
		case req.cmd == cmdGetDest:
			return nil, nil
		}
		writes++
		return nil, nil
	}}
	f.proc = func(string) ([]byte, error) { return procText(portKey(1), portKey(2), portKey(3)), nil }
	var desired State
	for _, p := range []uint16{1, 2, 3} {
		desired.Services = append(desired.Services, ServiceState{Service: Service{ServiceKey: portKey(p), Scheduler: RoundRobin}})
	}
	res, err := (&Client{t: f}).Apply(context.Background(), desired, nil)
	if err != nil || res.Writes() != 0 || writes != 0 {
		t.Errorf("no-op apply: %v, %v, %d writes sent", res, err, writes)
	}
}

// BenchmarkParseServiceKeys: the file at 5000 services × 4 destinations,
// what a large listing reads.
func BenchmarkParseServiceKeys(b *testing.B) {
	var keys []ServiceKey
	for i := range 5000 {
		keys = append(keys, portKey(uint16(i+1)))
	}
	text := procText(keys...)
	more := strings.Repeat("  -> 0A000002:0050      Masq    1      0          0         \n", 3)
	text = []byte(strings.ReplaceAll(string(text), "FFFFFFFF\n  ->", "FFFFFFFF\n"+more+"  ->"))
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if k, err := parseServiceKeys(text); err != nil || len(k) != 5000 {
			b.Fatal(len(k), err)
		}
	}
}
