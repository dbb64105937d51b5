//go:build linux

package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golvs/lvs/internal/netns"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// socketTimeout bounds every netlink exchange so that a stuck kernel reply
// cannot hang a set-up forever.
const socketTimeout = 10 * time.Second

// Host is the configuration of one network namespace. It is safe for
// concurrent reads; changes made through one Journal are sequential.
type Host struct {
	closed atomic.Bool
	path   string
	nsfd   int // -1: the caller's namespace
	nl     *netlink.Handle
}

// Open returns a Host for the namespace at path (/run/netns/NAME,
// /proc/PID/ns/net); "" is the caller's namespace.
func Open(path string) (*Host, error) {
	h := &Host{path: path, nsfd: -1}
	var err error
	// rtnetlink only: the library's default set adds XFRM and netfilter
	// sockets we never use, which fail with "protocol not supported" where
	// xfrm_user is not loaded and cannot be autoloaded.
	if path == "" {
		h.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		if h.nsfd, err = netns.Open(path); err != nil {
			return nil, fmt.Errorf("netcfg: %w", err)
		}
		h.nl, err = netlink.NewHandleAt(vnetns.NsHandle(h.nsfd), unix.NETLINK_ROUTE)
	}
	if err != nil {
		h.closeFD()
		return nil, fmt.Errorf("netcfg: netlink socket in %s: %w", h.where(), err)
	}
	if err := h.nl.SetSocketTimeout(socketTimeout); err != nil {
		h.Close()
		return nil, fmt.Errorf("netcfg: %w", err)
	}
	return h, nil
}

func (h *Host) closeFD() {
	if h.nsfd >= 0 {
		unix.Close(h.nsfd)
		h.nsfd = -1
	}
}

// Close releases the netlink sockets and the namespace descriptor. Undo
// steps recorded through this Host need it open: afterwards every method
// (and step) fails with ErrClosed rather than act on another namespace.
func (h *Host) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	h.nl.Close()
	h.closeFD()
	return nil
}

// Err is ErrClosed after Close, nil before. Callers using NetNSFd or
// Netlink directly check it first.
func (h *Host) Err() error {
	if h.closed.Load() {
		return fmt.Errorf("netcfg: %s: %w", h.where(), ErrClosed)
	}
	return nil
}

// NetNSFd (check Err first) is the namespace's open descriptor, for libraries that take one
// (google/nftables' WithNetNSFd, mdlayher/netlink's Config.NetNS), or -1
// for the caller's namespace. It stays owned by the Host.
func (h *Host) NetNSFd() int { return h.nsfd }

// Path is the namespace path given to Open.
func (h *Host) Path() string { return h.path }

func (h *Host) where() string {
	if h.path == "" {
		return "the current network namespace"
	}
	return "network namespace " + h.path
}

// Netlink is the rtnetlink handle bound to the namespace, for what this
// package does not wrap. Check Err first: after Close the handle falls back
// to the caller's namespace.
func (h *Host) Netlink() *netlink.Handle { return h.nl }

// Do runs f on a thread inside the namespace (for /proc files, sockets and
// exec'd tools, which inherit the thread's namespace).
func (h *Host) Do(f func() error) error {
	if err := h.Err(); err != nil {
		return err
	}
	return netns.Do(h.nsfd, f)
}

// Sysctl reads /proc/sys/KEY in the namespace, e.g.
// "net/ipv4/conf/all/arp_ignore". Trailing white space is removed.
func (h *Host) Sysctl(key string) (string, error) {
	if err := validSysctl(key); err != nil {
		return "", err
	}
	var b []byte
	err := h.Do(func() (err error) {
		b, err = os.ReadFile("/proc/sys/" + key)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("netcfg: read sysctl %s: %w", key, err)
	}
	return strings.TrimRight(string(b), "\n\t "), nil
}

// SysctlInt reads an integer sysctl.
func (h *Host) SysctlInt(key string) (int, error) {
	s, err := h.Sysctl(key)
	if err != nil {
		return 0, err
	}
	return parseInt(key, s)
}

func (h *Host) writeSysctl(key, value string) error {
	err := h.Do(func() error {
		f, err := os.OpenFile("/proc/sys/"+key, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, werr := f.WriteString(value)
		cerr := f.Close()
		if werr != nil {
			return werr
		}
		return cerr
	})
	if err != nil {
		return fmt.Errorf("netcfg: set sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// SetSysctl sets KEY to value. If it already has that value nothing is
// written or recorded; otherwise the previous value is recorded in j.
func (h *Host) SetSysctl(j *Journal, key, value string) error {
	prev, err := h.Sysctl(key)
	if err != nil {
		return err
	}
	if prev == value {
		return nil
	}
	if err := h.writeSysctl(key, value); err != nil {
		return err
	}
	j.Record("restore sysctl "+key+"="+prev, func() error { return h.writeSysctl(key, prev) })
	return nil
}

// Conf is an IPv4 conf key's values on one interface.
type Conf struct {
	All, Iface, Effective int
}

// EffectiveConf reads net/ipv4/conf/{all,IFACE}/KEY and combines them with
// the kernel's rule for KEY.
func (h *Host) EffectiveConf(iface, key string) (Conf, error) {
	all, err := h.SysctlInt(ConfKey(false, "all", key))
	if err != nil {
		return Conf{}, err
	}
	v, err := h.SysctlInt(ConfKey(false, iface, key))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Conf{}, fmt.Errorf("netcfg: device %s in %s: %w", iface, h.where(), ErrNoDevice)
		}
		return Conf{}, err
	}
	return Conf{All: all, Iface: v, Effective: Combine(key, all, v)}, nil
}

// RaiseConfAll raises net/ipv4/conf/all/KEY to at least min (never lowers
// it). For max-rule keys this makes the effective value ≥ min on every
// interface, including ones created later.
func (h *Host) RaiseConfAll(j *Journal, key string, min int) error {
	k := ConfKey(false, "all", key)
	v, err := h.SysctlInt(k)
	if err != nil || v >= min {
		return err
	}
	return h.SetSysctl(j, k, strconv.Itoa(min))
}

// SetConf sets net/ipv4/conf/IFACE/KEY, recording the previous value.
func (h *Host) SetConf(j *Journal, iface, key string, v int) error {
	return h.SetSysctl(j, ConfKey(false, iface, key), strconv.Itoa(v))
}

// ClearConfOr turns an OR-rule key (send_redirects) off on iface by clearing
// it on both all and iface.
func (h *Host) ClearConfOr(j *Journal, iface, key string) error {
	if err := h.SetConf(j, "all", key, 0); err != nil {
		return err
	}
	return h.SetConf(j, iface, key, 0)
}

// LinkByName finds a device; a missing one is an ErrNoDevice error.
func (h *Host) LinkByName(name string) (netlink.Link, error) {
	if err := h.Err(); err != nil {
		return nil, err
	}
	l, err := h.nl.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("netcfg: device %s in %s: %w", name, h.where(), ErrNoDevice)
		}
		return nil, fmt.Errorf("netcfg: device %s: %w", name, err)
	}
	return l, nil
}

// ModuleFor names the kernel module that provides a link kind.
func ModuleFor(kind string) string {
	switch kind {
	case "gre", "gretap":
		return "ip_gre"
	case "ip6gre", "ip6gretap":
		return "ip6_gre"
	case "ip6tnl":
		return "ip6_tunnel"
	}
	return kind // dummy, ipip, sit, veth, vxlan...
}

// AddLink creates link unless a device of that name exists. An existing
// device of the same type is returned and not recorded; one of another type
// is an ErrConflict error. A kind the kernel does not know is an ErrNoModule
// error naming the module.
func (h *Host) AddLink(j *Journal, link netlink.Link) (netlink.Link, error) {
	name := link.Attrs().Name
	if l, err := h.LinkByName(name); err == nil {
		if l.Type() != link.Type() {
			return nil, fmt.Errorf("netcfg: device %s exists as type %s, not %s: %w", name, l.Type(), link.Type(), ErrConflict)
		}
		return l, nil
	} else if !errors.Is(err, ErrNoDevice) {
		return nil, err
	}
	if err := h.nl.LinkAdd(link); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("netcfg: create %s device %s: the kernel has no %s devices; load the %s module: %w",
				link.Type(), name, link.Type(), ModuleFor(link.Type()), ErrNoModule)
		}
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("netcfg: create %s device %s: %w (%w)", link.Type(), name, ErrConflict, err)
		}
		return nil, fmt.Errorf("netcfg: create %s device %s: %w", link.Type(), name, err)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, err
	}
	idx := l.Attrs().Index
	j.Record("delete device "+name, func() error {
		if err := h.Err(); err != nil {
			return err
		}
		cur, err := h.nl.LinkByIndex(idx)
		if err != nil || cur.Attrs().Name != name {
			return nil // already gone: nothing of ours left
		}
		return h.nl.LinkDel(cur)
	})
	return l, nil
}

// SetLinkUp brings a device up, recording that it was down.
func (h *Host) SetLinkUp(j *Journal, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return err
	}
	if l.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := h.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("netcfg: set %s up: %w", name, err)
	}
	idx := l.Attrs().Index
	j.Record("set device "+name+" down", func() error {
		if err := h.Err(); err != nil {
			return err
		}
		cur, err := h.nl.LinkByIndex(idx)
		if err != nil {
			return nil
		}
		return h.nl.LinkSetDown(cur)
	})
	return nil
}

// AddrOn is an address configured on a device.
type AddrOn struct {
	Dev    string
	Prefix netip.Prefix
}

// dump runs a netlink dump again while the kernel reports it interrupted
// (NLM_F_DUMP_INTR: the namespace changed meanwhile, say addrconf adding
// an IPv6 address, so the results may be inconsistent), a few times.
func dump[T any](f func() ([]T, error)) ([]T, error) {
	for i := 0; ; i++ {
		out, err := f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) || i == 9 {
			return out, err
		}
	}
}

// Links lists the namespace's devices.
func (h *Host) Links() ([]netlink.Link, error) {
	if err := h.Err(); err != nil {
		return nil, err
	}
	return dump(h.nl.LinkList)
}

// Addrs lists every address in the namespace (both families) with its
// device.
func (h *Host) Addrs() ([]AddrOn, error) {
	links, err := h.Links()
	if err != nil {
		return nil, fmt.Errorf("netcfg: list devices: %w", err)
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	addrs, err := dump(func() ([]netlink.Addr, error) { return h.nl.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, fmt.Errorf("netcfg: list addresses: %w", err)
	}
	var out []AddrOn
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok {
			out = append(out, AddrOn{Dev: names[a.LinkIndex], Prefix: p})
		}
	}
	return out, nil
}

// FindAddr lists where address a is configured.
func (h *Host) FindAddr(a netip.Addr) ([]AddrOn, error) {
	all, err := h.Addrs()
	if err != nil {
		return nil, err
	}
	var out []AddrOn
	for _, x := range all {
		if x.Prefix.Addr() == a.Unmap() {
			out = append(out, x)
		}
	}
	return out, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits), true
}

func toIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// AddAddr adds prefix p (address and prefix length) to dev. If exactly that
// is already there nothing is done or recorded; the address with another
// prefix length, or on another device, is an ErrConflict error. IPv6
// addresses skip duplicate address detection, so they are usable at once.
func (h *Host) AddAddr(j *Journal, dev string, p netip.Prefix) error {
	if !p.IsValid() {
		return fmt.Errorf("netcfg: invalid prefix %v", p)
	}
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
	l, err := h.LinkByName(dev)
	if err != nil {
		return err
	}
	have, err := h.FindAddr(p.Addr())
	if err != nil {
		return err
	}
	for _, x := range have {
		if x.Dev == dev && x.Prefix == p {
			return nil
		}
	}
	if len(have) > 0 {
		return fmt.Errorf("netcfg: address %s is already configured as %s on %s: %w", p.Addr(), have[0].Prefix, have[0].Dev, ErrConflict)
	}
	a := &netlink.Addr{IPNet: toIPNet(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := h.nl.AddrAdd(l, a); err != nil {
		return fmt.Errorf("netcfg: add %s to %s: %w", p, dev, err)
	}
	idx := l.Attrs().Index
	j.Record("remove address "+p.String()+" from "+dev, func() error {
		if err := h.Err(); err != nil {
			return err
		}
		cur, err := h.nl.LinkByIndex(idx)
		if err != nil {
			return nil // the device is gone, and the address with it
		}
		err = h.nl.AddrDel(cur, &netlink.Addr{IPNet: toIPNet(p)})
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return nil
		}
		return err
	})
	return nil
}
