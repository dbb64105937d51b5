package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/golvs/lvs/internal/vm"
)

type options struct {
	modes  string
	n      int
	bin    string
	native bool
	vm     bool
	kernel string
}

func main() {
	var o options
	flag.StringVar(&o.modes, "modes", "", "comma-separated modes to run (nat, dr, tun-ipip, tun-gue, tun-gre, fwmark, nat6, nat-snat, dr6, ha, fwmark6), or all; default: the first six")
	flag.IntVar(&o.n, "n", 30, "requests per mode")
	flag.StringVar(&o.bin, "bin", "", "directory holding the example programs (default: PATH, else go build)")
	flag.BoolVar(&o.native, "native", false, "run here even if the checks say no")
	flag.BoolVar(&o.vm, "vm", false, "run inside the VM even if this kernel has IPVS")
	flag.StringVar(&o.kernel, "kernel", "6.1", "kernel of the VM: "+strings.Join(vm.Kernels(), " or "))
	flag.Parse()
	if flag.NArg() > 0 || o.n < 1 || o.n > 1000 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !o.vm && !o.native {
		if err := nativeProblem(); err != nil {
			fmt.Printf("lab: cannot run here (%v): running inside the VM with Debian's %s kernel\n", err, o.kernel)
			o.vm = true
		}
	}
	if o.vm {
		os.Exit(runVM(ctx, o))
	}
	os.Exit(runNative(ctx, o))
}

// runVM builds the lab and the examples for the guest, boots the VM and
// runs the lab there.
func runVM(ctx context.Context, o options) int {
	tmp, err := os.MkdirTemp("", "lab-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	t := time.Now()
	var pkgs []string
	for _, name := range append([]string{"lab"}, examples...) {
		pkgs = append(pkgs, "github.com/golvs/lvs/examples/"+name)
	}
	files, err := vm.Build(ctx, tmp, os.Stderr, pkgs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		return 1
	}
	fmt.Printf("lab: built the lab and the examples in %.0fs; preparing the VM\n", time.Since(t).Seconds())
	im, err := vm.Prepare(ctx, o.kernel, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		return 1
	}
	args := []string{"/lvs/bin/lab", "-native", "-bin", "/lvs/bin", "-n", fmt.Sprint(o.n)}
	if o.modes != "" {
		args = append(args, "-modes", o.modes)
	}
	res, err := im.Run(ctx, vm.RunOptions{
		Script:  vm.ShellQuote(args...),
		Files:   files,
		Output:  os.Stdout,
		Timeout: 15 * time.Minute,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		return 1
	}
	fmt.Printf("lab: VM %s: boot %.1fs, total %.1fs\n", im.Release, res.Boot.Seconds(), res.Total.Seconds())
	return res.ExitCode
}

// selectModes returns the modes -modes names.
func selectModes(list string) ([]mode, error) {
	all := modes()
	var out []mode
	switch list {
	case "":
		for _, m := range all {
			if !m.extra {
				out = append(out, m)
			}
		}
		return out, nil
	case "all":
		return all, nil
	}
	for _, k := range strings.Split(list, ",") {
		found := false
		for _, m := range all {
			if m.key == strings.TrimSpace(k) {
				out = append(out, m)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown mode %q", k)
		}
	}
	return out, nil
}
