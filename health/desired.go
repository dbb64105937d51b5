package health

import (
	"net/netip"
	"slices"

	"github.com/golvs/lvs/ipvs"
)

// Desired returns desired with the pool's verdicts in it, for
// ipvs.Client.Apply: in each service of desired that the pool checks, the
// pool's real servers are replaced by what their health calls for (up: the
// configured or dynamic weight; down: weight 0 or absent, as OnFailure
// says; draining, leaving or in maintenance: weight 0), the sorry server
// is present exactly while quorum is lost, and every other destination is
// kept as given. Services the pool does not check are returned as given;
// desired is not modified.
//
// With Config.Passive the pool writes nothing itself, and Apply is the one
// path that writes IPVS: call it with Desired after each ServerUp,
// ServerDown, QuorumLost or QuorumRegained event (Config.Notify) and
// periodically. Apply writes nothing when the kernel already matches, and
// sends one batch when many servers changed at once.
func (p *Pool) Desired(desired ipvs.State) ipvs.State {
	out := ipvs.State{Services: slices.Clone(desired.Services)}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range out.Services {
		ss := &out.Services[i]
		s := p.find(ss.ServiceKey)
		if s == nil {
			continue
		}
		var sorry netip.AddrPort
		if s.cfg.Sorry != nil {
			sorry = netip.AddrPortFrom(s.cfg.Sorry.Address.Unmap(), s.cfg.Sorry.Port)
		}
		ds := make([]ipvs.Destination, 0, len(ss.Destinations)+len(s.members)+1)
		for _, d := range ss.Destinations {
			a := netip.AddrPortFrom(d.Address.Unmap(), d.Port)
			if a != sorry && s.member(a) == nil {
				ds = append(ds, d)
			}
		}
		for _, m := range s.members {
			if d, present := m.want(); present {
				ds = append(ds, d)
			}
		}
		if s.cfg.Sorry != nil && s.sorryWant {
			d := *s.cfg.Sorry
			if d.Weight == 0 {
				d.Weight = 1
			}
			ds = append(ds, d)
		}
		ss.Destinations = ds
	}
	return out
}

// sameService compares service keys as the kernel does: a missing family
// is the address's, IPv4-mapped addresses are IPv4.
func sameService(a, b ipvs.ServiceKey) bool {
	return a.Protocol == b.Protocol && a.Port == b.Port && a.Fwmark == b.Fwmark &&
		a.Address.Unmap() == b.Address.Unmap() && serviceFamily(a) == serviceFamily(b)
}
