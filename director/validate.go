package director

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/golvs/lvs/ipvs"
)

// validIfname mirrors the kernel's dev_valid_name: 1..15 bytes, not "." or
// "..", no '/', ':' or white space.
func validIfname(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsAny(s, "/: \t\n\r\v\f\x00")
}

func validateIface(op, field, name string) error {
	if !validIfname(name) {
		return invalid(op, field, fmt.Sprintf("%q is not a valid interface name (1-15 bytes, no '/', ':' or spaces)", name))
	}
	return nil
}

func validateVIP(op string, v VIP) error {
	a := v.addr()
	switch {
	case !a.IsValid():
		return invalid(op, "VIP.Address", "missing")
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback(), a.IsLinkLocalUnicast(), a.IsInterfaceLocalMulticast():
		return invalid(op, "VIP.Address", a.String()+" cannot be a VIP (unspecified, multicast, loopback or link-local)")
	case a.Is4() && a == netipBroadcast:
		return invalid(op, "VIP.Address", "255.255.255.255 cannot be a VIP")
	case v.Address.Zone() != "":
		return invalid(op, "VIP.Address", "a VIP has no zone")
	}
	switch v.Announce {
	case AnnounceARP:
		if v.Interface == "" {
			return invalid(op, "VIP.Interface", "ARP mode needs the client-facing interface")
		}
	case AnnounceRouted:
	case 0:
		return invalid(op, "VIP.Announce", "missing: AnnounceARP or AnnounceRouted")
	default:
		return invalid(op, "VIP.Announce", "unknown mode "+v.Announce.String())
	}
	if err := validateIface(op, "VIP.Interface", v.device()); err != nil {
		return err
	}
	return validateGratuitous(op, "VIP.Gratuitous", v.Gratuitous)
}

func validateGratuitous(op, field string, g Gratuitous) error {
	if g.Interval < 0 {
		return invalid(op, field+".Interval", "negative")
	}
	if g.Count > 100 {
		return invalid(op, field+".Count", fmt.Sprintf("%d packets is a flood; at most 100", g.Count))
	}
	return nil
}

func validateForwarding(op, field string, f Forwarding) error {
	if !f.IPv4 && !f.IPv6 {
		return invalid(op, field, "select IPv4, IPv6 or both")
	}
	return nil
}

func validateNATGateway(op string, g NATGateway) error {
	if err := validateForwarding(op, "NATGateway.Forwarding", g.Forwarding); err != nil {
		return err
	}
	if len(g.Interfaces) == 0 && g.Forwarding.IPv4 {
		return invalid(op, "NATGateway.Interfaces", "name the real-server-facing interface (send_redirects is cleared there)")
	}
	for i, n := range g.Interfaces {
		if err := validateIface(op, fmt.Sprintf("NATGateway.Interfaces[%d]", i), n); err != nil {
			return err
		}
	}
	return nil
}

func validateOneArmNAT(op string, n OneArmNAT) error {
	if len(n.Services) == 0 {
		return invalid(op, "OneArmNAT.Services", "at least one service")
	}
	seen := map[SNATService]bool{}
	for i, s := range n.Services {
		f := fmt.Sprintf("OneArmNAT.Services[%d]", i)
		switch s.Protocol {
		case ipvs.TCP, ipvs.UDP, ipvs.SCTP:
		default:
			return invalid(op, f+".Protocol", "want TCP, UDP or SCTP, not "+s.Protocol.String())
		}
		a := s.VIP.Addr().Unmap()
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || s.VIP.Addr().Zone() != "" {
			return invalid(op, f+".VIP", fmt.Sprintf("%v is not a unicast address", s.VIP.Addr()))
		}
		if s.VIP.Port() == 0 {
			return invalid(op, f+".VIP", "port 0: give the virtual service's port")
		}
		s.VIP = netip.AddrPortFrom(a, s.VIP.Port())
		if seen[s] {
			return invalid(op, f, "duplicate of an earlier service "+s.String())
		}
		seen[s] = true
	}
	if err := validateIface(op, "OneArmNAT.Interface", n.Interface); err != nil {
		return err
	}
	switch n.Backend {
	case BackendAuto, BackendNFTables, BackendIPTables:
	default:
		return invalid(op, "OneArmNAT.Backend", "unknown "+n.Backend.String())
	}
	return nil
}

func validateSysctls(op string, s []Sysctl) error {
	if len(s) == 0 {
		return invalid(op, "sysctls", "none given")
	}
	seen := map[string]bool{}
	for i, x := range s {
		f := fmt.Sprintf("sysctls[%d]", i)
		info, ok := sysctlInfo(x.Name)
		if !ok {
			return invalid(op, f, fmt.Sprintf("%q is not a setting this package manages (see Sysctls)", x.Name))
		}
		if x.Value < info.Min || x.Value > info.Max {
			return invalid(op, f, fmt.Sprintf("%s=%d out of range %d..%d", x.Name, x.Value, info.Min, info.Max))
		}
		if seen[x.Name] {
			return invalid(op, f, x.Name+" given twice")
		}
		seen[x.Name] = true
	}
	return nil
}

func validateReturnPaths(op string, paths []ReturnPath) error {
	if len(paths) == 0 {
		return invalid(op, "paths", "none given")
	}
	for i, p := range paths {
		f := fmt.Sprintf("paths[%d]", i)
		rs := p.RealServer.Unmap()
		if !rs.IsValid() || rs.IsUnspecified() || rs.IsMulticast() {
			return invalid(op, f+".RealServer", "missing or not unicast")
		}
		if p.Gateway.IsValid() && p.Gateway.Unmap().Is4() != rs.Is4() {
			return invalid(op, f+".Gateway", "not of the real server's address family")
		}
		if p.Client.IsValid() && p.Client.Unmap().Is4() != rs.Is4() {
			return invalid(op, f+".Client", "not of the real server's address family")
		}
		if !p.Gateway.IsValid() && p.RealServerNetNS == "" {
			return invalid(op, f, "give the real server's Gateway or its RealServerNetNS")
		}
		if p.RealServerNetNS != "" && !p.Client.IsValid() {
			return invalid(op, f+".Client", "needed to look up the real server's route")
		}
	}
	return nil
}

// Validate checks v as AddVIP does before changing anything, without
// touching the host.
func (v VIP) Validate() error { return validateVIP("add VIP", v) }

// Validate checks g as NATGateway does before changing anything, without
// touching the host.
func (g NATGateway) Validate() error { return validateNATGateway("NAT gateway", g) }

// Validate checks n as OneArmNAT does before changing anything, without
// touching the host.
func (n OneArmNAT) Validate() error { return validateOneArmNAT("one-arm NAT", n) }
