//go:build linux

package ipvsadm_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvsadm"
)

// bulkBytes is more than 10^8, so that the sink's InBytes counter takes
// ipvsadm's "K" format. Sent with sendfile from a sparse file and spliced
// into /dev/null, it costs no copies in user space.
const bulkBytes = 101 << 20

// TestKernelConnectionsAndStatsAgreeWithIpvsadm sends real traffic through
// three NAT services (client ns → director ns → server ns) and, while
// connections are open, checks that the SDK's connection table, counters
// and rates, formatted by this package, are what the real ipvsadm shows:
//   - web (TCP :80, rr): ten HTTP requests, closed (TIME_WAIT entries);
//   - sink (TCP :9000, persistent, a weight-0 GUE destination beside the
//     NAT one): three connections held open and one bulk upload of more
//     than 10^8 bytes (the K format);
//   - sip (UDP :5060, persistent, --pe sip): SIP requests with a Call-ID,
//     which the persistence engine shows in the connection table.
func TestKernelConnectionsAndStatsAgreeWithIpvsadm(t *testing.T) {
	t.Parallel() // most of its time is the bulk upload: overlap it with the corpus
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
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
	serveSink(t, server, "10.0.2.2:9000")
	serveSIP(t, server, "10.0.2.2:5060")

	c := newClient(t, dir)
	vip := netip.MustParseAddr("10.0.1.1")
	rs := netip.MustParseAddr("10.0.2.2")
	web := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: vip, Port: 80}
	sink := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: vip, Port: 9000}
	sip := ipvs.ServiceKey{Protocol: ipvs.UDP, Address: vip, Port: 5060}
	for _, s := range []ipvs.Service{
		{ServiceKey: web, Scheduler: ipvs.RoundRobin},
		{ServiceKey: sink, Flags: ipvs.FlagPersistent, Timeout: 300 * time.Second},
		{ServiceKey: sip, Scheduler: ipvs.RoundRobin, Flags: ipvs.FlagPersistent, Timeout: 60 * time.Second, PersistenceEngine: ipvs.PersistenceEngineSIP},
	} {
		if err := c.CreateService(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []struct {
		k ipvs.ServiceKey
		d ipvs.Destination
	}{
		{web, ipvs.Destination{Address: rs, Port: 8080, Forward: ipvs.Masquerade, Weight: 1}},
		{sink, ipvs.Destination{Address: rs, Port: 9000, Forward: ipvs.Masquerade, Weight: 1}},
		// never scheduled (weight 0): it is there for --tun-info
		{sink, ipvs.Destination{Address: netip.MustParseAddr("10.0.2.9"), Port: 9000, Forward: ipvs.Tunnel,
			TunnelType: ipvs.GUE, TunnelPort: 6080, TunnelFlags: ipvs.TunnelChecksum}},
		{sip, ipvs.Destination{Address: rs, Port: 5060, Forward: ipvs.Masquerade, Weight: 1}},
	} {
		if err := c.CreateDestination(ctx, d.k, d.d); err != nil {
			t.Fatal(err)
		}
	}

	// web: bounded, 10 requests, each with the client's 10 s timeout.
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
	// sink: connections that stay open while the tables are compared.
	const open = 3
	for i := 0; i < open; i++ {
		conn, err := client.DialContext(ctx, "tcp", "10.0.1.1:9000")
		if err != nil {
			t.Fatalf("connection %d to the sink: %v", i, err)
		}
		t.Cleanup(func() { conn.Close() })
		if _, err := io.WriteString(conn, "hello\n"); err != nil {
			t.Fatal(err)
		}
	}
	const callID = "golvs-call-1@10.0.1.2"
	sipCall(t, ctx, client, "10.0.1.1:5060", callID)
	start := time.Now()
	bulk(t, ctx, client, "10.0.1.1:9000")
	t.Logf("bulk upload of %d bytes handed to the kernel in %v", bulkBytes, time.Since(start).Round(time.Millisecond))

	// The connection table, typed. The upload's FIN may still be on its
	// way through the director: poll (bounded) until it has left
	// ESTABLISHED.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		conns, err := c.Connections(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var webConns, established, templates, sipData int
		for _, cn := range conns {
			if cn.Client.Addr() != netip.MustParseAddr("10.0.1.2") || cn.Virtual.Addr() != vip || cn.Destination.Addr() != rs {
				t.Fatalf("unexpected entry %+v", cn)
			}
			switch {
			case cn.Virtual.Port() == 80 && cn.Protocol == ipvs.TCP && cn.Destination.Port() == 8080:
				webConns++
			case cn.Virtual.Port() == 9000 && cn.Client.Port() == 0:
				templates++
			case cn.Virtual.Port() == 9000 && cn.State == "ESTABLISHED":
				established++
			}
			if cn.PersistenceEngine == "sip" && cn.PEData == callID && cn.Protocol == ipvs.UDP {
				sipData++
			}
		}
		if webConns == n && established == open && templates == 1 && sipData > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection table: %d web entries (want %d), %d established sink connections (want %d), %d sink templates (want 1), %d entries with the SIP Call-ID:\n%+v",
				webConns, n, established, open, templates, sipData, conns)
		}
	}

	// Counters settle within a few seconds of the last packet: wait
	// (bounded) until the sink's byte count covers the upload and the
	// global counters equal the sum of the services'.
	var sum, global ipvs.Stats
	var sinkInfo ipvs.ServiceInfo
	for deadline := time.Now().Add(30 * time.Second); ; {
		svcs, err := c.Services(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sum = ipvs.Stats{}
		for _, s := range svcs {
			sum.Connections += s.Stats.Connections
			sum.PacketsIn += s.Stats.PacketsIn
			sum.PacketsOut += s.Stats.PacketsOut
			sum.BytesIn += s.Stats.BytesIn
			sum.BytesOut += s.Stats.BytesOut
			if s.Protocol == sink.Protocol && s.Address == sink.Address && s.Port == sink.Port {
				sinkInfo = s
			}
		}
		if global, err = c.GlobalStats(ctx); err != nil {
			t.Fatal(err)
		}
		settled := sinkInfo.Stats.BytesIn > bulkBytes && sinkInfo.Stats.Connections == open+1
		g := global
		g.CPS, g.PPSIn, g.PPSOut, g.BPSIn, g.BPSOut = 0, 0, 0, 0, 0
		if settled && g == sum {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters did not settle: sink %+v, global %+v, sum of services %+v", sinkInfo.Stats, global, sum)
		}
		time.Sleep(500 * time.Millisecond)
	}
	ds, err := c.Destinations(ctx, sink)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Address == rs && (d.ActiveConns != open || d.PersistentConns != 1) {
			t.Errorf("sink destination: %d active, %d persistent connections; want %d and 1", d.ActiveConns, d.PersistentConns, open)
		}
	}

	// The same, as ipvsadm shows it: each listing compared byte for byte
	// with the real ipvsadm's in the same namespace.
	for _, args := range []string{"-Lnc", "-Lnc --persistent-conn", "-Ln --stats --exact", "-Ln --stats",
		"-Ln --rate", "-Ln --rate --exact", "-Ln --persistent-conn", "-Ln --tun-info", "-Ln --thresholds", "-Ln",
		"-Ln -t 10.0.1.1:9000 --stats", "-Ln -u 10.0.1.1:5060 --persistent-conn"} {
		out := agree(t, ctx, dir, c, args)
		switch args {
		case "-Ln --stats":
			// The upload's bytes in ipvsadm's thousands: at least those
			// counted above (the connections' last ACKs may add a few).
			if !statsShowsK(out, "TCP  10.0.1.1:9000 ", sinkInfo.Stats.BytesIn) {
				t.Errorf("-Ln --stats does not show the sink's %d bytes (or a little more) in thousands:\n%s", sinkInfo.Stats.BytesIn, out)
			}
		case "-Lnc --persistent-conn":
			if !strings.Contains(out, " sip ") || !strings.Contains(out, callID) {
				t.Errorf("-Lnc --persistent-conn shows no SIP Call-ID:\n%s", out)
			}
		case "-Ln --tun-info":
			if !strings.Contains(out, "gue:6080:+c") {
				t.Errorf("-Ln --tun-info shows no GUE destination:\n%s", out)
			}
		}
	}

	// sysctls are per namespace: a change in the director is not seen by
	// the client's namespace.
	set, err := c.SetSysctl(ctx, ipvs.SysctlExpireNodestConn, "1")
	if err != nil || len(set.Changes()) != 1 {
		t.Fatalf("SetSysctl: %v, %v", set.Changes(), err)
	}
	if v := strings.TrimSpace(dir.Exec(t, "cat", "/proc/sys/net/ipv4/vs/expire_nodest_conn")); v != "1" {
		t.Errorf("director sees %q", v)
	}
	if v := strings.TrimSpace(client.Exec(t, "cat", "/proc/sys/net/ipv4/vs/expire_nodest_conn")); v != "0" {
		t.Errorf("client namespace sees %q", v)
	}
}

// agree runs "ipvsadm args" with the real tool, with ours (in process) and
// with the real tool again, until both real outputs are equal and ours is
// the same (counters and rates move; connection listings only need ours to
// lie between the two): bounded to 20 s.
// It returns the listing.
func agree(t *testing.T, ctx context.Context, ns *nstest.NS, c *ipvs.Client, args string) string {
	t.Helper()
	real := func() string {
		out, err := ns.TryExec(realIpvsadm, strings.Fields(args)...)
		if err != nil {
			t.Fatalf("ipvsadm %s: %v\n%s", args, err, out)
		}
		return out
	}
	conns := strings.Contains(args, "c")
	var r1, ours, r2 string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r1 = real()
		var o bytes.Buffer
		if rc := ipvsadm.Run(ctx, c, append([]string{"ipvsadm"}, strings.Fields(args)...), nil, &o, &o); rc != 0 {
			t.Fatalf("ours: ipvsadm %s: exit %d\n%s", args, rc, o.String())
		}
		ours = o.String()
		r2 = real()
		if r1 == r2 && ours == r1 || conns && connsBetween(r1, ours, r2) {
			return ours
		}
	}
	t.Errorf("ipvsadm %s differs:\n--- ours:\n%s--- real (before):\n%s--- real (after):\n%s--- %s", args, ours, r1, r2, firstDiff(r1, ours))
	return ours
}

// connsBetween tells whether the connection listing b equals a and c but
// for the expire column, whose values in b lie between a's and c's: with
// entries of different ages, some entry's countdown ticks during almost
// every read.
func connsBetween(a, b, c string) bool {
	la, lb, lc := strings.Split(a, "\n"), strings.Split(b, "\n"), strings.Split(c, "\n")
	if len(la) != len(lb) || len(lb) != len(lc) {
		return false
	}
	for i := range lb {
		if i < 2 || len(lb[i]) < 10 {
			if la[i] != lb[i] || lb[i] != lc[i] {
				return false
			}
			continue
		}
		ea, eb, ec := expiry(la[i]), expiry(lb[i]), expiry(lc[i])
		rest := lb[i][10:]
		if len(la[i]) < 10 || len(lc[i]) < 10 || la[i][10:] != rest || lc[i][10:] != rest || la[i][:4] != lb[i][:4] || lc[i][:4] != lb[i][:4] ||
			ea < 0 || eb < 0 || ec < 0 || eb > ea || eb < ec {
			return false
		}
	}
	return true
}

// expiry reads the mm:ss column of a connection line, -1 if there is none.
func expiry(l string) int {
	var m, s int
	if len(l) < 10 || l[6] != ':' {
		return -1
	}
	if _, err := fmt.Sscanf(l[4:9], "%d:%d", &m, &s); err != nil {
		return -1
	}
	return 60*m + s
}

// serveSink accepts TCP connections on addr in ns and discards what they
// send (spliced into /dev/null).
func serveSink(t *testing.T, ns *nstest.NS, addr string) {
	l, err := ns.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait(); null.Close() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Closed by the client, or at the test's end.
				stop := context.AfterFunc(t.Context(), func() { conn.Close() })
				defer stop()
				defer conn.Close()
				null.ReadFrom(conn)
			}()
		}
	}()
}

// bulk uploads bulkBytes of zeros through a new connection to addr.
func bulk(t *testing.T, ctx context.Context, ns *nstest.NS, addr string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "bulk")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(bulkBytes); err != nil {
		t.Fatal(err)
	}
	conn, err := ns.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if n, err := io.Copy(conn, f); err != nil || n != bulkBytes {
		t.Fatalf("bulk upload: %d bytes, %v", n, err)
	}
}

// serveSIP answers each SIP request on addr in ns with a 200 OK that
// carries the request's Call-ID.
func serveSIP(t *testing.T, ns *nstest.NS, addr string) {
	pc, err := ns.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var callID string
			for _, l := range strings.Split(string(buf[:n]), "\r\n") {
				if v, ok := strings.CutPrefix(l, "Call-ID: "); ok {
					callID = v
				}
			}
			pc.WriteTo([]byte("SIP/2.0 200 OK\r\nCall-ID: "+callID+"\r\nContent-Length: 0\r\n\r\n"), from)
		}
	}()
}

// sipCall sends an OPTIONS request with callID to addr until one answer
// comes back (bounded: 5 tries of 2 s).
func sipCall(t *testing.T, ctx context.Context, ns *nstest.NS, addr, callID string) {
	t.Helper()
	conn, err := ns.DialContext(ctx, "udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr)
	req := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-golvs\r\nFrom: <sip:test@%s>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		addr, local, local.IP, addr, callID)
	buf := make([]byte, 2048)
	for try := 0; try < 5; try++ {
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := conn.Read(buf); err == nil && strings.Contains(string(buf[:n]), callID) {
			return
		}
	}
	t.Fatalf("no SIP answer from %s", addr)
}

// statsShowsK tells whether the --stats line starting with prefix shows
// InBytes as thousands ("  106013K") of at least n bytes and at most 1 MB
// more.
func statsShowsK(out, prefix string, n uint64) bool {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 7 {
			return false
		}
		k, ok := strings.CutSuffix(f[5], "K")
		v, err := strconv.ParseUint(k, 10, 64)
		return ok && err == nil && v >= n/1000 && v <= n/1000+1000
	}
	return false
}
