package bgp

import (
	"net/netip"
	"slices"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/ipvs"
)

// PresetECMP is the sysctl set of a director behind ECMP (for
// director.Client.ApplySysctls): sloppy_tcp=1, so that a connection whose
// packets a route change moves here mid-stream is picked up (without it
// IPVS creates connections only from a SYN) and, with ECMPService's mh
// scheduler, goes to the same real server as on the director it came from.
func PresetECMP() []director.Sysctl {
	return []director.Sysctl{{Name: "net.ipv4.vs." + string(ipvs.SysctlSloppyTCP), Value: 1}}
}

// ECMPService returns a TCP service for vip with IPVS's mh (Maglev)
// scheduler (hashing source address and port, with fallback) and the real
// servers rs as destinations of forwarding method
// fwd, weight 1, sorted by address: every director given the same rs in
// any order builds the same lookup table and so sends a flow to the same
// real server. Changing the set remaps about 1/N of the flows of the other
// servers too; the table size (a kernel build option, 251 by default)
// bounds how evenly flows spread.
func ECMPService(vip netip.AddrPort, fwd ipvs.ForwardMethod, rs ...netip.Addr) (ipvs.Service, []ipvs.Destination) {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b netip.Addr) int { return a.Compare(b) })
	sorted = slices.Compact(sorted)
	svc := ipvs.Service{
		ServiceKey: ipvs.ServiceKey{Protocol: ipvs.TCP, Address: vip.Addr(), Port: vip.Port()},
		Scheduler:  ipvs.MaglevHashing,
		// Hash the source port too, so one client's connections spread
		// (the router's ECMP hashes ports as well), and fall back to the
		// next server in the table, the same on every director, when the
		// hashed one has weight 0.
		Flags: ipvs.FlagMHPort | ipvs.FlagMHFallback,
	}
	dests := make([]ipvs.Destination, 0, len(sorted))
	for _, a := range sorted {
		dests = append(dests, ipvs.Destination{Address: a, Port: vip.Port(), Forward: fwd, Weight: 1})
	}
	return svc, dests
}
