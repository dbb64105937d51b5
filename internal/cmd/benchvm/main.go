package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	kernel := flag.String("kernel", "6.1", "kernel to boot: 6.1, 6.12 or all")
	exact := flag.Bool("exact-cpu", false, "boot with nohz_full=1 and run on CPU 1 alone, where the kernel measures user and system time exactly (system calls cost more there, so compare speeds without it)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./internal/cmd/benchvm [-kernel 6.1] [-exact-cpu] [-- ipvsbench flags]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*kernel, *exact, flag.Args()); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "benchvm:", err)
		os.Exit(1)
	}
}

func run(kernel string, exact bool, args []string) error {
	root, err := output("go", "list", "-m", "-f", "{{.Dir}}")
	if err != nil {
		return fmt.Errorf("finding the module: %w", err)
	}
	tmp, err := os.MkdirTemp("", "benchvm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	moby := filepath.Join(tmp, "mobybench")
	build := exec.Command("go", "build", "-o", moby, ".")
	build.Dir = filepath.Join(root, "internal", "bench", "moby")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building %s: %w", build.Dir, err)
	}
	vmArgs := []string{"run", "./internal/cmd/vmrun", "-kernel", kernel, "-timeout", "60m"}
	if exact {
		// See ipvsbench's accounting.
		vmArgs = append(vmArgs, "-append", "nohz_full=1")
	}
	// examples/ipvsadm is built as /lvs/bin/ipvsadm, last on the guest's
	// PATH, so "ipvsadm" stays the real one; ipvsbench times both.
	vmArgs = append(vmArgs, "-build", "./internal/cmd/ipvsbench,./examples/ipvsadm", "-f", moby+":/lvs/bin/mobybench",
		"--", "/lvs/bin/ipvsbench", "-moby", "/lvs/bin/mobybench", "-lvsadm", "/lvs/bin/ipvsadm")
	if exact {
		vmArgs = append(vmArgs, "-cpu", "1")
	}
	vm := exec.Command("go", append(vmArgs, args...)...)
	vm.Dir = root
	vm.Stdin, vm.Stdout, vm.Stderr = os.Stdin, os.Stdout, os.Stderr
	return vm.Run()
}

func output(name string, args ...string) (string, error) {
	b, err := exec.Command(name, args...).Output()
	return strings.TrimSpace(string(b)), err
}
