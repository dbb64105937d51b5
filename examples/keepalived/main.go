package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// Exit codes of keepalived(8).
const (
	exitOK          = 0
	exitStart       = 1 // also bad flags' 2 below
	exitFlags       = 2
	exitTestErrors  = 3
	exitTestWarning = 4
	exitTestScripts = 5
)

type options struct {
	file          string
	vrrpOnly      bool
	checkOnly     bool
	configTest    bool
	pidFile       string
	dontFork, log bool
	// keepIPVS (-I) leaves the virtual servers in place on stop, as
	// keepalived's --dont-release-ipvs does: a director pair that syncs
	// connections keeps the backup's entries usable, and a restarted
	// agent takes the table over as it finds it.
	keepIPVS bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("keepalived", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, def, usage string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, def, usage)
		}
	}
	boolean := func(p *bool, usage string, names ...string) {
		for _, n := range names {
			fs.BoolVar(p, n, false, usage)
		}
	}
	var ignoredPid string
	str(&o.file, "/etc/keepalived/keepalived.conf", "configuration `FILE`", "f", "use-file")
	boolean(&o.dontFork, "stay in the foreground (always)", "n", "dont-fork")
	boolean(&o.log, "log to the console (always: standard error)", "l", "log-console")
	var d bool
	boolean(&d, "detailed log (accepted)", "D", "log-detail")
	boolean(&o.vrrpOnly, "run only the VRRP side", "P", "vrrp")
	boolean(&o.checkOnly, "run only the virtual servers and their checks", "C", "check")
	boolean(&o.configTest, "check the configuration file and exit", "t", "config-test")
	boolean(&o.keepIPVS, "leave the virtual servers in place on stop", "I", "dont-release-ipvs")
	str(&o.pidFile, "", "write the process id to `FILE`", "p", "pid")
	str(&ignoredPid, "", "VRRP child pid `FILE` (accepted; there is one process)", "r", "vrrp_pid")
	str(&ignoredPid, "", "checker child pid `FILE` (accepted; there is one process)", "c", "checkers_pid")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.vrrpOnly && o.checkOnly {
		return o, fmt.Errorf("-P (VRRP only) and -C (checks only) exclude each other")
	}
	return o, nil
}

func run(args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err == flag.ErrHelp {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "keepalived: %v\n", err)
		return exitFlags
	}
	if o.configTest {
		return configTest(o.file, stderr)
	}
	if err := start(o, stderr); err != nil {
		fmt.Fprintf(stderr, "keepalived: %v\n", err)
		return exitStart
	}
	return exitOK
}
