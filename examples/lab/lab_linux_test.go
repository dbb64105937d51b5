package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
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
	ms := modes()
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
		// Set-up fails at the VIP, its last step: the service, forwarding
		// and send_redirects are rolled back.
		{[]string{"nat", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11:8080", "-iface", "nosuch0"}, 1, "nosuch0"},
		{[]string{"nat", "-vip", "[fd00:7::100]:80", "-rs", "[fd00:7::11]:8080", "-iface", "eth0", "-sched", "nosuch"}, 1, "set-up failed"},
		{[]string{"nat", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11:8080", "-iface", "nosuch0", "-snat"}, 1, "nosuch0"},
		{[]string{"dr", "realserver", "-vip", "10.0.7.100", "-arp", "bogus"}, 2, "-arp"},
		{[]string{"dr", "director", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11", "-iface", "nosuch0"}, 1, "nosuch0"},
		{[]string{"tun", "realserver", "-vip", "fd00:7::100"}, 2, "VIP"},
		{[]string{"tun", "director", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11", "-iface", "nosuch0", "-type", "gre"}, 1, "nosuch0"},
		// The mark rule and the service are in place when the VIP fails.
		{[]string{"fwmark", "director", "-vip", "10.0.7.100", "-ports", "80,443", "-mark", "1", "-rs", "10.0.7.11", "-iface", "nosuch0"}, 1, "nosuch0"},
		{[]string{"fwmark", "director", "-vip", "10.0.7.100", "-ports", "80", "-mark", "1", "-rs", "10.0.7.11", "-iface", "nosuch0", "-backend", "iptables"}, 1, "nosuch0"},
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
