//go:build linux

package realserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/golvs/lvs/ipvs"
)

// CheckDR inspects the namespace and reports, in plain words, what would
// break direct routing for d's VIPs: a VIP missing or on the wrong device,
// a wider prefix on lo that swallows a subnet, and interfaces that would
// answer ARP for a VIP or announce it. It changes nothing. The error is
// for an invalid d or an unreadable host, not for findings.
func (c *Client) CheckDR(ctx context.Context, d DR) (Findings, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if err := c.h.Err(); err != nil {
		return nil, wrap("check DR", err)
	}
	dev := d.Device
	if dev == "" {
		dev = "lo"
	}
	r := &findings{}
	if err := c.checkVIPs(ctx, r, dev, hostPrefixes(d.VIPs), "modprobe dummy; ip link add "+dev+" type dummy"); err != nil {
		return nil, wrap("check DR", err)
	}
	if err := c.checkARP(ctx, r, d.ARP, hostPrefixes(d.VIPs)); err != nil {
		return nil, wrap("check DR", err)
	}
	return Findings(*r), nil
}

// CheckTUN is CheckDR for tunnelling: it also reports a missing tunnel
// device (naming the module to load), a closed GUE port, a device that is
// down, and reverse-path filtering that drops decapsulated packets.
func (c *Client) CheckTUN(ctx context.Context, t TUN) (Findings, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	const op = "check TUN"
	if err := c.h.Err(); err != nil {
		return nil, wrap(op, err)
	}
	r := &findings{}
	dev := t.Device()
	if t.Type == ipvs.GUE {
		fous, err := c.h.Fous()
		switch {
		case errors.Is(err, ErrUnavailable):
			r.problem("fou", "modprobe fou", "the kernel has no foo-over-UDP support (module fou), so GUE packets on UDP port %d are not decapsulated", t.Port)
		case err != nil:
			return nil, wrap(op, err)
		default:
			open := false
			for _, f := range fous {
				open = open || f.Port == t.Port && !f.IPv6 && f.GUE
			}
			if !open {
				r.problem(fmt.Sprintf("fou port %d", t.Port), fmt.Sprintf("ip fou add port %d gue", t.Port), "no GUE receive port %d: the director's GUE packets are dropped (ICMP port unreachable)", t.Port)
			}
		}
	}
	if _, err := c.h.LinkByName(dev); errors.Is(err, ErrNotExist) {
		r.problem("device "+dev, "load the kernel module(s) "+t.module(),
			"tunnel device %s does not exist: kernel module(s) %s not loaded (or net.core.fb_tunnels_only_for_init_net keeps it out of this namespace), so %s packets are not decapsulated", dev, t.module(), t.Type)
		if err := c.checkARP(ctx, r, t.ARP, hostPrefixes(t.VIPs)); err != nil {
			return nil, wrap(op, err)
		}
		return Findings(*r), nil
	} else if err != nil {
		return nil, wrap(op, err)
	}
	if err := c.checkVIPs(ctx, r, dev, hostPrefixes(t.VIPs), ""); err != nil {
		return nil, wrap(op, err)
	}
	rp, err := c.h.EffectiveConf(dev, "rp_filter")
	if err != nil {
		return nil, wrap(op, err)
	}
	addrs, err := c.h.Addrs()
	if err != nil {
		return nil, wrap(op, err)
	}
	has4 := false
	for _, a := range addrs {
		has4 = has4 || a.Dev == dev && a.Prefix.Addr().Is4()
	}
	fix := fmt.Sprintf("put the VIP on %s and set net.ipv4.conf.%s.rp_filter=2", dev, dev)
	switch {
	case rp.Effective != 0 && !has4:
		r.problem("device "+dev, fix, "%s has no IPv4 address and reverse-path filtering is on (rp_filter %d = max(all %d, %s %d)): every decapsulated packet is dropped", dev, rp.Effective, rp.All, dev, rp.Iface)
	case rp.Effective == 1:
		r.problem("device "+dev, fix, "strict reverse-path filtering on %s (rp_filter 1 = max(all %d, %s %d)) drops decapsulated packets, whose client source routes via another device", dev, rp.All, dev, rp.Iface)
	}
	if t.MSS == 0 {
		r.note("MTU", "TUN adds %d bytes per packet; without TCP MSS clamping (TUN.MSS) clients' full-size segments rely on path-MTU discovery through the director", map[ipvs.TunnelType]int{ipvs.IPIP: 20, ipvs.GRE: 24, ipvs.GUE: 32}[t.Type])
	} else {
		missing, err := newMSSClamp(c.h).missing(ctx, mssRules(hostPrefixes(t.VIPs), t.MSS))
		if err != nil {
			return nil, wrap(op, err)
		}
		for _, m := range missing {
			r.problem("MSS clamp", "", "TCP MSS clamp missing: %s; clients may send segments too large for the tunnel", m)
		}
	}
	if err := c.checkARP(ctx, r, t.ARP, hostPrefixes(t.VIPs)); err != nil {
		return nil, wrap(op, err)
	}
	return Findings(*r), nil
}

// checkVIPs reports VIPs missing from dev, on other devices, or swallowed by
// a wider prefix.
func (c *Client) checkVIPs(ctx context.Context, r *findings, dev string, vips []netip.Prefix, createHint string) error {
	link, err := c.h.LinkByName(dev)
	if errors.Is(err, ErrNotExist) {
		r.problem("device "+dev, createHint, "device %s does not exist, so the VIPs are not local and the real server drops the director's packets", dev)
		return nil
	} else if err != nil {
		return err
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		r.problem("device "+dev, "ip link set "+dev+" up", "device %s is down, so its VIPs are not usable", dev)
	}
	addrs, err := c.h.Addrs()
	if err != nil {
		return err
	}
	for _, p := range vips {
		if err := ctx.Err(); err != nil {
			return err
		}
		v := p.Addr()
		found := false
		for _, a := range addrs {
			switch {
			case a.Prefix.Addr() == v && a.Dev == dev && a.Prefix.Bits() == v.BitLen():
				found = true
			case a.Prefix.Addr() == v && a.Dev != dev:
				r.problem("VIP "+v.String(), fmt.Sprintf("ip addr del %s dev %s", a.Prefix, a.Dev), "VIP %s is configured on %s as %s, not on %s; on an ARP-facing device the real server claims the VIP on the segment", v, a.Dev, a.Prefix, dev)
			case a.Prefix.Bits() < v.BitLen() && a.Prefix.Contains(v) && (a.Dev == "lo" || a.Dev == dev):
				r.problem("VIP "+v.String(), fmt.Sprintf("ip addr del %s dev %s; ip addr add %s/%d dev %s", a.Prefix, a.Dev, v, v.BitLen(), dev),
					"%s carries %s, which contains VIP %s: every address in that prefix is local, so the host cannot reach its neighbours in it", a.Dev, a.Prefix, v)
			}
		}
		if !found {
			r.problem("VIP "+v.String(), fmt.Sprintf("ip addr add %s/%d dev %s", v, v.BitLen(), dev), "VIP %s is not configured on %s as /%d, so packets for it are not accepted locally", v, dev, v.BitLen())
		}
	}
	return nil
}

// checkARP reports ARP-facing interfaces that would answer ARP for an IPv4
// VIP or announce one, taking the chosen backend's rules into account.
func (c *Client) checkARP(ctx context.Context, r *findings, a ARP, vips []netip.Prefix) error {
	if !hasV4(vips) {
		return nil
	}
	switch a.Backend {
	case ARPNone:
		r.note("ARP", "ARP suppression is off: right only if no VIP's network is on this host's L2 segments")
		return nil
	case ARPTables, ARPNFTables:
		app, err := c.arpBackend(ctx, "check", a, vips)
		if err != nil {
			r.problem("ARP", "", "ARP backend %s is unusable: %v", a.Backend, err)
			return nil
		}
		missing, err := arpRulesMissing(ctx, app)
		if err != nil {
			return err
		}
		for _, m := range missing {
			r.problem("ARP", "", "%s rule missing: %s; without it the real server answers ARP for the VIP or announces it", a.Backend, m)
		}
		return nil
	}
	links, err := c.h.Links()
	if err != nil {
		return err
	}
	for _, l := range links {
		at := l.Attrs()
		if at.Flags&net.FlagLoopback != 0 || at.RawFlags&0x80 != 0 { // IFF_NOARP
			continue
		}
		ig, err := c.h.EffectiveConf(at.Name, "arp_ignore")
		if err != nil {
			return err
		}
		an, err := c.h.EffectiveConf(at.Name, "arp_announce")
		if err != nil {
			return err
		}
		if ig.Effective < 1 {
			r.problem("device "+at.Name, "sysctl -w net.ipv4.conf.all.arp_ignore=1",
				"%s answers ARP requests for the VIPs (arp_ignore %d = max(all %d, %s %d)): clients and routers then send VIP traffic straight to this real server, bypassing the director", at.Name, ig.Effective, ig.All, at.Name, ig.Iface)
		}
		if an.Effective < 2 {
			r.problem("device "+at.Name, "sysctl -w net.ipv4.conf.all.arp_announce=2",
				"%s may use a VIP as sender address of its ARP requests (arp_announce %d = max(all %d, %s %d)): neighbours then cache this real server's MAC for the VIP", at.Name, an.Effective, an.All, at.Name, an.Iface)
		}
	}
	return nil
}

// arpRulesMissing lists the backend rules not in place.
func arpRulesMissing(ctx context.Context, app arpApplier) ([]string, error) {
	switch b := app.(type) {
	case *arptables:
		var out []string
		for _, rule := range b.rules() {
			if _, err := b.run(append([]string{"-C"}, rule...)...); err != nil {
				out = append(out, fmt.Sprint(rule))
			}
		}
		return out, nil
	case *nftARP:
		return b.missing(ctx)
	}
	return nil, nil
}
