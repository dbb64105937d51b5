//go:build linux

package director

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/hostrec"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/undo"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

type client struct {
	h *netcfg.Host
	// owner is the public Client, whose lock a Setup's Teardown takes.
	owner *Client
}

func newClient(cfg *Config, owner *Client) (*client, error) {
	h, err := netcfg.OpenConfig(cfg.NetNS, cfg.NetNSPath, cfg.Identity)
	if err != nil {
		return nil, wrap("open", err)
	}
	return &client{h: h, owner: owner}, nil
}

func (c *client) close() error { return c.h.Close() }

// nsfd is the namespace's descriptor for nftables, -1 for the caller's.
func (c *client) nsfd() int { return c.h.NetNSFd() }

// run calls f with a journal of the host's ownership records, under the
// host-wide lock (netcfg.Host.Change). On failure it rolls back what f did;
// on success the journal becomes the Setup.
func (c *client) run(op string, f func(j *netcfg.Journal) error) (*Setup, error) {
	j, err := c.h.Change(pkg, op, f)
	if err != nil {
		if errors.Is(err, errs.ErrRollback) {
			return nil, &Error{Pkg: pkg, Op: op, Err: err, Kind: ErrRollback}
		}
		return nil, wrap(op, err)
	}
	o := c.owner
	return undo.New(pkg, op, j.Steps(), o.live, func(ctx context.Context) error {
		top := "tear down " + op
		return o.do(ctx, top, func(*client) error { return wrap(top, j.Teardown()) })
	}), nil
}

// recover undoes what a dead process with the Client's identity left.
func (c *client) recover(op string) error {
	return wrap(op, c.h.Recover(pkg, c.restore))
}

// restore undoes the director's own resource kinds for the host's
// records.
func (c *client) restore(res string, r *hostrec.Resource) error {
	kind, arg, _ := strings.Cut(res, " ")
	switch kind {
	case "vipdev":
		return c.deleteVIPDevice(arg)
	case "nftsnat", "iptsnat", "iptnat":
		return c.restoreSNAT(res)
	}
	return newError("release "+res, ErrInvalid, errors.New("no restorer for this kind of resource"))
}

// ---- VIPs ----

func (c *client) addVIP(ctx context.Context, op string, v VIP) (*Setup, error) {
	if err := validateVIP(op, v); err != nil {
		return nil, err
	}
	findings, err := c.checkVIP(op, v)
	if err != nil {
		return nil, err
	}
	if err := brokenError(op, "VIP", findings); err != nil {
		return nil, err
	}
	dev, p := v.device(), v.prefix()
	return c.run(op, func(j *netcfg.Journal) error {
		if v.Announce == AnnounceRouted {
			if err := c.ensureDummy(j, dev); err != nil {
				return err
			}
		}
		if err := c.h.AddAddr(j, dev, p); err != nil {
			return err
		}
		if v.Announce == AnnounceARP {
			return c.announce(ctx, dev, p.Addr(), v.Gratuitous)
		}
		return nil
	})
}

// vipDeviceAlias marks dummy devices this package created (IFLA_IFALIAS).
const vipDeviceAlias = "golvs-director routed VIPs"

// ensureDummy creates the dummy device dev if missing (marked with
// vipDeviceAlias) and sets it up. The device is a shared resource of the
// host's records: every routed VIP set-up on it owns it, and the last one
// out deletes it, unless an address not of ours is left on it.
func (c *client) ensureDummy(j *netcfg.Journal, dev string) error {
	nl := c.h.Netlink()
	_, err := c.h.LinkByName(dev)
	if err != nil && !errors.Is(err, ErrNotExist) {
		return err
	}
	exists := err == nil
	err = c.h.Own(j, "vipdev "+dev, "delete device "+dev+" if no address is left on it", netcfg.Present(exists), "1", exists, func() (map[string]string, error) {
		l := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: dev}}
		if err := nl.LinkAdd(l); err != nil {
			return nil, fmt.Errorf("create dummy device %s: %w", dev, err)
		}
		if err := nl.LinkSetAlias(l, vipDeviceAlias); err != nil {
			return nil, err
		}
		return nil, nl.LinkSetUp(l) // deleting it covers this
	}, c.restore)
	if err != nil || !exists {
		return err
	}
	return c.h.SetLinkUp(j, dev)
}

// deleteVIPDevice deletes dev if it is this package's dummy device and no
// address other than IPv6 link-local is left on it.
func (c *client) deleteVIPDevice(dev string) error {
	nl := c.h.Netlink()
	l, err := nl.LinkByName(dev)
	if err != nil || l.Attrs().Alias != vipDeviceAlias || l.Type() != "dummy" {
		return nil
	}
	addrs, err := c.h.Addrs()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if a.Dev == dev && !a.Prefix.Addr().IsLinkLocalUnicast() {
			return nil // keep it for the other addresses
		}
	}
	return nl.LinkDel(l)
}

func brokenError(op, field string, fs Findings) error {
	var msgs []string
	for _, f := range fs {
		if f.Severity == SeverityBroken {
			msgs = append(msgs, f.Problem+"; "+f.Fix)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &Error{Pkg: pkg, Op: op, Field: field, Err: errors.New(strings.Join(msgs, "; also: ")), Kind: ErrIneffective}
}

// arpCapable reports whether l answers and sends ARP/NDP on a segment.
func arpCapable(l netlink.Link) bool {
	a := l.Attrs()
	return len(a.HardwareAddr) == 6 && a.RawFlags&unix.IFF_NOARP == 0 && a.Flags&net.FlagLoopback == 0 && l.Type() != "dummy"
}

// kindOf names a device's kind for messages ("dummy", "loopback", "veth").
func kindOf(l netlink.Link) string {
	if l.Attrs().Flags&net.FlagLoopback != 0 {
		return "loopback"
	}
	if l.Attrs().RawFlags&unix.IFF_NOARP != 0 {
		return "NOARP " + l.Type()
	}
	return l.Type()
}

func (c *client) checkVIP(op string, v VIP) (Findings, error) {
	dev, a := v.device(), v.addr()
	subj := fmt.Sprintf("VIP %s on %s (%s mode)", a, dev, v.Announce)
	var out Findings
	link, lerr := c.h.LinkByName(dev)
	if lerr != nil && !(v.Announce == AnnounceRouted && errors.Is(lerr, ErrNotExist)) {
		return nil, wrap(op, lerr)
	}
	if v.Announce == AnnounceRouted {
		if link != nil && link.Type() != "dummy" {
			return nil, &Error{Pkg: pkg, Op: op, Field: "VIP.Interface", Kind: ErrConflict,
				Err: fmt.Errorf("%s is a %s device; routed mode puts the VIP on a dummy device (on a real NIC it would be answered by ARP there)", dev, link.Type())}
		}
		if a.Is4() {
			out = append(out, c.arpLeaks(subj)...)
		}
		return out, nil
	}
	// ARP mode.
	if !arpCapable(link) {
		if a.Is6() {
			out = append(out, finding(SeverityBroken, subj,
				fmt.Sprintf("%s is a %s device without neighbour discovery: Linux answers neighbour solicitations only for addresses on the interface they arrive on, so nobody would find the VIP", dev, kindOf(link)),
				"use AnnounceRouted for a VIP routed to this director, or put the VIP on the client-facing interface"))
			return out, nil
		}
		conf, err := c.h.EffectiveConf(dev, "arp_ignore")
		if err != nil {
			return nil, wrap(op, err)
		}
		p := fmt.Sprintf("%s is a %s device, which sends no ARP (so gratuitous ARP reaches nobody)", dev, kindOf(link))
		if conf.Effective >= 1 {
			p += fmt.Sprintf(", and with arp_ignore=%d in effect (max of conf/all=%d and conf/%s=%d) ARP requests are answered only for addresses on the interface they arrive on: the VIP is never answered", conf.Effective, conf.All, dev, conf.Iface)
		} else {
			p += ": with arp_ignore=0 the VIP is answered on every interface, by accident rather than by design"
		}
		out = append(out, finding(SeverityBroken, subj, p,
			"use AnnounceRouted for a VIP routed to this director, or put the VIP on the client-facing interface"))
		return out, nil
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		out = append(out, finding(SeverityWarning, subj, dev+" is down", "set it up"))
	}
	if a.Is4() {
		conf, err := c.h.EffectiveConf(dev, "arp_ignore")
		if err != nil {
			return nil, wrap(op, err)
		}
		switch {
		case conf.Effective == 2:
			out = append(out, finding(SeverityBroken, subj,
				fmt.Sprintf("arp_ignore=2 in effect on %s (max of conf/all=%d and conf/%s=%d) answers only senders in the target address's subnet, and a /32 VIP has none: the VIP is never answered", dev, conf.All, dev, conf.Iface),
				"lower arp_ignore to 1 on all and "+dev))
		case conf.Effective >= 8:
			out = append(out, finding(SeverityBroken, subj,
				fmt.Sprintf("arp_ignore=%d in effect on %s never answers ARP", conf.Effective, dev),
				"lower arp_ignore to 1 on all and "+dev))
		}
	} else {
		if d, err := c.h.SysctlInt(netcfg.ConfKey(true, dev, "disable_ipv6")); err == nil && d != 0 {
			out = append(out, finding(SeverityBroken, subj, "IPv6 is disabled on "+dev, "set net.ipv6.conf."+dev+".disable_ipv6=0"))
		}
	}
	return out, nil
}

// arpLeaks warns about interfaces that answer ARP for any local address,
// a routed VIP included (kube-proxy's strictARP problem).
func (c *client) arpLeaks(subj string) Findings {
	links, err := c.h.Links()
	if err != nil {
		return nil
	}
	var leaky []string
	for _, l := range links {
		if !arpCapable(l) {
			continue
		}
		conf, err := c.h.EffectiveConf(l.Attrs().Name, "arp_ignore")
		if err == nil && conf.Effective == 0 {
			leaky = append(leaky, l.Attrs().Name)
		}
	}
	if len(leaky) == 0 {
		return nil
	}
	sort.Strings(leaky)
	return Findings{finding(SeverityWarning, subj,
		"with arp_ignore=0 the director also answers ARP for the routed VIP on "+strings.Join(leaky, ", ")+", attracting traffic meant for other directors on those segments",
		"set net.ipv4.conf.all.arp_ignore=1 (kube-proxy's strictARP) unless that is intended")}
}

func (c *client) announceChecked(ctx context.Context, op, iface string, addr netip.Addr, g Gratuitous) error {
	if err := validateIface(op, "iface", iface); err != nil {
		return err
	}
	if err := validateGratuitous(op, "g", g); err != nil {
		return err
	}
	addr = addr.Unmap()
	if !addr.IsValid() {
		return invalid(op, "addr", "missing")
	}
	have, err := c.h.FindAddr(addr)
	if err != nil {
		return wrap(op, err)
	}
	found := false
	for _, x := range have {
		found = found || x.Dev == iface
	}
	if !found {
		return invalid(op, "addr", fmt.Sprintf("%s is not configured on %s: announcing an address this host does not own would steal it", addr, iface))
	}
	return wrap(op, c.announce(ctx, iface, addr, g))
}

// announce sends the gratuitous ARP / unsolicited NA burst on dev from an
// AF_PACKET socket opened inside the namespace (sockets keep it).
func (c *client) announce(ctx context.Context, dev string, addr netip.Addr, g Gratuitous) error {
	g = g.normalized()
	if g.Count == 0 {
		return nil
	}
	link, err := c.h.LinkByName(dev)
	if err != nil {
		return err
	}
	mac := link.Attrs().HardwareAddr
	if len(mac) != 6 {
		return fmt.Errorf("announce on %s: not an Ethernet device", dev)
	}
	var frame []byte
	sa := &unix.SockaddrLinklayer{Ifindex: link.Attrs().Index, Halen: 6}
	if addr.Is4() {
		frame = gratuitousARP(mac, addr)
		sa.Protocol = htons(etherTypeARP)
		copy(sa.Addr[:], broadcastMAC)
	} else {
		fwd, _ := c.h.SysctlInt(netcfg.ConfKey(true, dev, "forwarding"))
		frame = unsolicitedNA(mac, addr, fwd == 1)
		sa.Protocol = htons(etherTypeIPv6)
		copy(sa.Addr[:], allNodesMAC)
	}
	fd := -1
	err = c.h.Do(func() (err error) {
		// Protocol 0: send only, receive nothing.
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	defer unix.Close(fd)
	t := time.NewTimer(0)
	defer t.Stop()
	for i := 0; i < g.Count; i++ {
		if i > 0 {
			t.Reset(g.Interval)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		} else {
			<-t.C
		}
		if err := unix.Sendto(fd, frame, 0, sa); err != nil {
			return fmt.Errorf("send announcement for %s on %s: %w", addr, dev, err)
		}
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ---- forwarding and NAT gateway ----

func (c *client) enableForwarding(op string, f Forwarding) (*Setup, error) {
	if err := validateForwarding(op, "Forwarding", f); err != nil {
		return nil, err
	}
	if err := c.checkForwardingKeys(op, f); err != nil {
		return nil, err
	}
	return c.run(op, func(j *netcfg.Journal) error { return c.forwarding(j, f) })
}

const (
	keyForward4 = "net/ipv4/ip_forward"
	keyForward6 = "net/ipv6/conf/all/forwarding"
)

func (c *client) checkForwardingKeys(op string, f Forwarding) error {
	if f.IPv6 {
		if _, err := c.h.Sysctl(keyForward6); err != nil {
			return &Error{Pkg: pkg, Op: op, Field: "Forwarding.IPv6", Err: err, Kind: ErrNotSupported}
		}
	}
	return nil
}

func (c *client) forwarding(j *netcfg.Journal, f Forwarding) error {
	if f.IPv4 {
		if err := c.h.SetSysctlTree(j, keyForward4, "1", "net/ipv4/conf"); err != nil {
			return err
		}
	}
	if f.IPv6 {
		return c.forwarding6(j, "1")
	}
	return nil
}

// forwarding6 sets net.ipv6.conf.all.forwarding, first keeping router
// advertisements accepted where they are (accept_ra=2, see
// netcfg.Host.KeepRA) when it turns forwarding on.
func (c *client) forwarding6(j *netcfg.Journal, value string) error {
	if value != "0" {
		if _, err := c.h.KeepRA(j); err != nil {
			return err
		}
	}
	return c.h.SetSysctlTree(j, keyForward6, value, "net/ipv6/conf")
}

func (c *client) natGateway(op string, g NATGateway) (*Setup, error) {
	if err := validateNATGateway(op, g); err != nil {
		return nil, err
	}
	if err := c.checkForwardingKeys(op, g.Forwarding); err != nil {
		return nil, err
	}
	for _, n := range g.Interfaces {
		if _, err := c.h.LinkByName(n); err != nil {
			return nil, wrap(op, err)
		}
	}
	return c.run(op, func(j *netcfg.Journal) error {
		if err := c.forwarding(j, g.Forwarding); err != nil {
			return err
		}
		if !g.Forwarding.IPv4 {
			return nil // IPv6 has no send_redirects knob
		}
		for _, n := range g.Interfaces {
			if err := c.h.ClearConfOr(j, n, "send_redirects"); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *client) checkReturnPath(op string, paths []ReturnPath) (Findings, error) {
	if err := validateReturnPaths(op, paths); err != nil {
		return nil, err
	}
	var out Findings
	nl := c.h.Netlink()
	for _, p := range paths {
		rs := p.RealServer.Unmap()
		subj := "real server " + rs.String()
		fwdKey := keyForward4
		if rs.Is6() {
			fwdKey = keyForward6
		}
		if v, err := c.h.SysctlInt(fwdKey); err == nil && v == 0 {
			out = append(out, finding(SeverityBroken, subj,
				"forwarding is off ("+strings.ReplaceAll(fwdKey, "/", ".")+"=0): the director drops the replies it must route back to clients",
				"NATGateway or EnableForwarding"))
		}
		r, err := routeGet(nl, rs)
		if err != nil {
			return nil, wrap(op, fmt.Errorf("route to %s: %w", rs, err))
		}
		if r.Gw != nil {
			out = append(out, finding(SeverityBroken, subj,
				fmt.Sprintf("the director reaches it through router %s, so the director cannot be its gateway and its replies bypass de-NAT", r.Gw),
				"put the real servers on a segment of the director's, or use OneArmNAT"))
			continue
		}
		rsDev := linkName(nl, r.LinkIndex)
		gw := p.Gateway.Unmap()
		if p.RealServerNetNS != "" {
			rh, err := netcfg.Open(p.RealServerNetNS)
			if err != nil {
				return nil, wrap(op, err)
			}
			rr, err := routeGet(rh.Netlink(), p.Client.Unmap())
			rh.Close()
			if err != nil {
				return nil, wrap(op, fmt.Errorf("route from the real server to %s: %w", p.Client, err))
			}
			if rr.Gw == nil {
				out = append(out, finding(SeverityBroken, subj,
					fmt.Sprintf("it reaches client %s directly, not through a gateway: its replies bypass the director", p.Client),
					"use OneArmNAT"))
				continue
			}
			gw, _ = netip.AddrFromSlice(rr.Gw)
			gw = gw.Unmap()
		}
		if gw.IsValid() {
			have, err := c.h.FindAddr(gw)
			if err != nil {
				return nil, wrap(op, err)
			}
			switch {
			case len(have) == 0:
				src, _ := netip.AddrFromSlice(r.Src)
				fix := "make the director's address on " + rsDev
				if src.IsValid() {
					fix += " (" + src.Unmap().String() + ")"
				}
				out = append(out, finding(SeverityBroken, subj,
					fmt.Sprintf("its gateway %s is not an address of this director: replies go there and bypass de-NAT", gw),
					fix+" its default gateway, or use OneArmNAT"))
				continue
			case have[0].Dev != rsDev:
				out = append(out, finding(SeverityWarning, subj,
					fmt.Sprintf("its gateway %s is on %s, but the director reaches it through %s", gw, have[0].Dev, rsDev), ""))
			}
		}
		if p.Client.IsValid() && p.RealServerNetNS == "" {
			rc, err := routeGet(nl, p.Client.Unmap())
			if err == nil && rc.Gw == nil && rc.LinkIndex == r.LinkIndex {
				out = append(out, finding(SeverityBroken, subj,
					fmt.Sprintf("client %s is on the real server's own segment (%s): the real server answers it directly, bypassing de-NAT", p.Client, rsDev),
					"use OneArmNAT for such clients"))
			}
		}
	}
	return out, nil
}

func routeGet(nl *netlink.Handle, a netip.Addr) (netlink.Route, error) {
	rs, err := nl.RouteGet(a.AsSlice())
	if err != nil {
		return netlink.Route{}, err
	}
	if len(rs) == 0 {
		return netlink.Route{}, fmt.Errorf("no route to %s", a)
	}
	return rs[0], nil
}

func linkName(nl *netlink.Handle, idx int) string {
	if l, err := nl.LinkByIndex(idx); err == nil {
		return l.Attrs().Name
	}
	return "ifindex " + strconv.Itoa(idx)
}

// ---- sysctls ----

func (c *client) applySysctls(op string, s []Sysctl) (*Setup, error) {
	if err := validateSysctls(op, s); err != nil {
		return nil, err
	}
	for i, x := range s {
		if _, err := c.h.Sysctl(x.path()); err != nil {
			msg, kind := err, ErrNotSupported
			if strings.HasPrefix(x.Name, "net.ipv4.vs.") {
				msg, kind = fmt.Errorf("%w (IPVS sysctls appear once ip_vs is loaded, e.g. by creating a service, and some only on newer kernels)", err), ErrUnavailable
			}
			return nil, &Error{Pkg: pkg, Op: op, Field: fmt.Sprintf("sysctls[%d]", i), Err: msg, Kind: kind}
		}
	}
	return c.run(op, func(j *netcfg.Journal) error {
		for _, x := range s {
			var err error
			switch x.path() {
			case keyForward4:
				err = c.h.SetSysctlTree(j, keyForward4, strconv.Itoa(x.Value), "net/ipv4/conf")
			case keyForward6:
				err = c.forwarding6(j, strconv.Itoa(x.Value))
			default:
				err = c.h.SetSysctl(j, x.path(), strconv.Itoa(x.Value))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
