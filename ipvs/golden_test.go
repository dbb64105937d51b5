package ipvs

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The golden replies under testdata/replies/<kernel>/ are reply messages
// recorded from the real kernels by TestKernelGoldenReplies (run it in the
// VM with LVS_IPVS_RECORD=1; see that test). The same tables drive the
// recording, the live check and the decoding of the recorded bytes here, so
// what the kernel said once is decoded the same way offline forever.

func mustMask(f Family, bits int) Netmask {
	m, err := NetmaskBits(f, bits)
	if err != nil {
		panic(err)
	}
	return m
}

var (
	goldenVIP4 = netip.MustParseAddr("10.0.0.1")
	goldenVIP6 = netip.MustParseAddr("2001:db8::1")
)

// GoldenService is one service of the recording: created as Service and
// expected to read back as exactly that (with Family filled in).
type GoldenService struct {
	Name    string
	Service Service
}

// GoldenServices covers every scheduler but twos, every flag, both
// granularities, the SIP engine, SCTP, port 0 and fwmark services of both
// families.
var GoldenServices = []GoldenService{
	{"tcp4-rr", Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: TCP, Address: goldenVIP4, Port: 80}, Scheduler: RoundRobin}},
	{"tcp4-wlc-persistent-mask24", Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: TCP, Address: goldenVIP4, Port: 443},
		Scheduler: WeightedLeastConnection, Flags: FlagPersistent, Timeout: 300 * time.Second, Netmask: mustMask(IPv4, 24)}},
	{"udp4-sh-ops-flags", Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: UDP, Address: goldenVIP4, Port: 53},
		Scheduler: SourceHashing, Flags: FlagOnePacket | FlagSHFallback | FlagSHPort}},
	{"udp4-sip", Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: UDP, Address: goldenVIP4, Port: 5060},
		Scheduler: RoundRobin, Flags: FlagPersistent, Timeout: 60 * time.Second, PersistenceEngine: PersistenceEngineSIP}},
	{"tcp6-mh-persistent-prefix64", Service{ServiceKey: ServiceKey{Family: IPv6, Protocol: TCP, Address: goldenVIP6, Port: 443},
		Scheduler: MaglevHashing, Flags: FlagPersistent | FlagMHFallback | FlagMHPort, Timeout: 300 * time.Second, Netmask: mustMask(IPv6, 64)}},
	{"sctp4-nq", Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: SCTP, Address: goldenVIP4, Port: 9}, Scheduler: NeverQueue}},
	{"fwm4-wrr-persistent-mask16", Service{ServiceKey: ServiceKey{Family: IPv4, Fwmark: 7}, Scheduler: WeightedRoundRobin,
		Flags: FlagPersistent, Timeout: 600 * time.Second, Netmask: mustMask(IPv4, 16)}},
	{"fwm6-lc-ops", Service{ServiceKey: ServiceKey{Family: IPv6, Fwmark: 8}, Scheduler: LeastConnection, Flags: FlagOnePacket}},
	{"tcp4-none-port0", Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("10.0.0.3")},
		Scheduler: NoScheduler, Flags: FlagPersistent | SchedFlag3, Timeout: 360 * time.Second}},
	{"udp6-sed", Service{ServiceKey: ServiceKey{Family: IPv6, Protocol: UDP, Address: goldenVIP6, Port: 53}, Scheduler: ShortestExpectedDelay}},
	{"tcp4-lblc", Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: TCP, Address: goldenVIP4, Port: 81}, Scheduler: LocalityBasedLeastConn}},
	{"tcp4-lblcr", Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: TCP, Address: goldenVIP4, Port: 82}, Scheduler: LocalityBasedLeastConnRepl}},
	{"tcp4-dh", Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: TCP, Address: goldenVIP4, Port: 83}, Scheduler: DestinationHashing}},
	{"tcp4-fo", Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: TCP, Address: goldenVIP4, Port: 84}, Scheduler: WeightedFailover}},
	{"tcp4-ovf", Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: TCP, Address: goldenVIP4, Port: 85}, Scheduler: WeightedOverflow}},
}

// GoldenDestination is one destination of the recording, added to the
// service named Service.
type GoldenDestination struct {
	Name    string
	Service string
	Dest    Destination
}

// GoldenDestinations covers every forwarding method, thresholds, weight 0,
// every tunnel type with its port and flags, and mixed-family tunnels both
// ways.
var GoldenDestinations = []GoldenDestination{
	{"masq-portmap", "tcp4-rr", Destination{Address: netip.MustParseAddr("192.168.10.1"), Port: 8080, Forward: Masquerade, Weight: 1}},
	{"local", "tcp4-rr", Destination{Address: netip.MustParseAddr("192.168.10.3"), Port: 80, Forward: Local, Weight: 2}},
	{"route-thresholds", "tcp4-wlc-persistent-mask24", Destination{Address: netip.MustParseAddr("192.168.10.2"), Port: 443,
		Forward: DirectRoute, Weight: 5, UpperThreshold: 100, LowerThreshold: 10}},
	{"route-weight0-fwmark", "fwm4-wrr-persistent-mask16", Destination{Address: netip.MustParseAddr("192.168.10.10"), Forward: DirectRoute}},
	{"tun-ipip6", "tcp6-mh-persistent-prefix64", Destination{Address: netip.MustParseAddr("2001:db8:10::4"), Port: 443, Forward: Tunnel, Weight: 1}},
	{"tun-gue-csum", "udp4-sh-ops-flags", Destination{Address: netip.MustParseAddr("192.168.10.5"), Port: 53, Forward: Tunnel, Weight: 1,
		TunnelType: GUE, TunnelPort: 6080, TunnelFlags: TunnelChecksum}},
	{"tun-gue-remcsum", "udp4-sh-ops-flags", Destination{Address: netip.MustParseAddr("192.168.10.6"), Port: 53, Forward: Tunnel, Weight: 3,
		TunnelType: GUE, TunnelPort: 6081, TunnelFlags: TunnelRemoteChecksum}},
	{"tun-gre-csum6", "tcp6-mh-persistent-prefix64", Destination{Address: netip.MustParseAddr("2001:db8:10::7"), Port: 443, Forward: Tunnel,
		Weight: 1, TunnelType: GRE, TunnelFlags: TunnelChecksum}},
	{"tun-mixed-6to4-ipip", "tcp6-mh-persistent-prefix64", Destination{Address: netip.MustParseAddr("192.168.10.8"), Port: 443,
		Forward: Tunnel, Weight: 1}},
	{"tun-mixed-4to6-gre", "udp4-sh-ops-flags", Destination{Address: netip.MustParseAddr("2001:db8:10::9"), Port: 53,
		Forward: Tunnel, Weight: 1, TunnelType: GRE}},
	{"masq6", "udp6-sed", Destination{Address: netip.MustParseAddr("2001:db8:10::1"), Port: 5353, Forward: Masquerade, Weight: 7,
		UpperThreshold: 1000}},
}

// GoldenDaemons are started (master first) and listed; they must read back
// as written.
var GoldenDaemons = []Daemon{
	{State: DaemonMaster, Interface: "dum0", SyncID: 7, MaxLen: 1400, Group: netip.MustParseAddr("239.1.2.3"), Port: 8849, TTL: 2},
	{State: DaemonBackup, Interface: "dum0", SyncID: 9, MaxLen: 1450, Group: netip.MustParseAddr("ff02::1:3"), Port: 8850, TTL: 3},
}

// GoldenTimeouts are set and read back.
var GoldenTimeouts = Timeouts{TCP: 600 * time.Second, TCPFin: 60 * time.Second, UDP: 30 * time.Second}

// GoldenInfo is what GET_INFO answers on Debian's kernels.
var GoldenInfo = Info{Version: 0x010201, ConnTableSize: 4096}

// Golden is one recorded file: the replies and, for the traffic
// recording, the counters ipvsadm printed at the same time.
type Golden struct {
	Release string
	Replies []RecordedReply
	Ipvsadm []string
}

// FormatGolden writes g in the text form kept under testdata.
func FormatGolden(g Golden) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# IPVS generic netlink replies recorded on Linux %s by TestKernelGoldenReplies.\n", g.Release)
	fmt.Fprintf(&b, "# reply <genl cmd> <attributes in hex>\n")
	for _, l := range g.Ipvsadm {
		fmt.Fprintf(&b, "ipvsadm %s\n", l)
	}
	for _, r := range g.Replies {
		fmt.Fprintf(&b, "reply %d %s\n", r.Cmd, hex.EncodeToString(r.Attrs))
	}
	return b.Bytes()
}

// ParseGolden reads what FormatGolden wrote.
func ParseGolden(data []byte) (Golden, error) {
	var g Golden
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# IPVS"):
			if i := strings.Index(line, "Linux "); i >= 0 {
				g.Release, _, _ = strings.Cut(line[i+6:], " ")
			}
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "ipvsadm "):
			g.Ipvsadm = append(g.Ipvsadm, strings.TrimPrefix(line, "ipvsadm "))
		case strings.HasPrefix(line, "reply "):
			f := strings.Fields(line)
			if len(f) != 3 {
				return g, fmt.Errorf("bad line %q", line)
			}
			cmd, err := strconv.ParseUint(f[1], 10, 8)
			if err != nil {
				return g, err
			}
			b, err := hex.DecodeString(f[2])
			if err != nil {
				return g, err
			}
			g.Replies = append(g.Replies, RecordedReply{Cmd: uint8(cmd), Attrs: b})
		default:
			return g, fmt.Errorf("bad line %q", line)
		}
	}
	return g, sc.Err()
}

// goldenKernels are the kernels recordings must exist for.
var goldenKernels = []string{"6.1", "6.12"}

func readGolden(t *testing.T, kernel, name string) Golden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "replies", kernel, name+".txt"))
	if err != nil {
		t.Fatalf("missing recording (record it with TestKernelGoldenReplies): %v", err)
	}
	g, err := ParseGolden(data)
	if err != nil {
		t.Fatalf("%s/%s: %v", kernel, name, err)
	}
	if len(g.Replies) == 0 {
		t.Fatalf("%s/%s: no replies", kernel, name)
	}
	return g
}

func oneReply(t *testing.T, g Golden, cmd uint8) []byte {
	t.Helper()
	if len(g.Replies) != 1 || g.Replies[0].Cmd != cmd {
		t.Fatalf("want one reply with command %d, have %d replies (first cmd %d)", cmd, len(g.Replies), g.Replies[0].Cmd)
	}
	return g.Replies[0].Attrs
}

func TestGoldenServices(t *testing.T) {
	for _, k := range goldenKernels {
		for _, gs := range GoldenServices {
			t.Run(k+"/"+gs.Name, func(t *testing.T) {
				b := oneReply(t, readGolden(t, k, "service-"+gs.Name), cmdNewService)
				got, err := decodeService(b)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, ServiceInfo{Service: gs.Service}) {
					t.Fatalf("decoded\n%+v\nwant\n%+v", got, ServiceInfo{Service: gs.Service})
				}
			})
		}
	}
}

func goldenServiceKey(name string) ServiceKey {
	for _, s := range GoldenServices {
		if s.Name == name {
			return s.Service.ServiceKey
		}
	}
	panic("no golden service " + name)
}

func TestGoldenDestinations(t *testing.T) {
	for _, k := range goldenKernels {
		for _, gd := range GoldenDestinations {
			t.Run(k+"/"+gd.Name, func(t *testing.T) {
				b := oneReply(t, readGolden(t, k, "dest-"+gd.Name), cmdNewDest)
				got, err := decodeDestination(b, goldenServiceKey(gd.Service).family())
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, DestinationInfo{Destination: gd.Dest}) {
					t.Fatalf("decoded\n%+v\nwant\n%+v", got, DestinationInfo{Destination: gd.Dest})
				}
			})
		}
	}
}

func TestGoldenDaemonsConfigInfo(t *testing.T) {
	for _, k := range goldenKernels {
		t.Run(k, func(t *testing.T) {
			g := readGolden(t, k, "daemons")
			var got []Daemon
			for _, r := range g.Replies {
				if r.Cmd != cmdNewDaemon {
					t.Fatalf("daemon reply with command %d", r.Cmd)
				}
				d, err := decodeDaemon(r.Attrs)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, d)
			}
			sort.Slice(got, func(i, j int) bool { return got[i].State < got[j].State })
			if !reflect.DeepEqual(got, GoldenDaemons) {
				t.Fatalf("daemons\n%+v\nwant\n%+v", got, GoldenDaemons)
			}

			tm, err := decodeTimeouts(oneReply(t, readGolden(t, k, "config"), cmdSetConfig))
			if err != nil || tm != GoldenTimeouts {
				t.Fatalf("timeouts %+v, %v; want %+v", tm, err, GoldenTimeouts)
			}
			in, err := decodeInfo(oneReply(t, readGolden(t, k, "info"), 14)) // IPVS_CMD_SET_INFO
			if err != nil || in != GoldenInfo {
				t.Fatalf("info %+v, %v; want %+v", in, err, GoldenInfo)
			}
		})
	}
}

// ParseIpvsadmStats reads the counters of `ipvsadm -Ln --stats --exact`
// lines: the service line first, then one line per destination.
func ParseIpvsadmStats(lines []string) ([]Stats, error) {
	var out []Stats
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 6 || !(f[0] == "TCP" || f[0] == "UDP" || f[0] == "->") {
			continue
		}
		var n [5]uint64
		for i := range n {
			v, err := strconv.ParseUint(f[len(f)-5+i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("ipvsadm line %q: %w", l, err)
			}
			n[i] = v
		}
		out = append(out, Stats{Connections: n[0], PacketsIn: n[1], PacketsOut: n[2], BytesIn: n[3], BytesOut: n[4]})
	}
	return out, nil
}

// CountersOnly drops the rates, which ipvsadm --stats does not print and
// which move on their own.
func CountersOnly(s Stats) Stats {
	return Stats{Connections: s.Connections, PacketsIn: s.PacketsIn, PacketsOut: s.PacketsOut, BytesIn: s.BytesIn, BytesOut: s.BytesOut}
}

// TestGoldenTrafficStats decodes a service and its destination recorded
// after real connections: the counters must be what ipvsadm printed at the
// same moment, from both the 32-bit and the 64-bit nests.
func TestGoldenTrafficStats(t *testing.T) {
	for _, k := range goldenKernels {
		t.Run(k, func(t *testing.T) {
			g := readGolden(t, k, "traffic")
			want, err := ParseIpvsadmStats(g.Ipvsadm)
			if err != nil || len(want) != 2 || want[0].Connections == 0 {
				t.Fatalf("ipvsadm oracle %v, %v: want a service and a destination with connections", want, err)
			}
			if len(g.Replies) != 2 || g.Replies[0].Cmd != cmdNewService || g.Replies[1].Cmd != cmdNewDest {
				t.Fatalf("want a service reply and a destination reply")
			}
			s, err := decodeService(g.Replies[0].Attrs)
			if err != nil {
				t.Fatal(err)
			}
			d, err := decodeDestination(g.Replies[1].Attrs, IPv4)
			if err != nil {
				t.Fatal(err)
			}
			if got := CountersOnly(s.Stats); got != want[0] {
				t.Errorf("service stats %+v, ipvsadm %+v", got, want[0])
			}
			if got := CountersOnly(d.Stats); got != want[1] {
				t.Errorf("destination stats %+v, ipvsadm %+v", got, want[1])
			}
			// The 32-bit nest alone must give the same counters.
			for i, r := range g.Replies {
				top := uint16(attrService)
				sub, sub64 := uint16(svcStats), uint16(svcStats64)
				if i == 1 {
					top, sub, sub64 = attrDest, dstStats, dstStats64
				}
				nest, err := wantNested(r.Attrs, top)
				if err != nil {
					t.Fatal(err)
				}
				var s32, s64 []byte
				_ = attrs(nest, func(typ uint16, v []byte) error {
					switch typ {
					case sub:
						s32 = v
					case sub64:
						s64 = v
					}
					return nil
				})
				if s32 == nil || s64 == nil {
					t.Fatalf("reply %d lacks STATS or STATS64", i)
				}
				a, err1 := decodeStats(s32)
				b, err2 := decodeStats(s64)
				if err1 != nil || err2 != nil || CountersOnly(a) != want[i] || CountersOnly(b) != want[i] {
					t.Errorf("reply %d: STATS %+v (%v), STATS64 %+v (%v), ipvsadm %+v", i, a, err1, b, err2, want[i])
				}
			}
		})
	}
}

// goldenSeeds returns every recorded reply, for the fuzzers.
func goldenSeeds(tb testing.TB) []RecordedReply {
	files, _ := filepath.Glob(filepath.Join("testdata", "replies", "*", "*.txt"))
	var out []RecordedReply
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		g, err := ParseGolden(data)
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		out = append(out, g.Replies...)
	}
	return out
}
