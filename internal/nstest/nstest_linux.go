package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"

	"github.com/golvs/lvs/internal/netlab"
)

// NS is a network namespace created for one test and removed at its cleanup.
// Its fields Name (for `ip netns exec NAME`) and Path (/run/netns/NAME), and
// the methods Do, Listen, ListenPacket, DialContext, Start and Close, come from
// the netlab.NS it wraps.
type NS struct {
	*netlab.NS
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
	n, err := netlab.NewNS(name)
	if err != nil {
		t.Fatalf("nstest: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("nstest: %v", err)
		}
	})
	return &NS{n}
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

// TryExec runs a command inside the namespace and returns its combined
// output.
func (n *NS) TryExec(name string, args ...string) (string, error) {
	return n.NS.Exec(name, args...)
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

// HTTPClient returns a client whose connections start inside the namespace.
// Keep-alives are off so that every request is a new connection, which is
// what load-balancing tests count.
func (n *NS) HTTPClient() *http.Client {
	return n.NS.HTTPClient(netip.Addr{}, 10*time.Second)
}

// ServeHTTP serves h on addr ("10.0.0.2:80", ":80") inside the namespace
// until the test's cleanup, and returns the base URL.
func (n *NS) ServeHTTP(t testing.TB, addr string, h http.Handler) string {
	t.Helper()
	srv, url, err := n.NS.ServeHTTP(addr, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return url
}

// ServeName serves name as the body of every answer on addr, so that a
// client can tell which real server answered; see ServeHTTP.
func (n *NS) ServeName(t testing.TB, addr, name string) string {
	t.Helper()
	return n.ServeHTTP(t, addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
}

// AddAddr adds addresses to the interface dev and sets it up. IPv6
// addresses skip duplicate address detection, so they work at once.
func (n *NS) AddAddr(t testing.TB, dev string, prefixes ...netip.Prefix) {
	t.Helper()
	if err := n.NS.AddAddr(dev, prefixes...); err != nil {
		t.Fatal(err)
	}
}

// Veth connects a and b with a veth pair named aName in a and bName in b,
// both up.
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	if err := netlab.Veth(a.NS, aName, b.NS, bName); err != nil {
		t.Fatal(err)
	}
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
	ms := make([]netlab.Member, len(members))
	for i, m := range members {
		ms[i] = netlab.Member{NS: m.NS.NS, Name: m.Name, Addrs: m.Addrs}
	}
	if err := netlab.Segment(br.NS, name, ms...); err != nil {
		t.Fatal(err)
	}
	return br
}

// HardwareAddr returns the MAC address of the interface dev, as text.
func (n *NS) HardwareAddr(t testing.TB, dev string) string {
	t.Helper()
	var hw string
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err == nil {
			hw = ifi.HardwareAddr.String()
		}
		return err
	})
	if err != nil {
		t.Fatalf("nstest: %s in %s: %v", dev, n.Name, err)
	}
	return hw
}

// Tally makes n GET requests for url from the namespace, each a new
// connection with the given timeout, and counts the answers by body;
// failures count under "error: " and the error. Bounded: n requests.
func (n *NS) Tally(url string, count int, timeout time.Duration) map[string]int {
	hc := n.HTTPClient()
	hc.Timeout = timeout
	got := map[string]int{}
	for range count {
		resp, err := hc.Get(url)
		if err != nil {
			got["error: "+err.Error()]++
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got[string(b)]++
	}
	return got
}
