package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
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
		conf += fmt.Sprintf("protocol bgp d%d { local %s as 65000; neighbor %s as 65001; passive on; hold time 9; %s ipv4 { import all; export none; }; }\n", i+1, routerIP, dirAddr(i), opt)
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

func (l *lab) waitHops(t *testing.T, limit time.Duration, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, limit, fmt.Sprintf("router next hops %v", want), func() bool {
		return fmt.Sprint(l.nexthops(t)) == fmt.Sprint(want)
	})
	return time.Since(start)
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

// longLived holds n keep-alive HTTP connections to the VIP, each asking
// every 200 ms until ctx ends, and reports per connection whether every
// request succeeded on that one connection and reached one real server.
func (l *lab) longLived(ctx context.Context, n int) func() (kept int, broken []string) {
	results := make([]string, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{DialContext: l.client.DialContext, MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			first := ""
			for k := 0; k < 1000 && ctx.Err() == nil; k++ {
				reused := false
				tctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
					GotConn: func(c httptrace.GotConnInfo) { reused = c.Reused },
				})
				// POST: the transport never retries it on a new connection,
				// so a broken one shows its error.
				req, _ := http.NewRequestWithContext(tctx, "POST", l.url, http.NoBody)
				resp, err := hc.Do(req)
				if err != nil {
					results[i] = fmt.Sprintf("conn %d request %d at %v: %v", i, k, time.Since(start).Round(time.Millisecond), err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case k == 0:
					first = string(b)
				case !reused:
					results[i] = fmt.Sprintf("conn %d request %d at %v: a new connection", i, k, time.Since(start).Round(time.Millisecond))
					return
				case string(b) != first:
					results[i] = fmt.Sprintf("conn %d request %d at %v: answered by %s, was %s", i, k, time.Since(start).Round(time.Millisecond), b, first)
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}
	return func() (int, []string) {
		wg.Wait()
		var broken []string
		for _, r := range results {
			if r != "" {
				broken = append(broken, r)
			}
		}
		return n - len(broken), broken
	}
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
	d1 := l.start(t, 0)
	d2 := l.start(t, 1)
	l.waitHops(t, 30*time.Second, dirAddr(0), dirAddr(1))

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
	d1.Kill()
	took := l.waitHops(t, 9*time.Second, dirAddr(1))
	t.Logf("measured: SIGKILL of a director -> its path gone at the router in %v", took.Round(time.Millisecond))
	if got := l.client.Tally(l.url, 30, 10*time.Second); got["rs1"]+got["rs2"] != 30 {
		t.Fatalf("after the kill, 30 requests: %v", got)
	}

	// A restart with the same identity converges (it undoes what the
	// killed one left) and is announced again.
	d1 = l.start(t, 0)
	l.waitHops(t, 30*time.Second, dirAddr(0), dirAddr(1))

	// Graceful removal of director 2 under load: requests keep going,
	// each a new connection, while it withdraws and tears down; and
	// long-lived connections, about half of them through director 2, move
	// to director 1 when the router drops its path: with mh and
	// sloppy_tcp they go on, to the same real server.
	ctx, cancel := context.WithCancel(context.Background())
	const nLong = 20
	longStart := time.Now()
	longDone := l.longLived(ctx, nLong)
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
	t.Logf("director 2 stopped %v after the long-lived connections started", time.Since(longStart).Round(time.Millisecond))
	if err := d2.Stop(); err != nil {
		t.Errorf("director 2 on SIGTERM: %v\n%s", err, d2.Log())
	}
	stopTook := time.Since(stopped)
	if hops := l.nexthops(t); fmt.Sprint(hops) != fmt.Sprint([]string{dirAddr(0)}) {
		t.Errorf("after director 2 exited, router next hops %v, want only %s", hops, dirAddr(0))
	}
	time.Sleep(2 * time.Second) // keep requesting after it is gone
	cancel()
	wg.Wait()
	kept, broken := longDone()
	t.Logf("measured: %d of %d long-lived connections went on while their director left; broken: %q", kept, nLong, broken)
	// The target is 99%; this run's bound is what every run so far
	// met (18 of 20 at worst on 6.1): see BENCHMARKS.md.
	if kept < nLong*3/4 {
		t.Errorf("only %d of %d long-lived connections went on: %q", kept, nLong, broken)
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
// its path within the hold time without BFD, and well within it with BFD.
func TestSilentFailure(t *testing.T) {
	l := newLab(t, 2, 1)
	l.start(t, 0, "-hold", "3s")
	l.start(t, 1, "-hold", "3s", "-bfd")
	l.waitHops(t, 30*time.Second, dirAddr(0), dirAddr(1))
	// Wait until BIRD's BFD session with director 2 is up.
	waitFor(t, 30*time.Second, "BFD session up", func() bool {
		return strings.Contains(l.bird.Birdc(t, "show", "bfd", "sessions"), "Up")
	})
	// The bridge's ports: p0 the router, p1 and p2 the directors.
	l.segment.Exec(t, "ip", "link", "set", "p1", "down")
	took := l.waitHops(t, 20*time.Second, dirAddr(1))
	t.Logf("measured: silent director, hold time 3 s, no BFD -> path gone in %v", took.Round(time.Millisecond))
	if took < 1500*time.Millisecond {
		t.Errorf("path gone after %v: before the hold time could expire, so not the hold timer", took)
	}
	l.segment.Exec(t, "ip", "link", "set", "p2", "down")
	took = l.waitHops(t, 20*time.Second)
	t.Logf("measured: silent director, BFD 3 x 300 ms -> path gone in %v", took.Round(time.Millisecond))
	if took >= 3*time.Second {
		t.Errorf("with BFD the path took %v to go, no faster than the 3 s hold time\n%s", took, l.bird.Birdc(t, "show", "bfd", "sessions"))
	}
}
