package nstest_test

import (
	"context"
	"fmt"
	"github.com/stretchr/testify/require"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
)

// echoRemote answers every request with the client's address as seen by the
// server.
var echoRemote = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	fmt.Fprint(w, host)
})

// The helpers below keep this package's tests free of dependencies beyond
// the standard library.
func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestSegmentHTTPv4v6(t *testing.T) {
	t.Parallel()
	a, b := nstest.New(t), nstest.New(t)
	nstest.Segment(t, "br0",
		nstest.Member{NS: a, Name: "eth0", Addrs: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("fd00::1/64")}},
		nstest.Member{NS: b, Name: "eth0", Addrs: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.2/24"), netip.MustParsePrefix("fd00::2/64")}},
	)
	url := b.ServeHTTP(t, ":80", echoRemote)
	require.Equal(t, "http://[::]:80", url)

	c := a.HTTPClient()
	require.Equal(t, "10.0.0.1", get(t, c, "http://10.0.0.2/"))
	require.Equal(t, "fd00::1", get(t, c, "http://[fd00::2]/"))

	// Each namespace sees only its own addresses.
	require.NotContains(t, b.Exec(t, "ip", "addr"), "10.0.0.1/")
	require.Contains(t, b.Exec(t, "ip", "addr"), "10.0.0.2/24")
	require.NotContains(t, a.Exec(t, "ip", "-6", "addr"), "fd00::2/")
	var inA []string
	require.NoError(t, a.Do(func() error {
		addrs, err := net.InterfaceAddrs()
		for _, ad := range addrs {
			inA = append(inA, ad.String())
		}
		return err
	}))
	require.Contains(t, strings.Join(inA, " "), "10.0.0.1/24")
	require.NotContains(t, strings.Join(inA, " "), "10.0.0.2/24")

	// The test's own namespace (the host's, natively) has none of them.
	host, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, ad := range host {
		for _, ours := range []string{"10.0.0.1/24", "10.0.0.2/24", "fd00::1/64", "fd00::2/64"} {
			require.Equal(t, false, ad.String() == ours)
		}
	}
}

func TestVethDial(t *testing.T) {
	t.Parallel()
	a, b := nstest.New(t), nstest.New(t)
	nstest.Veth(t, a, "va", b, "vb")
	a.AddAddr(t, "va", netip.MustParsePrefix("192.168.1.1/30"), netip.MustParsePrefix("fd01::1/126"))
	b.AddAddr(t, "vb", netip.MustParsePrefix("192.168.1.2/30"), netip.MustParsePrefix("fd01::2/126"))

	l, err := b.Listen("tcp", "[fd01::2]:7000")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := a.DialContext(ctx, "tcp", "[fd01::2]:7000")
	require.NoError(t, err)
	defer c.Close()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))

	// UDP and ping over IPv4.
	pc, err := b.ListenPacket("udp", "192.168.1.2:7001")
	require.NoError(t, err)
	defer pc.Close()
	u, err := a.DialContext(ctx, "udp", "192.168.1.2:7001")
	require.NoError(t, err)
	defer u.Close()
	// One datagram can be lost while ARP resolves under load: send again
	// every half second, for at most 10 s.
	buf := make([]byte, 16)
	var n int
	var from net.Addr
	for end := time.Now().Add(10 * time.Second); ; {
		_, err = u.Write([]byte("x"))
		require.NoError(t, err)
		pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, from, err = pc.ReadFrom(buf); err == nil || time.Now().After(end) {
			break
		}
	}
	require.NoError(t, err)
	require.Equal(t, "x", string(buf[:n]))
	require.Contains(t, from.String(), "192.168.1.1:")
	// -w: keep pinging once a second until one reply, for at most 10 s.
	a.Exec(t, "ping", "-c", "1", "-w", "10", "192.168.1.2")
}

func TestNamespaceLifecycle(t *testing.T) {
	var path string
	t.Run("inner", func(t *testing.T) {
		ns := nstest.New(t)
		path = ns.Path
		_, err := os.Stat(path)
		require.NoError(t, err)
		if out, err := ns.TryExec("false"); err == nil {
			t.Fatalf("TryExec(false) succeeded: %s", out)
		}
		require.Contains(t, ns.Exec(t, "ip", "link", "show", "lo"), "UP")
	})
	_, err := os.Stat(path)
	if !os.IsNotExist(err) {
		t.Fatalf("namespace file %s left behind: %v", path, err)
	}
}

func TestInsideVMNoSkip(t *testing.T) {
	if os.Getenv("LVS_VM") != "1" {
		t.Skip("only meaningful inside the VM")
	}
	require.NoError(t, nstest.Available())
}

// Answerers hears who answers ARP and neighbour solicitations, and only
// them; State sees an address, a sysctl and an nftables table come and go.
func TestAnswerersAndState(t *testing.T) {
	t.Parallel()
	a, b := nstest.New(t), nstest.New(t)
	nstest.Veth(t, a, "eth0", b, "eth0")
	a.AddAddr(t, "eth0", netip.MustParsePrefix("10.7.0.1/24"), netip.MustParsePrefix("fd07::1/64"))
	b.AddAddr(t, "eth0", netip.MustParsePrefix("10.7.0.2/24"), netip.MustParsePrefix("fd07::2/64"))
	bmac := b.HardwareAddr(t, "eth0")
	never := func([]string) bool { return false }
	for _, q := range [][2]string{{"10.7.0.1", "10.7.0.2"}, {"fd07::1", "fd07::2"}} {
		src, target := netip.MustParseAddr(q[0]), netip.MustParseAddr(q[1])
		macs := a.Answerers(t, "eth0", src, target, 5*time.Second, func(m []string) bool { return len(m) > 0 })
		if len(macs) != 1 || macs[0] != bmac {
			t.Errorf("%s: answers %v, want b's %s", target, macs, bmac)
		}
		// Nobody has .3: listen half a second.
		absent := target.Next()
		if macs := a.Answerers(t, "eth0", src, absent, 500*time.Millisecond, never); len(macs) != 0 {
			t.Errorf("%s: answers %v for an address nobody has", absent, macs)
		}
	}

	before := nstest.State(t, b, "net/ipv4/conf")
	b.AddAddr(t, "lo", netip.MustParsePrefix("10.7.9.9/32"))
	b.Exec(t, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1")
	b.Exec(t, "nft", "add", "table", "inet", "probe")
	d := strings.Join(diff(before, nstest.State(t, b, "net/ipv4/conf")), "\n")
	for _, want := range []string{
		"addr lo 10.7.9.9/32: (absent) → present",
		"sysctl net/ipv4/conf/all/arp_ignore: 0 → 1",
		"nft table 1 probe: (absent) → present",
	} {
		require.Contains(t, d, want)
	}
}

// diff runs SameState on a recorder and returns what it reported.
func diff(before, after map[string]string) []string {
	r := &recorder{}
	nstest.SameState(r, "x", before, after)
	return r.msgs
}

type recorder struct {
	testing.TB
	msgs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

// A connection to a closed port is answered with a reset; Resets names its
// sender's MAC and both ends, IPv4 and IPv6.
func TestCaptureResets(t *testing.T) {
	t.Parallel()
	a, b := nstest.New(t), nstest.New(t)
	nstest.Veth(t, a, "va", b, "vb")
	a.AddAddr(t, "va", netip.MustParsePrefix("192.168.1.1/30"), netip.MustParsePrefix("fd01::1/126"))
	b.AddAddr(t, "vb", netip.MustParsePrefix("192.168.1.2/30"), netip.MustParsePrefix("fd01::2/126"))
	capt := a.Capture(t, "va")
	t0 := time.Now()
	for _, addr := range []string{"192.168.1.2:7009", "[fd01::2]:7009"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		for ctx.Err() == nil { // until b answers at all (IPv6 DAD, ARP)
			var c net.Conn
			if c, err = a.DialContext(ctx, "tcp", addr); err == nil {
				c.Close()
			}
			if err != nil && strings.Contains(err.Error(), "refused") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		require.ErrorContains(t, err, "refused")
	}
	mac := b.HardwareAddr(t, "vb")
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		got = got[:0]
		for _, r := range capt.Resets(t0) {
			require.Equal(t, mac, r.From)
			require.False(t, r.Time.Before(t0))
			got = append(got, r.Src.String()+">"+r.Dst.Addr().String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Contains(t, got, "192.168.1.2:7009>192.168.1.1")
	require.Contains(t, got, "[fd01::2]:7009>fd01::1")
}
