//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/golvs/lvs/internal/netns"
	"github.com/golvs/lvs/ipvs"
	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ipvsbench:", err)
		os.Exit(1)
	}
}

type config struct {
	sizes   []int
	dests   int
	moby    string
	ipvsadm string
	// lvsadm is the SDK's drop-in (examples/ipvsadm), timed as a process
	// beside ipvsadm's, on the same rules: the process-to-process ratio.
	lvsadm string
	reps   int
	cpu    int // pinned to this CPU, or -1
	// createOnly skips the measurements after create, for more rounds
	// of it in the same time.
	createOnly bool
}

func run() error {
	inner := flag.Bool("inner", false, "internal: already inside the benchmark namespace")
	sizes := flag.String("sizes", "1000,5000", "numbers of services, comma-separated")
	dests := flag.Int("dests", 4, "destinations per service")
	moby := flag.String("moby", "mobybench", "the mobybench binary (internal/bench/moby); empty to skip moby/ipvs")
	ipvsadm := flag.String("ipvsadm", "ipvsadm", "the ipvsadm binary; empty to skip it")
	lvsadm := flag.String("lvsadm", "", "the SDK's drop-in ipvsadm binary (examples/ipvsadm), timed as a process against -ipvsadm; empty to skip it")
	reps := flag.Int("reps", 1, "runs of each measurement; the fastest counts, and user/wall is over all of them")
	cpu := flag.Int("cpu", -1, "run everything on this CPU only; with the kernel's nohz_full on it, user and system times are exact")
	createOnly := flag.Bool("create-only", false, "measure creating only")
	flag.Parse()
	if !*inner {
		return reexec(*cpu)
	}
	cfg := config{dests: *dests, moby: *moby, ipvsadm: *ipvsadm, lvsadm: *lvsadm, reps: max(*reps, 1), cpu: *cpu, createOnly: *createOnly}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 62500 {
			return fmt.Errorf("bad size %q (1..62500)", s)
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	return bench(cfg)
}

// reexec runs this program again inside a network namespace of its own,
// so that its flushes can never touch the caller's IPVS table, and so
// that ipvsadm and mobybench, its children, inherit the namespace
// without a wrapper process in their timings. With cpu ≥ 0 the program
// and its children all run on that CPU only (they inherit the affinity).
func reexec(cpu int) error {
	if cpu >= 0 {
		// The child inherits the affinity of the thread that forks it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("pinning to CPU %d: %w", cpu, err)
		}
	}
	name := fmt.Sprintf("ipvsbench-%d", os.Getpid())
	if err := addNS(name); err != nil {
		return err
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", name, self, "-inner"}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd.Run()
}

// addNS makes the network namespace /run/netns/name, with lo up: without
// it the kernel has no local routing table in the namespace and refuses
// every destination as "not unicast" (EINVAL).
func addNS(name string) error {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add: %v: %s", err, out)
	}
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		exec.Command("ip", "netns", "del", name).Run()
		return fmt.Errorf("ip link set lo up: %v: %s", err, out)
	}
	return nil
}

// sample is one timed operation.
type sample struct {
	wall, user, sys time.Duration
	// threadUser is the user time of the calling thread alone (the SDK's
	// rows): the process's user time less the Go runtime's other threads
	// (its monitor, the threads it wakes while a system call runs, the
	// garbage collector's workers). -1: not measured.
	threadUser time.Duration
	writes     int // -1: not applicable
	// userShare and threadShare are user time (the process's, the
	// calling thread's) over wall time summed over all runs, which is
	// steadier than one run's; it matters most without exact times (see
	// accounting), where the kernel samples the split once a tick.
	userShare, threadShare float64
}

func (s sample) better(o sample) bool { return o.wall == 0 || s.wall < o.wall }

func rusage(who int) (user, sys time.Duration) {
	var ru unix.Rusage
	_ = unix.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// timeSelf times f in this process.
func timeSelf(f func() (int, error)) (sample, error) {
	// A full collection that also returns the freed memory to the kernel
	// now, so that the runtime's background scavenger does not do it
	// inside the timed window.
	debug.FreeOSMemory()
	// f runs on this goroutine, kept on this thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tu0, _ := rusage(unix.RUSAGE_THREAD)
	u0, s0 := rusage(unix.RUSAGE_SELF)
	t0 := time.Now()
	w, err := f()
	wall := time.Since(t0)
	u1, s1 := rusage(unix.RUSAGE_SELF)
	tu1, _ := rusage(unix.RUSAGE_THREAD)
	return sample{wall: wall, user: u1 - u0, sys: s1 - s0, threadUser: tu1 - tu0, writes: w}, err
}

// timeChild times a child process from fork to exit, as a user running it
// would see it.
func timeChild(stdin []byte, name string, args ...string) (sample, []byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		return sample{}, nil, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.Bytes())
	}
	return sample{wall: wall, user: cmd.ProcessState.UserTime(), sys: cmd.ProcessState.SystemTime(), threadUser: -1, writes: -1}, out.Bytes(), nil
}

// timeMoby runs mobybench, which times the library call itself (its
// process start is not counted, unlike ipvsadm's).
func timeMoby(bin string, args ...string) (sample, int, error) {
	_, out, err := timeChild(nil, bin, args...)
	if err != nil {
		return sample{}, 0, err
	}
	f := strings.Fields(string(out))
	if len(f) != 5 {
		return sample{}, 0, fmt.Errorf("mobybench said %q", out)
	}
	var v [4]int64
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return sample{}, 0, fmt.Errorf("mobybench said %q", out)
		}
	}
	return sample{wall: time.Duration(v[1]), user: time.Duration(v[2]), sys: time.Duration(v[3]), threadUser: -1, writes: -1}, int(v[0]), nil
}

// The numbering mobybench uses too: service i is 10.100.i/250.i%250+1:80,
// its destination j is 172.16+j.i/250.i%250+1:8080, NAT, round robin.
func svcAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 100, byte(i / 250), byte(i%250 + 1)})
}
func dstAddr(i, j int) netip.Addr {
	return netip.AddrFrom4([4]byte{172, byte(16 + j), byte(i / 250), byte(i%250 + 1)})
}

func state(n, d int) ipvs.State {
	st := ipvs.State{Services: make([]ipvs.ServiceState, n)}
	for i := range st.Services {
		s := &st.Services[i]
		s.Service = ipvs.Service{ServiceKey: ipvs.ServiceKey{Protocol: ipvs.TCP, Address: svcAddr(i), Port: 80}, Scheduler: ipvs.RoundRobin}
		for j := 0; j < d; j++ {
			s.Destinations = append(s.Destinations, ipvs.Destination{Address: dstAddr(i, j), Port: 8080, Forward: ipvs.Masquerade, Weight: 1})
		}
	}
	return st
}

func rules(n, d int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "-A -t %v:80 -s rr\n", svcAddr(i))
		for j := 0; j < d; j++ {
			fmt.Fprintf(&b, "-a -t %v:80 -r %v:8080 -m -w 1\n", svcAddr(i), dstAddr(i, j))
		}
	}
	return b.Bytes()
}

type row struct {
	size     int
	op, tool string
	ours     bool
	vs       string
	s        sample
}

// contender is one tool doing one operation.
type contender struct {
	tool string
	ours bool
	// vs, for one of ours, names the one tool it is compared with (the
	// drop-in's process with ipvsadm's); empty: every tool not ours.
	vs   string
	prep func() error // untimed, before each run
	run  func() (sample, error)
}

// contest runs the contenders in turn, reps rounds, so that a change of
// load on the machine hits all of them alike, and keeps each one's
// fastest run. A first round, not counted, warms them all up: QEMU's TCG
// translates guest code the first time it runs and charges that to
// whatever the guest was doing, so a process's first run of a code path
// reads more user time than any run after it (a long-running agent pays
// it once). Every run is printed to stderr.
func contest(reps int, label string, cs []contender) ([]sample, error) {
	out := make([]sample, len(cs))
	user, thread, wall := make([]time.Duration, len(cs)), make([]time.Duration, len(cs)), make([]time.Duration, len(cs))
	defer func() {
		for i := range out {
			out[i].userShare = user[i].Seconds() / wall[i].Seconds()
			out[i].threadShare = thread[i].Seconds() / wall[i].Seconds()
		}
	}()
	for r := 0; r <= reps; r++ {
		for i, c := range cs {
			if c.prep != nil {
				if err := c.prep(); err != nil {
					return nil, err
				}
			}
			quiesce()
			s, err := c.run()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.tool, err)
			}
			round := "warm-up"
			if r > 0 {
				round = fmt.Sprintf("run %d", r)
			}
			fmt.Fprintf(os.Stderr, "    %s %-26s %-7s wall %8.3fs user %7.3fs sys %7.3fs thread user %7.3fs\n", label, c.tool, round,
				s.wall.Seconds(), s.user.Seconds(), s.sys.Seconds(), s.threadUser.Seconds())
			if r == 0 {
				continue
			}
			user[i] += s.user
			thread[i] += s.threadUser
			wall[i] += s.wall
			if s.better(out[i]) {
				out[i] = s
			}
		}
	}
	return out, nil
}

func bench(cfg config) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c, err := ipvs.New(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	printHeader(cfg)

	var rows []row
	record := func(size int, op string, cs []contender, ss []sample) {
		for i, cn := range cs {
			rows = append(rows, row{size: size, op: op, tool: cn.tool, ours: cn.ours, vs: cn.vs, s: ss[i]})
			fmt.Fprintf(os.Stderr, "  %d×%d %-18s %-26s wall %8.3fs user %7.3fs sys %7.3fs\n", size, cfg.dests, op, cn.tool,
				ss[i].wall.Seconds(), ss[i].user.Seconds(), ss[i].sys.Seconds())
		}
	}
	count := func() (int, error) {
		snap, err := c.Snapshot(ctx)
		n := len(snap)
		for _, s := range snap {
			n += len(s.Destinations)
		}
		return n, err
	}
	flush := func() error { return c.Flush(ctx) }
	runs := 0

	for _, n := range cfg.sizes {
		d := cfg.dests
		want := n * (1 + d)
		desired := state(n, d)
		// fresh runs one create in a network namespace made for it (run
		// gets its path, and runs in it, as do the processes it starts),
		// then checks what was made, untimed. A flush would not do: IPVS
		// keeps deleted destinations in its namespace's trash for about
		// two minutes and searches it, linearly, before creating one, so
		// a create after a flush pays for what the run before it made.
		fresh := func(tool string, run func(path string) (sample, error)) func() (sample, error) {
			return func() (sample, error) {
				runs++
				name := fmt.Sprintf("ipvsbench-%d-run%d", os.Getpid(), runs)
				if err := addNS(name); err != nil {
					return sample{}, err
				}
				quiesce()
				// The next run waits for the kernel to free it (quiesce).
				defer exec.Command("ip", "netns", "del", name).Run()
				path := "/run/netns/" + name
				var s sample
				err := netns.DoPath(path, func() (err error) {
					s, err = run(path)
					return err
				})
				if err != nil {
					return s, err
				}
				nc, err := ipvs.New(&ipvs.Config{NetNSPath: path})
				if err != nil {
					return s, err
				}
				defer nc.Close()
				snap, err := nc.Snapshot(ctx)
				got := len(snap)
				for _, x := range snap {
					got += len(x.Destinations)
				}
				if err == nil && got != want {
					err = fmt.Errorf("%s left %d objects, want %d", tool, got, want)
				}
				if err == nil {
					// Little left for the namespace's teardown.
					err = nc.Flush(ctx)
				}
				return s, err
			}
		}

		apply := func(st ipvs.State) func() (sample, error) {
			return func() (sample, error) {
				return timeSelf(func() (int, error) {
					res, err := c.Apply(ctx, st, nil)
					return res.Writes(), err
				})
			}
		}

		// Create.
		cs := []contender{{tool: "lvs Apply", ours: true, run: fresh("Apply", func(path string) (sample, error) {
			nc, err := ipvs.New(&ipvs.Config{NetNSPath: path})
			if err != nil {
				return sample{}, err
			}
			defer nc.Close()
			// A socket ready, as moby/ipvs's handle has one before mobybench
			// starts its clock.
			if _, err := nc.Info(ctx); err != nil {
				return sample{}, err
			}
			return timeSelf(func() (int, error) {
				res, err := nc.Apply(ctx, desired, nil)
				return res.Writes(), err
			})
		})}}
		if cfg.moby != "" {
			cs = append(cs, contender{tool: "moby/ipvs", run: fresh("moby/ipvs", func(string) (sample, error) {
				s, _, err := timeMoby(cfg.moby, "create", strconv.Itoa(n), strconv.Itoa(d))
				return s, err
			})})
		}
		if cfg.ipvsadm != "" {
			in := rules(n, d)
			cs = append(cs, contender{tool: "ipvsadm -R", run: fresh("ipvsadm -R", func(string) (sample, error) {
				s, _, err := timeChild(in, cfg.ipvsadm, "-R")
				return s, err
			})})
			if cfg.lvsadm != "" {
				// The drop-in's whole process on the same rules: the
				// process-to-process ratio, beside the call-to-process one.
				cs = append(cs, contender{tool: "lvs ipvsadm -R (process)", ours: true, vs: "ipvsadm -R", run: fresh("lvs ipvsadm -R", func(string) (sample, error) {
					s, _, err := timeChild(in, cfg.lvsadm, "-R")
					return s, err
				})})
			}
		}
		ss, err := contest(cfg.reps, fmt.Sprintf("%d×%d create", n, d), cs)
		if err != nil {
			return err
		}
		record(n, "create", cs, ss)
		if cfg.createOnly {
			continue
		}
		// Leave the table as Apply made it.
		if err := flush(); err != nil {
			return err
		}
		if _, err := c.Apply(ctx, desired, nil); err != nil {
			return err
		}

		// Snapshot of the full table.
		cs = []contender{{tool: "lvs Snapshot", ours: true, run: func() (sample, error) {
			return timeSelf(func() (int, error) {
				got, err := count()
				if err == nil && got != want {
					err = fmt.Errorf("saw %d objects, want %d", got, want)
				}
				return -1, err
			})
		}}, {tool: "lvs Services+Destinations", run: func() (sample, error) {
			// The per-call API: one round trip per service, as a
			// caller without Snapshot would do it.
			return timeSelf(func() (int, error) {
				svcs, err := c.Services(ctx)
				got := len(svcs)
				for _, s := range svcs {
					ds, err := c.Destinations(ctx, s.ServiceKey)
					if err != nil {
						return -1, err
					}
					got += len(ds)
				}
				if err == nil && got != want {
					err = fmt.Errorf("saw %d objects, want %d", got, want)
				}
				return -1, err
			})
		}}}
		if cfg.moby != "" {
			cs = append(cs, contender{tool: "moby/ipvs", run: func() (sample, error) {
				s, got, err := timeMoby(cfg.moby, "snapshot")
				if err == nil && got != want {
					err = fmt.Errorf("saw %d objects, want %d", got, want)
				}
				return s, err
			}})
		}
		if cfg.ipvsadm != "" {
			cs = append(cs, contender{tool: "ipvsadm -Sn", run: func() (sample, error) {
				s, out, err := timeChild(nil, cfg.ipvsadm, "-Sn")
				if got := lines(out); err == nil && got != want {
					err = fmt.Errorf("printed %d lines, want %d", got, want)
				}
				return s, err
			}})
			if cfg.lvsadm != "" {
				cs = append(cs, contender{tool: "lvs ipvsadm -Sn (process)", ours: true, vs: "ipvsadm -Sn", run: func() (sample, error) {
					s, out, err := timeChild(nil, cfg.lvsadm, "-Sn")
					if got := lines(out); err == nil && got != want {
						err = fmt.Errorf("printed %d lines, want %d", got, want)
					}
					return s, err
				}})
			}
		}
		if ss, err = contest(cfg.reps, fmt.Sprintf("%d×%d snapshot", n, d), cs); err != nil {
			return err
		}
		record(n, "snapshot", cs, ss)

		// No-op Apply, then Applys changing the weight of 10% of the
		// destinations, back and forth.
		changed := state(n, d)
		for i := range changed.Services {
			for j := range changed.Services[i].Destinations {
				if (i*d+j)%10 == 0 {
					changed.Services[i].Destinations[j].Weight = 2
				}
			}
		}
		cs = []contender{{tool: "lvs Apply", ours: true, run: apply(desired)}}
		if ss, err = contest(cfg.reps, fmt.Sprintf("%d×%d no-op apply", n, d), cs); err != nil {
			return err
		}
		if ss[0].writes != 0 {
			return fmt.Errorf("no-op Apply made %d writes", ss[0].writes)
		}
		record(n, "no-op apply", cs, ss)
		flip := false
		cs = []contender{{tool: "lvs Apply", ours: true, run: func() (sample, error) {
			st := changed
			if flip {
				st = desired
			}
			flip = !flip
			return apply(st)()
		}}}
		if ss, err = contest(cfg.reps, fmt.Sprintf("%d×%d apply 10%%", n, d), cs); err != nil {
			return err
		}
		if want := (n*d + 9) / 10; ss[0].writes != want {
			return fmt.Errorf("10%% Apply made %d writes, want %d", ss[0].writes, want)
		}
		record(n, "apply 10% changed", cs, ss)
		if err := flush(); err != nil {
			return err
		}
	}
	printTable(cfg, rows)
	return nil
}

func lines(b []byte) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			n++
		}
	}
	return n
}

func printHeader(cfg config) {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	fmt.Printf("ipvsbench: kernel %s, %s, %s, %s, %s, %d destinations per service, fastest of %d\n",
		unix.ByteSliceToString(uts.Release[:]), cpu, cpus(cfg), time.Now().UTC().Format("2006-01-02"), runtime.Version(), cfg.dests, cfg.reps)
	fmt.Printf("ipvsbench: user and system times %s\n\n", accounting(cfg))
}

func cpus(cfg config) string {
	if cfg.cpu < 0 {
		return fmt.Sprintf("%d CPUs", runtime.NumCPU())
	}
	return fmt.Sprintf("pinned to CPU %d", cfg.cpu)
}

// accounting says how exact the user and system times are. The kernel
// measures them exactly, at each entry and exit, only on nohz_full CPUs;
// elsewhere it samples once a tick (4 ms at HZ=250) whether user or
// system code runs and splits the exact total in that proportion, and it
// never lets a process's reported user time go down, so the difference of
// two readings around a short operation can be far off.
func accounting(cfg config) string {
	const sampled = "sampled once a tick (run with -cpu N on a nohz_full=N kernel for exact ones)"
	if cfg.cpu < 0 {
		return sampled
	}
	b, err := os.ReadFile("/sys/devices/system/cpu/nohz_full")
	if err != nil {
		return sampled
	}
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil && l <= cfg.cpu && cfg.cpu <= h {
			return fmt.Sprintf("exact (CPU %d is nohz_full)", cfg.cpu)
		}
	}
	return sampled
}

// printTable prints a Markdown table: each row with its CPU times and, for
// the SDK's rows, how many times faster it is than each other tool doing
// the same operation at the same size.
func printTable(cfg config, rows []row) {
	fmt.Printf("| services × %d | operation | tool | wall | user | sys | user/wall (all runs) | caller's thread: user/wall | writes | speed-up of lvs |\n", cfg.dests)
	fmt.Println("|---:|---|---|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rows {
		ratio := ""
		if r.ours {
			var parts []string
			for _, o := range rows {
				if o.size == r.size && o.op == r.op && !o.ours && (r.vs == "" || o.tool == r.vs) {
					parts = append(parts, fmt.Sprintf("%.1f× vs %s", o.s.wall.Seconds()/r.s.wall.Seconds(), o.tool))
				}
			}
			ratio = strings.Join(parts, ", ")
		}
		writes := ""
		if r.s.writes >= 0 {
			writes = strconv.Itoa(r.s.writes)
		}
		thread := ""
		if r.s.threadUser >= 0 {
			thread = fmt.Sprintf("%.0f%%", 100*r.s.threadShare)
		}
		fmt.Printf("| %d | %s | %s | %.3f s | %.3f s | %.3f s | %.0f%% | %s | %s | %s |\n", r.size, r.op, r.tool,
			r.s.wall.Seconds(), r.s.user.Seconds(), r.s.sys.Seconds(), 100*r.s.userShare, thread, writes, ratio)
	}
}

// quiesce waits, at most a minute, until the machine has been nearly idle
// for half a second: deleting a namespace leaves the kernel freeing its
// objects in the background for seconds under TCG (thousands of services
// and destinations, their statistics, their RCU callbacks), which would
// land in the next run's time and make the runs of a round unequal.
func quiesce() {
	deadline := time.Now().Add(time.Minute)
	prevBusy, prevTotal, ok := cpuTimes()
	for ok && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		busy, total, ok2 := cpuTimes()
		if !ok2 {
			return
		}
		if total > prevTotal && float64(busy-prevBusy)/float64(total-prevTotal) < 0.05 {
			return
		}
		prevBusy, prevTotal = busy, total
	}
}

// cpuTimes reads the machine's busy and total CPU time, in ticks, from
// /proc/stat.
func cpuTimes() (busy, total uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, true
}
