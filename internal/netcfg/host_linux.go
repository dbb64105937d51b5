//go:build linux

package netcfg

import (
	"errors"
	"fmt"
	"github.com/golvs/lvs/internal/errs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golvs/lvs/internal/hostrec"
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
	ident  string // owner identity on the host; "" anonymous

	storeOnce sync.Once
	store     *hostrec.Store
	storeErr  error
}

// Open returns a Host for the namespace at path (/run/netns/NAME,
// /proc/PID/ns/net); "" is the caller's namespace.
func Open(path string) (*Host, error) { return OpenConfig(0, path, "") }

// OpenConfig returns a Host for the namespace a public package's Config
// names: the descriptor fd (duplicated; the caller keeps its own) when
// fd > 0, else path, else the caller's namespace; for the owner identity
// (Config.Identity). An identity's undo records of its set-ups (Change)
// persist under /run so that a later process with the same identity can
// Recover them. "" is an anonymous owner, whose ownership ends with its
// process.
func OpenConfig(fd int, path, identity string) (*Host, error) {
	if identity != "" {
		if err := hostrec.ValidIdentity(identity); err != nil {
			return nil, &errs.Error{Pkg: pkg, Op: "open host", Field: "Identity", Kind: errs.ErrInvalid, Err: err}
		}
	}
	h := &Host{path: path, nsfd: -1, ident: identity}
	var err error
	if h.nsfd, err = netns.OpenConfig(fd, path); err != nil {
		return nil, kernelErr("open network namespace", err)
	}
	// rtnetlink only: the library's default set adds XFRM and netfilter
	// sockets we never use, which fail with "protocol not supported" where
	// xfrm_user is not loaded and cannot be autoloaded.
	if h.nsfd < 0 {
		h.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		h.nl, err = netlink.NewHandleAt(vnetns.NsHandle(h.nsfd), unix.NETLINK_ROUTE)
	}
	if err != nil {
		h.closeFD()
		return nil, kernelErr("netlink socket in "+h.where(), err)
	}
	if err := h.nl.SetSocketTimeout(socketTimeout); err != nil {
		h.Close()
		return nil, kernelErr("netlink socket timeout", err)
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
// (and step) fails with errs.ErrClosed rather than act on another namespace.
func (h *Host) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	h.nl.Close()
	h.closeFD()
	return nil
}

// Err is an errs.ErrClosed error after Close, nil before. Callers using NetNSFd or
// Netlink directly check it first.
func (h *Host) Err() error {
	if h.closed.Load() {
		return &errs.Error{Pkg: pkg, Op: h.where(), Kind: errs.ErrClosed}
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
	if h.path == "" && h.nsfd >= 0 {
		return "the network namespace of the given descriptor"
	}
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
		return "", kernelErr("read sysctl "+key, err)
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
		return kernelErr("set sysctl "+key+"="+value, err)
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
	return h.ownSysctl(j, key, prev, value, prev == value)
}

// ownSysctl writes value to key (now cur) unless present, through the
// ownership records when j has them.
func (h *Host) ownSysctl(j *Journal, key, cur, value string, present bool) error {
	if j.tx != nil {
		return h.Own(j, "sysctl "+key, "restore sysctl "+key+"="+cur, cur, value, present,
			func() (map[string]string, error) { return nil, h.writeSysctl(key, value) }, nil)
	}
	if present {
		return nil
	}
	if err := h.writeSysctl(key, value); err != nil {
		return err
	}
	j.Record("restore sysctl "+key+"="+cur, func() error { return h.writeSysctl(key, cur) })
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
			return Conf{}, noDevice(iface, h.where())
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
	if err != nil {
		return err
	}
	// Already high enough: join the owners if an SDK set-up raised it, so
	// that it stays raised while we rely on it.
	return h.ownSysctl(j, k, strconv.Itoa(v), strconv.Itoa(min), v >= min)
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

// LinkByName finds a device; a missing one is an errs.ErrNotExist error.
func (h *Host) LinkByName(name string) (netlink.Link, error) {
	if err := h.Err(); err != nil {
		return nil, err
	}
	l, err := h.nl.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil, noDevice(name, h.where())
		}
		return nil, kernelErr("device "+name, err)
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
// device of the same type is returned and not recorded (unless an owner
// recorded it: then j joins its owners); one of another type is an
// errs.ErrConflict error. A kind the kernel does not know is an
// errs.ErrUnavailable error naming the module.
// error naming the module.
func (h *Host) AddLink(j *Journal, link netlink.Link) (netlink.Link, error) {
	name := link.Attrs().Name
	l, err := h.LinkByName(name)
	if err == nil && l.Type() != link.Type() {
		return nil, &errs.Error{Pkg: pkg, Op: "create device " + name, Kind: errs.ErrConflict, Err: fmt.Errorf("device %s exists as type %s, not %s", name, l.Type(), link.Type())}
	}
	if err != nil && !errors.Is(err, errs.ErrNotExist) {
		return nil, err
	}
	add := func() (map[string]string, error) {
		if err := h.nl.LinkAdd(link); err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) {
				return nil, &errs.Error{Pkg: pkg, Op: "create " + link.Type() + " device " + name, Kind: errs.ErrUnavailable,
					Err: fmt.Errorf("the kernel has no %s devices; load the %s module: %w", link.Type(), ModuleFor(link.Type()), err)}
			}
			if errors.Is(err, unix.EEXIST) {
				return nil, &errs.Error{Pkg: pkg, Op: "create " + link.Type() + " device " + name, Kind: errs.ErrConflict, Err: err}
			}
			return nil, kernelErr("create "+link.Type()+" device "+name, err)
		}
		if l, err = h.LinkByName(name); err != nil {
			return nil, err
		}
		return map[string]string{"index": strconv.Itoa(l.Attrs().Index)}, nil
	}
	if j.tx != nil {
		if err := h.Own(j, "link "+name, "delete device "+name, Present(l != nil), "1", l != nil, add, nil); err != nil {
			return nil, err
		}
		return l, nil
	}
	if l != nil {
		return l, nil
	}
	if _, err := add(); err != nil {
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
	up := l.Attrs().Flags&net.FlagUp != 0
	idx := l.Attrs().Index
	set := func() (map[string]string, error) {
		if err := h.nl.LinkSetUp(l); err != nil {
			return nil, kernelErr("set "+name+" up", err)
		}
		return map[string]string{"index": strconv.Itoa(idx)}, nil
	}
	if j.tx != nil {
		return h.Own(j, "up "+name, "set device "+name+" down", Present(up), "1", up, set, nil)
	}
	if up {
		return nil
	}
	if _, err := set(); err != nil {
		return err
	}
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

// Dump runs a netlink dump again while the kernel reports it interrupted
// (NLM_F_DUMP_INTR: the namespace changed meanwhile, say addrconf adding
// an IPv6 address, so the results may be inconsistent), a few times.
// Every dump through vishvananda/netlink goes through it: a fresh
// namespace's link-local addresses appear while its first dumps run.
func Dump[T any](f func() ([]T, error)) ([]T, error) {
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
	return Dump(h.nl.LinkList)
}

// Addrs lists every address in the namespace (both families) with its
// device.
func (h *Host) Addrs() ([]AddrOn, error) {
	links, err := h.Links()
	if err != nil {
		return nil, kernelErr("list devices", err)
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	addrs, err := Dump(func() ([]netlink.Addr, error) { return h.nl.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, kernelErr("list addresses", err)
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
// prefix length, or on another device, is an errs.ErrConflict error. IPv6
// addresses skip duplicate address detection, so they are usable at once.
func (h *Host) AddAddr(j *Journal, dev string, p netip.Prefix) error {
	if !p.IsValid() {
		return &errs.Error{Pkg: pkg, Op: "add address", Kind: errs.ErrInvalid, Err: fmt.Errorf("invalid prefix %v", p)}
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
	on := false
	for _, x := range have {
		on = on || x.Dev == dev && x.Prefix == p
	}
	if len(have) > 0 && !on {
		return &errs.Error{Pkg: pkg, Op: "add address", Kind: errs.ErrConflict, Err: fmt.Errorf("address %s is already configured as %s on %s", p.Addr(), have[0].Prefix, have[0].Dev)}
	}
	add := func() (map[string]string, error) {
		a := &netlink.Addr{IPNet: toIPNet(p)}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := h.nl.AddrAdd(l, a); err != nil {
			return nil, kernelErr("add "+p.String()+" to "+dev, err)
		}
		return nil, nil
	}
	if j.tx != nil {
		return h.Own(j, "addr "+dev+" "+p.String(), "remove address "+p.String()+" from "+dev, Present(on), "1", on, add, nil)
	}
	if on {
		return nil
	}
	if _, err := add(); err != nil {
		return err
	}
	j.Record("remove address "+p.String()+" from "+dev, func() error {
		if err := h.Err(); err != nil {
			return err
		}
		return h.delAddr(dev, p.String())
	})
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) { return netip.ParsePrefix(s) }
