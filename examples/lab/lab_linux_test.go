package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/netlab"
	"github.com/golvs/lvs/internal/nstest"
)

// The lab's own runs are the kernel tests of the example programs: each
// mode starts the programs in their hosts as an operator would, waits for
// ready, sends traffic, stops them with SIGTERM and compares their hosts
// with snapshots from before. In the VM the programs come from
// testdata/vmbuild.txt (on PATH); natively they are built.
func needKernel(t *testing.T) map[string]string {
	t.Helper()
	if err := nstest.Available(); err != nil {
		if os.Getenv("LVS_VM") == "1" {
			t.Fatalf("kernel test inside the VM: %v", err)
		}
		t.Skip("kernel test: needs root and IPVS; run: go run ./internal/cmd/vmtest -pkg ./examples/lab")
	}
	bins, err := findBinaries(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bins
}

func TestModes(t *testing.T) {
	t.Parallel()
	bins := needKernel(t)
	prefix := fmt.Sprintf("labt%d-", os.Getpid())
	// Four modes at a time: much of a mode's time is spent waiting (process
	// start, gratuitous ARP bursts), so this beats -test.parallel's two.
	ms := selected(modes())
	outs := make([]bytes.Buffer, len(ms))
	oks := make([]bool, len(ms))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			w := &stamped{w: &outs[i], t0: time.Now()}
			oks[i] = runMode(ctx, w, m, bins, prefix, 6).ok
			fmt.Fprintf(w, "  (%.1fs)\n", time.Since(w.t0).Seconds())
		}()
	}
	wg.Wait()
	for i, m := range ms {
		t.Run(m.key, func(t *testing.T) {
			if !oks[i] {
				t.Fatalf("\n%s", outs[i].String())
			}
			t.Logf("\n%s", outs[i].String())
		})
	}
}

// selected keeps the modes -test.run's subtest level names (-run
// TestModes/ha; all without one): the modes run before their subtests
// exist, so the pattern alone would not spare the others.
func selected(ms []mode) []mode {
	f := flag.Lookup("test.run")
	if f == nil {
		return ms
	}
	_, sub, ok := strings.Cut(f.Value.String(), "/")
	if !ok {
		return ms
	}
	sub, _, _ = strings.Cut(sub, "/")
	re, err := regexp.Compile(sub)
	if err != nil {
		return ms
	}
	var out []mode
	for _, m := range ms {
		if re.MatchString(m.key) {
			out = append(out, m)
		}
	}
	return out
}

// host is one namespace on a LAN, with a neighbour at .11 (and fd00:7::11),
// in a lab of its own that prefix names; snap is what it looks like.
func host(t *testing.T, prefix string) (ns *netlab.NS, snap map[string]string) {
	t.Helper()
	lab := netlab.New(fmt.Sprintf("%s%d-", prefix, os.Getpid()))
	t.Cleanup(func() { lab.Close() })
	ns, err := lab.NS("host")
	if err == nil {
		var peer *netlab.NS
		peer, err = lab.NS("peer")
		if err == nil {
			p := netip.MustParsePrefix
			_, err = lab.Segment("lan",
				netlab.Member{NS: ns, Name: "eth0", Addrs: []netip.Prefix{p("10.0.7.1/24"), p("fd00:7::1/64")}},
				netlab.Member{NS: peer, Name: "eth0", Addrs: []netip.Prefix{p("10.0.7.11/24"), p("fd00:7::11/64")}})
		}
	}
	if err == nil {
		snap, err = snapshot(context.Background(), ns)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ns, snap
}

// A bad flag (exit 2) or a set-up that fails midway (exit 1, rolled back)
// prints why on stderr, never ready, and leaves the host as it was.
func TestBadStartLeavesNothing(t *testing.T) {
	t.Parallel()
	bins := needKernel(t)
	ns, before := host(t, "labb")
	ctx := context.Background()
	for _, tc := range []struct {
		argv   []string
		status int
		stderr string
	}{
		{[]string{"nat", "-vip", "10.0.7.100", "-rs", "10.0.7.11:8080", "-iface", "eth0"}, 2, "-vip"},
		{[]string{"nat", "-vip", "10.0.7.100:80", "-rs", "[fd00:7::11]:8080", "-iface", "eth0"}, 2, "address family"},
		// Set-up fails at the VIP, its last step (the host's own address
		// 10.0.7.1/24 taken as a /32 VIP conflicts): the service,
		// forwarding and send_redirects are rolled back.
		{[]string{"nat", "-vip", "10.0.7.1:80", "-rs", "10.0.7.11:8080", "-iface", "eth0"}, 1, "10.0.7.1"},
		{[]string{"nat", "-vip", "10.0.7.1:80", "-rs", "10.0.7.11:8080", "-iface", "eth0", "-snat"}, 1, "10.0.7.1"},
		{[]string{"dr", "realserver", "-vip", "10.0.7.100", "-arp", "bogus"}, 2, "-arp"},
		{[]string{"dr", "director", "-vip", "10.0.7.1:80", "-rs", "10.0.7.11", "-iface", "eth0"}, 1, "10.0.7.1"},
		{[]string{"tun", "realserver", "-vip", "fd00:7::100"}, 2, "VIP"},
		{[]string{"tun", "director", "-vip", "10.0.7.1:80", "-rs", "10.0.7.11", "-iface", "eth0", "-type", "gre"}, 1, "10.0.7.1"},
		// The mark rule and the service are in place when the VIP fails.
		{[]string{"fwmark", "director", "-vip", "10.0.7.1", "-ports", "80,443", "-mark", "1", "-rs", "10.0.7.11", "-iface", "eth0"}, 1, "10.0.7.1"},
		{[]string{"fwmark", "director", "-vip", "10.0.7.1", "-ports", "80", "-mark", "1", "-rs", "10.0.7.11", "-iface", "eth0", "-backend", "iptables"}, 1, "10.0.7.1"},
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, bins[tc.argv[0]], tc.argv[1:]...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := ns.Start(cmd); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if got := cmd.ProcessState.ExitCode(); got != tc.status {
				t.Errorf("exit status %d, want %d; stderr:\n%s", got, tc.status, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr does not mention %q:\n%s", tc.stderr, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
			_, d, _, err := settled(ctx, ns, before)
			if err != nil {
				t.Fatal(err)
			}
			if len(d) > 0 {
				t.Errorf("left behind:\n%s\nstderr:\n%s", strings.Join(d, "\n"), stderr.String())
			}
		})
	}
}

// Every bad command line is refused with exit status 2 and a message
// quoting the bad part, before anything changes: 20 or more per example.
func TestBadFlagsChangeNothing(t *testing.T) {
	t.Parallel()
	bins := needKernel(t)
	ns, before := host(t, "labf")
	ctx := context.Background()
	nat := func(args ...string) []string {
		base := map[string]string{"-vip": "10.0.7.100:80", "-rs": "10.0.7.11:8080,10.0.7.12:8080", "-iface": "eth0"}
		return withFlags("nat", nil, base, args)
	}
	drd := func(args ...string) []string {
		return withFlags("dr", []string{"director"}, map[string]string{"-vip": "10.0.7.100:80", "-rs": "10.0.7.11,10.0.7.12", "-iface": "eth0"}, args)
	}
	drr := func(args ...string) []string {
		return withFlags("dr", []string{"realserver"}, map[string]string{"-vip": "10.0.7.100"}, args)
	}
	tund := func(args ...string) []string {
		return withFlags("tun", []string{"director"}, map[string]string{"-vip": "10.0.7.100:80", "-rs": "10.0.7.11,10.0.7.12", "-iface": "eth0"}, args)
	}
	tunr := func(args ...string) []string {
		return withFlags("tun", []string{"realserver"}, map[string]string{"-vip": "10.0.7.100"}, args)
	}
	fwd := func(args ...string) []string {
		return withFlags("fwmark", []string{"director"}, map[string]string{"-vip": "10.0.7.100", "-ports": "80,443", "-mark": "1", "-rs": "10.0.7.11", "-iface": "eth0"}, args)
	}
	had := func(args ...string) []string {
		return withFlags("ha", []string{"director"}, map[string]string{"-vip": "10.0.7.100:80", "-rs": "10.0.7.11,10.0.7.12", "-iface": "eth0", "-vrid": "51", "-priority": "100"}, args)
	}
	cases := map[string][]struct {
		argv []string
		msg  string
	}{
		"ha": {
			{[]string{"ha"}, "usage"},
			{[]string{"ha", "realserver"}, `unknown role "realserver"`},
			{had("-vip", ""), `-vip ""`},
			{had("-vip", "10.0.7.100"), `-vip "10.0.7.100"`},
			{had("-vip", "224.0.0.5:80"), "-vip 224.0.0.5"},
			{had("-rs", ""), "-rs is required"},
			{had("-rs", "10.0.7.11,10.0.7.11"), `-rs entry 2 "10.0.7.11": given twice`},
			{had("-rs", "fd00:7::11"), "address family"},
			{had("-iface", "nosuch0"), `-iface "nosuch0"`},
			{had("-sched", "bogus"), `-sched "bogus"`},
			{had("-vrid", ""), "-vrid is required"},
			{had("-vrid", "0"), `-vrid "0"`},
			{had("-vrid", "256"), `-vrid "256"`},
			{had("-priority", ""), "-priority is required"},
			{had("-priority", "0"), `-priority "0"`},
			{had("-priority", "x"), `-priority "x"`},
			{had("-advert", "1500ms"), "-advert: 1.5s"},
			{had("-advert", "0s"), "-advert"},
			{had("-advert", "300s"), "-advert: 5m0s"},
			{had("-version", "4"), `-version "4"`},
			{had("-vip", "[fd00:7::100]:80", "-rs", "fd00:7::11", "-version", "2"), "-version: VRRPv2 is IPv4-only"},
			{had("-unicast-peer", "fd00:7::2"), "-unicast-peer: fd00:7::2"},
			{had("-unicast-peer", "10.0.7.2,10.0.7.2"), `-unicast-peer entry 2 "10.0.7.2": given twice`},
			{append(had("-preempt-delay", "2s"), "-nopreempt"), "-preempt-delay"},
			{had("-preempt-delay", "-1s"), "-preempt-delay"},
			{had("-sync", "nosuch0"), `-sync "nosuch0"`},
			{append(had(), "extra"), `"extra"`},
		},
		"nat": {
			{[]string{"nat"}, `-vip ""`},
			{nat("-vip", "10.0.7.100"), `-vip "10.0.7.100"`},
			{nat("-vip", "10.0.7.100:0"), `-vip "10.0.7.100:0"`},
			{nat("-vip", "0.0.0.0:80"), "-vip 0.0.0.0"},
			{nat("-vip", "255.255.255.255:80"), "-vip 255.255.255.255"},
			{nat("-vip", "224.0.0.1:80"), "-vip 224.0.0.1"},
			{nat("-vip", "127.0.0.1:80"), "-vip 127.0.0.1"},
			{nat("-vip", "[fe80::1]:80"), "-vip fe80::1"},
			{nat("-vip", "[::]:80"), "-vip ::"},
			{nat("-rs", ""), "-rs is required"},
			{nat("-rs", "10.0.7.11:8080,10.0.7.12:8080,10.0.7.11:8080"), `-rs entry 3 "10.0.7.11:8080": given twice`},
			{nat("-rs", "10.0.7.11:8080,bogus"), `-rs entry 2 "bogus"`},
			{nat("-rs", "10.0.7.11:8080,,10.0.7.12:8080"), `-rs entry 2 ""`},
			{nat("-rs", "10.0.7.11"), `-rs entry 1 "10.0.7.11"`},
			{nat("-rs", "[fd00:7::11]:8080"), "address family"},
			{nat("-rs", "10.0.7.100:8080"), "is the VIP itself"},
			{nat("-rs", "0.0.0.0:8080"), `-rs entry 1 "0.0.0.0:8080"`},
			{nat("-iface", ""), "-iface is required"},
			{nat("-iface", "nosuch0"), `-iface "nosuch0"`},
			{nat("-sched", "bogus"), `-sched "bogus"`},
			{nat("-proto", "icmp"), `-proto "icmp"`},
			{append(nat(), "extra"), `"extra"`},
			{nat("-nosuchflag", "1"), "nosuchflag"},
			{nat("-metrics", "9101"), `-metrics: "9101"`},
			{nat("-metrics", "localhost:9101"), `-metrics: "localhost:9101"`},
		},
		"dr": {
			{[]string{"dr"}, "usage"},
			{[]string{"dr", "bogus"}, `unknown role "bogus"`},
			{drd("-vip", ""), `-vip ""`},
			{drd("-vip", "10.0.7.100"), `-vip "10.0.7.100"`},
			{drd("-vip", "0.0.0.0:80"), "-vip 0.0.0.0"},
			{drd("-vip", "255.255.255.255:80"), "-vip 255.255.255.255"},
			{drd("-vip", "224.0.0.5:80"), "-vip 224.0.0.5"},
			{drd("-rs", "10.0.7.11:80"), `-rs entry 1 "10.0.7.11:80"`},
			{drd("-rs", "10.0.7.11,10.0.7.11"), `-rs entry 2 "10.0.7.11": given twice`},
			{drd("-rs", "fd00:7::11"), "address family"},
			{drd("-rs", ""), "-rs is required"},
			{drd("-rs", "10.0.7.100"), "is the VIP itself"},
			{drd("-iface", ""), "-iface is required"},
			{drd("-iface", "nosuch0"), `-iface "nosuch0"`},
			{drd("-sched", "bogus"), `-sched "bogus"`},
			{append(drd(), "extra"), `"extra"`},
			{drd("-metrics", "127.0.0.1:0"), `-metrics: "127.0.0.1:0"`},
			{drr("-vip", ""), `-vip ""`},
			{drr("-vip", "0.0.0.0"), "-vip 0.0.0.0"},
			{drr("-vip", "255.255.255.255"), "-vip 255.255.255.255"},
			{drr("-vip", "127.0.0.2"), "-vip 127.0.0.2"},
			{drr("-arp", "bogus"), `-arp "bogus"`},
			{drr("-vip", "10.0.7.100:80"), `-vip "10.0.7.100:80"`},
			{drr("-vip", "fe80::1"), "-vip fe80::1"},
		},
		"tun": {
			{[]string{"tun"}, "usage"},
			{[]string{"tun", "bogus"}, `unknown role "bogus"`},
			{tund("-vip", ""), `-vip ""`},
			{tund("-vip", "10.0.7.100"), `-vip "10.0.7.100"`},
			{tund("-vip", "0.0.0.0:80"), "-vip 0.0.0.0"},
			{tund("-type", "bogus"), `-type "bogus"`},
			{tund("-type", "gue", "-port", "70000"), "-port 70000"},
			{tund("-port", "5"), "-port is for -type gue only"},
			{tund("-rs", "10.0.7.11,10.0.7.11"), `-rs entry 2 "10.0.7.11": given twice`},
			{tund("-rs", "10.0.7.11:80"), `-rs entry 1 "10.0.7.11:80"`},
			{tund("-rs", ""), "-rs is required"},
			{tund("-rs", "0.0.0.0"), "-rs entry 0.0.0.0"},
			{tund("-iface", ""), "-iface is required"},
			{tund("-iface", "nosuch0"), `-iface "nosuch0"`},
			{tund("-sched", "bogus"), `-sched "bogus"`},
			{tund("-metrics", "127.0.0.1"), `-metrics: "127.0.0.1"`},
			{tunr("-vip", "fd00:7::100"), "IPv6 VIPs are not supported"},
			{tunr("-vip", ""), `-vip ""`},
			{tunr("-vip", "0.0.0.0"), "-vip 0.0.0.0"},
			{tunr("-vip", "255.255.255.255"), "-vip 255.255.255.255"},
			{tunr("-type", "gue", "-port", "70000"), "-port 70000"},
			{tunr("-type", "bogus"), `-type "bogus"`},
			{tunr("-port", "6080"), "-port is for -type gue only"},
			{tunr("-mss", "500"), "MSS"},
			{tunr("-mss", "70000"), "-mss 70000"},
		},
		"fwmark": {
			{[]string{"fwmark"}, "usage"},
			{[]string{"fwmark", "realserver"}, `unknown role "realserver"`},
			{fwd("-vip", ""), `-vip ""`},
			{fwd("-vip", "0.0.0.0"), "-vip 0.0.0.0"},
			{fwd("-vip", "255.255.255.255"), "-vip 255.255.255.255"},
			{fwd("-vip", "10.0.7.100:80"), `-vip "10.0.7.100:80"`},
			{fwd("-ports", ""), "-ports is required"},
			{fwd("-ports", "80,443,80"), `-ports entry 3 "80": given twice`},
			{fwd("-ports", "0"), `-ports entry 1 "0"`},
			{fwd("-ports", "70000"), `-ports entry 1 "70000"`},
			{fwd("-ports", "80,x"), `-ports entry 2 "x"`},
			{fwd("-mark", "0"), "-mark 0"},
			{fwd("-mark", "4294967296"), "-mark 4294967296"},
			{fwd("-rs", ""), "-rs is required"},
			{fwd("-rs", "10.0.7.11,10.0.7.11"), `-rs entry 2 "10.0.7.11": given twice`},
			{fwd("-rs", "fd00:7::11"), "address family"},
			{fwd("-iface", ""), "-iface is required"},
			{fwd("-iface", "nosuch0"), `-iface "nosuch0"`},
			{fwd("-persist", "1500ms"), "-persist 1.5s"},
			{fwd("-persist", "-1s"), "-persist -1s"},
			{fwd("-persist", "800h"), "-persist 800h"},
			{fwd("-backend", "bogus"), `-backend "bogus"`},
			{fwd("-sched", "bogus"), `-sched "bogus"`},
			{fwd("-metrics", "[::1]:http"), `-metrics: "[::1]:http"`},
		},
	}
	for _, name := range []string{"nat", "dr", "tun", "fwmark", "ha"} {
		t.Run(name, func(t *testing.T) {
			if n := len(cases[name]); n < 20 {
				t.Fatalf("%d bad command lines, want at least 20", n)
			}
			for _, tc := range cases[name] {
				ctx, cancel := context.WithTimeout(ctx, time.Minute)
				var stdout, stderr bytes.Buffer
				cmd := exec.CommandContext(ctx, bins[tc.argv[0]], tc.argv[1:]...)
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := ns.Start(cmd); err != nil {
					cancel()
					t.Fatal(err)
				}
				cmd.Wait()
				cancel()
				if got := cmd.ProcessState.ExitCode(); got != 2 {
					t.Errorf("%q: exit status %d, want 2; stderr:\n%s", tc.argv, got, stderr.String())
				}
				if !strings.Contains(stderr.String(), tc.msg) {
					t.Errorf("%q: stderr does not say %q:\n%s", tc.argv, tc.msg, stderr.String())
				}
				if stdout.Len() != 0 {
					t.Errorf("%q: stdout: %q", tc.argv, stdout.String())
				}
			}
			// One comparison per program: a change by any line would stay
			// (nothing ran a teardown), and each reading costs seconds
			// under TCG.
			_, d, _, err := settled(ctx, ns, before)
			if err != nil {
				t.Fatal(err)
			}
			if len(d) > 0 {
				t.Errorf("bad command lines of %s changed the host:\n%s", name, strings.Join(d, "\n"))
			}
		})
	}
}

// withFlags is prog, then pre, then base's flags with args' overriding
// them (a flag given "" is left out).
func withFlags(prog string, pre []string, base map[string]string, args []string) []string {
	flags := map[string]string{}
	for k, v := range base {
		flags[k] = v
	}
	var extra []string
	for i := 0; i+1 < len(args); i += 2 {
		if _, ok := base[args[i]]; ok {
			flags[args[i]] = args[i+1]
		} else {
			extra = append(extra, args[i], args[i+1])
		}
	}
	out := append([]string{prog}, pre...)
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if flags[k] != "" {
			out = append(out, k, flags[k])
		}
	}
	return append(out, extra...)
}

// -h prints the usage and exits 0, in every example and role.
func TestHelp(t *testing.T) {
	t.Parallel()
	bins := needKernel(t)
	ns, _ := host(t, "labh")
	for _, argv := range [][]string{
		{"nat", "-h"}, {"dr", "-h"}, {"dr", "director", "-h"}, {"dr", "realserver", "-h"},
		{"tun", "-h"}, {"tun", "--help"}, {"tun", "director", "-h"}, {"fwmark", "-h"}, {"fwmark", "director", "-h"},
		{"ha", "-h"}, {"ha", "director", "-h"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, bins[argv[0]], argv[1:]...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := ns.Start(cmd); err != nil {
			cancel()
			t.Fatal(err)
		}
		cmd.Wait()
		cancel()
		if got := cmd.ProcessState.ExitCode(); got != 0 || !strings.Contains(strings.ToLower(out.String()), "usage") {
			t.Errorf("%q: exit status %d, want 0 with the usage:\n%s", argv, got, out.String())
		}
	}
}

// The teardown check can fail: a director killed without its teardown
// leaves its VIP, service, rules and sysctls, and the snapshot shows them.
func TestSnapshotSeesLeftovers(t *testing.T) {
	t.Parallel()
	bins := needKernel(t)
	ns, before := host(t, "labk")
	ctx := context.Background()
	a := newAgent("director", ns, "fwmark", "director", "-vip", "10.0.7.100", "-ports", "80", "-mark", "1", "-rs", "10.0.7.11", "-iface", "eth0")
	if err := a.start(bins, time.Minute); err != nil {
		t.Fatal(err)
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.exited
	_, diff, _, err := settled(ctx, ns, before)
	if err != nil {
		t.Fatal(err)
	}
	d := strings.Join(diff, "\n")
	for _, want := range []string{"10.0.7.100/32", "ipvs FWM 1", "lvs-fwmark"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}

// stamped prefixes every line with the time since t0, which shows where a
// slow or failing mode spent its time.
type stamped struct {
	w    io.Writer
	t0   time.Time
	cont bool // in the middle of a line
}

func (s *stamped) Write(p []byte) (int, error) {
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !s.cont {
			fmt.Fprintf(s.w, "[%5.1fs] ", time.Since(s.t0).Seconds())
		}
		if _, err := s.w.Write(line); err != nil {
			return 0, err
		}
		s.cont = line[len(line)-1] != '\n'
	}
	return len(p), nil
}
