//go:build linux

package realserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// CheckRoutes reports what would send the replies of direct routing and
// tunnelling (which leave the real server straight for the client) out
// the wrong way, or drop the requests: several default gateways, static
// routes through another gateway (for clients, when given, that they
// cover), and strict reverse-path filtering on an interface other than
// the one of the default route, which drops requests the director
// forwards through it. It changes nothing.
func (c *Client) CheckRoutes(ctx context.Context, clients ...netip.Addr) (Findings, error) {
	const op = "check routes"
	if err := c.h.Err(); err != nil {
		return nil, wrap(op, err)
	}
	nl := c.h.Netlink()
	r := &findings{}
	defaultDevs := map[string]bool{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		if err := ctx.Err(); err != nil {
			return nil, wrap(op, err)
		}
		routes, err := nl.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, wrap(op, err)
		}
		var defaults []string
		var static []netlink.Route
		for _, rt := range routes {
			hops := nextHops(nl, rt)
			if len(hops) == 0 {
				continue
			}
			if rt.Dst == nil || isDefault(rt.Dst) {
				for _, h := range hops {
					defaults = append(defaults, h.String())
					defaultDevs[h.dev] = defaultDevs[h.dev] || fam == netlink.FAMILY_V4
				}
				continue
			}
			static = append(static, rt)
		}
		slices.Sort(defaults)
		defaults = slices.Compact(defaults)
		name := map[int]string{netlink.FAMILY_V4: "IPv4", netlink.FAMILY_V6: "IPv6"}[fam]
		if len(defaults) > 1 {
			*r = append(*r, Finding{Severity: SeverityWarning, Subject: name + " default routes",
				Problem: fmt.Sprintf("%d default gateways (%s): replies to clients leave through whichever the kernel picks (lowest metric, or a hash per flow), not necessarily the way requests came, and a stateful firewall or reverse-path check on the other side drops them", len(defaults), strings.Join(defaults, ", ")),
				Fix:     "keep one default gateway, or route replies from the VIPs by policy (ip rule add from VIP table N; a default route in table N)"})
		}
		for _, rt := range static {
			hops := nextHops(nl, rt)
			via := make([]string, len(hops))
			for i, h := range hops {
				via[i] = h.String()
			}
			var hit []string
			for _, cl := range clients {
				if cl.Unmap().Is4() == (fam == netlink.FAMILY_V4) && rt.Dst.Contains(cl.Unmap().AsSlice()) {
					hit = append(hit, cl.Unmap().String())
				}
			}
			if len(hit) > 0 {
				*r = append(*r, Finding{Severity: SeverityWarning, Subject: "route " + rt.Dst.String(),
					Problem: fmt.Sprintf("replies to client(s) %s leave through %s, not the default gateway: if those clients reach the VIP through the default gateway's side, the replies take another path and stateful devices drop them", strings.Join(hit, ", "), strings.Join(via, ", ")),
					Fix:     "delete the static route, or route replies from the VIPs by policy (ip rule add from VIP table N)"})
				continue
			}
			*r = append(*r, Finding{Severity: SeverityNote, Subject: "route " + rt.Dst.String(),
				Problem: fmt.Sprintf("replies to clients in %s leave through %s, not the default gateway: right only if those clients reach the VIP from that side", rt.Dst, strings.Join(via, ", "))})
		}
	}
	if len(defaultDevs) == 0 {
		return Findings(*r), nil
	}
	links, err := c.h.Links()
	if err != nil {
		return nil, wrap(op, err)
	}
	var dflt []string
	for d, v4 := range defaultDevs {
		if v4 {
			dflt = append(dflt, d)
		}
	}
	sort.Strings(dflt)
	for _, l := range links {
		at := l.Attrs()
		if at.Flags&net.FlagLoopback != 0 || at.EncapType != "ether" || at.Flags&net.FlagUp == 0 || len(dflt) == 0 || slices.Contains(dflt, at.Name) {
			continue
		}
		rp, err := c.h.EffectiveConf(at.Name, "rp_filter")
		if err != nil {
			return nil, wrap(op, err)
		}
		if rp.Effective == 1 {
			*r = append(*r, Finding{Severity: SeverityWarning, Subject: "device " + at.Name,
				Problem: fmt.Sprintf("strict reverse-path filtering on %s (rp_filter 1 = max(all %d, %s %d)) while the default route leaves through %s: requests from clients arriving on %s (as the director forwards them when it reaches this host there) are dropped", at.Name, rp.All, at.Name, rp.Iface, strings.Join(dflt, ", "), at.Name),
				Fix:     fmt.Sprintf("set net.ipv4.conf.all.rp_filter=2 and net.ipv4.conf.%s.rp_filter=2 (loose)", at.Name)})
		}
	}
	return Findings(*r), nil
}

// hop is one next hop of a route: a gateway on a device.
type hop struct{ gw, dev string }

func (h hop) String() string {
	if h.gw == "" {
		return "dev " + h.dev
	}
	return h.gw + " on " + h.dev
}

// nextHops lists the gateways of rt; routes without one (connected
// subnets, local addresses) have none.
func nextHops(nl *netlink.Handle, rt netlink.Route) []hop {
	var out []hop
	if rt.Gw != nil {
		out = append(out, hop{rt.Gw.String(), linkName(nl, rt.LinkIndex)})
	}
	for _, m := range rt.MultiPath {
		if m.Gw != nil {
			out = append(out, hop{m.Gw.String(), linkName(nl, m.LinkIndex)})
		}
	}
	return out
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

func linkName(nl *netlink.Handle, idx int) string {
	if l, err := nl.LinkByIndex(idx); err == nil {
		return l.Attrs().Name
	}
	return fmt.Sprintf("ifindex %d", idx)
}
