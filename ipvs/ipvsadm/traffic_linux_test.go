//go:build linux

package ipvsadm_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvsadm"
)

// TestKernelConnectionsAndStatsAgreeWithIpvsadm sends real HTTP requests
// through a NAT service (client ns → director ns → server ns) and checks
// that the SDK's connection table and counters, formatted by this package,
// are what the real ipvsadm shows.
func TestKernelConnectionsAndStatsAgreeWithIpvsadm(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, dir, server := nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Veth(t, client, "c0", dir, "d0")
	nstest.Veth(t, dir, "d1", server, "s0")
	client.AddAddr(t, "c0", netip.MustParsePrefix("10.0.1.2/24"))
	dir.AddAddr(t, "d0", netip.MustParsePrefix("10.0.1.1/24"))
	dir.AddAddr(t, "d1", netip.MustParsePrefix("10.0.2.1/24"))
	server.AddAddr(t, "s0", netip.MustParsePrefix("10.0.2.2/24"))
	server.Exec(t, "ip", "route", "add", "default", "via", "10.0.2.1")
	dir.Exec(t, "bash", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	server.ServeHTTP(t, "10.0.2.2:8080", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the real server\n")
	}))

	c := newClient(t, dir)
	key := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.1.1"), Port: 80}
	if err := c.CreateService(ctx, ipvs.Service{ServiceKey: key, Scheduler: ipvs.RoundRobin}); err != nil {
		t.Fatal(err)
	}
	dst := ipvs.Destination{Address: netip.MustParseAddr("10.0.2.2"), Port: 8080, Forward: ipvs.Masquerade, Weight: 1}
	if err := c.CreateDestination(ctx, key, dst); err != nil {
		t.Fatal(err)
	}
	// Bounded: 10 requests, each with the client's 10 s timeout.
	hc := client.HTTPClient()
	const n = 10
	for i := 0; i < n; i++ {
		resp, err := hc.Get("http://10.0.1.1/")
		if err != nil {
			t.Fatalf("request %d through the NAT service: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	conns, err := c.Connections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != n {
		t.Fatalf("connection table has %d entries, want %d: %+v", len(conns), n, conns)
	}
	for _, cn := range conns {
		if cn.Virtual != netip.MustParseAddrPort("10.0.1.1:80") || cn.Destination != netip.MustParseAddrPort("10.0.2.2:8080") || cn.Client.Addr() != netip.MustParseAddr("10.0.1.2") {
			t.Errorf("unexpected entry %+v", cn)
		}
	}
	var ours bytes.Buffer
	ipvsadm.WriteConnections(&ours, conns, ipvsadm.FormatNumeric)
	real := dir.Exec(t, realIpvsadm, "-Lnc")
	if maskExpiry(ours.String()) != maskExpiry(real) {
		t.Errorf("-Lnc differs (expiry masked):\nours\n%s\nreal\n%s", ours.String(), real)
	}

	// The kernel folds its per-CPU counters into what it reports every two
	// seconds: wait (bounded) until two reads 2.1 s apart agree.
	var svc ipvs.ServiceInfo
	var ds []ipvs.DestinationInfo
	var prev ipvs.Stats
	for deadline := time.Now().Add(40 * time.Second); ; {
		if svc, err = c.Service(ctx, key); err != nil {
			t.Fatal(err)
		}
		if svc.Stats.Connections == n && svc.Stats.PacketsIn == prev.PacketsIn && svc.Stats.PacketsOut == prev.PacketsOut {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("service counters did not settle at %d connections: %+v", n, svc.Stats)
		}
		prev = svc.Stats
		time.Sleep(2100 * time.Millisecond)
	}
	if ds, err = c.Destinations(ctx, key); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ours.Reset()
	ipvsadm.WriteList(&ours, ipvsadm.Table{Info: info, Services: []ipvsadm.Entry{{ServiceInfo: svc, Destinations: ds}}},
		ipvsadm.FormatNumeric|ipvsadm.FormatStats|ipvsadm.FormatExact)
	if real := dir.Exec(t, realIpvsadm, "-Ln", "--stats", "--exact"); ours.String() != real {
		t.Errorf("--stats --exact differs:\nours\n%s\nreal\n%s", ours.String(), real)
	}
	if svc.Stats.Connections != n || svc.Stats.PacketsIn < 5*n || svc.Stats.BytesOut == 0 {
		t.Errorf("service stats %+v after %d requests", svc.Stats, n)
	}
	g, err := c.GlobalStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g.Connections != svc.Stats.Connections || g.PacketsIn != svc.Stats.PacketsIn || g.BytesOut != svc.Stats.BytesOut {
		t.Errorf("global stats %+v disagree with the only service's %+v", g, svc.Stats)
	}
	// sysctls are per namespace: a change in the director is not seen by
	// the client's namespace.
	old, err := c.SetSysctl(ctx, ipvs.SysctlExpireNodestConn, "1")
	if err != nil || old != "0" {
		t.Fatalf("SetSysctl: %q, %v", old, err)
	}
	if v := strings.TrimSpace(dir.Exec(t, "cat", "/proc/sys/net/ipv4/vs/expire_nodest_conn")); v != "1" {
		t.Errorf("director sees %q", v)
	}
	if v := strings.TrimSpace(client.Exec(t, "cat", "/proc/sys/net/ipv4/vs/expire_nodest_conn")); v != "0" {
		t.Errorf("client namespace sees %q", v)
	}
}

// maskExpiry blanks the expire column (mm:ss), which ticks between reads.
func maskExpiry(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if i >= 2 && len(l) > 10 {
			lines[i] = l[:4] + "xx:xx " + l[10:]
		}
	}
	return strings.Join(lines, "\n")
}
