//go:build linux

package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// TestLinuxErrorsWithoutIPVS: the netlink transport's own error paths
// that need no IPVS in the kernel: a closed client, a namespace that
// cannot be opened, and (where the kernel has none) no IPVS at all.
func TestLinuxErrorsWithoutIPVS(t *testing.T) {
	bg := context.Background()
	vip := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}

	c := &Client{t: &nlTransport{nsfd: -1, closed: true}}
	for name, err := range map[string]error{
		"list":   func() error { _, err := c.Services(bg); return err }(),
		"create": c.CreateService(bg, Service{ServiceKey: vip}),
		"batch":  func() error { _, err := c.Batch().CreateService(Service{ServiceKey: vip}).Commit(bg); return err }(),
		"dumps": func() error {
			_, err := c.withDests(bg, []ServiceInfo{{Service: Service{ServiceKey: vip}}}, nil)
			return err
		}(),
		"sysctls":  func() error { _, err := c.Sysctls(bg); return err }(),
		"conns":    func() error { _, err := c.Connections(bg); return err }(),
		"snapshot": func() error { _, err := c.Snapshot(bg); return err }(),
	} {
		checkOneKind(t, "closed client: "+name, err, ErrClosed)
	}

	_, err := New(&Config{NetNSPath: "/nonexistent/netns"})
	checkOneKind(t, "missing namespace path", err, ErrInvalid)
	if e := (*Error)(nil); !errors.As(err, &e) || e.Field != "NetNSPath" {
		t.Errorf("missing namespace path: %v, want Field NetNSPath", err)
	}
	_, err = New(&Config{NetNS: 1 << 20})
	checkOneKind(t, "bad namespace descriptor", err, ErrInvalid)

	// Without ip_vs (this host, outside the VM): ErrUnavailable saying what
	// to load. With it (the VM): a client.
	cl, err := New(nil)
	if _, serr := os.Stat("/proc/net/ip_vs"); errors.Is(serr, os.ErrNotExist) {
		checkOneKind(t, "no IPVS", err, ErrUnavailable)
		if err == nil || !strings.Contains(err.Error(), "load the ip_vs module") {
			t.Errorf("no IPVS: %v, want it to say: load the ip_vs module", err)
		}
		return
	}
	if err != nil {
		if os.Getenv("LVS_VM") == "" && errors.Is(err, ErrPermission) {
			checkOneKind(t, "no privilege", err, ErrPermission)
			return
		}
		t.Fatalf("IPVS is loaded, but New: %v", err)
	}
	cl.Close()
	_, err = cl.Services(bg)
	checkOneKind(t, "after Close", err, ErrClosed)
}

// TestNewRefusesTwoNamespaces: NetNS and NetNSPath together are ambiguous.
func TestNewRefusesTwoNamespaces(t *testing.T) {
	_, err := New(&Config{NetNS: 1, NetNSPath: "/proc/self/ns/net"})
	checkOneKind(t, "both namespaces", err, ErrInvalid)
	if e := (*Error)(nil); !errors.As(err, &e) || e.Field != "NetNSPath" {
		t.Errorf("both namespaces: %v, want Field NetNSPath", err)
	}
}
