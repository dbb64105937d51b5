//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/golvs/lvs/ipvs"
	"golang.org/x/sys/unix"
)

const (
	dirNS  = "hbdir"
	peerNS = "hbpeer"
)

var (
	vip = ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.3.0.100"), Port: 80}
	// clkTck is the unit of /proc/PID/stat's times (USER_HZ, 100 on
	// Linux everywhere).
	clkTck = 100.0
)

// server i is 10.4.i/250.i%250+1:80.
func server(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 4, byte(i / 250), byte(i%250 + 1)})
}

func main() {
	listen := flag.Int("listen", 0, "internal: be the listener process for this many servers")
	pool := flag.Int("pool", 0, "internal: be the pool process for this many servers")
	sizes := flag.String("sizes", "1000,10000", "numbers of real servers, comma-separated")
	window := flag.Duration("window", 20*time.Second, "steady window for CPU and writes")
	settle := flag.Duration("settle", 5*time.Second, "wait after every server is up before the window")
	down := flag.Int("down", 50, "servers taken down together for the latency")
	poll := flag.Duration("poll", 50*time.Millisecond, "interval of the IPVS reads timing the latency")
	procs := flag.Int("gomaxprocs", 0, "GOMAXPROCS of the pool's process; 0: Go's default (every CPU)")
	flag.Parse()
	var err error
	switch {
	case *listen > 0:
		err = listener(*listen)
	case *pool > 0:
		err = runPool(*pool)
	default:
		var ns []int
		for _, s := range strings.Split(*sizes, ",") {
			n, e := strconv.Atoi(strings.TrimSpace(s))
			if e != nil || n < *down || n > 62500 {
				err = fmt.Errorf("bad size %q (%d..62500)", s, *down)
				break
			}
			ns = append(ns, n)
		}
		if err == nil && *procs > 0 {
			// The pool's process inherits it.
			err = os.Setenv("GOMAXPROCS", strconv.Itoa(*procs))
		}
		if err == nil {
			err = bench(ns, *window, *settle, *down, *poll)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthbench:", err)
		os.Exit(1)
	}
}

// listener holds one listener per server, accepting and closing, and
// obeys its standard input: "down i j ..." closes those servers'
// listeners, "up" reopens every closed one; it answers "ok" to each.
func listener(n int) error {
	ls := make([]net.Listener, n)
	var mu sync.Mutex
	open := func(i int) error {
		l, err := net.Listen("tcp", netip.AddrPortFrom(server(i), 80).String())
		if err != nil {
			return err
		}
		ls[i] = l
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				c.Close()
			}
		}()
		return nil
	}
	for i := range ls {
		if err := open(i); err != nil {
			return err
		}
	}
	fmt.Println("ok")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		mu.Lock()
		switch f[0] {
		case "down":
			for _, s := range f[1:] {
				i, _ := strconv.Atoi(s)
				if ls[i] != nil {
					ls[i].Close()
					ls[i] = nil
				}
			}
		case "up":
			for i := range ls {
				if ls[i] == nil {
					if err := open(i); err != nil {
						return err
					}
				}
			}
		}
		mu.Unlock()
		fmt.Println("ok")
	}
	return sc.Err()
}

// counting counts the pool's calls to IPVS. Its Batch (one per batched
// write) keeps the pool batching.
type counting struct {
	c             *ipvs.Client
	reads, writes atomic.Int64
	batches       atomic.Int64
}

func (w *counting) Destinations(ctx context.Context, k ipvs.ServiceKey) ([]ipvs.DestinationInfo, error) {
	w.reads.Add(1)
	return w.c.Destinations(ctx, k)
}
func (w *counting) CreateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	w.writes.Add(1)
	return w.c.CreateDestination(ctx, k, d)
}
func (w *counting) UpdateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	w.writes.Add(1)
	return w.c.UpdateDestination(ctx, k, d)
}
func (w *counting) DeleteDestination(ctx context.Context, k ipvs.ServiceKey, a netip.AddrPort) error {
	w.writes.Add(1)
	return w.c.DeleteDestination(ctx, k, a)
}
func (w *counting) CreateService(ctx context.Context, s ipvs.Service) error {
	w.writes.Add(1)
	return w.c.CreateService(ctx, s)
}
func (w *counting) DeleteService(ctx context.Context, k ipvs.ServiceKey) error {
	w.writes.Add(1)
	return w.c.DeleteService(ctx, k)
}
func (w *counting) Batch() *ipvs.Batch {
	w.batches.Add(1)
	return w.c.Batch()
}

// runPool checks n servers of the service, in this namespace, until its
// standard input closes; each line read is answered with the IPVS calls
// so far: "writes batches reads events".
func runPool(n int) error {
	c, err := ipvs.New(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	w := &counting{c: c}
	var events atomic.Int64
	servers := make([]health.Server, n)
	for i := range servers {
		servers[i] = health.Server{
			Destination: ipvs.Destination{Address: server(i), Port: 80, Forward: ipvs.DirectRoute, Weight: 1},
			Checker:     health.TCP{},
		}
	}
	p, err := health.New(health.Config{IPVS: w, Service: vip, Servers: servers, Start: health.StartUp,
		// As keepalived with delay_loop 1, connect_timeout 1, retry 0:
		// one failure takes a server down, one success brings it up.
		// Warmup spreads the first checks over the interval.
		Timing: health.Timing{Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Warmup: time.Second},
		Notify: func(e health.Event) {
			// The first few failures say why, on standard error.
			if events.Add(1) <= 5 && e.Kind == health.ServerDown {
				fmt.Fprintf(os.Stderr, "pool: %v %v: %v\n", e.Server, e.Kind, e.Err)
			}
		}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Println(w.writes.Load(), w.batches.Load(), w.reads.Load(), events.Load())
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// child is a helper process driven line by line.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChild(ns string, stderr io.Writer, name string, args ...string) (*child, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

// ask sends a line (none if empty) and returns the answer.
func (c *child) ask(line string) (string, error) {
	if line != "" {
		if _, err := fmt.Fprintln(c.in, line); err != nil {
			return "", err
		}
	}
	if !c.out.Scan() {
		return "", fmt.Errorf("%s exited: %v", c.cmd.Args[3], c.out.Err())
	}
	return c.out.Text(), nil
}

func (c *child) stop() {
	c.in.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func sh(args ...string) error {
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func setup() error {
	for _, ns := range []string{dirNS, peerNS} {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	for _, c := range [][]string{
		{"ip", "netns", "add", dirNS},
		{"ip", "netns", "add", peerNS},
		{"ip", "-n", dirNS, "link", "set", "lo", "up"},
		{"ip", "-n", peerNS, "link", "set", "lo", "up"},
		{"ip", "-n", dirNS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peerNS},
		{"ip", "-n", dirNS, "addr", "add", "10.3.0.1/24", "dev", "eth0"},
		{"ip", "-n", peerNS, "addr", "add", "10.3.0.2/24", "dev", "eth0"},
		{"ip", "-n", dirNS, "link", "set", "eth0", "up"},
		{"ip", "-n", peerNS, "link", "set", "eth0", "up"},
		// Every server's address is the peer's own, without N addresses.
		{"ip", "-n", peerNS, "route", "add", "local", "10.4.0.0/16", "dev", "lo"},
		{"ip", "-n", dirNS, "route", "add", "10.4.0.0/16", "via", "10.3.0.2"},
	} {
		if err := sh(c...); err != nil {
			return err
		}
	}
	return nil
}

// proc reads a process's CPU time (utime+stime) and VmRSS.
func proc(pid int) (cpu time.Duration, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	cpu = time.Duration((ut + st) / clkTck * float64(time.Second))
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			rss = kb * 1024
		}
	}
	return cpu, rss, nil
}

// result is one checker's measurements at one size.
type result struct {
	who          string
	n            int
	cpuPerSec    float64 // CPU seconds per second
	rss          int64
	lat          []time.Duration // sorted
	pollPeriod   time.Duration   // mean period of the latency reads
	steadyWrites string
	upAfter      time.Duration // from start until every server is up in IPVS
	note         string        // when not every server was up
}

// weights reads the service's destinations: nil if it does not exist.
func weights(ctx context.Context, c *ipvs.Client) (map[netip.Addr]uint32, error) {
	ds, err := c.Destinations(ctx, vip)
	if err != nil {
		if errors.Is(err, ipvs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	m := make(map[netip.Addr]uint32, len(ds))
	for _, d := range ds {
		m[d.Address] = d.Weight
	}
	return m, nil
}

// waitAllUp waits (bounded) until the service has n destinations of
// weight 1.
func waitAllUp(ctx context.Context, c *ipvs.Client, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		m, err := weights(ctx, c)
		if err != nil {
			return err
		}
		up := 0
		for _, w := range m {
			if w == 1 {
				up++
			}
		}
		if up == n && len(m) == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %d destinations, %d of weight 1, want %d", limit, len(m), up, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// measure runs the steady window and the latency batch against the
// checking process pid; writes returns the checker's own count of IPVS
// writes, if it has one ("" otherwise).
func measure(ctx context.Context, c *ipvs.Client, l *child, r *result, pid int, window time.Duration, down int, poll time.Duration, writes func() (string, error)) error {
	before, err := weights(ctx, c)
	if err != nil {
		return err
	}
	w0, err := writes()
	if err != nil {
		return err
	}
	cpu0, _, err := proc(pid)
	if err != nil {
		return err
	}
	t0 := time.Now()
	time.Sleep(window)
	cpu1, rss, err := proc(pid)
	if err != nil {
		return err
	}
	el := time.Since(t0)
	w1, err := writes()
	if err != nil {
		return err
	}
	after, err := weights(ctx, c)
	if err != nil {
		return err
	}
	r.cpuPerSec = (cpu1 - cpu0).Seconds() / el.Seconds()
	r.rss = rss
	diff := 0
	for a, w := range after {
		if bw, ok := before[a]; !ok || bw != w {
			diff++
		}
	}
	r.steadyWrites = fmt.Sprintf("table unchanged: %v", diff == 0 && len(before) == len(after))
	if w0 != "" {
		r.steadyWrites = fmt.Sprintf("%s; IPVS writes in window: %s", r.steadyWrites, countDiff(w0, w1))
	}

	// Latency: close the listeners of down servers spread over the
	// range, all at once.
	idx := make([]int, down)
	args := []string{"down"}
	for k := range idx {
		idx[k] = k * r.n / down
		args = append(args, strconv.Itoa(idx[k]))
	}
	seen := make(map[int]time.Duration, down)
	start := time.Now()
	if _, err := l.ask(strings.Join(args, " ")); err != nil {
		return err
	}
	reads := 0
	for deadline := start.Add(30 * time.Second); len(seen) < down && time.Now().Before(deadline); {
		next := time.Now().Add(poll)
		m, err := weights(ctx, c)
		if err != nil {
			return err
		}
		reads++
		at := time.Since(start)
		for _, i := range idx {
			if _, ok := seen[i]; !ok && m[server(i)] == 0 {
				seen[i] = at
			}
		}
		time.Sleep(time.Until(next))
	}
	r.pollPeriod = time.Since(start) / time.Duration(max(reads, 1))
	if len(seen) < down {
		return fmt.Errorf("%s: only %d of %d servers down after 30 s", r.who, len(seen), down)
	}
	for _, d := range seen {
		r.lat = append(r.lat, d)
	}
	slices.Sort(r.lat)
	_, err = l.ask("up")
	return err
}

func countDiff(a, b string) string {
	fa, fb := strings.Fields(a), strings.Fields(b)
	names := []string{"writes", "batches", "reads", "events"}
	var s []string
	for i := range min(len(fa), len(fb), len(names)) {
		x, _ := strconv.Atoi(fa[i])
		y, _ := strconv.Atoi(fb[i])
		s = append(s, fmt.Sprintf("%s %d", names[i], y-x))
	}
	return strings.Join(s, ", ")
}

func keepalivedConf(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id healthbench\n}\nvirtual_server %s %d {\n  delay_loop 1\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n", vip.Address, vip.Port)
	for i := range n {
		fmt.Fprintf(&b, "  real_server %s 80 {\n    weight 1\n    inhibit_on_failure\n    TCP_CHECK {\n      connect_timeout 1\n      retry 0\n    }\n  }\n", server(i))
	}
	b.WriteString("}\n")
	return b.String()
}

func runKeepalived(ctx context.Context, c *ipvs.Client, l *child, n int, window, settle time.Duration, down int, poll time.Duration, logw io.Writer) (result, error) {
	r := result{who: "keepalived", n: n}
	dir, err := os.MkdirTemp("", "hb-keepalived-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(keepalivedConf(n)), 0o644); err != nil {
		return r, err
	}
	pidFile := filepath.Join(dir, "checkers.pid")
	log, err := os.Create(filepath.Join(dir, "keepalived.log"))
	if err != nil {
		return r, err
	}
	defer log.Close()
	cmd := exec.Command("ip", "netns", "exec", dirNS, "keepalived", "-n", "-C", "-l", "-D", "-f", conf,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"), "-c", pidFile)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if err != nil {
			b, _ := os.ReadFile(log.Name())
			fmt.Fprintf(logw, "keepalived's output (last 3000 bytes):\n%s\n", b[max(0, len(b)-3000):])
		}
	}()
	if err = waitAllUp(ctx, c, n, 3*time.Minute); err != nil {
		// Too slow to hold every server up: measure it as it is.
		r.note = err.Error()
		err = nil
	}
	r.upAfter = time.Since(began)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return r, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return r, fmt.Errorf("checker pid file: %q", b)
	}
	time.Sleep(settle)
	err = measure(ctx, c, l, &r, pid, window, down, poll, func() (string, error) { return "", nil })
	if err == nil {
		if e := waitAllUp(ctx, c, n, 2*time.Minute); e != nil {
			r.note += "; after the latency: " + e.Error()
		}
	}
	return r, err
}

func runOurs(ctx context.Context, c *ipvs.Client, l *child, n int, window, settle time.Duration, down int, poll time.Duration, logw io.Writer) (result, error) {
	r := result{who: "health.Pool", n: n}
	// keepalived, if killed at the end of its turn, left its service.
	c.DeleteService(ctx, vip)
	if err := c.CreateService(ctx, ipvs.Service{ServiceKey: vip, Scheduler: ipvs.RoundRobin}); err != nil {
		return r, err
	}
	defer c.DeleteService(ctx, vip)
	self, err := os.Executable()
	if err != nil {
		return r, err
	}
	began := time.Now()
	p, err := startChild(dirNS, logw, self, "-pool", strconv.Itoa(n))
	if err != nil {
		return r, err
	}
	defer p.stop()
	if err := waitAllUp(ctx, c, n, 3*time.Minute); err != nil {
		r.note = err.Error()
	}
	r.upAfter = time.Since(began)
	time.Sleep(settle)
	// ip netns exec execs the program: the child's pid is the pool's.
	err = measure(ctx, c, l, &r, p.cmd.Process.Pid, window, down, poll, func() (string, error) { return p.ask("count") })
	if err == nil {
		if e := waitAllUp(ctx, c, n, 2*time.Minute); e != nil {
			r.note += "; after the latency: " + e.Error()
		}
	}
	return r, err
}

func bench(sizes []int, window, settle time.Duration, down int, poll time.Duration) error {
	// Children inherit it: N sockets at once, in every process.
	lim := unix.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raising the open files limit: %w", err)
	}
	if err := setup(); err != nil {
		return err
	}
	defer exec.Command("ip", "netns", "del", dirNS).Run()
	defer exec.Command("ip", "netns", "del", peerNS).Run()
	c, err := ipvs.New(&ipvs.Config{NetNSPath: "/run/netns/" + dirNS})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	out, _ := exec.Command("keepalived", "--version").CombinedOutput()
	fmt.Printf("keepalived: %s\n", strings.SplitN(string(out), "\n", 2)[0])
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("guest load at start: %s", b)
	}
	var results []result
	for _, n := range sizes {
		l, err := startChild(peerNS, os.Stderr, self, "-listen", strconv.Itoa(n))
		if err != nil {
			return err
		}
		if _, err := l.ask(""); err != nil {
			return err
		}
		for _, run := range []func(context.Context, *ipvs.Client, *child, int, time.Duration, time.Duration, int, time.Duration, io.Writer) (result, error){runKeepalived, runOurs} {
			r, err := run(ctx, c, l, n, window, settle, down, poll, os.Stderr)
			if err != nil {
				l.stop()
				return fmt.Errorf("%s at N=%d: %w", r.who, n, err)
			}
			fmt.Printf("N=%d %s: up after %v, CPU %.3f s/s, RSS %.1f MiB, latency p50 %v p99 %v (reads every %v), %s\n",
				n, r.who, r.upAfter.Round(time.Millisecond), r.cpuPerSec, float64(r.rss)/(1<<20), pct(r.lat, 50), pct(r.lat, 99), r.pollPeriod.Round(time.Millisecond), r.steadyWrites)
			if r.note != "" {
				fmt.Printf("  note: %s\n", r.note)
			}
			results = append(results, r)
		}
		l.stop()
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("guest load at end: %s", b)
	}
	table(results)
	return nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (len(d)*p + 99) / 100
	return d[min(max(i-1, 0), len(d)-1)].Round(time.Millisecond)
}

func table(rs []result) {
	fmt.Println()
	fmt.Println("| N | checker | CPU s/s | RSS MiB | detect p50 | detect p99 | IPVS read period | steady window |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		fmt.Printf("| %d | %s | %.3f | %.1f | %v | %v | %v | %s |\n", r.n, r.who, r.cpuPerSec, float64(r.rss)/(1<<20),
			pct(r.lat, 50), pct(r.lat, 99), r.pollPeriod.Round(time.Millisecond), r.steadyWrites)
	}
	fmt.Println()
	fmt.Println("| N | CPU ours/keepalived | RSS ours/keepalived | p50 ours/keepalived | p99 ours/keepalived |")
	fmt.Println("|---|---|---|---|---|")
	for i := 0; i+1 < len(rs); i += 2 {
		k, o := rs[i], rs[i+1]
		fmt.Printf("| %d | %.2f | %.2f | %.2f | %.2f |\n", k.n, o.cpuPerSec/k.cpuPerSec, float64(o.rss)/float64(k.rss),
			float64(pct(o.lat, 50))/float64(pct(k.lat, 50)), float64(pct(o.lat, 99))/float64(pct(k.lat, 99)))
	}
}
