package director

import (
	"net/netip"
	"strings"
	"time"

	"github.com/golvs/lvs/internal/diag"
	"github.com/golvs/lvs/internal/enum"
	"github.com/golvs/lvs/internal/nft"
	"github.com/golvs/lvs/internal/undo"
	"github.com/golvs/lvs/ipvs"
)

// Config configures a Client.
type Config struct {
	// NetNS is an open file descriptor of a network namespace, such as
	// one from /run/netns/NAME; 0 means the caller's namespace (or
	// NetNSPath's). The Client duplicates it, so the caller may close it
	// after New.
	NetNS int
	// NetNSPath names a network namespace by path, e.g. /run/netns/blue
	// or /proc/PID/ns/net. It is used when NetNS is 0.
	NetNSPath string
	// Identity names this agent on the host, e.g. "nat 10.0.0.1:80"
	// (letters, digits and . _ - : @ [ ]). With it, the undo records of
	// its set-ups are written to the host (under /run/golvs, before each
	// change) so that after a crash a process with the same Identity can
	// undo them with Recover. Empty: an anonymous owner, whose records
	// end with its process. Two live processes cannot share an Identity.
	Identity string
}

// Announce is how a VIP reaches the director.
type Announce int

const (
	// AnnounceARP puts the VIP on the client-facing interface as a
	// secondary /32 (/128) address, so the director answers ARP (NDP) for
	// it on that segment. Adding it sends gratuitous ARP (an unsolicited
	// neighbour advertisement for IPv6) so that neighbours which knew
	// another director for the VIP switch at once.
	AnnounceARP Announce = iota + 1
	// AnnounceRouted puts the VIP as a /32 (/128) on a dummy device (as
	// kube-proxy's kube-ipvs0): the address is local, so IPVS sees the
	// traffic, but the VIP reaches the director by static routes, ECMP or
	// BGP rather than by ARP.
	AnnounceRouted
)

func (a Announce) String() string {
	return enum.Name(a, "announce", []Announce{AnnounceARP, AnnounceRouted}, "arp", "routed")
}

// DefaultVIPDevice is the dummy device routed VIPs go on when VIP.Interface
// is empty.
const DefaultVIPDevice = "lvs0"

// VIP is a virtual IP address the director owns.
type VIP struct {
	// Address is the VIP (IPv4 or IPv6; IPv4-mapped addresses are taken as
	// IPv4). It is always added as a host prefix (/32 or /128): a wider
	// prefix would add a connected route that makes the whole prefix
	// reachable through the device.
	Address netip.Addr
	// Announce selects ARP or routed; required.
	Announce Announce
	// Interface is the client-facing interface for AnnounceARP (required;
	// it must exist), or the dummy device for AnnounceRouted (created if
	// missing; default DefaultVIPDevice).
	Interface string
	// Gratuitous controls the announcement sent when the VIP is added in
	// AnnounceARP mode; ignored for AnnounceRouted.
	Gratuitous Gratuitous
}

func (v VIP) addr() netip.Addr { return v.Address.Unmap() }

func (v VIP) prefix() netip.Prefix {
	a := v.addr()
	return netip.PrefixFrom(a, a.BitLen())
}

func (v VIP) device() string {
	if v.Interface == "" && v.Announce == AnnounceRouted {
		return DefaultVIPDevice
	}
	return v.Interface
}

// Gratuitous is the gratuitous ARP / unsolicited neighbour advertisement
// burst sent when a VIP is added. keepalived sends 5 at once and 5 more
// after 5 s; a few spaced packets survive a lossy switch or a neighbour
// that is busy.
type Gratuitous struct {
	// Count is the number of packets; 0 means DefaultGratuitousCount and a
	// negative count sends none.
	Count int
	// Interval is the pause between packets; 0 means
	// DefaultGratuitousInterval.
	Interval time.Duration
}

// Defaults for Gratuitous.
const (
	DefaultGratuitousCount    = 3
	DefaultGratuitousInterval = 200 * time.Millisecond
)

func (g Gratuitous) normalized() Gratuitous {
	if g.Count == 0 {
		g.Count = DefaultGratuitousCount
	}
	if g.Count < 0 {
		g.Count = 0
	}
	if g.Interval == 0 {
		g.Interval = DefaultGratuitousInterval
	}
	return g
}

// Forwarding selects the address families to forward.
type Forwarding struct {
	IPv4 bool // net.ipv4.ip_forward
	IPv6 bool // net.ipv6.conf.all.forwarding
}

// NATGateway is what a two-arm NAT director needs: the real servers' default
// route points at the director, which forwards and de-NATs their replies.
type NATGateway struct {
	// Forwarding to turn on; at least one family.
	Forwarding Forwarding
	// Interfaces on which send_redirects is turned off (besides conf/all;
	// the kernel ORs the two). Name at least the real-server-facing
	// interface: a director that routes a packet back out of the
	// interface it came in on otherwise tells the sender to go direct,
	// which bypasses de-NAT.
	Interfaces []string
}

// Backend selects how one-arm NAT installs its source-NAT rules. It is
// the same type as fwmark.Backend.
type Backend = nft.Backend

const (
	// BackendAuto uses nftables and falls back to iptables when nf_tables
	// does not answer (kernel without it).
	BackendAuto = nft.BackendAuto
	// BackendNFTables talks to nf_tables over netlink (no binary needed).
	BackendNFTables = nft.BackendNFTables
	// BackendIPTables runs the iptables (ip6tables) binary with the
	// xt_ipvs match.
	BackendIPTables = nft.BackendIPTables
)

// SNATService is one virtual service whose forwarded traffic is
// source-NATed.
type SNATService struct {
	// Protocol of the virtual service: ipvs.TCP, ipvs.UDP or ipvs.SCTP.
	Protocol ipvs.Protocol
	// VIP is the virtual service's address and port.
	VIP netip.AddrPort
}

func (s SNATService) String() string {
	return strings.ToLower(s.Protocol.String()) + " " + s.VIP.String()
}

// OneArmNAT source-NATs traffic that IPVS forwards to the real servers of
// the given services, so that the real servers answer the director and not
// the client. That is what makes NAT work for clients on the real servers'
// own subnet, and for real servers whose default route is not the director.
//
// It turns on net.ipv4.vs.conntrack (without it IPVS connections bypass
// conntrack and NAT rules never match), forwarding for the families used,
// and clears send_redirects on conf/all and Interface.
type OneArmNAT struct {
	// Services to source-NAT; at least one. The rules match connections
	// whose original destination is the service, i.e. exactly the
	// connections IPVS forwards for it (xt_ipvs --vaddr/--vport).
	Services []SNATService
	// Interface is the interface the director reaches the real servers
	// through (send_redirects is cleared there); required.
	Interface string
	// Backend selects nftables or iptables.
	Backend Backend
}

// Finding is one problem CheckVIP or CheckReturnPath found, e.g. Subject
// "VIP 10.0.0.100 on lvs0": the SDK's one diagnostics shape, shared with
// realserver.CheckDR and fwmark.Conflicts.
type Finding = diag.Finding

// Findings is what a check found; OK reports that none is SeverityBroken,
// which makes AddVIP refuse the VIP.
type Findings = diag.Findings

// Severity grades a Finding: SeverityWarning (works, but probably not as
// intended) or SeverityBroken (traffic will not flow; AddVIP refuses).
// The checks here report no SeverityNote.
type Severity = diag.Severity

// The severities of Findings.
const (
	SeverityNote, SeverityWarning, SeverityBroken = diag.SeverityNote, diag.SeverityWarning, diag.SeverityBroken
)

func finding(sev Severity, subject, problem, fix string) Finding {
	return Finding{Severity: sev, Subject: subject, Problem: problem, Fix: fix}
}

// ReturnPath describes one real server of a NAT service, for
// CheckReturnPath.
type ReturnPath struct {
	// RealServer is the real server's address; required.
	RealServer netip.Addr
	// Gateway is the next hop the real server uses towards the clients (its
	// default gateway). When it is not set, RealServerNetNS must be.
	Gateway netip.Addr
	// RealServerNetNS optionally names the real server's network namespace
	// (for real servers on the same host, e.g. containers); the check then
	// looks up the real server's route to Client itself.
	RealServerNetNS string
	// Client is a client address (or any address of the client network);
	// optional with Gateway, required with RealServerNetNS.
	Client netip.Addr
}

// Setup is what one set-up call changed; Teardown undoes exactly that. It
// is the SDK's one undo type (realserver.Setup and fwmark.Setup are the
// same type), with the same semantics in every package:
//
//   - Changes lists what Teardown would undo, in the order it would, e.g.
//     "remove address 10.0.0.100/32 from eth0"; empty when everything was
//     already in place (a second identical set-up).
//   - Teardown restores what the set-up changed and nothing else, in
//     reverse order. Shared changes (a sysctl, an address, a device) are
//     owned on the host: they are restored only when the last set-up that
//     relies on them, in any process using the SDK, is torn down, and only
//     if they still hold the value the owners wrote.
//   - A done ctx (ErrCanceled) or a closed Client (ErrClosed) is refused
//     before anything is undone. A nil Setup, or a second call, does
//     nothing. Teardown waits for the Client's other calls.
type Setup = undo.Setup

var netipBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func netipAddrPortUnmap(s SNATService) netip.AddrPort {
	return netip.AddrPortFrom(s.VIP.Addr().Unmap(), s.VIP.Port())
}
