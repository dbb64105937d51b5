package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/golvs/lvs/internal/netlab"
	"github.com/golvs/lvs/internal/nstest"
)

// crashCases are the example agents the crash tests run, on host()'s LAN
// (10.0.7.1 on eth0, a neighbour at .11). The longest first (in the VM,
// nat6 and nat-snat take 100 s, ha-director 20 s): the parallel subtests
// start in this order, so the last to start are the short ones and none
// runs alone at the end.
var crashCases = []struct {
	name string
	argv []string
}{
	{"nat6", []string{"nat", "-vip", "[fd00:7::100]:80", "-rs", "[fd00:7::11]:8080", "-iface", "eth0"}},
	{"nat-snat", []string{"nat", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11:8080", "-iface", "eth0", "-snat"}},
	{"dr-realserver-arptables", []string{"dr", "realserver", "-vip", "10.0.7.100", "-arp", "arptables"}},
	{"tun-realserver-mss", []string{"tun", "realserver", "-vip", "10.0.7.100", "-mss", "1400"}},
	{"nat", []string{"nat", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11:8080", "-iface", "eth0"}},
	{"fwmark", []string{"fwmark", "director", "-vip", "10.0.7.100", "-ports", "80,443", "-mark", "1", "-rs", "10.0.7.11", "-iface", "eth0"}},
	{"tun-realserver-gue", []string{"tun", "realserver", "-vip", "10.0.7.100", "-type", "gue"}},
	{"dr-director", []string{"dr", "director", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11", "-iface", "eth0"}},
	{"tun-director", []string{"tun", "director", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11", "-iface", "eth0", "-type", "gue"}},
	{"dr-realserver-nft", []string{"dr", "realserver", "-vip", "10.0.7.100", "-arp", "nft"}},
	{"dr-realserver-sysctl", []string{"dr", "realserver", "-vip", "10.0.7.100"}},
	{"ha-director", []string{"ha", "director", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11", "-iface", "eth0", "-vrid", "51", "-priority", "150", "-sync", "eth0"}},
}

// crashSlots bounds how many crash-test agents run at once whatever
// -test.parallel says: 22 subtests at once starved each other under TCG
// (a restart not ready in a minute, a teardown past the agents' 30 s).
var crashSlots = make(chan struct{}, 4)

// crashSlot takes a slot until t's end.
func crashSlot(t *testing.T) {
	crashSlots <- struct{}{}
	t.Cleanup(func() { <-crashSlots })
}

// Fault injection on the host's records (issue 15): an agent dies at
// every point of its set-up, k = 1, 2, ...: right after the k-th undo
// record is written ahead and before its change (LVS_TEST_CRASH_AT=k),
// right after the change (k+), and between the agent's steps
// (LVS_AGENT_CRASH_AFTER). Each time a restart (no hook) gets ready and
// its SIGTERM leaves the host exactly as before. The points run out when
// an agent with the hook reaches ready; the last one that does is killed
// from outside with SIGKILL once ready (issue 15 item 3: a killed agent's
// restart converges), restarted and stopped the same way.
func TestCrashAtEveryStep(t *testing.T) {
	t.Parallel()
	bins := needKernel(t)
	for i, tc := range crashCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			crashSlot(t)
			ns, before := host(t, fmt.Sprintf("labf%d", i))
			points, killed := 0, 0
			// try runs an agent with the hook env and reports whether the
			// hook fired. An agent the hook spares gets SIGTERM (and the
			// host must be as before), or with killReady SIGKILL once
			// ready, and then the restart like after a hook.
			try := func(env string, killReady bool) (crashed bool) {
				t.Helper()
				a := newAgent("hooked", ns, tc.argv[0], tc.argv[1:]...)
				a.env = []string{env}
				err := a.start(bins, readyTimeout)
				if err == nil && killReady {
					a.cmd.Process.Signal(syscall.SIGKILL)
					<-a.exited
					env += ", ready, then SIGKILL"
					killed++
				} else {
					if err == nil {
						// ha writes records after ready too (a role
						// change adds the VIPs): a hook that fires then
						// is a crash point like one before ready.
						if err = a.stop(stopTimeout); err == nil {
							wantSettled(t, ns, before, env+" (not a crash point)")
							return false
						}
					}
					if code := a.cmd.ProcessState.ExitCode(); code != 137 {
						t.Fatalf("%s: %v (exit %d, want the hook's 137)", env, err, code)
					}
					points++
					crashed = true
				}
				r := newAgent("restarted", ns, tc.argv[0], tc.argv[1:]...)
				if err := r.start(bins, readyTimeout); err != nil {
					t.Fatalf("restart after %s: %v", env, err)
				}
				if err := r.stop(stopTimeout); err != nil {
					t.Fatalf("restart after %s: %v", env, err)
				}
				wantSettled(t, ns, before, "after a crash at "+env+", a restart and its SIGTERM")
				return crashed
			}
			for k := 1; k < 50; k++ {
				fired := false
				for _, v := range crashVariants() {
					if try(fmt.Sprintf("LVS_TEST_CRASH_AT=%d%s", k, v), false) {
						fired = true
					}
				}
				if !fired {
					break
				}
			}
			for k := 0; k < 20; k++ {
				if !try(fmt.Sprintf("LVS_AGENT_CRASH_AFTER=%d", k), true) && k > 0 {
					break
				}
			}
			t.Logf("%d crash points, each restored", points)
			if points < 4 {
				t.Errorf("only %d crash points: the hooks did not fire", points)
			}
			if killed != 1 {
				t.Errorf("killed %d agents once ready, want 1", killed)
			}
		})
	}
}

// crashVariants are the crash points tried at each undo record: before
// its change ("") and after it ("+"). In the VM each kernel takes one of
// the two: the records and their recovery are the same code on both, the
// two kernels together still try every point, and each point costs two
// agent runs and a host snapshot under emulation (a quarter of the
// package's time). Natively, both.
func crashVariants() []string {
	all := []string{"", "+"}
	if half, split := nstest.KernelHalf(); split {
		return all[half : half+1]
	}
	return all
}

func wantSettled(t *testing.T, ns *netlab.NS, before map[string]string, when string) {
	t.Helper()
	_, diff, _, err := settled(context.Background(), ns, before)
	if err != nil {
		t.Fatal(err)
	}
	if len(diff) > 0 {
		t.Fatalf("%s the host is not as before:\n%s", when, strings.Join(diff, "\n"))
	}
}
