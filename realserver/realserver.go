package realserver

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/golvs/lvs/internal/diag"
	"github.com/golvs/lvs/internal/enum"
	"github.com/golvs/lvs/internal/undo"
	"github.com/golvs/lvs/ipvs"
)

// ARPBackend chooses how a real server is kept from answering ARP for, and
// announcing, its VIPs.
type ARPBackend int

const (
	// ARPSysctl raises net.ipv4.conf.all.arp_ignore to 1 and
	// arp_announce to 2 (never lowering a higher value). Because the kernel
	// uses max(conf/all, conf/IFACE), this covers every interface,
	// including ones created later. The default.
	ARPSysctl ARPBackend = iota
	// ARPTables adds arptables rules per IPv4 VIP:
	// `-A INPUT -d VIP -j DROP` and
	// `-A OUTPUT -s VIP -j mangle --mangle-ip-s RIP`. Needs the arptables
	// command and the kernel's arp_tables modules.
	ARPTables
	// ARPNFTables adds the same two rules to an nftables table "golvs_realserver" of
	// the arp family over netlink; no binary is needed.
	ARPNFTables
	// ARPNone leaves ARP alone: only right when the VIP's network is not
	// on the real server's L2 segment (e.g. routed TUN).
	ARPNone
)

func (b ARPBackend) String() string {
	return enum.Name(b, "ARPBackend", []ARPBackend{ARPSysctl, ARPTables, ARPNFTables, ARPNone}, "sysctl", "arptables", "nftables", "none")
}

// ARP configures ARP suppression for IPv4 VIPs.
type ARP struct {
	// Backend; the zero value is ARPSysctl.
	Backend ARPBackend
	// RIP is the real server's own address on the VIP's segment, used as
	// the sender address of ARP requests that would otherwise carry a VIP.
	// Required for ARPTables and ARPNFTables; it must be configured on the
	// host.
	RIP netip.Addr
}

// DR configures a direct-routing real server.
type DR struct {
	// VIPs, IPv4 or IPv6 (IPv4-mapped addresses are taken as IPv4), as
	// director.VIP.Address: each is configured as a host prefix (/32,
	// /128), since a wider one on lo would make the whole prefix local.
	VIPs []netip.Addr
	// Device carries the VIPs: "" or "lo" for the loopback device, or the
	// name of a dummy device, created if missing.
	Device string
	// ARP suppression, for the IPv4 VIPs. IPv6 needs none: an address on
	// lo or a dummy device is not advertised by neighbour discovery on
	// other interfaces.
	ARP ARP
}

// TUN configures a tunnelling (IPIP, GUE or GRE) real server.
type TUN struct {
	// VIPs, IPv4 only (IPv4-in-IPv4 encapsulations), configured as /32.
	VIPs []netip.Addr
	// Type is the encapsulation the director's destinations use.
	Type ipvs.TunnelType
	// Port is GUE's UDP receive port (the destination's TunnelPort);
	// required for GUE, rejected otherwise.
	Port uint16
	// ARP suppression: needed when the real server shares an L2 segment
	// with the VIP's network; set Backend to ARPNone otherwise.
	ARP ARP
	// MSS, if not 0, clamps the TCP MSS the real server advertises from a
	// VIP to at most this, so that clients' full-size segments still fit
	// the path after encapsulation: on a 1500-byte path 1440 for IPIP, 1436
	// for GRE, 1428 for GUE (less with GUE/GRE checksums). Uses an
	// nftables table "ip golvs_realserver" over netlink.
	MSS uint16
}

// Device is the tunnel device the kernel decapsulates into.
func (t TUN) Device() string {
	if t.Type == ipvs.GRE {
		return "gre0"
	}
	return "tunl0"
}

func (t TUN) module() string {
	switch t.Type {
	case ipvs.GRE:
		return "ip_gre"
	case ipvs.GUE:
		return "fou ipip"
	}
	return "ipip"
}

func validateVIPs(op string, vips []netip.Addr, v4only bool) error {
	if len(vips) == 0 {
		return invalid(op, "VIPs", "no VIP given")
	}
	seen := map[netip.Addr]bool{}
	for i, a := range vips {
		f := fmt.Sprintf("VIPs[%d]", i)
		if !a.IsValid() {
			return invalid(op, f, "not a valid address")
		}
		a = a.Unmap()
		if a.Zone() != "" {
			return invalid(op, f, "%s: a VIP has no zone", a)
		}
		if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return invalid(op, f, "%s cannot be a VIP", a)
		}
		if v4only && !a.Is4() {
			return &Error{Pkg: pkg, Op: op, Field: f, Err: fmt.Errorf("%s: IPv6 VIPs are not supported in TUN mode: this package sets up IPv4 tunnels (tunl0, gre0, fou over IPv4); IPv6-in-IPv6 real servers need ip6tnl0, configured by other means", a), Kind: ErrNotSupported}
		}
		if seen[a] {
			return invalid(op, f, "%s given twice", a)
		}
		seen[a] = true
	}
	return nil
}

// hostPrefixes is the VIPs as the host prefixes (/32, /128) they are
// configured as.
func hostPrefixes(vips []netip.Addr) []netip.Prefix {
	out := make([]netip.Prefix, len(vips))
	for i, a := range vips {
		a = a.Unmap()
		out[i] = netip.PrefixFrom(a, a.BitLen())
	}
	return out
}

func hasV4(vips []netip.Prefix) bool {
	for _, p := range vips {
		if p.Addr().Is4() {
			return true
		}
	}
	return false
}

func validateARP(op string, a ARP, vips []netip.Prefix) error {
	switch a.Backend {
	case ARPSysctl, ARPNone:
		if a.RIP.IsValid() {
			return invalid(op, "ARP.RIP", "only used by the arptables and nftables backends")
		}
	case ARPTables, ARPNFTables:
		if !hasV4(vips) {
			return nil
		}
		if !a.RIP.IsValid() || !a.RIP.Is4() {
			return invalid(op, "ARP.RIP", "the %s backend needs the real server's IPv4 address to use as ARP sender instead of the VIP", a.Backend)
		}
		for _, p := range vips {
			if p.Addr() == a.RIP {
				return invalid(op, "ARP.RIP", "%s is also a VIP", a.RIP)
			}
		}
	default:
		return invalid(op, "ARP.Backend", "unknown backend %d", int(a.Backend))
	}
	return nil
}

func validDeviceName(s string) bool {
	return len(s) > 0 && len(s) < 16 && !strings.ContainsAny(s, "/ \t\n:\x00") && s != "." && s != ".." && s != "all" && s != "default"
}

// Validate checks the configuration without touching the host.
func (d DR) Validate() error {
	const op = "set up DR"
	if err := validateVIPs(op, d.VIPs, false); err != nil {
		return err
	}
	if d.Device != "" && !validDeviceName(d.Device) {
		return invalid(op, "Device", "%q is not a valid device name", d.Device)
	}
	return validateARP(op, d.ARP, hostPrefixes(d.VIPs))
}

// Validate checks the configuration without touching the host.
func (t TUN) Validate() error {
	const op = "set up TUN"
	if err := validateVIPs(op, t.VIPs, true); err != nil {
		return err
	}
	switch t.Type {
	case ipvs.IPIP, ipvs.GRE:
		if t.Port != 0 {
			return invalid(op, "Port", "only GUE uses a UDP port, not %s", t.Type)
		}
	case ipvs.GUE:
		if t.Port == 0 {
			return invalid(op, "Port", "GUE needs the UDP port the director's destinations use (TunnelPort)")
		}
	default:
		return invalid(op, "Type", "unknown tunnel type %d", t.Type)
	}
	if t.MSS != 0 && t.MSS < 536 {
		return invalid(op, "MSS", "%d is below 536, the minimum every IPv4 host must accept", t.MSS)
	}
	return validateARP(op, t.ARP, hostPrefixes(t.VIPs))
}

// Finding is one thing CheckDR or CheckTUN found, e.g. Subject "device
// eth0" with the sysctl that lets it answer ARP for a VIP: the SDK's one
// diagnostics shape, shared with director.CheckVIP and fwmark.Conflicts.
type Finding = diag.Finding

// Findings is what a check found; OK reports that nothing would break the
// mode (no SeverityBroken).
type Findings = diag.Findings

// Severity grades a Finding: SeverityBroken for what breaks DR or TUN for
// the VIPs, SeverityNote for what does not by itself (no ARP suppression,
// no MSS clamp). The checks here report no SeverityWarning.
type Severity = diag.Severity

// The severities of Findings.
const (
	SeverityNote, SeverityWarning, SeverityBroken = diag.SeverityNote, diag.SeverityWarning, diag.SeverityBroken
)

func (fs *findings) problem(subject, fix, format string, args ...any) {
	*fs = append(*fs, Finding{Severity: SeverityBroken, Subject: subject, Problem: fmt.Sprintf(format, args...), Fix: fix})
}

func (fs *findings) note(subject, format string, args ...any) {
	*fs = append(*fs, Finding{Severity: SeverityNote, Subject: subject, Problem: fmt.Sprintf(format, args...)})
}

// findings collects a check's Findings.
type findings Findings

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
	// Identity names this agent on the host, e.g. "dr-realserver
	// 10.0.0.100" (letters, digits and . _ - : @ [ ]). With it, the undo
	// records of its set-ups are written to the host (under /run/golvs,
	// before each change) so that after a crash a process with the same
	// Identity can undo them with Recover. Empty: an anonymous owner, whose
	// records end with its process.
	Identity string
}

// Setup is what a SetupDR or SetupTUN call changed; Teardown undoes
// exactly that: VIPs go before ARP suppression is lifted. It is the SDK's
// one undo type (director.Setup, fwmark.Setup), with the same semantics
// in every package: Changes lists what Teardown would undo (empty after a
// second identical set-up); shared changes (arp_ignore, arp_announce, a
// VIP, a device, an arptables rule) are owned on the host and restored
// only when the last set-up relying on them, in any process using the SDK,
// is torn down, and only if they still hold the value written; a done ctx
// (ErrCanceled) or a closed Client (ErrClosed) is refused before anything
// is undone; a nil Setup or a second call does nothing.
type Setup = undo.Setup
