package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/netlab"
	"github.com/golvs/lvs/ipvs"
)

// nativeProblem says why the lab cannot run natively here, or nil when we
// are root and the kernel answers for IPVS.
func nativeProblem() error {
	if os.Geteuid() != 0 {
		return errors.New("not root")
	}
	c, err := ipvs.New(nil)
	if err != nil {
		return err
	}
	return c.Close()
}

// examples are the programs the lab runs.
var examples = []string{"nat", "dr", "tun", "fwmark", "ha"}

// findBinaries locates the example programs in dir, else on PATH, else
// builds them into tmp with the go tool.
func findBinaries(ctx context.Context, dir, tmp string) (map[string]string, error) {
	bins := map[string]string{}
	var missing []string
	for _, name := range examples {
		p := filepath.Join(dir, name)
		if dir == "" {
			p, _ = exec.LookPath(name)
		}
		if st, err := os.Stat(p); p != "" && err == nil && st.Mode().IsRegular() {
			bins[name] = p
		} else if dir != "" {
			return nil, fmt.Errorf("%s not found in %s", name, dir)
		} else {
			missing = append(missing, name)
		}
	}
	for _, name := range missing {
		p := filepath.Join(tmp, name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", p, "github.com/golvs/lvs/examples/"+name)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build examples/%s: %v\n%s", name, err, out)
		}
		bins[name] = p
	}
	return bins, nil
}

// agent is one example program running in a host.
type agent struct {
	label string
	ns    *netlab.NS
	argv  []string
	env   []string // added to the environment (test hooks)

	cmd    *exec.Cmd
	stderr syncBuffer
	stdout syncBuffer // the lines after ready (ha's state lines)
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

func newAgent(label string, ns *netlab.NS, prog string, args ...string) *agent {
	return &agent{label: label, ns: ns, argv: append([]string{prog}, args...)}
}

func (a *agent) String() string { return strings.Join(a.argv, " ") }

// start runs the program inside its host and waits until it prints ready.
func (a *agent) start(bins map[string]string, timeout time.Duration) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	a.cmd = exec.Command(bins[a.argv[0]], a.argv[1:]...)
	a.cmd.Stdout, a.cmd.Stderr = pw, &a.stderr
	if len(a.env) > 0 {
		a.cmd.Env = append(os.Environ(), a.env...)
	}
	err = a.ns.Start(a.cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		return fmt.Errorf("%s: starting %s: %w", a.label, a, err)
	}
	a.exited = make(chan struct{})
	go func() { a.err = a.cmd.Wait(); close(a.exited) }()
	ready := make(chan bool, 1)
	// The reader owns the pipe until the program's end: agents print
	// more after ready (ha its state lines), and a pipe closed under them
	// would kill them with SIGPIPE. Lines after ready go to a.stdout,
	// including those the scanner read ahead with "ready".
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		seen := false
		for sc.Scan() {
			if seen {
				a.stdout.Write(append(sc.Bytes(), '\n'))
			} else if sc.Text() == "ready" {
				seen = true
				ready <- true
			}
		}
		if !seen {
			ready <- false
		}
		io.Copy(io.Discard, pr) // after a line too long: never block the program
	}()
	select {
	case ok := <-ready:
		if ok {
			return nil
		}
		<-a.exited
		return fmt.Errorf("%s: %s exited before ready (%v): %s", a.label, a, a.err, strings.TrimSpace(a.stderr.String()))
	case <-time.After(timeout):
		a.cmd.Process.Kill()
		<-a.exited
		return fmt.Errorf("%s: %s not ready after %v: %s", a.label, a, timeout, strings.TrimSpace(a.stderr.String()))
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (a *agent) stop(timeout time.Duration) error {
	if a.exited == nil {
		return nil
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(timeout):
		a.cmd.Process.Kill()
		<-a.exited
		return fmt.Errorf("%s: %s did not exit within %v of SIGTERM", a.label, a, timeout)
	}
	if a.err != nil {
		return fmt.Errorf("%s: %s: %v: %s", a.label, a, a.err, strings.TrimSpace(a.stderr.String()))
	}
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// snapshot records what the examples may change in a host: sysctls of
// every interface, forwarding, IPVS sysctls, devices, addresses, fou ports,
// the IPVS table and the nftables ruleset (which holds iptables-nft and
// arptables-nft rules too).
func snapshot(ctx context.Context, ns *netlab.NS) (map[string]string, error) {
	h, err := netcfg.Open(ns.Path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.Links()
	if err != nil {
		return nil, err
	}
	// conf/all and the IPVS sysctls whole, and per interface the keys that
	// set-up changes (writing ip_forward rewrites every interface's
	// forwarding): each read costs milliseconds under emulation.
	candidates := []string{"net/ipv4/conf/all", "net/ipv4/vs", "net/ipv6/conf/all/forwarding", "net/ipv6/conf/default/accept_ra"}
	for _, l := range links {
		for _, key := range []string{"forwarding", "rp_filter", "send_redirects", "accept_redirects", "arp_ignore", "arp_announce"} {
			candidates = append(candidates, "net/ipv4/conf/"+l.Attrs().Name+"/"+key)
		}
		// Not for tunnel devices: bringing one up gives it IPv6 state for
		// good, a kernel side effect rather than a setting.
		if t := l.Type(); t == "veth" || t == "device" || t == "dummy" || t == "bridge" {
			candidates = append(candidates, "net/ipv6/conf/"+l.Attrs().Name+"/forwarding", "net/ipv6/conf/"+l.Attrs().Name+"/accept_ra")
		}
	}
	var dirs []string
	h.Do(func() error {
		for _, d := range candidates {
			if _, err := os.Stat("/proc/sys/" + d); err == nil {
				dirs = append(dirs, d)
			}
		}
		return nil
	})
	m, err := h.Snapshot(dirs...)
	if err != nil {
		return nil, err
	}
	c, err := ipvs.New(&ipvs.Config{NetNSPath: ns.Path})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	svcs, err := c.Services(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range svcs {
		m["ipvs "+s.ServiceKey.String()] = string(s.Scheduler)
		dests, err := c.Destinations(ctx, s.ServiceKey)
		if err != nil {
			return nil, err
		}
		for _, d := range dests {
			m["ipvs "+s.ServiceKey.String()+" -> "+d.Destination.String()] = "present"
		}
	}
	out, err := ns.Exec("nft", "list", "ruleset")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	m["nft ruleset"] = withoutEmptyBuiltins(out)
	return m, nil
}

// Bounds of the waits, generous for a loaded machine emulating the VM: they
// only matter when something is wrong.
const (
	readyTimeout   = 60 * time.Second // from start to the ready line
	stopTimeout    = 60 * time.Second // from SIGTERM to exit; agents give up tearing down after 30s
	requestTimeout = 10 * time.Second // one HTTP request: TCP retransmits SYNs at 1, 3 and 7s
	requestTries   = 3
	settleTime     = 5 * time.Second // for the teardown check
)

// result is the outcome of one mode.
type result struct {
	ok     bool
	counts map[string]int // requests answered per real server
	failed int
}

// runMode builds the mode's network, runs its examples, sends n requests
// from the client, stops the examples and checks the hosts are clean. It
// writes a readable account to w.
func runMode(ctx context.Context, w io.Writer, m mode, bins map[string]string, prefix string, n int) (res result) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(w, "  FAIL: "+format+"\n", args...)
		res.ok = false
	}
	res.ok = true
	fmt.Fprintf(w, "\n== %s ==\n%s\n", m.title, m.explain)
	lab := netlab.New(prefix + m.key + "-")
	defer func() {
		if err := lab.Close(); err != nil {
			fail("removing the lab's namespaces: %v", err)
		}
	}()
	s, err := m.build(lab)
	if err != nil {
		fail("building the network: %v", err)
		return res
	}
	fmt.Fprintf(w, "  hosts: %s\n", s.picture)

	for _, rs := range s.servers {
		name := rs.name
		for _, p := range rs.ports {
			srv, _, err := rs.ns.ServeHTTP(fmt.Sprintf(":%d", p), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				io.WriteString(w, name)
			}))
			if err != nil {
				fail("%v", err)
				return res
			}
			defer srv.Close()
		}
	}

	// What every host the examples touch looks like before they start.
	touched := map[*netlab.NS]string{}
	var order []*netlab.NS
	for _, a := range s.agents {
		if _, ok := touched[a.ns]; !ok {
			touched[a.ns] = a.label
			order = append(order, a.ns)
		}
	}
	// Snapshots of several hosts at once: much of one is waiting for nft.
	before := make([]map[string]string, len(order))
	snapErrs := make([]error, len(order))
	parallel(len(order), func(i int) { before[i], snapErrs[i] = snapshot(ctx, order[i]) })
	for i, err := range snapErrs {
		if err != nil {
			fail("snapshot of %s: %v", touched[order[i]], err)
			return res
		}
	}

	// Real servers first, the director last: once its VIP is announced,
	// traffic arrives.
	started := 0
	stopAll := func() {
		for i := started - 1; i >= 0; i-- {
			if err := s.agents[i].stop(stopTimeout); err != nil {
				fail("%v", err)
			}
		}
		started = 0
	}
	defer stopAll()
	for _, a := range s.agents {
		t := time.Now()
		if err := a.start(bins, readyTimeout); err != nil {
			fail("%v", err)
			return res
		}
		started++
		fmt.Fprintf(w, "  %-8s $ %s   → ready in %.1fs\n", a.label, a, time.Since(t).Seconds())
	}

	if s.ready != nil {
		if err := s.ready(ctx, w); err != nil {
			fail("%v", err)
			return res
		}
	}

	res.counts = map[string]int{}
	perSource := map[netip.Addr]map[string]bool{}
	t := time.Now()
	errs, retried := 0, 0
	for i := 0; i < n; i++ {
		src := s.sources[i*len(s.sources)/n] // one source after the other
		u := s.urls[i%len(s.urls)]
		// A request may be tried three times: under emulation a stalled
		// host can outlast TCP's retransmissions (or a neighbour entry's
		// resolution). Every failed try is shown; a request that fails
		// three times counts as failed.
		var body string
		var err error
		for try := 1; try <= requestTries; try++ {
			if body, err = get(ctx, s.client.HTTPClient(src, requestTimeout), u); err == nil || ctx.Err() != nil {
				break
			}
			if errs++; errs <= 3 {
				fmt.Fprintf(w, "  request %d to %s, try %d: %v\n", i+1, u, try, err)
			}
			if try < requestTries {
				retried++
			}
		}
		if err != nil {
			res.failed++
			continue
		}
		res.counts[body]++
		if perSource[src] == nil {
			perSource[src] = map[string]bool{}
		}
		perSource[src][body] = true
	}
	fmt.Fprintf(w, "  %d requests to %s in %.1fs:", n, strings.Join(s.urls, " and "), time.Since(t).Seconds())
	for _, rs := range s.servers {
		fmt.Fprintf(w, "  %s %d", rs.name, res.counts[rs.name])
	}
	fmt.Fprintf(w, "  (failed %d)\n", res.failed)
	if retried > 0 {
		fmt.Fprintf(w, "  %d tries were repeated\n", retried)
	}
	if res.failed > 0 {
		fail("%d of %d requests failed", res.failed, n)
	}
	for _, rs := range s.servers {
		if res.counts[rs.name] == 0 {
			fail("%s got no request: the director did not balance", rs.name)
		}
	}
	if s.sticky {
		var line []string
		for _, src := range s.sources {
			var got []string
			for name := range perSource[src] {
				got = append(got, name)
			}
			sort.Strings(got)
			line = append(line, fmt.Sprintf("%v → %s", src, strings.Join(got, ",")))
			if len(got) != 1 {
				fail("client %v reached %v: persistence should keep it on one server", src, got)
			}
		}
		fmt.Fprintf(w, "  each client stays on one server for both ports: %s\n", strings.Join(line, "; "))
	}

	if s.then != nil {
		if err := s.then(ctx, w, bins); err != nil {
			fail("%v", err)
		}
	}

	stopAll()
	if res.ok {
		fmt.Fprintln(w, "  SIGTERM: every example exited 0")
	}
	type check struct {
		items int
		diff  []string
		took  time.Duration
		snaps int
		err   error
	}
	checks := make([]check, len(order))
	parallel(len(order), func(i int) {
		c := &checks[i]
		t := time.Now()
		c.items, c.diff, c.snaps, c.err = settled(ctx, order[i], before[i])
		c.took = time.Since(t)
	})
	var clean []string
	for i, c := range checks {
		name := touched[order[i]]
		switch {
		case c.err != nil:
			fail("snapshot of %s: %v", name, c.err)
		case len(c.diff) > 0:
			fail("%s not clean after its example stopped:\n    %s", name, strings.Join(c.diff, "\n    "))
		default:
			if c.snaps > 1 {
				fmt.Fprintf(w, "  %s matched its first snapshot only after %.1fs (%d snapshots)\n", name, c.took.Seconds(), c.snaps)
			}
			clean = append(clean, fmt.Sprintf("%s (%d items)", name, c.items))
		}
	}
	if len(clean) > 0 {
		fmt.Fprintf(w, "  as before they started (addresses, devices, sysctls, IPVS table, nftables): %s\n", strings.Join(clean, ", "))
	}
	if res.ok {
		fmt.Fprintln(w, "  PASS")
	}
	return res
}

// settled snapshots ns until it matches before, for at most settleTime:
// the kernel may finish some work (an address's or device's removal seen
// by other subsystems) after the call that started it returned. It returns
// the size of the last snapshot, its differences from before and the
// number of snapshots taken.
func settled(ctx context.Context, ns *netlab.NS, before map[string]string) (items int, diff []string, snaps int, err error) {
	deadline := time.Now().Add(settleTime)
	for {
		after, err := snapshot(ctx, ns)
		if err != nil {
			return 0, nil, snaps, err
		}
		snaps++
		diff := netcfg.Diff(before, after)
		if len(diff) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return len(after), diff, snaps, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// parallel runs f(0) ... f(n-1) at once and waits for them.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); f(i) }()
	}
	wg.Wait()
}

func get(ctx context.Context, c *http.Client, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return string(b), err
}

// withoutEmptyBuiltins drops the tables that iptables-nft creates on first
// use of an iptables table (ip mangle, ip6 nat, ...) when they hold nothing
// but empty built-in chains with policy accept. Legacy iptables has them
// all along; either way they change nothing, and tools that used iptables
// once leave them behind.
func withoutEmptyBuiltins(ruleset string) string {
	var out strings.Builder
	var table []string
	empty := true
	for _, line := range strings.SplitAfter(ruleset, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "table "):
			table, empty = []string{line}, true
			f := strings.Fields(t)
			if len(f) != 4 || (f[1] != "ip" && f[1] != "ip6" && f[1] != "arp") ||
				!strings.Contains(" filter mangle nat raw security ", " "+f[2]+" ") {
				empty = false
			}
			continue
		case table == nil:
			out.WriteString(line)
			continue
		}
		table = append(table, line)
		switch {
		case strings.HasPrefix(t, "chain ") && strings.ToUpper(t[6:]) == t[6:]: // built-ins are upper case
		case strings.HasPrefix(t, "type ") && strings.HasSuffix(t, "policy accept;"):
		case t == "}" || t == "":
		default:
			empty = false
		}
		if line == "}\n" || line == "}" { // end of the table
			if !empty {
				out.WriteString(strings.Join(table, ""))
			}
			table = nil
		}
	}
	return out.String()
}
