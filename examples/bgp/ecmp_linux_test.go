package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/internal/peers"
)

// The ECMP lab: a client behind a BIRD router, which reaches two (or
// three) directors and two DR real servers on one segment. The directors
// run this program and announce the VIP to BIRD over eBGP; BIRD merges
// their paths (merge paths on) into one multipath kernel route.
//
//	client 10.1.0.2 ── 10.1.0.1 router (BIRD, AS 65000) 10.0.0.1 ── br0
//	br0: directors 10.0.0.11, .12 (AS 65001), real servers 10.0.0.21, .22
const (
	vip      = "10.9.0.10"
	routerIP = "10.0.0.1"
)

type lab struct {
	client, router *nstest.NS
	segment        *nstest.NS // the bridge's namespace
	dirs           []*nstest.NS
	bird           *peers.BirdProcess
	url            string
	// rw hears the router's route changes, sw the bridge's ports going
	// down: the measured times run from one notification to another.
	rw, sw *watch
}

func dirAddr(i int) string { return fmt.Sprintf("10.0.0.%d", 11+i) }

// newLab builds the lab; bfd lists the directors BIRD runs BFD with
// (3 x 300 ms).
func newLab(t *testing.T, directors int, bfd ...int) *lab {
	l := &lab{client: nstest.New(t), router: nstest.New(t)}
	rs := []*nstest.NS{nstest.New(t), nstest.New(t)}
	members := []nstest.Member{{NS: l.router, Name: "eth1", Addrs: []netip.Prefix{netip.MustParsePrefix(routerIP + "/24")}}}
	for i := range directors {
		d := nstest.New(t)
		l.dirs = append(l.dirs, d)
		members = append(members, nstest.Member{NS: d, Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix(dirAddr(i) + "/24")}})
	}
	for i, r := range rs {
		members = append(members, nstest.Member{NS: r, Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.0.0.%d/24", 21+i))}})
	}
	l.segment = nstest.Segment(t, "br0", members...)
	l.sw = watchNS(t, l.segment)
	l.rw = watchNS(t, l.router)
	nstest.Veth(t, l.client, "eth0", l.router, "eth0")
	l.client.AddAddr(t, "eth0", netip.MustParsePrefix("10.1.0.2/24"))
	l.router.AddAddr(t, "eth0", netip.MustParsePrefix("10.1.0.1/24"))
	l.client.Exec(t, "ip", "route", "add", "default", "via", "10.1.0.1")
	l.router.Sysctl(t, "net.ipv4.ip_forward", "1")
	// Hash flows by ports too, so one client's connections spread.
	l.router.Sysctl(t, "net.ipv4.fib_multipath_hash_policy", "1")
	for i, r := range rs {
		// DR real servers: the VIP on lo, replies straight to the router.
		r.AddAddr(t, "lo", netip.MustParsePrefix(vip+"/32"))
		r.Exec(t, "ip", "route", "add", "default", "via", routerIP)
		name := fmt.Sprintf("rs%d", i+1)
		r.ServeName(t, vip+":80", name)
	}
	conf := "router id " + routerIP + ";\nprotocol device { scan time 1; }\n" +
		"protocol kernel { ipv4 { export all; }; merge paths on; }\n"
	if len(bfd) > 0 {
		conf += `protocol bfd { interface "eth1" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }; }` + "\n"
	}
	for i := range directors {
		opt := ""
		if slices.Contains(bfd, i) {
			opt = "bfd on;"
		}
		// error wait time: after a failure (a hold timer, a BFD down) BIRD
		// takes the director back within seconds, not its default minute.
		conf += fmt.Sprintf("protocol bgp d%d { local %s as 65000; neighbor %s as 65001; passive on; hold time 9; error wait time 1, 5; %s ipv4 { import all; export none; }; }\n", i+1, routerIP, dirAddr(i), opt)
	}
	l.bird = peers.Bird(t, l.router, conf)
	l.url = "http://" + vip + "/"
	return l
}

// start runs director i (bgp director ...) and waits for its "announced".
func (l *lab) start(t *testing.T, i int, extra ...string) *peers.Process {
	t.Helper()
	args := append([]string{"director", "-vip", vip + ":80", "-rs", "10.0.0.22,10.0.0.21",
		"-asn", "65001", "-router-id", dirAddr(i), "-peer", routerIP, "-peer-asn", "65000"}, extra...)
	p := peers.Start(t, l.dirs[i], t.TempDir(), "bgp", args...)
	waitFor(t, 60*time.Second, fmt.Sprintf("director %d announced", i+1), func() bool {
		if exited, err := p.Exited(); exited {
			t.Fatalf("director %d exited: %v\n%s", i+1, err, p.Log())
		}
		return inOrder(p.Log(), "ready", "announced")
	})
	return p
}

// inOrder tells whether log has the lines want in that order (other lines,
// such as session events on standard error, may come between).
func inOrder(log string, want ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		if len(want) > 0 && line == want[0] {
			want = want[1:]
		}
	}
	return len(want) == 0
}

var nexthopRE = regexp.MustCompile(`via (10\.0\.0\.\d+)`)

// nexthops returns the router's kernel next hops for the VIP.
func (l *lab) nexthops(t *testing.T) []string {
	out := l.router.Exec(t, "ip", "-4", "route", "show", vip+"/32")
	var hops []string
	for _, m := range nexthopRE.FindAllStringSubmatch(out, -1) {
		hops = append(hops, m[1])
	}
	slices.Sort(hops)
	return hops
}

// waitHops waits until the router's route has the next hops want, from a
// notification after since.
func (l *lab) waitHops(t *testing.T, since time.Time, limit time.Duration, want ...string) time.Time {
	t.Helper()
	return l.rw.routeAt(t, since, limit, want...)
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// conns returns the connections director d's IPVS service took so far.
func conns(t *testing.T, d *nstest.NS) string {
	out := d.Exec(t, "ipvsadm", "-Ln", "--stats", "-t", vip+":80")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[0] == "TCP" {
			return f[2]
		}
	}
	return "?"
}

// longConn is one long-lived connection's record.
type longConn struct {
	port   int         // the client's port on its first connection
	first  string      // the real server that answered first
	ok     []time.Time // when each request succeeded on that connection
	broken string      // how it broke, or ""
}

// longLived holds n keep-alive HTTP connections to the VIP, each asking
// every interval until ctx ends (1000 requests at most), and records per
// connection whether every request succeeded on that one connection and
// reached one real server. started counts the connections whose first
// request is done, answered or failed.
func (l *lab) longLived(ctx context.Context, n int, interval time.Duration, started *atomic.Int32) func() []longConn {
	results := make([]longConn, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			// A connection whose first request fails counts as settled
			// too (it is reported broken), so that no wait hangs on it.
			settled := false
			defer func() {
				if !settled {
					started.Add(1)
				}
			}()
			tr := &http.Transport{DialContext: l.client.DialContext, MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for k := 0; k < 1000 && ctx.Err() == nil; k++ {
				reused := false
				tctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
					GotConn: func(c httptrace.GotConnInfo) {
						reused = c.Reused
						if a, ok := c.Conn.LocalAddr().(*net.TCPAddr); ok && r.port == 0 {
							r.port = a.Port
						}
					},
				})
				// POST: the transport never retries it on a new connection
				// once written, so a connection broken mid-request shows
				// its error; one closed while idle shows as a new one.
				req, _ := http.NewRequestWithContext(tctx, "POST", l.url, http.NoBody)
				resp, err := hc.Do(req)
				at := time.Since(start).Round(time.Millisecond)
				if err != nil {
					r.broken = fmt.Sprintf("request %d at %v: %v", k, at, err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					r.broken = fmt.Sprintf("request %d at %v: reading the answer: %v", k, at, err)
					return
				case k == 0:
					r.first = string(b)
					settled = true
					started.Add(1)
				case !reused:
					r.broken = fmt.Sprintf("request %d at %v: a new connection", k, at)
					return
				case string(b) != r.first:
					r.broken = fmt.Sprintf("request %d at %v: answered by %s, was %s", k, at, b, r.first)
					return
				}
				r.ok = append(r.ok, time.Now())
				select {
				case <-ctx.Done():
				case <-time.After(interval):
				}
			}
		}()
	}
	return func() []longConn {
		wg.Wait()
		return results
	}
}

// tcpCounters reads the TcpExt counters of ns (/proc/thread-self/net/netstat).
func tcpCounters(t *testing.T, ns *nstest.NS) map[string]int64 {
	t.Helper()
	var b []byte
	if err := ns.Do(func() (err error) {
		b, err = os.ReadFile("/proc/thread-self/net/netstat") // this thread is in ns; /proc/net is the process's
		return err
	}); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) != len(values) || len(names) == 0 || names[0] != "TcpExt:" {
			continue
		}
		for j := 1; j < len(names); j++ {
			v, _ := strconv.ParseInt(values[j], 10, 64)
			out[names[j]] = v
		}
	}
	return out
}

// flowStep is a flow's change of director ("d1", "d2") or a reset or FIN.
type flowStep struct {
	Time time.Time
	What string
}

func (s flowStep) String() string { return s.What + " @" + s.Time.Format("05.000") }

// flowPaths reads, from frames captured on the router's side of the
// segment, which director each of the client's flows (by client port) was
// sent to, in order with the time of each change, and the resets and FINs
// that came back from the real servers.
func flowPaths(frames []nstest.Frame, dirMACs map[string]string) map[int][]flowStep {
	paths := map[int][]flowStep{}
	last := map[int]string{}
	for _, f := range frames {
		b := f.Data
		if len(b) < 14+20+20 || binary.BigEndian.Uint16(b[12:14]) != 0x0800 {
			continue
		}
		ip := b[14:]
		hl := int(ip[0]&0x0f) * 4
		if ip[9] != 6 || len(ip) < hl+14 {
			continue
		}
		src, dst := netip.AddrFrom4([4]byte(ip[12:16])).String(), netip.AddrFrom4([4]byte(ip[16:20])).String()
		tcp := ip[hl:]
		sport, dport, flags := int(binary.BigEndian.Uint16(tcp[0:2])), int(binary.BigEndian.Uint16(tcp[2:4])), tcp[13]
		switch {
		case src == "10.1.0.2" && dst == vip:
			d := dirMACs[net.HardwareAddr(b[0:6]).String()]
			if d == "" {
				d = "?" + net.HardwareAddr(b[0:6]).String()
			}
			switch {
			case flags&0x04 != 0:
				paths[sport] = append(paths[sport], flowStep{f.Time, "client RST via " + d})
			case flags&0x01 != 0:
				paths[sport] = append(paths[sport], flowStep{f.Time, "client FIN via " + d})
			}
			if last[sport] != d {
				paths[sport] = append(paths[sport], flowStep{f.Time, d})
				last[sport] = d
			}
		case src == vip && dst == "10.1.0.2" && flags&0x05 != 0:
			what := "FIN"
			if flags&0x04 != 0 {
				what = "RST"
			}
			paths[dport] = append(paths[dport], flowStep{f.Time, "server " + what + " from " + net.HardwareAddr(b[6:12]).String()})
		}
	}
	return paths
}

// active returns director d's active connections to the VIP.
func active(t *testing.T, d *nstest.NS) int {
	n := 0
	for _, line := range strings.Split(d.Exec(t, "ipvsadm", "-Ln", "-t", vip+":80"), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[0] == "->" {
			v, _ := strconv.Atoi(f[4])
			n += v
		}
	}
	return n
}

// TestECMP: two directors announce the VIP; the router's kernel route has
// both next hops and traffic reaches both real servers through both
// directors. SIGKILL of one removes its path (measured), new connections
// still succeed; it restarts and converges; SIGTERM of the other withdraws
// before teardown with no failed request during the drain.
func TestECMP(t *testing.T) {
	l := newLab(t, 2)
	t0 := time.Now()
	d1 := l.start(t, 0)
	d2 := l.start(t, 1)
	l.waitHops(t, t0, 30*time.Second, dirAddr(0), dirAddr(1))

	got := l.client.Tally(l.url, 60, 10*time.Second)
	if got["rs1"]+got["rs2"] != 60 || got["rs1"] == 0 || got["rs2"] == 0 {
		t.Fatalf("60 requests through two directors: %v", got)
	}
	// The service's counters are folded from per-CPU ones by its rate
	// estimator every 2 s: wait (bounded) for both directors' to show.
	var c1, c2 string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		c1, c2 = conns(t, l.dirs[0]), conns(t, l.dirs[1])
		spread := c1 != "0" && c2 != "0" && c1 != "?" && c2 != "?"
		if spread {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections per director %s and %s: ECMP did not spread", c1, c2)
		}
	}
	t.Logf("60 requests: %v; director connections %s / %s", got, c1, c2)

	// Process death: the kernel closes its session, BIRD drops the path.
	killed := time.Now()
	d1.Kill()
	gone := l.waitHops(t, killed, 9*time.Second, dirAddr(1))
	t.Logf("measured: SIGKILL of a director -> its path gone at the router in %v (kill to route notification)", gone.Sub(killed).Round(time.Millisecond))
	if got := l.client.Tally(l.url, 30, 10*time.Second); got["rs1"]+got["rs2"] != 30 {
		t.Fatalf("after the kill, 30 requests: %v", got)
	}

	// A restart with the same identity converges (it undoes what the
	// killed one left) and is announced again.
	t0 = time.Now()
	d1 = l.start(t, 0)
	l.waitHops(t, t0, 30*time.Second, dirAddr(0), dirAddr(1))
	for i, d := range l.dirs {
		if v := strings.TrimSpace(d.Exec(t, "cat", "/proc/sys/net/ipv4/vs/sloppy_tcp")); v != "1" {
			t.Errorf("director %d: sloppy_tcp %s, want 1", i+1, v)
		}
	}

	// Graceful removal of director 2 under load: requests keep going,
	// each a new connection, while it withdraws and tears down; and
	// long-lived connections, about half of them through director 2, move
	// to director 1 when the router drops its path: with mh and
	// sloppy_tcp they go on, to the same real server.
	dirMACs := map[string]string{}
	for i, d := range l.dirs {
		dirMACs[d.HardwareAddr(t, "eth0")] = fmt.Sprintf("d%d", i+1)
	}
	capture := l.router.Capture(t, "eth1")
	tcpBefore := tcpCounters(t, l.client)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const nLong = 100
	var started atomic.Int32
	longStart := time.Now()
	longDone := l.longLived(ctx, nLong, time.Second, &started)
	waitFor(t, 60*time.Second, "every long-lived connection's first request", func() bool { return started.Load() == nLong })
	time.Sleep(2 * time.Second)
	a1, a2 := active(t, l.dirs[0]), active(t, l.dirs[1])
	t.Logf("before the stop, active connections per director %d / %d", a1, a2)
	if a2 == 0 {
		t.Errorf("no long-lived connection goes through director 2: the move is not tested")
	}
	var mu sync.Mutex
	tally := map[string]int{}
	// Four clients at once: under emulation and load one request can take
	// a second, and the drain lasts about three.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 500 && ctx.Err() == nil; n++ {
				g := l.client.Tally(l.url, 1, 10*time.Second)
				mu.Lock()
				for k, v := range g {
					tally[k] += v
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	stopped := time.Now()
	t.Logf("director 2 stopped %v after the long-lived connections started", stopped.Sub(longStart).Round(time.Millisecond))
	d2.Terminate()
	moved := l.waitHops(t, stopped, 10*time.Second, dirAddr(0))
	if err := d2.Wait(); err != nil {
		t.Errorf("director 2 on SIGTERM: %v\n%s", err, d2.Log())
	}
	stopTook := time.Since(stopped)
	if hops := l.nexthops(t); fmt.Sprint(hops) != fmt.Sprint([]string{dirAddr(0)}) {
		t.Errorf("after director 2 exited, router next hops %v, want only %s", hops, dirAddr(0))
	}
	// Keep requesting after it is gone: every connection asks at least
	// twice more after its flow moved.
	time.Sleep(3 * time.Second)
	cancel()
	wg.Wait()
	results := longDone()
	tcpAfter := tcpCounters(t, l.client)
	var deltas []string
	for _, k := range []string{"TCPTimeouts", "TcpTimeoutRehash", "TcpDuplicateDataRehash", "TCPSpuriousRTOs"} {
		deltas = append(deltas, fmt.Sprintf("%s +%d", k, tcpAfter[k]-tcpBefore[k]))
	}
	t.Logf("the client's TCP during the long-lived connections: %s", strings.Join(deltas, ", "))
	paths := flowPaths(capture.Frames(), dirMACs)
	kept, viaD2, keptD2, untested, changed := 0, 0, 0, 0, 0
	var broken []string
	for i, r := range results {
		p := paths[r.port]
		d2Last, dirs, early := false, 0, 0
		for _, step := range p {
			if step.What == "d1" || step.What == "d2" {
				dirs++
				if step.Time.Before(moved) {
					d2Last = step.What == "d2"
					if dirs > 1 {
						early++
					}
				}
			}
		}
		if early > 0 {
			changed++
		}
		after := 0
		for _, at := range r.ok {
			if at.After(moved) {
				after++
			}
		}
		switch {
		case r.broken != "":
			broken = append(broken, fmt.Sprintf("conn %d (port %d, %s): %s; path %v", i, r.port, r.first, r.broken, p))
		case after == 0:
			untested++
		default:
			kept++
		}
		if d2Last {
			viaD2++
			if r.broken == "" && after > 0 {
				keptD2++
			}
		}
	}
	t.Logf("measured: %d of %d long-lived connections went on while their director left (%d of %d through director 2); %d changed director before the route did; %d made no request after the move",
		kept, nLong, keptD2, viaD2, changed, untested)
	for _, b := range broken {
		t.Logf("broken: %s", b)
	}
	t.Logf("route moved %v after SIGTERM", moved.Sub(stopped).Round(time.Millisecond))
	if kept < nLong*3/4 {
		t.Errorf("only %d of %d long-lived connections went on", kept, nLong)
	}
	if untested > 0 {
		t.Errorf("%d long-lived connections made no request after the move", untested)
	}
	total := 0
	for k, v := range tally {
		total += v
		if strings.HasPrefix(k, "error") {
			t.Errorf("%d failed requests during the graceful drain: %s", v, k)
		}
	}
	if total < 10 {
		t.Errorf("only %d requests during the drain", total)
	}
	if !inOrder(d2.Log(), "ready", "announced", "withdrawn") {
		t.Errorf("director 2 did not print withdrawn:\n%s", d2.Log())
	}
	t.Logf("measured: graceful stop of a director took %v; %d requests during the drain, %v", stopTook.Round(time.Millisecond), total, tally)
	_ = d1
}

// TestSilentFailure: a director whose packets stop reaching the router
// (its switch port goes down; its process and session state live on) loses
// its path within the hold time without BFD, and well within it with BFD,
// as BIRD says: "BFD session down". Each figure runs from the kernel's
// notification of the port going down to its notification of the
// router's route changing; the BFD failure is repeated for a distribution.
func TestSilentFailure(t *testing.T) {
	l := newLab(t, 2, 1)
	capture := l.router.Capture(t, "eth1")
	t0 := time.Now()
	l.start(t, 0, "-hold", "3s")
	l.start(t, 1, "-hold", "3s", "-bfd")
	l.waitHops(t, t0, 30*time.Second, dirAddr(0), dirAddr(1))
	l.waitBFD(t)

	// The bridge's ports: p0 the router, p1 and p2 the directors.
	down := l.portDown(t, "p1")
	gone := l.waitHops(t, down, 20*time.Second, dirAddr(1))
	took := gone.Sub(down)
	t.Logf("measured: silent director, hold time 3 s, no BFD -> path gone in %v", took.Round(time.Millisecond))
	if took < 1500*time.Millisecond {
		t.Errorf("path gone after %v: before the hold time could expire, so not the hold timer", took)
	}

	// A trial whose session went down on its own before the port did
	// (BFD packets more than 0.9 s apart: the emulation under load) times
	// nothing: it is reported and tried again, a bounded number of times.
	const trials, flapsAllowed = 5, 5
	var tooks, detects []time.Duration
	flaps := 0
	for k := 0; k < trials; k++ {
		armed := time.Now()
		if k > 0 || flaps > 0 {
			l.segment.Exec(t, "ip", "link", "set", "p2", "up")
			l.waitHops(t, armed, 60*time.Second, dirAddr(1))
			l.waitBFD(t)
			// Let the session run at its agreed rate for a while.
			time.Sleep(time.Second)
			armed = time.Now()
		}
		down := l.portDown(t, "p2")
		if l.rw.lost(armed, down, dirAddr(1)) {
			flaps++
			t.Logf("trial %d: director 2's path went on its own before its port went down (BFD under load); tried again", k+1)
			if flaps > flapsAllowed {
				t.Fatalf("director 2's BFD session went down on its own %d times: no trial could be timed", flaps)
			}
			k--
			continue
		}
		gone := l.waitHops(t, down, 20*time.Second)
		took := gone.Sub(down)
		// The director's BFD packets as the router received them: the
		// last one before the port went down starts BIRD's detection time.
		var rx []time.Time
		for _, f := range capture.Frames() {
			if f.Time.Before(down) && f.Time.After(down.Add(-5*time.Second)) && isBFDFrom(f.Data, dirAddr(1)) {
				rx = append(rx, f.Time)
			}
		}
		if len(rx) < 2 {
			t.Fatalf("trial %d: %d BFD packets from director 2 in the 5 s before its port went down", k+1, len(rx))
		}
		var gaps []time.Duration
		for i := 1; i < len(rx); i++ {
			gaps = append(gaps, rx[i].Sub(rx[i-1]))
		}
		slices.Sort(gaps)
		detect := gone.Sub(rx[len(rx)-1])
		tooks, detects = append(tooks, took), append(detects, detect)
		t.Logf("measured: trial %d: silent director, BFD 3 x 300 ms -> path gone in %v after its port went down, %v after its last BFD packet (its packets %v apart, median; %v at most)",
			k+1, took.Round(time.Millisecond), detect.Round(time.Millisecond), gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond))
		if proto := l.bird.Birdc(t, "show", "protocols", "all", "d2"); !strings.Contains(proto, "BFD session down") {
			t.Errorf("trial %d: BIRD did not drop the session for BFD:\n%s", k+1, proto)
		}
		if took >= 3*time.Second {
			t.Errorf("trial %d: with BFD the path took %v to go, no faster than the 3 s hold time", k+1, took)
		}
	}
	slices.Sort(tooks)
	slices.Sort(detects)
	under := 0
	for _, d := range tooks {
		if d < time.Second {
			under++
		}
	}
	t.Logf("measured: BFD, %d trials: port down -> path gone %v (sorted), under 1 s in %d; last BFD packet -> path gone %v; sessions down on their own before a trial: %d", trials, roundAll(tooks), under, roundAll(detects), flaps)
}

// portDown sets the bridge's port down and returns when the kernel
// announced it down.
func (l *lab) portDown(t *testing.T, port string) time.Time {
	t.Helper()
	before := time.Now()
	l.segment.Exec(t, "ip", "link", "set", port, "down")
	return l.sw.downAt(t, before, 10*time.Second, port)
}

// waitBFD waits until BIRD's BFD session with director 2 is up and logs
// its timers (BIRD's interval and timeout, the detection time it applies).
func (l *lab) waitBFD(t *testing.T) {
	t.Helper()
	var out string
	waitFor(t, 30*time.Second, "BFD session up", func() bool {
		out = l.bird.Birdc(t, "show", "bfd", "sessions")
		return strings.Contains(out, " Up ")
	})
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, dirAddr(1)) {
			t.Logf("BIRD's BFD session: %s", strings.Join(strings.Fields(line), " "))
		}
	}
}

// isBFDFrom tells whether frame b is a BFD control packet (UDP to 3784)
// from src.
func isBFDFrom(b []byte, src string) bool {
	if len(b) < 14+20+8 || binary.BigEndian.Uint16(b[12:14]) != 0x0800 {
		return false
	}
	ip := b[14:]
	hl := int(ip[0]&0x0f) * 4
	if ip[9] != 17 || len(ip) < hl+8 || netip.AddrFrom4([4]byte(ip[12:16])).String() != src {
		return false
	}
	return binary.BigEndian.Uint16(ip[hl+2:hl+4]) == 3784
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
