package nstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NS is a network namespace created for one test and removed at its cleanup.
type NS struct {
	Name string // the name under /run/netns, for `ip netns exec NAME`
	Path string // /run/netns/NAME, for APIs that take a namespace path

	h netns.NsHandle
}

// Available reports why kernel tests cannot run here, or nil when we are
// root and the IPVS generic netlink family resolves (which loads ip_vs on
// demand where modules exist).
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("not root")
	}
	c, err := genetlink.Dial(nil)
	if err != nil {
		return fmt.Errorf("generic netlink: %w", err)
	}
	defer c.Close()
	if _, err := c.GetFamily("IPVS"); err != nil {
		return fmt.Errorf("IPVS generic netlink family: %w", err)
	}
	return nil
}

// New creates a fresh named network namespace with lo up. It skips the test
// when kernel tests cannot run here, and fails it instead inside the VM.
func New(t testing.TB) *NS {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("LVS_VM") == "1" {
			t.Fatalf("kernel test inside the VM: %v", err)
		}
		t.Skip("kernel test: needs root and IPVS; run: go run ./internal/cmd/vmtest")
	}
	return newNS(t)
}

// newNS creates the namespace without checking for IPVS (bridges need none).
func newNS(t testing.TB) *NS {
	t.Helper()
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "lvst-" + sanitize(t.Name()) + "-" + hex.EncodeToString(rnd[:])
	n := &NS{Name: name, Path: filepath.Join("/run/netns", name), h: -1}
	err := locked(func() (bool, error) {
		orig, err := netns.Get()
		if err != nil {
			return true, err
		}
		defer orig.Close()
		h, err := netns.NewNamed(name) // leaves this thread in the new namespace
		if err != nil {
			// NewNamed may have unshared before failing.
			return netns.Set(orig) == nil, err
		}
		h.Close()
		lo, lerr := netlink.LinkByName("lo")
		if lerr == nil {
			lerr = netlink.LinkSetUp(lo)
		}
		if err := netns.Set(orig); err != nil {
			return false, err
		}
		return true, lerr
	})
	if err == nil {
		n.h, err = netns.GetFromPath(n.Path)
	}
	t.Cleanup(func() {
		if n.h >= 0 {
			n.h.Close()
		}
		if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.EINVAL) {
			t.Errorf("nstest: removing namespace %s: %v", name, err)
		}
	})
	if err != nil {
		t.Fatalf("nstest: creating namespace %s: %v", name, err)
	}
	return n
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 40 {
		b = b[len(b)-40:]
	}
	return string(b)
}

// locked runs f on a new goroutine locked to its OS thread. f reports
// whether the thread is back in the namespace it started in; if not, the
// goroutine ends still locked, so the runtime terminates the thread instead
// of reusing it in the wrong namespace.
func locked(f func() (restored bool, err error)) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := f()
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Do runs fn inside the namespace on a locked OS thread of its own and
// returns fn's error. Goroutines fn starts do not run inside.
func (n *NS) Do(fn func() error) error {
	var ferr error
	err := locked(func() (bool, error) {
		orig, err := netns.Get()
		if err != nil {
			return true, err
		}
		defer orig.Close()
		if err := netns.Set(n.h); err != nil {
			return true, fmt.Errorf("nstest: entering %s: %w", n.Name, err)
		}
		ferr = fn()
		if err := netns.Set(orig); err != nil {
			return false, fmt.Errorf("nstest: leaving %s: %w", n.Name, err)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	return ferr
}

// TryExec runs a command inside the namespace (`ip netns exec`) and returns
// its combined output.
func (n *NS) TryExec(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// Exec runs a command inside the namespace and returns its combined output;
// it fails the test, showing the output, if the command fails.
func (n *NS) Exec(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := n.TryExec(name, args...)
	if err != nil {
		t.Fatalf("in %s: %v\n%s", n.Name, err, out)
	}
	return out
}

// Listen opens a listener inside the namespace.
func (n *NS) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// ListenPacket opens a packet socket (UDP) inside the namespace.
func (n *NS) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.Do(func() (err error) {
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}

// DialContext connects from inside the namespace. addr must hold an IP
// literal.
func (n *NS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		// No fallback racing: it would dial from other goroutines.
		d := net.Dialer{FallbackDelay: -1}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// HTTPClient returns a client whose connections start inside the namespace.
// Keep-alives are off so that every request is a new connection, which is
// what load-balancing tests count.
func (n *NS) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DialContext: n.DialContext, DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
}

// ServeHTTP serves h on addr ("10.0.0.2:80", ":80") inside the namespace
// until the test's cleanup, and returns the base URL.
func (n *NS) ServeHTTP(t testing.TB, addr string, h http.Handler) string {
	t.Helper()
	l, err := n.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("nstest: listening on %s in %s: %v", addr, n.Name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

// handle opens a netlink handle inside the namespace.
func (n *NS) handle(t testing.TB) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(n.h)
	if err != nil {
		t.Fatalf("nstest: netlink in %s: %v", n.Name, err)
	}
	return h
}

// AddAddr adds addresses to the interface dev and sets it up. IPv6
// addresses skip duplicate address detection, so they work at once.
func (n *NS) AddAddr(t testing.TB, dev string, prefixes ...netip.Prefix) {
	t.Helper()
	h := n.handle(t)
	defer h.Delete()
	link, err := h.LinkByName(dev)
	if err != nil {
		t.Fatalf("nstest: %s in %s: %v", dev, n.Name, err)
	}
	for _, p := range prefixes {
		a := &netlink.Addr{IPNet: &net.IPNet{
			IP:   p.Addr().AsSlice(),
			Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
		}}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(link, a); err != nil {
			t.Fatalf("nstest: adding %s to %s in %s: %v", p, dev, n.Name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatalf("nstest: setting %s up in %s: %v", dev, n.Name, err)
	}
}

// Veth connects a and b with a veth pair named aName in a and bName in b,
// both up.
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	h := a.handle(t)
	defer h.Delete()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aName},
		PeerName:      bName,
		PeerNamespace: netlink.NsFd(int(b.h)),
	}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatalf("nstest: veth %s/%s ↔ %s/%s: %v", a.Name, aName, b.Name, bName, err)
	}
	a.AddAddr(t, aName)
	b.AddAddr(t, bName)
}

// Member is one namespace's attachment to a Segment.
type Member struct {
	NS    *NS
	Name  string         // the interface name inside NS, e.g. "eth0"
	Addrs []netip.Prefix // e.g. 10.0.0.1/24 and fd00::1/64
}

// Segment builds one L2 segment: a bridge called name in a namespace of its
// own, and a veth from it to each member, carrying the member's addresses.
// It returns the bridge's namespace.
func Segment(t testing.TB, name string, members ...Member) *NS {
	t.Helper()
	br := newNS(t)
	h := br.handle(t)
	defer h.Delete()
	off := false
	bridge := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}, MulticastSnooping: &off}
	if err := h.LinkAdd(bridge); err != nil {
		t.Fatalf("nstest: bridge %s: %v", name, err)
	}
	for i, m := range members {
		port := fmt.Sprintf("p%d", i)
		Veth(t, br, port, m.NS, m.Name)
		link, err := h.LinkByName(port)
		if err == nil {
			err = h.LinkSetMaster(link, bridge)
		}
		if err != nil {
			t.Fatalf("nstest: attaching %s to bridge %s: %v", port, name, err)
		}
		m.NS.AddAddr(t, m.Name, m.Addrs...)
	}
	if err := h.LinkSetUp(bridge); err != nil {
		t.Fatalf("nstest: setting bridge %s up: %v", name, err)
	}
	return br
}
