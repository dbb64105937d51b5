//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/golvs/lvs/internal/netns"
)

// Dir is where named namespaces are bind-mounted, as by `ip netns add`.
const Dir = "/run/netns"

// NS is a named network namespace, one host of a lab.
type NS struct {
	Name string // the name under /run/netns, for `ip netns exec NAME`
	Path string // /run/netns/NAME, for APIs that take a namespace path

	mu sync.Mutex // guards fd: Close can run while another goroutine's Do does
	fd int        // open descriptor of the namespace, -1 once closed
}

// NewNS creates the named network namespace /run/netns/name with lo up. It
// fails if the name is taken. Close removes it.
func NewNS(name string) (*NS, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return nil, fmt.Errorf("netlab: bad namespace name %q", name)
	}
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	n := &NS{Name: name, Path: filepath.Join(Dir, name), fd: -1}
	if err := create(n.Path); err != nil {
		return nil, fmt.Errorf("netlab: creating namespace %s: %w", name, err)
	}
	fd, err := netns.Open(n.Path)
	if err == nil {
		n.fd = fd
		err = n.setUp("lo")
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("netlab: namespace %s: %w", name, err), n.Close())
	}
	return n, nil
}

// create makes a new network namespace and bind-mounts it at path, from a
// thread of its own that goes back to its namespace afterwards (or dies).
func create(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		err = unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, "")
		if err != nil {
			err = fmt.Errorf("bind mount: %w", err)
		}
		if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
			// Leave the thread locked: the runtime ends it with this
			// goroutine instead of reusing it in the wrong namespace.
			errc <- errors.Join(err, serr)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// Close removes the namespace: it unmounts and deletes /run/netns/NAME.
// The namespace (with its devices, addresses and rules) goes away with its
// last user; processes still running in it keep it alive. A second call
// does nothing.
func (n *NS) Close() error {
	n.mu.Lock()
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
	n.mu.Unlock()
	err := unix.Unmount(n.Path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netlab: unmounting %s: %w", n.Path, err)
	}
	if err := os.Remove(n.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netlab: %w", err)
	}
	return nil
}

// Fd is the namespace's open descriptor (owned by n), for APIs that take
// one.
func (n *NS) Fd() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fd
}

// dup returns a descriptor of its own for the namespace, which the caller
// closes: one in use stays valid whatever Close does meanwhile (a dial
// the http package goes on with after a test has failed and is cleaning
// up), and never becomes a reused number naming something else, such as
// the host's namespace.
func (n *NS) dup() (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fd < 0 {
		return -1, fmt.Errorf("netlab: namespace %s is closed", n.Name)
	}
	fd, err := unix.FcntlInt(uintptr(n.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("netlab: namespace %s: %w", n.Name, err)
	}
	return fd, nil
}

// Do runs fn inside the namespace on a locked OS thread of its own and
// returns fn's error. Goroutines fn starts do not run inside.
func (n *NS) Do(fn func() error) error {
	fd, err := n.dup()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	errc := make(chan error, 1)
	go func() { errc <- netns.Do(fd, fn) }()
	return <-errc
}

// Start starts cmd inside the namespace: it is forked from a thread that
// joined the namespace, and a child inherits its parent thread's network
// namespace. The caller waits for it as usual.
func (n *NS) Start(cmd *exec.Cmd) error {
	return n.Do(cmd.Start)
}

// Exec runs a command inside the namespace and returns its combined
// output; it fails after two minutes.
func (n *NS) Exec(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := n.Start(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// Listen opens a listener inside the namespace.
func (n *NS) Listen(network, addr string) (net.Listener, error) {
	return inNS(n, func() (net.Listener, error) { return net.Listen(network, addr) })
}

// ListenPacket opens a packet socket (UDP) inside the namespace.
func (n *NS) ListenPacket(network, addr string) (net.PacketConn, error) {
	return inNS(n, func() (net.PacketConn, error) { return net.ListenPacket(network, addr) })
}

// inNS runs f inside the namespace and returns what it made.
func inNS[T any](n *NS, f func() (T, error)) (T, error) {
	var v T
	err := n.Do(func() (err error) {
		v, err = f()
		return err
	})
	return v, err
}

// DialContext connects from inside the namespace. addr must hold an IP
// literal.
func (n *NS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return n.DialFrom(ctx, netip.Addr{}, network, addr)
}

// DialFrom connects from inside the namespace from the local address src
// (any when src is the zero Addr). addr must hold an IP literal.
func (n *NS) DialFrom(ctx context.Context, src netip.Addr, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		// No fallback racing: it would dial from other goroutines.
		d := net.Dialer{FallbackDelay: -1}
		if src.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
			if strings.HasPrefix(network, "udp") {
				d.LocalAddr = &net.UDPAddr{IP: src.AsSlice()}
			}
		}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// HTTPClient returns a client whose connections start inside the namespace,
// from src unless it is the zero Addr. Keep-alives are off, so that every
// request is a new connection, which is what load balancing counts; each
// request times out after timeout.
func (n *NS) HTTPClient(src netip.Addr, timeout time.Duration) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return n.DialFrom(ctx, src, network, addr)
	}
	return &http.Client{
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true},
		Timeout:   timeout,
	}
}

// ServeHTTP serves h on addr ("10.0.0.2:80", ":80") inside the namespace
// until the returned server is closed, and returns its base URL.
func (n *NS) ServeHTTP(addr string, h http.Handler) (*http.Server, string, error) {
	l, err := n.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("netlab: listening on %s in %s: %w", addr, n.Name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return srv, "http://" + l.Addr().String(), nil
}

// handle opens a netlink handle inside the namespace, for rtnetlink only:
// the default set of families adds XFRM and netfilter sockets, which fail
// without their modules on a kernel that cannot autoload them.
func (n *NS) handle() (*netlink.Handle, error) {
	fd, err := n.dup()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	h, err := netlink.NewHandleAt(vnetns.NsHandle(fd), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlab: netlink in %s: %w", n.Name, err)
	}
	return h, nil
}

func (n *NS) setUp(dev string) error {
	h, err := n.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(dev)
	if err == nil {
		err = h.LinkSetUp(link)
	}
	if err != nil {
		return fmt.Errorf("netlab: setting %s up in %s: %w", dev, n.Name, err)
	}
	return nil
}

// AddAddr adds addresses to the interface dev and sets it up. IPv6
// addresses skip duplicate address detection, so they work at once.
func (n *NS) AddAddr(dev string, prefixes ...netip.Prefix) error {
	h, err := n.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("netlab: %s in %s: %w", dev, n.Name, err)
	}
	for _, p := range prefixes {
		a := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(link, a); err != nil {
			return fmt.Errorf("netlab: adding %s to %s in %s: %w", p, dev, n.Name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("netlab: setting %s up in %s: %w", dev, n.Name, err)
	}
	return nil
}

// AddRoute adds a route to dst via gw; dst may be the zero Prefix for the
// default route of gw's family.
func (n *NS) AddRoute(dst netip.Prefix, gw netip.Addr) error {
	h, err := n.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	r := &netlink.Route{Gw: gw.AsSlice()}
	if dst.IsValid() {
		r.Dst = ipNet(dst)
	} else if gw.Is6() {
		r.Dst = ipNet(netip.PrefixFrom(netip.IPv6Unspecified(), 0))
	} else {
		r.Dst = ipNet(netip.PrefixFrom(netip.IPv4Unspecified(), 0))
	}
	if err := h.RouteAdd(r); err != nil {
		return fmt.Errorf("netlab: route %v via %v in %s: %w", dst, gw, n.Name, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Veth connects a and b with a veth pair named aName in a and bName in b,
// both up.
func Veth(a *NS, aName string, b *NS, bName string) error {
	h, err := a.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	bfd, err := b.dup()
	if err != nil {
		return err
	}
	defer unix.Close(bfd)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aName},
		PeerName:      bName,
		PeerNamespace: netlink.NsFd(bfd),
	}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("netlab: veth %s/%s ↔ %s/%s: %w", a.Name, aName, b.Name, bName, err)
	}
	if err := a.setUp(aName); err != nil {
		return err
	}
	return b.setUp(bName)
}

// Member is one namespace's attachment to a Segment.
type Member struct {
	NS    *NS
	Name  string         // the interface name inside NS, e.g. "eth0"
	Addrs []netip.Prefix // e.g. 10.0.0.1/24 and fd00::1/64
}

// Segment makes br (a namespace of its own) one L2 segment: a bridge called
// name in br and a veth from it to each member, carrying the member's
// addresses.
func Segment(br *NS, name string, members ...Member) error {
	h, err := br.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	off := false
	bridge := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}, MulticastSnooping: &off}
	if err := h.LinkAdd(bridge); err != nil {
		return fmt.Errorf("netlab: bridge %s in %s: %w", name, br.Name, err)
	}
	for i, m := range members {
		port := fmt.Sprintf("p%d", i)
		if err := Veth(br, port, m.NS, m.Name); err != nil {
			return err
		}
		link, err := h.LinkByName(port)
		if err == nil {
			err = h.LinkSetMaster(link, bridge)
		}
		if err != nil {
			return fmt.Errorf("netlab: attaching %s to bridge %s: %w", port, name, err)
		}
		if err := m.NS.AddAddr(m.Name, m.Addrs...); err != nil {
			return err
		}
	}
	if err := h.LinkSetUp(bridge); err != nil {
		return fmt.Errorf("netlab: setting bridge %s up: %w", name, err)
	}
	return nil
}

// Lab is a set of namespaces that Close removes together.
type Lab struct {
	prefix string
	mu     sync.Mutex
	nss    []*NS
}

// New returns an empty Lab whose namespaces are named prefix+name.
func New(prefix string) *Lab { return &Lab{prefix: prefix} }

// NS creates the namespace prefix+name.
func (l *Lab) NS(name string) (*NS, error) {
	n, err := NewNS(l.prefix + name)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.nss = append(l.nss, n)
	l.mu.Unlock()
	return n, nil
}

// Segment creates a namespace prefix+name holding a bridge called name and
// connects the members to it (see Segment).
func (l *Lab) Segment(name string, members ...Member) (*NS, error) {
	br, err := l.NS(name)
	if err != nil {
		return nil, err
	}
	return br, Segment(br, name, members...)
}

// Close removes every namespace of the lab, and with them everything
// configured inside.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for i := len(l.nss) - 1; i >= 0; i-- {
		errs = append(errs, l.nss[i].Close())
	}
	l.nss = nil
	return errors.Join(errs...)
}
