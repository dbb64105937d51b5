package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/golvs/lvs/internal/vm"
)

type options struct {
	kernel  string
	pkgs    []string
	run     string
	unit    bool
	verbose bool
	race    bool
	timeout time.Duration
	out     string
	count   int
	// bench and benchtime: -test.bench and -test.benchtime in the VM.
	bench, benchtime string
	// sequential runs the kernels one after the other instead of at once.
	sequential bool
	// noAutoload names the kernels booted with module autoloading off.
	noAutoload map[string]bool
	// whichModules lets the no-autoload kernels load what the kernel asks
	// for, and reports it per package.
	whichModules bool
}

func main() {
	var o options
	var pkgs, noAutoload string
	flag.StringVar(&o.kernel, "kernel", "all", "kernels to test on: 6.1, 6.12, all or none")
	flag.StringVar(&pkgs, "pkg", "./...", "comma-separated packages to test")
	flag.StringVar(&o.run, "run", "", "run only tests matching this regexp (host and VM)")
	flag.BoolVar(&o.unit, "unit", true, "run go vet and the unit tests on the host first")
	flag.BoolVar(&o.verbose, "v", false, "verbose test output (-test.v)")
	flag.BoolVar(&o.race, "race", true, "build the tests with the race detector (needs cgo and gcc on the host)")
	flag.DurationVar(&o.timeout, "timeout", 45*time.Minute, "limit for each kernel's run; each test binary gets 2m less")
	flag.BoolVar(&o.sequential, "sequential", false, "run the kernels one after the other (default: at once, each in its own VM)")
	flag.StringVar(&o.bench, "bench", "", "run the benchmarks matching this regexp in the VM (-test.bench; with -run '^$' for them alone, -race=false for real figures)")
	flag.StringVar(&o.benchtime, "benchtime", "", "-test.benchtime for -bench (e.g. 5x)")
	flag.IntVar(&o.count, "count", 1, "run each kernel test this many times (-test.count), to hunt flaky tests")
	flag.StringVar(&o.out, "out", "", "host directory receiving the guest's $LVS_VM_OUT, per kernel")
	flag.StringVar(&noAutoload, "noautoload", "6.12", "kernels booted with module autoloading off, each package loading only its testdata/modules.txt (comma-separated, or none)")
	flag.BoolVar(&o.whichModules, "whichmodules", false, "on the -noautoload kernels, let the kernel load modules after all and list, per package, those it asked for (to write testdata/modules.txt)")
	flag.Parse()
	o.noAutoload = map[string]bool{}
	for _, k := range strings.Split(noAutoload, ",") {
		if k = strings.TrimSpace(k); k != "" && k != "none" {
			o.noAutoload[k] = true
		}
	}
	for _, p := range strings.Split(pkgs, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.pkgs = append(o.pkgs, p)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, o))
}

func run(ctx context.Context, o options) int {
	start := time.Now()
	var kernels []string
	switch o.kernel {
	case "all":
		kernels = vm.Kernels()
	case "none", "":
	default:
		kernels = strings.Split(o.kernel, ",")
	}
	failed := false
	step := func(dir, name string, args ...string) bool {
		fmt.Printf("vmtest: %s %s\n", name, strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if o.race {
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		}
		if err := cmd.Run(); err != nil {
			fmt.Printf("vmtest: FAIL: %s %s: %v\n", name, strings.Join(args, " "), err)
			failed = true
			return false
		}
		return true
	}
	if o.race {
		// The race detector needs cgo; fresh machines may lack a C toolchain.
		if err := vm.EnsureTools(ctx, os.Stderr, map[string]string{"gcc": "gcc", "/usr/include/stdio.h": "libc6-dev"}); err != nil {
			fmt.Println(err)
			return 1
		}
	}

	if o.unit {
		t := time.Now()
		groups, err := unitGroups(ctx, o.pkgs)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		for _, g := range groups {
			step(g.dir, "go", append([]string{"vet"}, g.pkgs...)...)
		}
		args := []string{"test"}
		if o.race {
			args = append(args, "-race")
		}
		if o.run != "" {
			args = append(args, "-run", o.run)
		}
		if o.verbose {
			args = append(args, "-v")
		}
		for _, g := range groups {
			step(g.dir, "go", append(args, g.pkgs...)...)
		}
		fmt.Printf("vmtest: host: vet and unit tests took %.0fs\n", time.Since(t).Seconds())
	}
	if len(kernels) == 0 {
		return exitCode(failed)
	}

	work, err := os.MkdirTemp("", "vmtest-")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(work)
	t := time.Now()
	files, script, err := build(ctx, o, work)
	if err != nil {
		fmt.Printf("vmtest: FAIL: %v\n", err)
		return 1
	}
	fmt.Printf("vmtest: built test binaries in %.0fs\n", time.Since(t).Seconds())

	images := map[string]*vm.Image{}
	for _, k := range kernels {
		t := time.Now()
		im, err := vm.Prepare(ctx, k, os.Stdout)
		if err != nil {
			fmt.Printf("vmtest: FAIL: preparing kernel %s: %v\n", k, err)
			return 1
		}
		images[k] = im
		fmt.Printf("vmtest: kernel %s is %s (prepared in %.1fs)\n", k, im.Release, time.Since(t).Seconds())
	}

	// The kernels run at once, each in its own VM: most kernel tests wait
	// on timers (VRRP adverts, health intervals, estimators), so two guests
	// overlap well even on 2 cores (measured: 29 min for both, against 36
	// one after the other).
	stdout := vm.NewSyncWriter(os.Stdout)
	summary := make([]string, len(kernels))
	kfailed := make([]bool, len(kernels))
	fails := make([]failureLines, len(kernels))
	var wg sync.WaitGroup
	for i, k := range kernels {
		runOne := func() {
			summary[i], kfailed[i] = runKernel(ctx, o, images[k], k, script, files, stdout, &fails[i])
		}
		if o.sequential {
			runOne()
			if ctx.Err() != nil {
				break
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			runOne()
		}()
	}
	wg.Wait()
	for _, f := range kfailed {
		failed = failed || f
	}
	for i, k := range kernels {
		if l := fails[i].Lines(); kfailed[i] && len(l) > 0 {
			fmt.Printf("vmtest: failures on %s again:\n  %s\n", k, strings.Join(l, "\n  "))
		}
	}
	for _, s := range summary {
		if s != "" {
			fmt.Println(s)
		}
	}
	status := "ok"
	if failed {
		status = "FAIL"
	}
	fmt.Printf("vmtest: %s in %.0fs\n", status, time.Since(start).Seconds())
	return exitCode(failed)
}

// runKernel runs the test script on one kernel and returns its summary line
// and whether it failed; fails keeps its failure report for the end.
func runKernel(ctx context.Context, o options, im *vm.Image, k, script string, files []vm.File, stdout io.Writer, fails *failureLines) (string, bool) {
	out := vm.PrefixWriter(io.MultiWriter(stdout, fails), "["+k+"] ")
	defer out.Flush()
	ro := vm.RunOptions{
		Script:     script,
		Files:      files,
		Output:     out,
		Timeout:    o.timeout,
		NoAutoload: o.noAutoload[k],
	}
	if o.out != "" {
		ro.OutDir = filepath.Join(o.out, k)
	}
	res, err := im.Run(ctx, ro)
	if errors.Is(err, vm.ErrNoBoot) && ctx.Err() == nil {
		// The kernel crashed before any test ran: a fault of the
		// emulation, not a result. Tests themselves are never rerun.
		fmt.Fprintf(stdout, "vmtest: kernel %s crashed while booting (%v); booting it again\n", k, err)
		res, err = im.Run(ctx, ro)
	}
	switch {
	case err != nil:
		return fmt.Sprintf("vmtest: kernel %s (%s): FAIL: %v", k, im.Release, err), true
	case res.ExitCode != 0:
		return fmt.Sprintf("vmtest: kernel %s (%s%s): FAIL (boot %.1fs, total %.1fs)", k, im.Release, autoloadNote(ro), res.Boot.Seconds(), res.Total.Seconds()), true
	}
	return fmt.Sprintf("vmtest: kernel %s (%s%s): ok (boot %.1fs, total %.1fs)", k, im.Release, autoloadNote(ro), res.Boot.Seconds(), res.Total.Seconds()), false
}

func autoloadNote(ro vm.RunOptions) string {
	if ro.NoAutoload {
		return ", module autoloading off"
	}
	return ""
}

func exitCode(failed bool) int {
	if failed {
		return 1
	}
	return 0
}

// testPkg is a package with tests, as go list reports it.
type testPkg struct {
	importPath, dir, rel string
	mod                  string // its module's directory (nested.go)
}

// build compiles the test binaries and the programs listed in vmbuild.txt
// files, and returns the files to place in the guest and the script that
// runs them.
func build(ctx context.Context, o options, work string) ([]vm.File, string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, "", err
	}
	groups, err := byModule(root, o.pkgs)
	if err != nil {
		return nil, "", err
	}
	var pkgs []testPkg
	for _, g := range groups {
		args := append([]string{"list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{len .TestGoFiles}}\t{{len .XTestGoFiles}}"}, g.pkgs...)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = g.dir
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64")
		cmd.Stderr = os.Stderr
		listOut, err := cmd.Output()
		if err != nil {
			return nil, "", fmt.Errorf("go list: %w", err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(listOut)))
		for sc.Scan() {
			f := strings.Split(sc.Text(), "\t")
			if len(f) != 4 || (f[2] == "0" && f[3] == "0") {
				continue
			}
			rel, err := filepath.Rel(root, f[1])
			if err != nil {
				return nil, "", err
			}
			pkgs = append(pkgs, testPkg{importPath: f[0], dir: f[1], rel: filepath.ToSlash(rel), mod: g.dir})
		}
	}
	if len(pkgs) == 0 {
		return nil, "", fmt.Errorf("no packages with tests in %v", o.pkgs)
	}

	env := append(os.Environ(), "GOOS=linux", "GOARCH=amd64")
	if o.race {
		env = append(env, "CGO_ENABLED=1")
	} else {
		env = append(env, "CGO_ENABLED=0")
	}
	files, err := sourceFiles(root)
	if err != nil {
		return nil, "", err
	}
	var script strings.Builder
	script.WriteString(scriptHead)
	if o.whichModules {
		script.WriteString(whichModulesHead)
	}
	fmt.Fprintf(&script, "cd /lvs\nmkdir -p /lvs/logs\n")
	tools := map[string]bool{}
	var jobs []goJob
	// The packages in two lanes: those that wait on timers, and the rest.
	var first, second, funcs strings.Builder
	byMods := map[string][]string{} // the waiting packages by their modules
	var order []string
	for _, p := range pkgs {
		name := strings.ReplaceAll(p.rel, "/", "_")
		if p.rel == "." {
			name = "root"
		}
		bin := filepath.Join(work, name+".test")
		args := []string{"test", "-c", "-o", bin}
		if o.race {
			args = append(args, "-race")
		}
		args = append(args, p.importPath)
		jobs = append(jobs, goJob{dir: p.mod, env: env, args: args, what: "the tests of " + p.importPath})
		guestBin := "/lvs/tests/" + name + ".test"
		files = append(files, vm.File{Host: bin, Guest: guestBin})
		guestDir := path.Join("/lvs/src", p.rel)
		list, err := readBuildList(filepath.Join(p.dir, "testdata", "vmbuild.txt"))
		if err != nil {
			return nil, "", err
		}
		mods, err := readModules(filepath.Join(p.dir, "testdata", "modules.txt"))
		if err != nil {
			return nil, "", err
		}
		for _, t := range list {
			tools[t] = true
		}
		// A hanging binary must hit its own timeout (and print its
		// goroutines) before the VM's timeout kills everything.
		targs := []string{"-test.timeout=" + max(o.timeout-2*time.Minute, o.timeout/2).String()}
		if o.verbose {
			targs = append(targs, "-test.v")
		}
		if o.run != "" {
			targs = append(targs, "-test.run="+o.run)
		}
		if o.count > 1 {
			targs = append(targs, fmt.Sprintf("-test.count=%d", o.count))
		}
		if o.bench != "" {
			targs = append(targs, "-test.bench="+o.bench)
			if o.benchtime != "" {
				targs = append(targs, "-test.benchtime="+o.benchtime)
			}
		}
		waits, err := waitsOnTimers(p.dir)
		if err != nil {
			return nil, "", err
		}
		line := fmt.Sprintf("runtest %s %s %s %s %s\n", vm.ShellQuote(p.rel), vm.ShellQuote(guestDir), guestBin, vm.ShellQuote(strings.Join(mods, " ")), vm.ShellQuote(targs...))
		if !waits {
			first.WriteString("\t" + line)
			continue
		}
		// Each waiting package is a function; those needing the same
		// modules form one group (see groupRun).
		fn := "t_" + name
		fmt.Fprintf(&funcs, "%s() {\n\t%s}\n", fn, line)
		key := strings.Join(slices.Sorted(slices.Values(mods)), " ")
		if _, ok := byMods[key]; !ok {
			order = append(order, key)
		}
		byMods[key] = append(byMods[key], fn)
	}
	for _, key := range order {
		second.WriteString("\tgroup " + strings.Join(byMods[key], " ") + "\n")
	}
	script.WriteString(funcs.String())
	fmt.Fprintf(&script, "lane1() {\n\t:\n%s}\nlane2() {\n\t:\n%s}\n", first.String(), second.String())
	script.WriteString(groupRun)
	script.WriteString(lanesRun)
	for t := range tools {
		bin := filepath.Join(work, "bin", path.Base(t))
		dir, pkg := buildTarget(root, t)
		jobs = append(jobs, goJob{dir: dir, env: append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"),
			args: []string{"build", "-o", bin, pkg}, what: t + " (vmbuild.txt)"})
		files = append(files, vm.File{Host: bin, Guest: "/lvs/bin/" + path.Base(t)})
	}
	if err := runGoJobs(ctx, jobs); err != nil {
		return nil, "", err
	}
	script.WriteString(scriptTail)
	return files, script.String(), nil
}

// goJob is one go command of the build.
type goJob struct {
	dir, what string
	env, args []string
}

// runGoJobs runs the builds two at a time (more on a bigger host): one go
// test -c mostly waits on its single-threaded link, so two keep 2 cores
// busy, where one after the other took a minute for the whole tree. Each
// job's output is printed whole when it ends.
func runGoJobs(ctx context.Context, jobs []goJob) error {
	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	errs := make([]error, len(jobs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.CommandContext(ctx, "go", j.args...)
			cmd.Dir, cmd.Env = j.dir, j.env
			out, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			fmt.Printf("vmtest: go %s\n%s", strings.Join(j.args, " "), out)
			if err != nil {
				errs[i] = fmt.Errorf("building %s: %w", j.what, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sourceFiles lists the module's files (without .git and other hidden or
// _-prefixed directories, as the go tool ignores them) for /lvs/src in the
// guest, so tests find their testdata and any other file by the same
// relative paths as under go test.
func sourceFiles(root string) ([]vm.File, error) {
	var files []vm.File
	var size int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil {
			size += info.Size()
		}
		files = append(files, vm.File{Host: p, Guest: path.Join("/lvs/src", filepath.ToSlash(rel))})
		return nil
	})
	if size > 200<<20 {
		fmt.Printf("vmtest: warning: the module's files take %d MiB of guest memory\n", size>>20)
	}
	return files, err
}

// readList reads a testdata list file: its lines without # comments,
// trimmed, blank ones dropped. A missing file is an empty list.
func readList(p string) ([]string, error) {
	f, err := os.Open(p)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var list []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			list = append(list, line)
		}
	}
	return list, sc.Err()
}

// readBuildList reads a testdata/vmbuild.txt: one package path per line,
// relative to the module root ("./examples/nat" or "examples/nat") or a full
// import path; blank lines and # comments are ignored.
func readBuildList(p string) ([]string, error) {
	lines, err := readList(p)
	if err != nil {
		return nil, err
	}
	var list []string
	for _, line := range lines {
		first, _, _ := strings.Cut(line, "/")
		if strings.HasPrefix(line, "./") || strings.Contains(first, ".") {
			list = append(list, line) // ./examples/nat or a full import path
		} else {
			list = append(list, "./"+line) // examples/nat
		}
	}
	return list, nil
}

// waitsOnTimers reports whether a package's kernel tests mostly wait on
// timers (VRRP adverts, check intervals, hold timers), which the package
// declares with a testdata/waits.txt saying why. vmtest runs such
// packages in a second lane beside the others, on kernels that autoload
// modules: its guest CPUs are then busy with the first lane's work.
func waitsOnTimers(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, "testdata", "waits.txt"))
	if os.IsNotExist(err) {
		return false, nil
	}
	return err == nil, err
}

// readModules reads a testdata/modules.txt: the kernel modules a package's
// tests truly need, one name per line (# comments). On a kernel booted with
// autoloading off, exactly these are loaded (with their dependencies) before
// the package's tests and unloaded after.
func readModules(p string) ([]string, error) {
	lines, err := readList(p)
	if err != nil {
		return nil, err
	}
	for _, m := range lines {
		if strings.Trim(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			return nil, fmt.Errorf("%s: %q is not a module name (one per line)", p, m)
		}
	}
	return lines, nil
}

const scriptHead = `failed=
# With autoloading off, each package starts from the modules loaded at boot
# plus its testdata/modules.txt, and everything it added is unloaded after.
# (The "-" line keeps the list non-empty: busybox grep -v -f of an empty
# file matches everything.)
[ "$LVS_VM_AUTOLOAD" = 0 ] && { echo -; cut -d' ' -f1 /proc/modules; } >/lvs/modules.boot
unload() {
	local rel=$1 left m a t0=$EPOCHREALTIME
	if [ -s /lvs/modprobe.log ]; then
		for a in $(awk '{print $NF}' /lvs/modprobe.log | sort -u); do
			echo "vmtest: $rel: the kernel asked for $a:" $(modprobe -R "$a" 2>&1)
		done
		: >/lvs/modprobe.log
	fi
	# Namespaces of the tests are torn down asynchronously and hold their
	# devices' modules until then: retry, bounded.
	while :; do
		left=$(cut -d' ' -f1 /proc/modules | grep -vxF -f /lvs/modules.boot)
		if [ -z "$left" ]; then
			echo "=== vmtest: $rel: its modules unloaded in $(awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME-$t0}")s"
			return 0
		fi
		for m in $left; do rmmod "$m" 2>/dev/null; done
		if awk "BEGIN{exit !($EPOCHREALTIME-$t0 > 60)}"; then
			echo "FAIL $rel: modules still loaded 60s after its tests:" $left
			failed="$failed $rel(modules)"
			return 1
		fi
		sleep 0.2
	done
}
# The guest's busy and total CPU time (jiffies, all CPUs) from /proc/stat,
# and the share busy between two readings: a package far from 100% spends
# its time waiting (timers, sleeps), one near it is bound by the emulation.
cpustat() {
	local cpu user nice sys idle iowait irq softirq rest
	read cpu user nice sys idle iowait irq softirq rest </proc/stat
	echo $((user + nice + sys + irq + softirq)) $((user + nice + sys + irq + softirq + idle + iowait))
}
cpubusy() {
	awk -v a="$1" -v b="$2" 'BEGIN{split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; printf "%.0f%%", (t > 0 ? 100 * (y[1] - x[1]) / t : 0)}'
}
runtest() {
	local rel=$1 dir=$2 bin=$3 mods=$4
	shift 4
	mkdir -p "$dir"
	local t0=$EPOCHREALTIME
	echo "=== vmtest: $rel"
	if [ "$LVS_VM_AUTOLOAD" = 0 ]; then
		echo "=== vmtest: $rel: module autoloading off; loading testdata/modules.txt: ${mods:-(none)}"
		if [ -n "$mods" ] && ! modprobe -a $mods; then
			echo "FAIL $rel: modprobe -a $mods (testdata/modules.txt)"
			failed="$failed $rel"
			return
		fi
	fi
	local c0=$(cpustat)
	# Kept for the summary at the end (scriptTail).
	local log=/lvs/logs/${rel//\//_}.log
	(cd "$dir" && LVS_VM_PKG="$rel" "$bin" "$@") 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	echo "=== vmtest: $rel: guest CPUs busy $(cpubusy "$c0" "$(cpustat)")"
	[ "$LVS_VM_AUTOLOAD" = 0 ] && [ -z "$keepmods" ] && unload "$rel"
	local dt=$(awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME-$t0}")
	if [ $rc -eq 0 ]; then
		echo "ok   $rel ${dt}s"
	else
		echo "FAIL $rel ${dt}s (exit $rc)"
		failed="$failed $rel"
	fi
}
`

// whichModulesHead replaces the missing modprobe with one that logs what
// the kernel's request_module asks for ("modprobe -q -- ALIAS") and loads it;
// unload reports the log per package.
const whichModulesHead = `if [ "$LVS_VM_AUTOLOAD" = 0 ]; then
	printf '#!/bin/busybox sh\necho "$*" >>/lvs/modprobe.log\nexec /sbin/modprobe "$@"\n' >/lvs/modprobe-log
	chmod +x /lvs/modprobe-log
	echo /lvs/modprobe-log >/proc/sys/kernel/modprobe
	echo "vmtest: -whichmodules: the kernel's module requests are logged and granted"
fi
`

// groupRun defines group, which runs packages of the second lane that
// need the same modules. Where autoloading is off, they run at once (they
// mostly wait on timers: 6.12's run is the long pole, and three packages
// at once there save about 100 s), their modules loaded by each and
// unloaded once all have ended, so that none finds a module it did not
// ask for; each one's output is printed whole when all have ended. Where
// modules autoload, the group's packages run one after the other like the
// rest of their lane, which already runs beside the first.
const groupRun = `group() {
	local f l
	if [ "$LVS_VM_AUTOLOAD" != 0 ] || [ $# -eq 1 ]; then
		for f in "$@"; do $wrap $f; done
		return
	fi
	mkdir -p /lvs/group
	echo "=== vmtest: at once (the same modules): $*"
	for f in "$@"; do
		( failed= keepmods=1; $f >/lvs/group/$f.out 2>&1; echo "$failed" >/lvs/group/$f.failed ) &
	done
	wait
	for f in "$@"; do
		while IFS= read -r l; do printf '%s\n' "$l"; done </lvs/group/$f.out
		if [ -f /lvs/group/$f.failed ]; then
			failed="$failed$(cat /lvs/group/$f.failed)"
		else
			failed="$failed $f"
		fi
		rm -f /lvs/group/$f.failed
	done
	unload "$(IFS=+; echo "$*")"
}
`

// lanesRun runs the two lanes. Where modules autoload, the second lane
// (packages that wait on timers, testdata/waits.txt) runs beside the
// first, its packages one after the other, each one's output printed whole
// when it ends, a line per write, so that the lanes interleave by whole
// packages there and by lines here. Where autoloading is off, each package
// must find only its own modules loaded, so the lanes run one after the
// other. With two lanes at once, a package's "guest CPUs busy" counts the
// other lane's work too.
const lanesRun = `buffered() {
	local l
	"$@" >/lvs/lane2/out 2>&1
	while IFS= read -r l; do printf '%s\n' "$l"; done </lvs/lane2/out
}
if [ "$LVS_VM_AUTOLOAD" = 0 ]; then
	wrap=
	lane1
	lane2
else
	mkdir -p /lvs/lane2
	(
		wrap=buffered failed=
		lane2
		echo "$failed" >/lvs/lane2/failed
	) &
	lane2pid=$!
	lane1
	wait $lane2pid
	if [ -f /lvs/lane2/failed ]; then
		failed="$failed$(cat /lvs/lane2/failed)"
	else
		failed="$failed lane2"
	fi
fi
`

// scriptTail repeats, for each package that failed, the lines of its
// output that say what failed: CI keeps only the console's tail, where a
// failure early in the run is long gone.
const scriptTail = `if [ -n "$failed" ]; then
	for rel in $failed; do
		log=${rel%(modules)}
		log=/lvs/logs/${log//\//_}.log
		[ -f "$log" ] || continue
		echo "=== vmtest: ${rel%(modules)} failed on $LVS_VM_KERNEL; its failures again:"
		grep -E -A4 -- '--- FAIL|^(FAIL|panic:|fatal error:)|_test\.go:[0-9]+: ' "$log" | grep -vE '^=== (RUN|PAUSE|CONT)' | head -n 150
	done
	echo "vmtest: FAIL on $LVS_VM_KERNEL:$failed"
	exit 1
fi
`
