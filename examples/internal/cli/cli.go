package cli

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/ipvs"
)

// Help reports whether args ask for the usage (-h, -help, --help, help
// as the first argument), for programs whose first argument is a role,
// and prints usage to stdout when they do.
func Help(args []string, usage string) bool {
	if len(args) > 0 && slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) {
		fmt.Println(usage)
		return true
	}
	return false
}

// List parses list, the comma-separated value of flag name, with parse.
// It refuses an empty list, an empty entry and an entry given twice
// (compared after parsing), quoting the entry; want describes one entry.
func List[T comparable](name, list, want string, parse func(string) (T, error)) ([]T, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("%s is required: %s", name, want)
	}
	var out []T
	for i, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		v, err := parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s entry %d %q: want %s", name, i+1, s, want)
		}
		if slices.Contains(out, v) {
			return nil, fmt.Errorf("%s entry %d %q: given twice", name, i+1, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// Addr checks that a can be the address of a VIP or a real server: not
// unspecified (0.0.0.0, ::), broadcast, multicast, loopback or link-local,
// and without a zone. IPv4-mapped addresses are taken as IPv4.
func Addr(name string, a netip.Addr) (netip.Addr, error) {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return a, fmt.Errorf("%s: missing address", name)
	case a.Zone() != "":
		return a, fmt.Errorf("%s %s: an address with a zone cannot be used", name, a)
	case a.IsUnspecified(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return a, fmt.Errorf("%s %s: the unspecified or broadcast address cannot be used", name, a)
	case a.IsMulticast(), a.IsLoopback(), a.IsLinkLocalUnicast():
		return a, fmt.Errorf("%s %s: a multicast, loopback or link-local address cannot be used", name, a)
	}
	return a, nil
}

// AddrPort parses ADDR:PORT with a port and checks the address with Addr.
func AddrPort(name, s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return ap, fmt.Errorf("%s %q: want ADDR:PORT with a port 1..65535, e.g. 192.0.2.10:80 or [2001:db8::10]:80", name, s)
	}
	a, err := Addr(name, ap.Addr())
	return netip.AddrPortFrom(a, ap.Port()), err
}

// ParseAddr parses one address and checks it with Addr.
func ParseAddr(name, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("%s %q: want an address, e.g. 192.0.2.10 or 2001:db8::10", name, s)
	}
	return Addr(name, a)
}

// RealServers checks the real servers against the VIP: valid addresses of
// the VIP's family (when sameFamily), none the VIP itself.
func RealServers(mode string, vip netip.Addr, sameFamily bool, rs ...netip.Addr) error {
	for _, a := range rs {
		if _, err := Addr("-rs entry", a); err != nil {
			return err
		}
		if a.Unmap() == vip.Unmap() {
			return fmt.Errorf("-rs entry %s: is the VIP itself", a)
		}
		if sameFamily && a.Unmap().Is4() != vip.Unmap().Is4() {
			return fmt.Errorf("-rs entry %s: %s needs real servers of the VIP's address family", a, mode)
		}
	}
	return nil
}

// schedulers are the IPVS schedulers the kernel has (some as modules that
// may be missing: the set-up then fails and rolls back).
var schedulers = []ipvs.Scheduler{
	ipvs.RoundRobin, ipvs.WeightedRoundRobin, ipvs.LeastConnection, ipvs.WeightedLeastConnection,
	ipvs.LocalityBasedLeastConn, ipvs.LocalityBasedLeastConnRepl, ipvs.DestinationHashing,
	ipvs.SourceHashing, ipvs.ShortestExpectedDelay, ipvs.NeverQueue, ipvs.WeightedFailover,
	ipvs.WeightedOverflow, ipvs.MaglevHashing, ipvs.TwoRandomChoices,
}

// Scheduler checks -sched against the kernel's schedulers.
func Scheduler(s string) (ipvs.Scheduler, error) {
	if !slices.Contains(schedulers, ipvs.Scheduler(s)) {
		names := make([]string, len(schedulers))
		for i, x := range schedulers {
			names[i] = string(x)
		}
		return "", fmt.Errorf("-sched %q: unknown scheduler; want one of %s", s, strings.Join(names, ", "))
	}
	return ipvs.Scheduler(s), nil
}

// Interface checks that -iface names an interface of this namespace.
func Interface(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("-iface is required: the interface clients reach the VIP on")
	}
	if _, err := net.InterfaceByName(name); err != nil {
		return "", fmt.Errorf("-iface %q: no such interface here", name)
	}
	return name, nil
}

// Director is the command line the director sides of dr and tun share:
// -vip ADDR:PORT, -rs ADDR[,ADDR...] (real servers on the VIP's port),
// -iface and -sched.
type Director struct {
	VIP   netip.AddrPort
	RS    []netip.Addr
	Iface string
	Sched ipvs.Scheduler

	vip, rs, iface, sched *string
}

// DirectorFlags defines the flags in fs; rsHelp describes -rs.
func DirectorFlags(fs *flag.FlagSet, rsHelp string) *Director {
	return &Director{
		vip:   fs.String("vip", "", "virtual service `ADDR:PORT` ([ADDR]:PORT for IPv6)"),
		rs:    fs.String("rs", "", "real servers `ADDR[,ADDR...]` "+rsHelp),
		iface: fs.String("iface", "", "client-facing `interface` that gets the VIP"),
		sched: fs.String("sched", "rr", "IPVS scheduler `name` (rr, wlc, sh, mh, ...)"),
	}
}

// Check validates the parsed flags for mode ("direct routing"), as the
// SDK would refuse them (director.VIP.Validate) and more; sameFamily
// requires real servers of the VIP's family.
func (d *Director) Check(mode string, sameFamily bool) error {
	var err error
	if d.VIP, err = AddrPort("-vip", *d.vip); err != nil {
		return err
	}
	if d.RS, err = List("-rs", *d.rs, "ADDR[,ADDR...] (no ports: "+mode+" cannot map them)", netip.ParseAddr); err != nil {
		return err
	}
	if err := RealServers(mode, d.VIP.Addr(), sameFamily, d.RS...); err != nil {
		return err
	}
	if d.Iface, err = Interface(*d.iface); err != nil {
		return err
	}
	if d.Sched, err = Scheduler(*d.sched); err != nil {
		return err
	}
	return director.VIP{Address: d.VIP.Addr(), Announce: director.AnnounceARP, Interface: d.Iface}.Validate()
}
