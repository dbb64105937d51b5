package ipvs

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/errs"
)

// fakeTransport records requests and answers them from a script.
type fakeTransport struct {
	reqs    []request
	replies func(req request) ([][]byte, error)
	// gram, if set, sends each message of a reply in a datagram of its
	// own of that many bytes; otherwise a reply is one small datagram.
	gram int
	// sized records the sizes asked of dumpSized.
	sized []int
}

func (f *fakeTransport) do(_ context.Context, req request, fn func(uint8, []byte) error) error {
	f.reqs = append(f.reqs, request{cmd: req.cmd, dump: req.dump, attrs: bytes.Clone(req.attrs)})
	if f.replies == nil {
		return nil
	}
	msgs, err := f.replies(req)
	if req.onDatagram != nil && f.gram == 0 {
		req.onDatagram(100)
	}
	for _, m := range msgs {
		if req.onDatagram != nil && f.gram != 0 {
			req.onDatagram(f.gram)
		}
		if cerr := fn(0, m); cerr != nil {
			return cerr
		}
	}
	return err
}

func (f *fakeTransport) dumpSized(ctx context.Context, req request, size int, fn func(uint8, []byte) error) error {
	f.sized = append(f.sized, size)
	return f.do(ctx, req, fn)
}

func (f *fakeTransport) batch(ctx context.Context, reqs []request) ([]error, error) {
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		errs[i] = f.do(ctx, r, func(uint8, []byte) error { return nil })
	}
	return errs, nil
}

func (f *fakeTransport) close() error { return nil }

// nla builds one attribute by hand, independently of attrWriter: length,
// type, payload, padding.
func nla(typ uint16, payload ...[]byte) []byte {
	var p []byte
	for _, x := range payload {
		p = append(p, x...)
	}
	b := binary.LittleEndian.AppendUint16(nil, uint16(4+len(p)))
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = append(b, p...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func addr16(s string) []byte {
	a := netip.MustParseAddr(s)
	var u [16]byte
	if a.Is4() {
		v := a.As4()
		copy(u[:], v[:])
	} else {
		u = a.As16()
	}
	return u[:]
}
func cstr(s string) []byte { return append([]byte(s), 0) }
func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

const nested = 0x8000

func newFake(f *fakeTransport) *Client { return &Client{t: f} }

func TestRequestsAreExact(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("hand-built fixtures are little-endian")
	}
	vip := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	vip6 := ServiceKey{Protocol: UDP, Address: netip.MustParseAddr("2001:db8::1"), Port: 53}
	fwm6 := ServiceKey{Family: IPv6, Fwmark: 7}
	key4 := cat(nla(1, le16(2)), nla(2, le16(6)), nla(3, addr16("10.0.0.1")), nla(4, be16(80)))
	mask24, _ := NetmaskBits(IPv4, 24)
	mask64, _ := NetmaskBits(IPv6, 64)

	tests := []struct {
		name string
		call func(c *Client) error
		cmd  uint8
		dump bool
		want []byte
	}{
		{
			name: "create TCP service, default scheduler",
			call: func(c *Client) error { return c.CreateService(context.Background(), Service{ServiceKey: vip}) },
			cmd:  1,
			want: nla(1|nested, key4, nla(6, cstr("wlc")), nla(7, le32(0), le32(0xffffffff)), nla(8, le32(0)),
				nla(9, []byte{0xff, 0xff, 0xff, 0xff})),
		},
		{
			name: "update persistent service with mask and PE",
			call: func(c *Client) error {
				return c.UpdateService(context.Background(), Service{ServiceKey: vip, Scheduler: SourceHashing,
					Flags: FlagPersistent | FlagSHPort, Timeout: 360 * time.Second, Netmask: mask24, PersistenceEngine: "sip"})
			},
			cmd: 2,
			want: nla(1|nested, key4, nla(6, cstr("sh")), nla(11, cstr("sip")), nla(7, le32(0x11), le32(0xffffffff)),
				nla(8, le32(360)), nla(9, []byte{0xff, 0xff, 0xff, 0x00})),
		},
		{
			name: "create IPv6 fwmark service: prefix length in host order",
			call: func(c *Client) error {
				return c.CreateService(context.Background(), Service{ServiceKey: fwm6, Scheduler: RoundRobin,
					Flags: FlagPersistent, Timeout: time.Minute, Netmask: mask64})
			},
			cmd: 1,
			want: nla(1|nested, nla(1, le16(10)), nla(5, le32(7)), nla(6, cstr("rr")), nla(7, le32(1), le32(0xffffffff)),
				nla(8, le32(60)), nla(9, le32(64))),
		},
		{
			name: "delete IPv6 service",
			call: func(c *Client) error { return c.DeleteService(context.Background(), vip6) },
			cmd:  3,
			want: nla(1|nested, nla(1, le16(10)), nla(2, le16(17)), nla(3, addr16("2001:db8::1")), nla(4, be16(53))),
		},
		{
			name: "get one service",
			call: func(c *Client) error { _, err := c.Service(context.Background(), vip); return err },
			cmd:  4,
			want: nla(1|nested, key4),
		},
		{
			name: "list services is a dump",
			call: func(c *Client) error { _, err := c.Services(context.Background()); return err },
			cmd:  4, dump: true,
		},
		{
			name: "create GUE destination with mixed family",
			call: func(c *Client) error {
				return c.CreateDestination(context.Background(), vip6, Destination{Address: netip.MustParseAddr("192.168.1.5"),
					Port: 53, Forward: Tunnel, Weight: 3, UpperThreshold: 100, LowerThreshold: 10,
					TunnelType: GUE, TunnelPort: 6080, TunnelFlags: TunnelRemoteChecksum})
			},
			cmd: 5,
			want: cat(nla(1|nested, nla(1, le16(10)), nla(2, le16(17)), nla(3, addr16("2001:db8::1")), nla(4, be16(53))),
				nla(2|nested, nla(1, addr16("192.168.1.5")), nla(2, be16(53)), nla(3, le32(2)), nla(4, le32(3)),
					nla(5, le32(100)), nla(6, le32(10)), nla(11, le16(2)), nla(13, []byte{1}), nla(14, be16(6080)), nla(15, le16(2)))),
		},
		{
			name: "update destination: full entry, IPIP defaults sent",
			call: func(c *Client) error {
				return c.UpdateDestination(context.Background(), vip, Destination{Address: netip.MustParseAddr("192.168.1.5"),
					Port: 8080, Forward: Masquerade})
			},
			cmd: 6,
			want: cat(nla(1|nested, key4), nla(2|nested, nla(1, addr16("192.168.1.5")), nla(2, be16(8080)), nla(3, le32(0)),
				nla(4, le32(0)), nla(5, le32(0)), nla(6, le32(0)), nla(11, le16(2)), nla(13, []byte{0}), nla(14, be16(0)), nla(15, le16(0)))),
		},
		{
			name: "create SCTP service",
			call: func(c *Client) error {
				return c.CreateService(context.Background(), Service{ServiceKey: ServiceKey{Protocol: SCTP,
					Address: netip.MustParseAddr("10.0.0.1"), Port: 9}, Scheduler: NeverQueue})
			},
			cmd: 1,
			want: nla(1|nested, nla(1, le16(2)), nla(2, le16(132)), nla(3, addr16("10.0.0.1")), nla(4, be16(9)), nla(6, cstr("nq")),
				nla(7, le32(0), le32(0xffffffff)), nla(8, le32(0)), nla(9, []byte{0xff, 0xff, 0xff, 0xff})),
		},
		{
			name: "start master daemon with an IPv4 group",
			call: func(c *Client) error {
				return c.StartDaemon(context.Background(), Daemon{State: DaemonMaster, Interface: "dum0",
					Group: netip.MustParseAddr("239.1.2.3")})
			},
			cmd:  9,
			want: nla(3|nested, nla(1, le32(1)), nla(2, cstr("dum0")), nla(3, le32(0)), nla(5, []byte{239, 1, 2, 3})),
		},
		{
			name: "delete destination",
			call: func(c *Client) error {
				return c.DeleteDestination(context.Background(), vip, netip.MustParseAddrPort("192.168.1.5:8080"))
			},
			cmd:  7,
			want: cat(nla(1|nested, key4), nla(2|nested, nla(1, addr16("192.168.1.5")), nla(2, be16(8080)), nla(11, le16(2)))),
		},
		{
			name: "list destinations is a dump keyed by service",
			call: func(c *Client) error { _, err := c.destinations(context.Background(), vip); return err },
			cmd:  8, dump: true,
			want: nla(1|nested, key4),
		},
		{
			name: "start daemon with every attribute",
			call: func(c *Client) error {
				return c.StartDaemon(context.Background(), Daemon{State: DaemonBackup, Interface: "eth0", SyncID: 9,
					MaxLen: 1400, Group: netip.MustParseAddr("ff02::81"), Port: 8849, TTL: 4})
			},
			cmd: 9,
			want: nla(3|nested, nla(1, le32(2)), nla(2, cstr("eth0")), nla(3, le32(9)), nla(4, le16(1400)),
				nla(6, addr16("ff02::81")), nla(7, le16(8849)), nla(8, []byte{4})),
		},
		{
			name: "stop daemon",
			call: func(c *Client) error { return c.StopDaemon(context.Background(), DaemonMaster) },
			cmd:  10,
			want: nla(3|nested, nla(1, le32(1))),
		},
		{
			name: "set timeouts, zero unchanged",
			call: func(c *Client) error {
				return c.SetTimeouts(context.Background(), Timeouts{TCP: 15 * time.Minute, UDP: 5 * time.Second})
			},
			cmd:  12,
			want: cat(nla(4, le32(900)), nla(5, le32(0)), nla(6, le32(5))),
		},
		{name: "get timeouts", call: func(c *Client) error { _, err := c.Timeouts(context.Background()); return err }, cmd: 13},
		{name: "get info", call: func(c *Client) error { _, err := c.Info(context.Background()); return err }, cmd: 15},
		{name: "zero all", call: func(c *Client) error { return c.Zero(context.Background()) }, cmd: 16},
		{
			name: "zero one service",
			call: func(c *Client) error { return c.ZeroService(context.Background(), vip) },
			cmd:  16,
			want: nla(1|nested, key4),
		},
		{name: "flush", call: func(c *Client) error { return c.Flush(context.Background()) }, cmd: 17},
		{name: "list daemons is a dump", call: func(c *Client) error { _, err := c.Daemons(context.Background()); return err }, cmd: 11, dump: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTransport{}
			if err := tt.call(newFake(f)); err != nil && !errors.Is(err, ErrNotExist) {
				t.Fatalf("call: %v", err)
			}
			if len(f.reqs) == 0 {
				t.Fatal("no request sent")
			}
			got := f.reqs[0]
			if got.cmd != tt.cmd || got.dump != tt.dump {
				t.Fatalf("cmd %d dump %v, want cmd %d dump %v", got.cmd, got.dump, tt.cmd, tt.dump)
			}
			if !bytes.Equal(got.attrs, tt.want) {
				t.Fatalf("attributes\n got %s\nwant %s", hex.EncodeToString(got.attrs), hex.EncodeToString(tt.want))
			}
		})
	}
}

func TestValidationRejectsBeforeSending(t *testing.T) {
	vip := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	mask6, _ := NetmaskBits(IPv6, 64)
	rs := netip.MustParseAddr("192.168.1.2")
	tests := []struct {
		name  string
		call  func(c *Client) error
		field string
	}{
		{"fwmark without family", func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: ServiceKey{Fwmark: 1}})
		}, "Family"},
		{"no key at all", func(c *Client) error { return c.CreateService(context.Background(), Service{}) }, "Fwmark"},
		{"unknown protocol", func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: ServiceKey{Protocol: 1, Address: rs, Port: 1}})
		}, "Protocol"},
		{"family mismatch", func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: ServiceKey{Family: IPv6, Protocol: TCP, Address: rs, Port: 1}})
		}, "Family"},
		{"scheduler too long", func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: vip, Scheduler: "abcdefghijklmnop"})
		}, "Scheduler"},
		{"engine too long", func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: vip, Flags: FlagPersistent, Timeout: time.Second, PersistenceEngine: "0123456789abcdef"})
		}, "PersistenceEngine"},
		{"one-packet on TCP", func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: vip, Flags: FlagOnePacket})
		}, "Flags"},
		{"persistent without timeout", func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: vip, Flags: FlagPersistent})
		}, "Timeout"},
		{"fractional timeout", func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: vip, Flags: FlagPersistent, Timeout: 1500 * time.Millisecond})
		}, "Timeout"},
		{"IPv6 granularity on IPv4", func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: vip, Flags: FlagPersistent, Timeout: time.Second, Netmask: mask6})
		}, "Netmask"},
		{"port 0 without persistence", func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: ServiceKey{Protocol: TCP, Address: rs}})
		}, "Port"},
		{"DR port mapping", func(c *Client) error {
			return c.CreateDestination(context.Background(), vip, Destination{Address: rs, Port: 8080, Forward: DirectRoute, Weight: 1})
		}, "Port"},
		{"tunnel port mapping", func(c *Client) error {
			return c.CreateDestination(context.Background(), vip, Destination{Address: rs, Port: 81, Forward: Tunnel, Weight: 1})
		}, "Port"},
		{"weight too large", func(c *Client) error {
			return c.CreateDestination(context.Background(), vip, Destination{Address: rs, Port: 80, Weight: 1 << 31})
		}, "Weight"},
		{"lower above upper", func(c *Client) error {
			return c.CreateDestination(context.Background(), vip, Destination{Address: rs, Port: 80, Weight: 1, UpperThreshold: 5, LowerThreshold: 6})
		}, "LowerThreshold"},
		{"GUE without port", func(c *Client) error {
			return c.CreateDestination(context.Background(), vip, Destination{Address: rs, Port: 80, Forward: Tunnel, TunnelType: GUE})
		}, "TunnelPort"},
		{"checksum on IPIP", func(c *Client) error {
			return c.CreateDestination(context.Background(), vip, Destination{Address: rs, Port: 80, Forward: Tunnel, TunnelFlags: TunnelChecksum})
		}, "TunnelFlags"},
		{"remote checksum on GRE", func(c *Client) error {
			return c.CreateDestination(context.Background(), vip, Destination{Address: rs, Port: 80, Forward: Tunnel, TunnelType: GRE, TunnelFlags: TunnelRemoteChecksum})
		}, "TunnelFlags"},
		{"mixed family without tunnel", func(c *Client) error {
			return c.CreateDestination(context.Background(), vip, Destination{Address: netip.MustParseAddr("2001:db8::2"), Port: 80, Forward: Masquerade})
		}, "Address"},
		{"multicast destination", func(c *Client) error {
			return c.CreateDestination(context.Background(), vip, Destination{Address: netip.MustParseAddr("224.0.0.1"), Port: 80})
		}, "Address"},
		{"daemon without interface", func(c *Client) error {
			return c.StartDaemon(context.Background(), Daemon{State: DaemonMaster})
		}, "Interface"},
		{"daemon group not multicast", func(c *Client) error {
			return c.StartDaemon(context.Background(), Daemon{State: DaemonMaster, Interface: "eth0", Group: rs})
		}, "Group"},
		{"negative timeout", func(c *Client) error {
			return c.SetTimeouts(context.Background(), Timeouts{UDP: -time.Second})
		}, "UDP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTransport{}
			err := tt.call(newFake(f))
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an *Error matching ErrInvalid", err)
			}
			if e.Field != tt.field {
				t.Fatalf("field %q, want %q (%v)", e.Field, tt.field, err)
			}
			if len(f.reqs) != 0 {
				t.Fatalf("sent %d requests despite invalid input", len(f.reqs))
			}
		})
	}
}

func TestKernelErrnosMapPerOperation(t *testing.T) {
	vip := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	dst := Destination{Address: netip.MustParseAddr("192.168.1.2"), Port: 80, Weight: 1}
	tests := []struct {
		name  string
		errno syscall.Errno
		call  func(c *Client) error
		want  error
	}{
		{"create service exists", eEXIST, func(c *Client) error { return c.CreateService(context.Background(), Service{ServiceKey: vip}) }, ErrExist},
		{"create service no scheduler", eNOENT, func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: vip, Scheduler: TwoRandomChoices})
		}, ErrUnavailable},
		{"update missing service", eSRCH, func(c *Client) error { return c.UpdateService(context.Background(), Service{ServiceKey: vip}) }, ErrNotExist},
		{"delete missing service", eSRCH, func(c *Client) error { return c.DeleteService(context.Background(), vip) }, ErrNotExist},
		{"get missing service", eSRCH, func(c *Client) error { _, err := c.Service(context.Background(), vip); return err }, ErrNotExist},
		{"dest on missing service", eSRCH, func(c *Client) error { return c.CreateDestination(context.Background(), vip, dst) }, ErrNotExist},
		{"dest exists", eEXIST, func(c *Client) error { return c.CreateDestination(context.Background(), vip, dst) }, ErrExist},
		{"update missing dest", eNOENT, func(c *Client) error { return c.UpdateDestination(context.Background(), vip, dst) }, ErrNotExist},
		{"delete missing dest", eNOENT, func(c *Client) error {
			return c.DeleteDestination(context.Background(), vip, netip.AddrPortFrom(dst.Address, 80))
		}, ErrNotExist},
		{"daemon running", eEXIST, func(c *Client) error {
			return c.StartDaemon(context.Background(), Daemon{State: DaemonMaster, Interface: "lo"})
		}, ErrExist},
		{"daemon interface missing", eNODEV, func(c *Client) error {
			return c.StartDaemon(context.Background(), Daemon{State: DaemonMaster, Interface: "nosuch0"})
		}, ErrInvalid},
		{"no daemon", eSRCH, func(c *Client) error { return c.StopDaemon(context.Background(), DaemonBackup) }, ErrNotExist},
		{"not root", ePERM, func(c *Client) error { _, err := c.Services(context.Background()); return err }, ErrPermission},
		{"zero missing", eSRCH, func(c *Client) error { return c.ZeroService(context.Background(), vip) }, ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTransport{replies: func(request) ([][]byte, error) { return nil, tt.errno }}
			err := tt.call(newFake(f))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !errors.Is(err, tt.errno) {
				t.Fatalf("got %v, want it to wrap %v too", err, errnoName(tt.errno))
			}
			for _, other := range errs.All() {
				if other != tt.want && errors.Is(err, other) {
					t.Fatalf("%v also matches %v", err, other)
				}
			}
		})
	}
}

func TestDestinationsOfMissingServiceIsNotExist(t *testing.T) {
	vip := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	f := &fakeTransport{replies: func(r request) ([][]byte, error) {
		if r.cmd == cmdGetService {
			return nil, eSRCH
		}
		return nil, nil // the kernel's empty dump
	}}
	_, err := newFake(f).Destinations(context.Background(), vip)
	if !errors.Is(err, ErrNotExist) {
		t.Fatalf("got %v, want ErrNotExist", err)
	}
}

func TestGUEDowngradeIsReportedAndUndone(t *testing.T) {
	vip := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	rs := netip.MustParseAddr("192.168.1.2")
	// A kernel before 5.2 reports the destination back as IPIP.
	ipipReply := cat(nla(2|nested, nla(1, addr16("192.168.1.2")), nla(2, be16(80)), nla(3, le32(2)), nla(4, le32(1))))
	f := &fakeTransport{replies: func(r request) ([][]byte, error) {
		if r.cmd == cmdGetDest {
			return [][]byte{ipipReply}, nil
		}
		return nil, nil
	}}
	c := newFake(f)
	err := c.CreateDestination(context.Background(), vip, Destination{Address: rs, Port: 80, Forward: Tunnel, Weight: 1, TunnelType: GUE, TunnelPort: 6080})
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("got %v, want ErrNotSupported", err)
	}
	var cmds []uint8
	for _, r := range f.reqs {
		cmds = append(cmds, r.cmd)
	}
	if !bytes.Equal(cmds, []byte{cmdNewDest, cmdGetDest, cmdDelDest}) {
		t.Fatalf("commands %v, want create, read back, delete", cmds)
	}
}

// TestStopDaemonWithoutAcknowledgement: the kernel acknowledges nothing
// when it stops a daemon whose thread never ran; the stop counts as done
// if the daemon is gone, and fails if it is still listed.
func TestStopDaemonWithoutAcknowledgement(t *testing.T) {
	running := nla(3|nested, nla(1, le32(1)), nla(2, cstr("dum0")), nla(3, le32(0)))
	for _, tt := range []struct {
		name    string
		listed  [][]byte
		wantErr bool
	}{{"gone", nil, false}, {"still running", [][]byte{running}, true}} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTransport{replies: func(r request) ([][]byte, error) {
				if r.cmd == cmdDelDaemon {
					return nil, errNoReply
				}
				return tt.listed, nil
			}}
			err := newFake(f).StopDaemon(context.Background(), DaemonMaster)
			if (err != nil) != tt.wantErr || tt.wantErr && !errors.Is(err, errNoReply) {
				t.Fatalf("got %v, want error %v", err, tt.wantErr)
			}
			if len(f.reqs) != 2 || f.reqs[1].cmd != cmdGetDaemon {
				t.Fatalf("requests %+v: want stop, then list", f.reqs)
			}
		})
	}
}
