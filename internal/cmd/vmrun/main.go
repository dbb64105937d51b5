package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/golvs/lvs/internal/vm"
)

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func main() {
	os.Exit(run())
}

func run() int {
	kernel := flag.String("kernel", "6.1", "kernel to boot: 6.1, 6.12 or all")
	script := flag.String("c", "", "bash script to run instead of CMD ARGS")
	out := flag.String("out", "", "host directory receiving what the guest writes under $LVS_VM_OUT (per kernel with -kernel all)")
	timeout := flag.Duration("timeout", 10*time.Minute, "limit for one boot")
	mem := flag.Int("m", 2048, "guest memory, MiB")
	kargs := flag.String("append", "", "arguments added to the guest kernel's command line")
	noAutoload := flag.Bool("noautoload", false, "boot with module autoloading off and no module loaded (load what you need with modprobe)")
	var builds, files listFlag
	flag.Var(&builds, "build", "Go packages to build into the guest's PATH (comma-separated or repeated)")
	flag.Var(&files, "f", "extra files HOST:GUEST (comma-separated or repeated)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: vmrun [flags] -- CMD [ARGS...]\n       vmrun [flags] -c SCRIPT\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *script == "" && flag.NArg() == 0 {
		flag.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "vmrun-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	var opts vm.RunOptions
	if opts.Files, err = vm.Build(ctx, tmp, os.Stderr, builds...); err != nil {
		fmt.Fprintln(os.Stderr, "vmrun:", err)
		return 1
	}
	for _, f := range files {
		host, guest, ok := strings.Cut(f, ":")
		if !ok {
			fmt.Fprintf(os.Stderr, "vmrun: -f %q: want HOST:GUEST\n", f)
			return 2
		}
		opts.Files = append(opts.Files, vm.File{Host: host, Guest: guest})
	}
	opts.Script = *script
	if opts.Script == "" {
		args := flag.Args()
		if strings.Contains(args[0], "/") {
			if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
				guest := "/lvs/bin/" + filepath.Base(args[0])
				opts.Files = append(opts.Files, vm.File{Host: args[0], Guest: guest})
				args[0] = guest
			}
		}
		opts.Script = vm.ShellQuote(args...)
	}
	opts.Timeout = *timeout
	opts.MemoryMiB = *mem
	opts.KernelArgs = strings.Fields(*kargs)
	opts.NoAutoload = *noAutoload

	kernels := []string{*kernel}
	if *kernel == "all" {
		kernels = vm.Kernels()
	}
	status := 0
	for _, k := range kernels {
		im, err := vm.Prepare(ctx, k, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		o := opts
		o.Output = os.Stdout
		var prefixed *vm.LineWriter
		if len(kernels) > 1 {
			prefixed = vm.PrefixWriter(os.Stdout, "["+k+"] ")
			o.Output = prefixed
		}
		if *out != "" {
			o.OutDir = *out
			if len(kernels) > 1 {
				o.OutDir = filepath.Join(*out, k)
			}
		}
		res, err := im.Run(ctx, o)
		if prefixed != nil {
			prefixed.Flush()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "vmrun: %s (%s): exit %d, boot %.1fs, total %.1fs\n",
			k, im.Release, res.ExitCode, res.Boot.Seconds(), res.Total.Seconds())
		if res.ExitCode != 0 {
			status = res.ExitCode
		}
	}
	return status
}
