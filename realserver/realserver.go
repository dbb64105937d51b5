package realserver

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/golvs/lvs/internal/hostrec"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/undo"
	"github.com/golvs/lvs/ipvs"
)

// Sentinels for errors.Is. Every error the package returns is an *Error
// matching one of them.
var (
	// ErrInvalid: the configuration is wrong (e.g. a VIP wider than /32 or
	// /128); nothing was changed.
	ErrInvalid = errors.New("invalid configuration")
	// ErrNoDevice: a device the configuration names does not exist.
	ErrNoDevice = errors.New("no such device")
	// ErrConflict: the host already has configuration that contradicts the
	// request, e.g. the VIP on another device or with another prefix.
	ErrConflict = errors.New("conflicts with existing configuration")
	// ErrNoModule: the kernel lacks a module the mode needs; the message
	// names it. The package never runs modprobe.
	ErrNoModule = errors.New("kernel module not loaded")
	// ErrNoTool: the ARP backend's command (arptables) is not installed.
	ErrNoTool = errors.New("tool not found")
	// ErrNotSupported: the OS or kernel cannot do what was asked.
	ErrNotSupported = errors.New("not supported")
	// ErrPermission: the caller lacks CAP_NET_ADMIN (or CAP_SYS_ADMIN to
	// enter another namespace).
	ErrPermission = errors.New("permission denied")
	// ErrClosed: the Client was closed; nothing was done, and a Setup's
	// Teardown can no longer run.
	ErrClosed = errors.New("client closed")
	// ErrFailed: the kernel or a tool refused a change for another reason;
	// the cause is wrapped.
	ErrFailed = errors.New("change failed")
)

// Error is the error type of every call in the package.
type Error struct {
	// Op is the operation, e.g. "set up DR".
	Op string
	// Field names the offending configuration field for validation errors.
	Field string
	// Err is the cause.
	Err  error
	kind error
}

func (e *Error) Error() string {
	s := "realserver: " + e.Op
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause, so errno checks keep working.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the error's sentinel.
func (e *Error) Is(target error) bool { return target == e.kind }

func invalid(op, field, format string, args ...any) *Error {
	return &Error{Op: op, Field: field, Err: fmt.Errorf(format, args...), kind: ErrInvalid}
}

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
	// ARPNftables adds the same two rules to an nftables table "lvs" of
	// the arp family over netlink; no binary is needed.
	ARPNftables
	// ARPNone leaves ARP alone: only right when the VIP's network is not
	// on the real server's L2 segment (e.g. routed TUN).
	ARPNone
)

func (b ARPBackend) String() string {
	switch b {
	case ARPSysctl:
		return "sysctl"
	case ARPTables:
		return "arptables"
	case ARPNftables:
		return "nftables"
	case ARPNone:
		return "none"
	}
	return fmt.Sprintf("ARPBackend(%d)", int(b))
}

// ARP configures ARP suppression for IPv4 VIPs.
type ARP struct {
	// Backend; the zero value is ARPSysctl.
	Backend ARPBackend
	// RIP is the real server's own address on the VIP's segment, used as
	// the sender address of ARP requests that would otherwise carry a VIP.
	// Required for ARPTables and ARPNftables; it must be configured on the
	// host.
	RIP netip.Addr
}

// DR configures a direct-routing real server.
type DR struct {
	// VIPs as /32 or /128 prefixes; a wider prefix is rejected because on
	// lo it would make the whole prefix local.
	VIPs []netip.Prefix
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
	// VIPs as /32 prefixes (IPv4 VIPs; IPv4-in-IPv4 encapsulations).
	VIPs []netip.Prefix
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
	// nftables table "ip lvs_rs" over netlink.
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

func validateVIPs(op string, vips []netip.Prefix, v4only bool) error {
	if len(vips) == 0 {
		return invalid(op, "VIPs", "no VIP given")
	}
	seen := map[netip.Addr]bool{}
	for i, p := range vips {
		f := fmt.Sprintf("VIPs[%d]", i)
		if !p.IsValid() {
			return invalid(op, f, "not a valid prefix")
		}
		a := p.Addr()
		if a.Is4In6() {
			return invalid(op, f, "%s is IPv4-mapped; give the IPv4 address", a)
		}
		if p.Bits() != a.BitLen() {
			return invalid(op, f, "%s is wider than a single address: a VIP must be /%d, because a wider prefix on the device makes the whole prefix local and cuts the host off from its neighbours", p, a.BitLen())
		}
		if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() {
			return invalid(op, f, "%s cannot be a VIP", a)
		}
		if v4only && !a.Is4() {
			return &Error{Op: op, Field: f, Err: fmt.Errorf("%s: IPv6 VIPs are not supported in TUN mode: this package sets up IPv4 tunnels (tunl0, gre0, fou over IPv4); IPv6-in-IPv6 real servers need ip6tnl0, configured by other means", a), kind: ErrNotSupported}
		}
		if seen[a] {
			return invalid(op, f, "%s given twice", a)
		}
		seen[a] = true
	}
	return nil
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
	case ARPTables, ARPNftables:
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
	return validateARP(op, d.ARP, d.VIPs)
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
	return validateARP(op, t.ARP, t.VIPs)
}

// Problem is one finding of a check, in plain words.
type Problem struct {
	// What is wrong and why it breaks the mode.
	Text string
	// Fix is what an operator would do about it.
	Fix string
}

func (p Problem) String() string {
	if p.Fix == "" {
		return p.Text
	}
	return p.Text + " (fix: " + p.Fix + ")"
}

// Report is the outcome of CheckDR or CheckTUN.
type Report struct {
	// Problems that would break the mode for the VIPs; empty means none
	// were found.
	Problems []Problem
	// Notes that do not break anything by themselves.
	Notes []string
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) String() string {
	if r.OK() && len(r.Notes) == 0 {
		return "ok"
	}
	var b strings.Builder
	for _, p := range r.Problems {
		b.WriteString("problem: " + p.String() + "\n")
	}
	for _, n := range r.Notes {
		b.WriteString("note: " + n + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func (r *Report) problem(fix, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Text: fmt.Sprintf(format, args...), Fix: fix})
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Config configures a Client.
type Config struct {
	// NetNSPath names the network namespace to configure, e.g.
	// /run/netns/blue or /proc/PID/ns/net; "" is the caller's.
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

// kindOf maps a lower-level error onto the package's sentinels.
func kindOf(err error) error {
	switch {
	case errors.Is(err, netcfg.ErrClosed):
		return ErrClosed
	case errors.Is(err, netcfg.ErrNoDevice):
		return ErrNoDevice
	case errors.Is(err, netcfg.ErrConflict), errors.Is(err, hostrec.ErrInUse):
		return ErrConflict
	case errors.Is(err, netcfg.ErrNoModule):
		return ErrNoModule
	case errors.Is(err, ErrNoTool):
		return ErrNoTool
	case errors.Is(err, netcfg.ErrNotSupported), errors.Is(err, ErrNotSupported):
		return ErrNotSupported
	case errors.Is(err, os.ErrPermission):
		return ErrPermission
	case errors.Is(err, ErrInvalid):
		return ErrInvalid
	}
	return ErrFailed
}
