package fwmark

import (
	"fmt"
	"net/netip"

	"github.com/golvs/lvs/internal/diag"
	"github.com/golvs/lvs/internal/enum"
	"github.com/golvs/lvs/internal/nft"
)

// Protocol is the transport protocol a Rule matches.
type Protocol uint8

// Protocols. ProtocolAny matches every protocol; with Ports it matches ProtocolTCP, ProtocolUDP and
// ProtocolSCTP packets to those ports.
const (
	ProtocolAny  Protocol = 0
	ProtocolTCP  Protocol = 6
	ProtocolUDP  Protocol = 17
	ProtocolSCTP Protocol = 132
)

func (p Protocol) String() string {
	return enum.Name(p, "protocol", protocols(), "any", "tcp", "udp", "sctp")
}

func protocols() []Protocol { return []Protocol{ProtocolAny, ProtocolTCP, ProtocolUDP, ProtocolSCTP} }

// parseProtocol is String's inverse for the protocols a Rule names.
func parseProtocol(s string) (Protocol, bool) {
	for _, p := range protocols() {
		if p.String() == s {
			return p, true
		}
	}
	return 0, false
}

// PortRange is an inclusive range of destination ports; a single port has
// From == To.
type PortRange struct {
	From, To uint16
}

// Port returns the range holding only p.
func Port(p uint16) PortRange { return PortRange{p, p} }

func (r PortRange) String() string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// Rule marks packets to Destinations (and Ports, for Protocol) with Mark.
//
// A rule is identified by all of its fields: Rules returns them in
// canonical form (destinations masked, sorted and deduplicated, ports
// sorted with overlapping and adjacent ranges merged), so compare canonical
// forms (see Canonical).
type Rule struct {
	// Mark is the value the whole packet mark is set to; it must be non-zero
	// and equal the Fwmark of the IPVS service.
	Mark uint32
	// Protocol is ProtocolTCP, ProtocolUDP, ProtocolSCTP or ProtocolAny.
	Protocol Protocol
	// Destinations are addresses (as /32 or /128 prefixes) or prefixes, all
	// of one family. netip.PrefixFrom(addr, addr.BitLen()) makes one from
	// an address.
	Destinations []netip.Prefix
	// Ports are destination ports or ranges. They are required for ProtocolTCP, ProtocolUDP
	// and ProtocolSCTP; with ProtocolAny, no ports means every packet to the destinations.
	Ports []PortRange
}

// Is6 reports whether the rule is for IPv6 (after a successful Canonical).
func (r Rule) Is6() bool {
	return len(r.Destinations) > 0 && r.Destinations[0].Addr().Is6()
}

// Backend selects how marks are installed. It is the same type as
// director.Backend.
type Backend = nft.Backend

// Backends.
const (
	// BackendAuto picks the backend already holding this package's rules, else
	// nftables when the kernel offers it, else iptables.
	BackendAuto = nft.BackendAuto
	// BackendNFTables talks to nf_tables over netlink; no binary is needed.
	BackendNFTables = nft.BackendNFTables
	// BackendIPTables runs the iptables-save/-restore binaries (legacy or nft).
	BackendIPTables = nft.BackendIPTables
)

// Names of the objects the package owns.
const (
	// TableName is the nftables table (family inet) holding every rule,
	// marked as ours (see internal/nft). Earlier versions used "lvs", a
	// name users may have taken: that table is never touched.
	TableName = "golvs_fwmark"
	// ChainName is the iptables chain in the mangle table of iptables and
	// ip6tables.
	ChainName = "LVS-FWMARK"
	// nft chain names inside TableName.
	nftPrerouting = "prerouting"
	nftOutput     = "output"
	// commentPrefix starts the comment that carries each rule's canonical
	// text, so that Rules can read rules back from either backend.
	commentPrefix = "lvs-fwmark "
	// maxComment keeps the comment within both the nft user-data limit
	// (256 bytes with its header) and xt_comment's 256 bytes.
	maxComment = 240
)

// Config configures a Client. The zero value (or nil) picks the backend
// automatically and targets the caller's network namespace.
type Config struct {
	// NetNS is an open file descriptor of a network namespace, such as
	// one from /run/netns/NAME; 0 means the caller's namespace (or
	// NetNSPath's). The Client duplicates it, so the caller may close it
	// after New.
	NetNS int
	// NetNSPath names a network namespace by path, e.g. /run/netns/blue
	// or /proc/PID/ns/net. It is used when NetNS is 0.
	NetNSPath string
	// Backend is BackendAuto, BackendNFTables or BackendIPTables.
	Backend Backend
	// Output also marks locally generated packets (the output hook), so
	// that the director can reach its own fwmark services.
	Output bool
	// BackendIPTables is the iptables command of the BackendIPTables backend:
	// "iptables" (the default), "iptables-legacy", "iptables-nft" or a
	// path. The package runs its -save and -restore companions, and the
	// ip6tables ones for IPv6, derived by name ("/sbin/iptables-legacy" →
	// "/sbin/ip6tables-legacy-restore").
	IPTables string
	// Identity names this agent on the host, e.g. "fwmark-director@10.0.0.1":
	// the undo record of each Add is written to the host (under /run/golvs,
	// before the rule) so that after a crash a process with the same
	// Identity can undo it with Recover. Empty: an anonymous owner, whose
	// records end with its process. Two live processes cannot share an
	// Identity.
	Identity string
}

// markOrder tells where another owner's mark-setting rule runs relative to ours.
type markOrder int

// Orders.
const (
	// orderUnknown: the relative order cannot be told (same nft priority, or an
	// iptables chain that is not a hook's own).
	orderUnknown markOrder = iota
	// orderBefore: it runs before ours; ours overwrites its mark on the packets
	// we match, but it marks other packets, which may hit fwmark services.
	orderBefore
	// orderAfter: it runs after ours and can overwrite the marks we set.
	orderAfter
)

func (o markOrder) String() string {
	switch o {
	case orderBefore:
		return "before"
	case orderAfter:
		return "after"
	}
	return "unknown"
}

// conflict is a rule of another owner that sets or changes the packet mark
// in a hook where ours run. IPVS compares the whole mark, so any such rule
// can silently steer packets away from, or into, a fwmark service.
type conflict struct {
	// Family is the nftables family ("ip", "ip6", "inet") or, for the
	// iptables backend, "ipv4" or "ipv6".
	Family string
	// Table and Chain hold the rule.
	Table, Chain string
	// Hook is "prerouting" or "output".
	Hook string
	// Priority is the nft base chain priority (-150 for iptables mangle).
	Priority int32
	// Order relative to this package's rules.
	Order markOrder
	// Rule describes the rule: its handle and action for nftables, its
	// iptables-save line for iptables.
	Rule string
}

func (c conflict) String() string {
	return fmt.Sprintf("%s %s/%s (hook %s, priority %d, %s ours): %s",
		c.Family, c.Table, c.Chain, c.Hook, c.Priority, c.Order, c.Rule)
}

// Finding is one rule of another owner that Conflicts found writing the
// packet mark, Subject "FAMILY TABLE/CHAIN": the SDK's one diagnostics
// shape, shared with director.CheckVIP and realserver.CheckDR.
type Finding = diag.Finding

// Findings is what Conflicts found.
type Findings = diag.Findings

// Severity grades a Finding; Conflicts reports SeverityWarning only: whether
// a rule breaks a service depends on the packets it matches.
type Severity = diag.Severity

// The severities of Findings.
const (
	SeverityNote, SeverityWarning, SeverityBroken = diag.SeverityNote, diag.SeverityWarning, diag.SeverityBroken
)

// finding describes c: Subject "FAMILY TABLE/CHAIN", Problem naming the
// rule, its hook and priority and "runs before ours", "runs after ours" or
// "runs in no defined order with ours". It is a warning: whether it
// breaks a service depends on the packets it matches, which the check
// cannot know.
func (c conflict) finding() Finding {
	when := "runs " + c.Order.String() + " ours"
	fix := "make it leave the packets of the fwmark services alone"
	switch c.Order {
	case orderBefore:
		when += ": ours overwrite its mark on the packets we match, but packets it marks may reach fwmark services"
	case orderAfter:
		when += " and can overwrite the marks we set"
	default:
		when = "runs in no defined order with ours"
		fix += ", or give it a priority distinct from ours (mangle, -150)"
	}
	return Finding{Severity: SeverityWarning, Subject: c.Family + " " + c.Table + "/" + c.Chain,
		Problem: fmt.Sprintf("rule %s sets the packet mark in hook %s (priority %d) and %s; IPVS compares the whole mark with a service's fwmark", c.Rule, c.Hook, c.Priority, when),
		Fix:     fix}
}
