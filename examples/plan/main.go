package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvsadm"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitInSync  = 0
	exitPending = 1
	exitUsage   = 2
	exitFailed  = 3
)

type config struct {
	file, netns    string
	apply, massDel bool
	names          bool
	timeout        time.Duration
	desired        ipvs.State
}

func parse(args []string, stdin io.Reader, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.file, "f", "", "rules `FILE` in ipvsadm -S format (- for standard input)")
	fs.StringVar(&c.netns, "netns", "", "network namespace `PATH` (e.g. /run/netns/blue); default: this process's")
	fs.BoolVar(&c.apply, "apply", false, "apply the plan shown (nothing is written if the table changed meanwhile)")
	fs.BoolVar(&c.massDel, "allow-mass-delete", false, "allow deleting more than half of the table's services")
	fs.BoolVar(&c.names, "names", false, "show host and service names (/etc/hosts, /etc/services) instead of numbers")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "bound of the kernel reads and writes")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.file == "" {
		return c, errors.New("-f is required: the rules FILE (ipvsadm -S format), or - for standard input")
	}
	if c.timeout <= 0 {
		return c, fmt.Errorf("-timeout %v: must be positive", c.timeout)
	}
	r := stdin
	if c.file != "-" {
		f, err := os.Open(c.file)
		if err != nil {
			return c, fmt.Errorf("-f: %w", err)
		}
		defer f.Close()
		r = f
	}
	var err error
	if c.desired, err = ipvsadm.ParseRules(r); err != nil {
		return c, fmt.Errorf("%s: %w", c.file, err)
	}
	return c, nil
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stdin, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitInSync
	}
	if err != nil {
		fmt.Fprintln(stderr, "plan:", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	c, err := ipvs.New(&ipvs.Config{NetNSPath: cfg.netns})
	if err != nil {
		fmt.Fprintln(stderr, "plan:", err)
		return exitFailed
	}
	defer c.Close()
	p, err := c.Plan(ctx, cfg.desired, &ipvs.ApplyOptions{AllowMassDelete: cfg.massDel})
	if err != nil {
		fmt.Fprintln(stderr, "plan:", err)
		if errors.Is(err, ipvs.ErrInvalid) {
			return exitUsage
		}
		if errors.Is(err, ipvs.ErrConflict) {
			fmt.Fprintln(stderr, "plan: run with -allow-mass-delete if the rules file is complete")
		}
		return exitFailed
	}
	f := ipvsadm.FormatNumeric
	if cfg.names {
		f = 0
	}
	if err := ipvsadm.WritePlan(stdout, p, f); err != nil {
		fmt.Fprintln(stderr, "plan:", err)
		return exitFailed
	}
	if p.Len() == 0 {
		fmt.Fprintln(stderr, "plan: the table holds the rules: nothing to do")
		return exitInSync
	}
	if !cfg.apply {
		fmt.Fprintf(stderr, "plan: %v pending (run with -apply to make them)\n", p)
		return exitPending
	}
	res, err := c.ApplyPlan(ctx, p)
	if err != nil {
		fmt.Fprintln(stderr, "plan:", err)
		if _, failed := res.Failed(); len(failed) > 0 {
			fmt.Fprintf(stderr, "plan: %v\n", res)
		}
		return exitFailed
	}
	fmt.Fprintf(stderr, "plan: applied: %v\n", res)
	return exitInSync
}
