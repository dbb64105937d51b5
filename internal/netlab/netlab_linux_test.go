package netlab_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/golvs/lvs/internal/netlab"
)

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("LVS_VM") == "1" {
			t.Fatal("not root inside the VM")
		}
		t.Skip("needs root; run: go run ./internal/cmd/vmtest -pkg ./internal/netlab")
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// A process started by Start runs in the namespace (its /proc/self/ns/net
// is the namespace's inode), and the caller's own namespace is unchanged.
func TestStartInheritsNamespace(t *testing.T) {
	needRoot(t)
	lab := netlab.New(fmt.Sprintf("netlabt%d-", os.Getpid()))
	defer lab.Close()
	ns, err := lab.NS("a")
	if err != nil {
		t.Fatal(err)
	}
	before := inode(t, "/proc/self/ns/net")
	for i := 0; i < 5; i++ { // several threads, several forks
		var out strings.Builder
		cmd := exec.Command("readlink", "/proc/self/ns/net")
		cmd.Stdout = &out
		if err := ns.Start(cmd); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("net:[%d]", inode(t, ns.Path))
		if got := strings.TrimSpace(out.String()); got != want {
			t.Fatalf("child's namespace %s, want %s", got, want)
		}
		// A plain child started afterwards is in ours.
		self, err := exec.Command("readlink", "/proc/self/ns/net").Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(self)); got != fmt.Sprintf("net:[%d]", before) {
			t.Fatalf("plain child in %s, want ours %d", got, before)
		}
	}
	if inode(t, "/proc/self/ns/net") != before {
		t.Fatal("the caller's namespace changed")
	}
	out, err := ns.Exec("ip", "-o", "link", "show", "lo")
	if err != nil || !strings.Contains(out, "UP") {
		t.Fatalf("lo not up in the new namespace: %v\n%s", err, out)
	}
}

// A segment carries traffic between members, routes work, and Close removes
// every namespace.
func TestSegmentRouteClose(t *testing.T) {
	needRoot(t)
	lab := netlab.New(fmt.Sprintf("netlabt%d-", os.Getpid()))
	defer lab.Close()
	mk := func(name string) *netlab.NS {
		n, err := lab.NS(name)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a, r, b := mk("a"), mk("r"), mk("b")
	p := netip.MustParsePrefix
	if _, err := lab.Segment("left",
		netlab.Member{NS: a, Name: "eth0", Addrs: []netip.Prefix{p("10.9.1.2/24"), p("fd09:1::2/64")}},
		netlab.Member{NS: r, Name: "eth0", Addrs: []netip.Prefix{p("10.9.1.1/24"), p("fd09:1::1/64")}},
	); err != nil {
		t.Fatal(err)
	}
	if err := netlab.Veth(r, "eth1", b, "eth0"); err != nil {
		t.Fatal(err)
	}
	for _, e := range []error{
		r.AddAddr("eth1", p("10.9.2.1/24"), p("fd09:2::1/64")),
		b.AddAddr("eth0", p("10.9.2.2/24"), p("fd09:2::2/64")),
		a.AddRoute(netip.Prefix{}, netip.MustParseAddr("10.9.1.1")),
		a.AddRoute(p("fd09:2::/64"), netip.MustParseAddr("fd09:1::1")),
		b.AddRoute(netip.Prefix{}, netip.MustParseAddr("10.9.2.1")),
		b.AddRoute(netip.Prefix{}, netip.MustParseAddr("fd09:2::1")),
	} {
		if e != nil {
			t.Fatal(e)
		}
	}
	if _, err := r.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"); err != nil {
		t.Fatal(err)
	}
	srv, _, err := b.ServeHTTP(":80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RemoteAddr)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := a.HTTPClient(netip.Addr{}, 10*time.Second)
	for _, url := range []string{"http://10.9.2.2/", "http://[fd09:2::2]/"} {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(body), "10.9.1.2:") && !strings.HasPrefix(string(body), "[fd09:1::2]:") {
			t.Fatalf("%s: answered %q", url, body)
		}
	}
	// None of it is in the caller's namespace.
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, ad := range addrs {
		if strings.HasPrefix(ad.String(), "10.9.") || strings.HasPrefix(ad.String(), "fd09:") {
			t.Fatalf("lab address %v in the caller's namespace", ad)
		}
	}

	paths := []string{a.Path, r.Path, b.Path}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s left behind: %v", p, err)
		}
	}
	if _, err := netlab.NewNS("bad/name"); err == nil {
		t.Fatal("NewNS accepted a slash")
	}
}
