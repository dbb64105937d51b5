package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
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
}

func main() {
	var o options
	var pkgs string
	flag.StringVar(&o.kernel, "kernel", "all", "kernels to test on: 6.1, 6.12, all or none")
	flag.StringVar(&pkgs, "pkg", "./...", "comma-separated packages to test")
	flag.StringVar(&o.run, "run", "", "run only tests matching this regexp (host and VM)")
	flag.BoolVar(&o.unit, "unit", true, "run go vet and the unit tests on the host first")
	flag.BoolVar(&o.verbose, "v", false, "verbose test output (-test.v)")
	flag.BoolVar(&o.race, "race", true, "build the tests with the race detector (needs cgo and gcc on the host)")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Minute, "limit for each kernel's run; each test binary gets 2m less")
	flag.IntVar(&o.count, "count", 1, "run each kernel test this many times (-test.count), to hunt flaky tests")
	flag.StringVar(&o.out, "out", "", "host directory receiving the guest's $LVS_VM_OUT, per kernel")
	flag.Parse()
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
	step := func(name string, args ...string) bool {
		fmt.Printf("vmtest: %s %s\n", name, strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, name, args...)
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
		step("go", append([]string{"vet"}, o.pkgs...)...)
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
		step("go", append(args, o.pkgs...)...)
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

	var summary []string
	for _, k := range kernels {
		im := images[k]
		ro := vm.RunOptions{
			Script:  script,
			Files:   files,
			Output:  vm.PrefixWriter(os.Stdout, "["+k+"] "),
			Timeout: o.timeout,
		}
		if o.out != "" {
			ro.OutDir = filepath.Join(o.out, k)
		}
		res, err := im.Run(ctx, ro)
		if errors.Is(err, vm.ErrNoBoot) && ctx.Err() == nil {
			// The kernel crashed before any test ran: a fault of the
			// emulation, not a result. Tests themselves are never rerun.
			fmt.Printf("vmtest: kernel %s crashed while booting (%v); booting it again\n", k, err)
			res, err = im.Run(ctx, ro)
		}
		switch {
		case err != nil:
			failed = true
			summary = append(summary, fmt.Sprintf("vmtest: kernel %s (%s): FAIL: %v", k, im.Release, err))
		case res.ExitCode != 0:
			failed = true
			summary = append(summary, fmt.Sprintf("vmtest: kernel %s (%s): FAIL (boot %.1fs, total %.1fs)", k, im.Release, res.Boot.Seconds(), res.Total.Seconds()))
		default:
			summary = append(summary, fmt.Sprintf("vmtest: kernel %s (%s): ok (boot %.1fs, total %.1fs)", k, im.Release, res.Boot.Seconds(), res.Total.Seconds()))
		}
		if ctx.Err() != nil {
			break
		}
	}
	for _, s := range summary {
		fmt.Println(s)
	}
	status := "ok"
	if failed {
		status = "FAIL"
	}
	fmt.Printf("vmtest: %s in %.0fs\n", status, time.Since(start).Seconds())
	return exitCode(failed)
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
}

// build compiles the test binaries and the programs listed in vmbuild.txt
// files, and returns the files to place in the guest and the script that
// runs them.
func build(ctx context.Context, o options, work string) ([]vm.File, string, error) {
	modOut, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return nil, "", fmt.Errorf("go list -m: %w", err)
	}
	root := strings.TrimSpace(string(modOut))
	args := append([]string{"list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{len .TestGoFiles}}\t{{len .XTestGoFiles}}"}, o.pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64")
	cmd.Stderr = os.Stderr
	listOut, err := cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("go list: %w", err)
	}
	var pkgs []testPkg
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
		pkgs = append(pkgs, testPkg{importPath: f[0], dir: f[1], rel: filepath.ToSlash(rel)})
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
	fmt.Fprintf(&script, "cd /lvs\n")
	tools := map[string]bool{}
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
		fmt.Printf("vmtest: go %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, "", fmt.Errorf("building the tests of %s: %w", p.importPath, err)
		}
		guestBin := "/lvs/tests/" + name + ".test"
		files = append(files, vm.File{Host: bin, Guest: guestBin})
		guestDir := path.Join("/lvs/src", p.rel)
		list, err := readBuildList(filepath.Join(p.dir, "testdata", "vmbuild.txt"))
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
		fmt.Fprintf(&script, "runtest %s %s %s %s\n", vm.ShellQuote(p.rel), vm.ShellQuote(guestDir), guestBin, vm.ShellQuote(targs...))
	}
	for t := range tools {
		bin := filepath.Join(work, "bin", path.Base(t))
		fmt.Printf("vmtest: go build -o %s %s\n", bin, t)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, t)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, "", fmt.Errorf("building %s (vmbuild.txt): %w", t, err)
		}
		files = append(files, vm.File{Host: bin, Guest: "/lvs/bin/" + path.Base(t)})
	}
	script.WriteString(scriptTail)
	return files, script.String(), nil
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

// readBuildList reads a testdata/vmbuild.txt: one package path per line,
// relative to the module root ("./examples/nat" or "examples/nat") or a full
// import path; blank lines and # comments are ignored.
func readBuildList(p string) ([]string, error) {
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
		line = strings.TrimSpace(line)
		first, _, _ := strings.Cut(line, "/")
		switch {
		case line == "":
		case strings.HasPrefix(line, "./"), strings.Contains(first, "."):
			list = append(list, line) // ./examples/nat or a full import path
		default:
			list = append(list, "./"+line) // examples/nat
		}
	}
	return list, sc.Err()
}

const scriptHead = `failed=
runtest() {
	local rel=$1 dir=$2 bin=$3
	shift 3
	mkdir -p "$dir"
	local t0=$EPOCHREALTIME
	echo "=== vmtest: $rel"
	(cd "$dir" && LVS_VM_PKG="$rel" "$bin" "$@")
	local rc=$?
	local dt=$(awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME-$t0}")
	if [ $rc -eq 0 ]; then
		echo "ok   $rel ${dt}s"
	else
		echo "FAIL $rel ${dt}s (exit $rc)"
		failed="$failed $rel"
	fi
}
`

const scriptTail = `if [ -n "$failed" ]; then
	echo "vmtest: FAIL on $LVS_VM_KERNEL:$failed"
	exit 1
fi
`
