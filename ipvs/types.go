package ipvs

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/golvs/lvs/internal/enum"
	"github.com/golvs/lvs/internal/undo"
)

// Family is an address family as the kernel numbers it.
type Family uint16

// Address families.
const (
	IPv4 Family = 2  // AF_INET
	IPv6 Family = 10 // AF_INET6
)

func (f Family) String() string {
	return enum.Name(f, "family", []Family{IPv4, IPv6, 0}, "IPv4", "IPv6", "unspecified")
}

// FamilyOf returns the family of a, IPv4 for IPv4-mapped IPv6 addresses too:
// the kernel sees them as IPv4 unless a ServiceKey's or Destination's
// Family is set to IPv6 explicitly (see ServiceKey.Family).
func FamilyOf(a netip.Addr) Family {
	switch {
	case !a.IsValid():
		return 0
	case a.Unmap().Is4():
		return IPv4
	}
	return IPv6
}

// Protocol is the IP protocol of a virtual service.
type Protocol uint16

// Protocols IPVS balances.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

func (p Protocol) String() string {
	return enum.Name(p, "proto", []Protocol{TCP, UDP, SCTP}, "TCP", "UDP", "SCTP")
}

// ParseProtocol accepts "tcp", "udp" and "sctp" in any case.
func ParseProtocol(s string) (Protocol, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	case "sctp":
		return SCTP, nil
	}
	return 0, invalid("parse protocol", fmt.Sprintf("%q", s), "", "unknown protocol (want tcp, udp or sctp)")
}

// Scheduler names a scheduling algorithm; the kernel loads module
// ip_vs_<name> on demand.
type Scheduler string

// Mainline schedulers. Debian's kernels do not build TwoRandomChoices.
const (
	RoundRobin                 Scheduler = "rr"
	WeightedRoundRobin         Scheduler = "wrr"
	LeastConnection            Scheduler = "lc"
	WeightedLeastConnection    Scheduler = "wlc"
	LocalityBasedLeastConn     Scheduler = "lblc"
	LocalityBasedLeastConnRepl Scheduler = "lblcr"
	DestinationHashing         Scheduler = "dh"
	SourceHashing              Scheduler = "sh"
	ShortestExpectedDelay      Scheduler = "sed"
	NeverQueue                 Scheduler = "nq"
	WeightedFailover           Scheduler = "fo"
	WeightedOverflow           Scheduler = "ovf"
	MaglevHashing              Scheduler = "mh"
	TwoRandomChoices           Scheduler = "twos"
	NoScheduler                Scheduler = "none" // no scheduling: persistence templates only
)

// PersistenceEngineSIP is the only mainline persistence engine: it keys
// persistence on the SIP Call-ID (module ip_vs_pe_sip).
const PersistenceEngineSIP = "sip"

// Kernel limits.
const (
	maxNameLen       = 15 // IP_VS_SCHEDNAME_MAXLEN and IP_VS_PENAME_MAXLEN less the NUL
	maxIfNameLen     = 15 // IP_VS_IFNAME_MAXLEN less the NUL
	maxWeight        = 1<<31 - 1
	defaultScheduler = WeightedLeastConnection
)

// ServiceFlags are the service's IP_VS_SVC_F_* bits.
type ServiceFlags uint32

// Service flags. SchedFlag1 and SchedFlag2 mean different things to
// different schedulers, hence the aliases.
const (
	FlagPersistent ServiceFlags = 0x01
	flagHashed     ServiceFlags = 0x02 // kernel-internal; stripped when reading
	FlagOnePacket  ServiceFlags = 0x04 // one-packet scheduling, UDP and fwmark only
	SchedFlag1     ServiceFlags = 0x08
	SchedFlag2     ServiceFlags = 0x10
	SchedFlag3     ServiceFlags = 0x20

	FlagSHFallback = SchedFlag1 // sh: pick another server when the hashed one is unavailable
	FlagSHPort     = SchedFlag2 // sh: hash the source port too
	FlagMHFallback = SchedFlag1 // mh: as FlagSHFallback, for Maglev
	FlagMHPort     = SchedFlag2 // mh: as FlagSHPort, for Maglev
)

// Netmask is a persistence granularity: clients whose addresses agree under
// the mask share a persistence template. The zero value means the whole
// address (/32 or /128). IPv4 services carry a mask, IPv6 services a prefix
// length; NetmaskBits builds either.
type Netmask struct {
	family Family
	raw    uint32 // IPv4: the mask, big-endian value; IPv6: prefix length
}

// NetmaskBits returns the granularity of a prefix length for family f.
func NetmaskBits(f Family, bits int) (Netmask, error) {
	switch {
	case f == IPv4 && bits >= 0 && bits <= 32:
		return Netmask{IPv4, uint32(uint64(0xffffffff) << (32 - bits))}, nil
	case f == IPv6 && bits >= 1 && bits <= 128:
		return Netmask{IPv6, uint32(bits)}, nil
	}
	return Netmask{}, invalid("netmask", fmt.Sprintf("/%d", bits), "", fmt.Sprintf("does not fit %v", f))
}

// NetmaskIPv4 returns an IPv4 granularity from a dotted mask such as
// 255.255.255.0. Non-contiguous masks are allowed, as the kernel allows them.
func NetmaskIPv4(m netip.Addr) (Netmask, error) {
	if !m.Is4() {
		return Netmask{}, invalid("netmask", m.String(), "", "not an IPv4 mask")
	}
	b := m.As4()
	return Netmask{IPv4, uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])}, nil
}

// IsZero reports whether m is the zero value, which means the default:
// the whole address. A mask made for the whole address (NetmaskBits(IPv4,
// 32) or (IPv6, 128)) means the same but is not zero; IsFull reports
// either.
func (m Netmask) IsZero() bool { return m.family == 0 }

// Family is the family m was built for, 0 for the zero value.
func (m Netmask) Family() Family { return m.family }

// Bits returns the prefix length, or -1 for a non-contiguous IPv4 mask or
// the zero value.
func (m Netmask) Bits() int {
	switch m.family {
	case IPv6:
		return int(m.raw)
	case IPv4:
		for n := 0; n <= 32; n++ {
			if uint32(uint64(0xffffffff)<<(32-n)) == m.raw {
				return n
			}
		}
	}
	return -1
}

// IsFull reports whether m keeps the whole address (zero, /32 or /128).
func (m Netmask) IsFull() bool {
	return m.IsZero() || (m.family == IPv4 && m.raw == 0xffffffff) || (m.family == IPv6 && m.raw == 128)
}

// String formats like ipvsadm: a dotted mask for IPv4, a prefix length for IPv6.
func (m Netmask) String() string {
	switch m.family {
	case IPv4:
		return netip.AddrFrom4([4]byte{byte(m.raw >> 24), byte(m.raw >> 16), byte(m.raw >> 8), byte(m.raw)}).String()
	case IPv6:
		return strconv.Itoa(int(m.raw))
	}
	return "default"
}

// ServiceKey identifies a virtual service: either Fwmark (with Family), or
// Protocol, Address and Port.
type ServiceKey struct {
	// Family is required for fwmark services; for address services it may
	// be left zero and is then taken from Address (FamilyOf: an
	// IPv4-mapped IPv6 address makes an IPv4 service). Set to IPv6 with
	// an IPv4-mapped Address (::ffff:a.b.c.d), it keeps the service IPv6,
	// as `ipvsadm -A -t [::ffff:a.b.c.d]:80` makes it: the kernel holds it
	// apart from the IPv4 service a.b.c.d and reports it as such.
	Family   Family
	Protocol Protocol
	Address  netip.Addr
	Port     uint16
	Fwmark   uint32
}

// family returns the effective family of the key.
func (k ServiceKey) family() Family {
	if k.Family != 0 || k.Fwmark != 0 {
		return k.Family
	}
	return FamilyOf(k.Address)
}

// Canonical returns k in the one form the kernel reports it in: Family
// set, an IPv4-mapped IPv6 address unmapped unless Family is IPv6 (see
// ServiceKey.Family). Two valid keys name the same
// service exactly when their canonical forms are equal, so canonical keys
// can be compared with == and used as map keys; the keys the package
// returns are canonical already.
func (k ServiceKey) Canonical() ServiceKey {
	k.Family = k.family()
	if k.Address.Is4In6() && k.Family != IPv6 {
		k.Address = k.Address.Unmap()
	}
	return k
}

// mappedV6 reports whether a is an IPv4-mapped address kept IPv6 by an
// explicit family f.
func mappedV6(f Family, a netip.Addr) bool { return f == IPv6 && a.Is4In6() }

// String formats like ipvsadm's listing: "TCP 10.0.0.1:80",
// "TCP [2001:db8::1]:443", "FWM 7" or "FWM 7 IPv6".
func (k ServiceKey) String() string {
	if k.Fwmark != 0 {
		if k.family() == IPv6 {
			return fmt.Sprintf("FWM %d IPv6", k.Fwmark)
		}
		return fmt.Sprintf("FWM %d", k.Fwmark)
	}
	a := k.Address
	if !mappedV6(k.Family, a) {
		a = a.Unmap()
	}
	return k.Protocol.String() + " " + netip.AddrPortFrom(a, k.Port).String()
}

// Service is a virtual service as written to the kernel. UpdateService
// replaces every field but the key.
type Service struct {
	ServiceKey
	// Scheduler defaults to wlc, as ipvsadm's does, when empty.
	Scheduler Scheduler
	Flags     ServiceFlags
	// Timeout is the persistence timeout, in whole seconds; required with
	// FlagPersistent.
	Timeout time.Duration
	// Netmask is the persistence granularity; zero means the whole address.
	Netmask Netmask
	// PersistenceEngine is "" or "sip".
	PersistenceEngine string
}

// Stats are a service's or destination's counters and rates (per second).
// The kernel updates both every two seconds, so counters lag traffic by up
// to that long.
type Stats struct {
	Connections uint64
	PacketsIn   uint64
	PacketsOut  uint64
	BytesIn     uint64
	BytesOut    uint64
	CPS         uint64 // connections per second
	PPSIn       uint64
	PPSOut      uint64
	BPSIn       uint64 // bytes per second
	BPSOut      uint64
}

// ServiceInfo is a service as read back from the kernel.
type ServiceInfo struct {
	Service
	Stats Stats
}

// ForwardMethod is how packets reach a destination.
type ForwardMethod uint32

// Forwarding methods.
const (
	Masquerade  ForwardMethod = 0 // NAT
	Local       ForwardMethod = 1 // deliver locally
	Tunnel      ForwardMethod = 2 // IPIP, GUE or GRE
	DirectRoute ForwardMethod = 3 // DR: rewrite the MAC only
)

// String returns ipvsadm's name: Masq, Local, Tunnel or Route.
func (m ForwardMethod) String() string {
	return enum.Name(m, "fwd", []ForwardMethod{Masquerade, Local, Tunnel, DirectRoute}, "Masq", "Local", "Tunnel", "Route")
}

// TunnelType is the encapsulation of a Tunnel destination (kernel 5.2+ for
// GUE, 5.3+ for GRE).
type TunnelType uint8

// Tunnel types.
const (
	IPIP TunnelType = 0
	GUE  TunnelType = 1
	GRE  TunnelType = 2
)

func (t TunnelType) String() string {
	return enum.Name(t, "tun", []TunnelType{IPIP, GUE, GRE}, "ipip", "gue", "gre")
}

// TunnelFlags are the GUE/GRE checksum options.
type TunnelFlags uint16

// Tunnel flags. The zero value means no checksum.
const (
	TunnelChecksum       TunnelFlags = 0x1
	TunnelRemoteChecksum TunnelFlags = 0x2
)

// Destination is a real server as written to the kernel. UpdateDestination
// replaces every field but Address and Port.
type Destination struct {
	Address netip.Addr
	// Family is zero or the family of Address (FamilyOf), except that
	// IPv6 with an IPv4-mapped Address keeps the destination IPv6 (as
	// `ipvsadm -a ... -r [::ffff:a.b.c.d]` makes it) instead of IPv4; the
	// kernel holds the two apart. The kernel refuses such a destination
	// (EINVAL, ErrInvalid) unless the address is one of the director's own,
	// as it refuses ipvsadm's: an IPv4-mapped address is not IPv6 unicast
	// to it. Read back, it is IPv6 for such a destination, else zero.
	Family Family
	// Port must equal the service port for DirectRoute and Tunnel
	// destinations of address services: only NAT maps ports.
	Port    uint16
	Forward ForwardMethod
	// Weight 0 quiesces the destination: no new connections.
	Weight uint32
	// UpperThreshold and LowerThreshold bound active+inactive connections;
	// 0 means no limit.
	UpperThreshold uint32
	LowerThreshold uint32
	TunnelType     TunnelType
	TunnelPort     uint16 // GUE's UDP port; required for GUE
	TunnelFlags    TunnelFlags
}

// String formats the address like ipvsadm: "10.0.0.2:80", "[2001:db8::2]:80".
func (d Destination) String() string {
	return destID(d).String()
}

// EffectiveFamily is the family the destination is written with: Family
// if it keeps a mapped address IPv6, else FamilyOf(Address).
func (d Destination) EffectiveFamily() Family {
	if mappedV6(d.Family, d.Address) {
		return IPv6
	}
	return FamilyOf(d.Address)
}

// DestinationInfo is a destination as read back from the kernel.
type DestinationInfo struct {
	Destination
	ActiveConns     uint32
	InactiveConns   uint32
	PersistentConns uint32
	Stats           Stats
}

// DaemonState selects the sync daemon's role.
type DaemonState uint32

// Sync daemon roles.
const (
	DaemonMaster DaemonState = 1
	DaemonBackup DaemonState = 2
)

func (s DaemonState) String() string {
	return enum.Name(s, "state", []DaemonState{DaemonMaster, DaemonBackup}, "master", "backup")
}

// Daemon is a connection-synchronisation daemon. Zero fields take the
// kernel's defaults (group 224.0.0.81, port 8848, TTL 1, the interface's MTU
// for MaxLen).
type Daemon struct {
	State     DaemonState
	Interface string
	SyncID    uint8
	MaxLen    uint16
	Group     netip.Addr // IPv4 or IPv6 multicast group
	Port      uint16
	TTL       uint8
}

// Timeouts are the IPVS protocol timeouts, in whole seconds. In
// SetTimeouts a zero field leaves that timeout unchanged.
type Timeouts struct {
	TCP    time.Duration
	TCPFin time.Duration
	UDP    time.Duration
}

// Version is the IPVS version the kernel reports (1.2.1 for many years:
// detect features by behaviour, not by version).
type Version uint32

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v>>16, v>>8&0xff, v&0xff)
}

// Info is what GET_INFO reports.
type Info struct {
	Version       Version
	ConnTableSize uint32
}

// Setup is the SDK's one undo lifecycle (internal/undo, the same type as
// director.Setup and realserver.Setup): what a host change did (Changes)
// and Teardown to undo it. SetSysctl returns one.
type Setup = undo.Setup
