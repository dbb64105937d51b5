package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/internal/peers"
)

// The VRRP side against the real thing: this agent and keepalived 2.2.7
// as the two nodes of one VRRP pair on one segment, both directions; the
// VIP moves when the master stops (SIGTERM: a priority-0 advert), and the
// agent runs notify scripts with keepalived's arguments.

const (
	pairVIP = "10.0.6.10"
	pairA   = "10.0.6.1"
	pairB   = "10.0.6.2"
)

// pairConf is one node's configuration: the same instance, its priority
// and state, and extra lines for global_defs and the instance.
func pairConf(state string, prio int, global, inst string) string {
	return fmt.Sprintf(`global_defs {
  router_id node_%d
%s}
vrrp_instance VI_1 {
  state %s
  interface eth0
  virtual_router_id 61
  priority %d
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass s3cret
  }
  virtual_ipaddress {
    %s/32 dev eth0
  }
%s}
`, prio, global, state, prio, pairVIP, inst)
}

// vrrpPair is the segment: nodes a and b.
func vrrpPair(t *testing.T) (a, b *nstest.NS) {
	a, b = nstest.New(t), nstest.New(t)
	pf := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s + "/24")} }
	nstest.Segment(t, "br0",
		nstest.Member{NS: a, Name: "eth0", Addrs: pf(pairA)},
		nstest.Member{NS: b, Name: "eth0", Addrs: pf(pairB)})
	return a, b
}

// startOurs runs this agent in ns on conf, with a notify script that
// appends its arguments to the returned file.
func startOurs(t *testing.T, ns *nstest.NS, conf func(notify string) string, args ...string) (*peers.Process, string, string) {
	dir := t.TempDir()
	log := filepath.Join(dir, "notify.log")
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(cf, []byte(conf(script)), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := filepath.Join(dir, "ours.pid")
	p := peers.Start(t, ns, dir, ours, append([]string{"-n", "-l", "-D", "-f", cf, "-p", pid}, args...)...)
	return p, log, pid
}

// holdsVIP says whether ns has the pair's VIP on eth0.
func holdsVIP(t *testing.T, ns *nstest.NS) bool {
	return strings.Contains(ns.Exec(t, "ip", "-o", "-4", "addr", "show", "dev", "eth0"), " "+pairVIP+"/32 ")
}

// waitVIP waits, at most d, until want alone holds the VIP.
func waitVIP(t *testing.T, d time.Duration, want, other *nstest.NS, logs ...*peers.Process) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		hw, ho := holdsVIP(t, want), holdsVIP(t, other)
		if hw && !ho {
			return time.Now()
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, p := range logs {
				fmt.Fprintf(&b, "\n%s:\n%s", p.Name, p.Log())
			}
			t.Fatalf("after %v: VIP on the wanted node %v, on the other %v%s", d, hw, ho, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitText waits, at most d, until text shows in what read returns.
func waitText(t *testing.T, d time.Duration, what string, read func() string, text string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(read(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q within %v:\n%s", what, text, d, read())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readFile(name string) func() string {
	return func() string { b, _ := os.ReadFile(name); return string(b) }
}

// TestVRRPPairWithKeepalived runs this agent and keepalived 2.2.7 as one
// VRRP pair (auth_type PASS), each way: the higher priority holds the VIP,
// the other is BACKUP, the sync daemons follow the roles; our failing
// track_script hands the VIP over and its recovery takes it back; a
// priority-only SIGHUP is made in place; the master's SIGTERM (priority 0)
// moves the VIP to the other at once, and the stopped node leaves no VIP
// or sync daemon behind. Notify scripts get keepalived's arguments.
func TestVRRPPairWithKeepalived(t *testing.T) {
	const move = 30 * time.Second
	t.Run("ours-master", func(t *testing.T) {
		t.Parallel()
		a, b := vrrpPair(t)
		// Both run the IPVS sync daemon: the master's while MASTER.
		const syncd = "  lvs_sync_daemon eth0 VI_1 id 61\n"
		ka := peers.Keepalived(t, b, pairConf("BACKUP", 100, syncd, ""))
		// A vrrp_script of weight -60 fails while the file down exists:
		// 150-60 < 100 hands the VIP to keepalived until it goes.
		down := filepath.Join(t.TempDir(), "down")
		op, notes, _ := startOurs(t, a, func(notify string) string {
			return "vrrp_script chk {\n  script \"/bin/sh -c 'test ! -e " + down + "'\"\n  interval 1\n  weight -60\n  fall 2\n  rise 2\n}\n" +
				pairConf("MASTER", 150, syncd+"  enable_script_security\n  vrrp_garp_master_delay 1\n  vrrp_garp_master_repeat 2\n",
					"  notify "+notify+"\n  track_script {\n    chk\n  }\n")
		}, "-P")
		waitVIP(t, 60*time.Second, a, b, op, ka)
		waitText(t, move, "ours", op.Log, "(VI_1) Entering MASTER STATE")
		waitText(t, move, "keepalived", ka.Log, "(VI_1) Entering BACKUP STATE")
		waitText(t, move, "notify", readFile(notes), "INSTANCE VI_1 MASTER 150")
		daemons := func(ns *nstest.NS) func() string {
			return func() string { return ns.Exec(t, "ipvsadm", "-L", "--daemon") }
		}
		waitText(t, move, "ours' sync daemons", daemons(a), "master sync daemon (mcast=eth0, syncid=61")
		waitText(t, move, "keepalived's sync daemons", daemons(b), "backup sync daemon (mcast=eth0, syncid=61")

		// track_script: the failing script lowers our priority below
		// keepalived's, which takes over; its recovery takes the VIP back.
		if err := os.WriteFile(down, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		waitVIP(t, move, b, a, op, ka)
		waitText(t, move, "ours", op.Log, "(VI_1) Changing effective priority from 150 to 90")
		waitText(t, move, "notify", readFile(notes), "INSTANCE VI_1 BACKUP 90")
		if err := os.Remove(down); err != nil {
			t.Fatal(err)
		}
		waitVIP(t, move, a, b, op, ka)
		waitText(t, move, "ours", op.Log, "(VI_1) Changing effective priority from 90 to 150")
		waitText(t, move, "ours' sync daemons", daemons(a), "master sync daemon (mcast=eth0, syncid=61")

		t0 := time.Now()
		if err := op.Stop(); err != nil {
			t.Fatalf("ours on SIGTERM: %v\n%s", err, op.Log())
		}
		tk := waitVIP(t, move, b, a, op, ka)
		t.Logf("keepalived MASTER %.2fs after SIGTERM of ours", tk.Sub(t0).Seconds())
		waitText(t, move, "keepalived", ka.Log, "(VI_1) Entering MASTER STATE")
		for _, want := range []string{"(VI_1) sent 0 priority", "(VI_1) removing VIPs."} {
			if !strings.Contains(op.Log(), want) {
				t.Errorf("ours did not log %q:\n%s", want, op.Log())
			}
		}
		if got := readFile(notes)(); !strings.Contains(got, "INSTANCE VI_1 STOP 150") {
			t.Errorf("notify calls:\n%s\nwant INSTANCE VI_1 STOP 150", got)
		}
		waitText(t, move, "keepalived's sync daemons", daemons(b), "master sync daemon (mcast=eth0, syncid=61")
		if out := daemons(a)(); strings.TrimSpace(out) != "" {
			t.Errorf("ours left a sync daemon:\n%s", out)
		}
	})
	t.Run("keepalived-master", func(t *testing.T) {
		t.Parallel()
		a, b := vrrpPair(t)
		ka := peers.Keepalived(t, a, pairConf("MASTER", 150, "", ""))
		waitVIP(t, 60*time.Second, a, b, ka)
		ourConf := func(prio int) func(string) string {
			return func(notify string) string {
				return pairConf("BACKUP", prio, "  enable_script_security\n", "  notify_backup \""+notify+" backup-only\"\n  notify "+notify+"\n")
			}
		}
		op, notes, pid := startOurs(t, b, ourConf(100))
		waitText(t, move, "ours", op.Log, "(VI_1) Entering BACKUP STATE")
		waitText(t, move, "notify", readFile(notes), "INSTANCE VI_1 BACKUP 100")
		if got := readFile(notes)(); !strings.Contains(got, "backup-only") {
			t.Errorf("notify_backup did not run:\n%s", got)
		}

		t0 := time.Now()
		if err := ka.Stop(); err != nil {
			t.Fatalf("keepalived on SIGTERM: %v", err)
		}
		tm := waitVIP(t, move, b, a, op, ka)
		t.Logf("ours MASTER %.2fs after SIGTERM of keepalived", tm.Sub(t0).Seconds())
		waitText(t, move, "ours", op.Log, "(VI_1) Entering MASTER STATE")
		waitText(t, move, "notify", readFile(notes), "INSTANCE VI_1 MASTER 100")

		// SIGHUP with only the priority changed: set in place, no
		// priority-0 advert, the VIP stays.
		cf := filepath.Join(filepath.Dir(pid), "keepalived.conf")
		if err := os.WriteFile(cf, []byte(ourConf(120)(filepath.Join(filepath.Dir(pid), "notify.sh"))), 0o644); err != nil {
			t.Fatal(err)
		}
		syscall.Kill(pidOf(t, pid), syscall.SIGHUP)
		waitText(t, move, "ours", op.Log, "(VI_1) Changing effective priority from 100 to 120")
		if strings.Contains(op.Log(), "sent 0 priority") || !holdsVIP(t, b) {
			t.Errorf("the reload bounced the instance:\n%s", op.Log())
		}

		if err := op.Stop(); err != nil {
			t.Fatalf("ours on SIGTERM: %v\n%s", err, op.Log())
		}
		if holdsVIP(t, b) {
			t.Errorf("ours left the VIP:\n%s", b.Exec(t, "ip", "addr"))
		}
	})
}

// instConf is one vrrp_instance on eth0 of the pair's segment.
func instConf(name, state string, vrid, prio int, advert, vip string) string {
	return fmt.Sprintf("vrrp_instance %s {\n  state %s\n  interface eth0\n  virtual_router_id %d\n  priority %d\n  advert_int %s\n  virtual_ipaddress {\n    %s/32 dev eth0\n  }\n}\n",
		name, state, vrid, prio, advert, vip)
}

// logTimes polls every read until each shows every text, at most d, and
// returns when each text first showed in each.
func logTimes(t *testing.T, d time.Duration, reads []func() string, texts ...string) [][]time.Time {
	t.Helper()
	at := make([][]time.Time, len(reads))
	for i := range at {
		at[i] = make([]time.Time, len(texts))
	}
	deadline := time.Now().Add(d)
	for left := len(reads) * len(texts); left > 0; {
		for i, read := range reads {
			s, now := read(), time.Now()
			for j, x := range texts {
				if at[i][j].IsZero() && strings.Contains(s, x) {
					at[i][j], left = now, left-1
				}
			}
			if left > 0 && now.After(deadline) {
				t.Fatalf("no %q within %v:\n%s", texts, d, s)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return at
}

// TestVRRPOwnerStartWithKeepalived: an address owner (priority 255) with
// state MASTER is MASTER at once, with state BACKUP after the master-down
// interval (3 intervals and its skew), in keepalived 2.2.7 and in this
// agent alike. Each runs both instances alone (its own VRIDs), started
// together, so that the gap between them is the state BACKUP owner's
// wait whatever the start-up cost.
func TestVRRPOwnerStartWithKeepalived(t *testing.T) {
	a, b := vrrpPair(t)
	text := func(vrid int, vip1, vip2 string) string {
		return instConf("VI_M", "MASTER", vrid, 255, "1", vip1) + instConf("VI_B", "BACKUP", vrid+1, 255, "1", vip2)
	}
	t0 := time.Now()
	ka := peers.Keepalived(t, b, text(73, "10.0.6.22", "10.0.6.23"))
	op, _, _ := startOurs(t, a, func(string) string { return text(71, "10.0.6.20", "10.0.6.21") }, "-P")
	ps := []*peers.Process{ka, op}
	at := logTimes(t, 30*time.Second, []func() string{ka.Log, op.Log}, "(VI_M) Entering MASTER STATE", "(VI_B) Entering MASTER STATE")
	for i, p := range ps {
		m, gap := at[i][0].Sub(t0), at[i][1].Sub(at[i][0])
		t.Logf("%s: state MASTER owner MASTER after %.2fs, state BACKUP owner %.2fs later", p.Name, m.Seconds(), gap.Seconds())
		// Only the gap is asserted: the time from t0 includes starting
		// both processes, which under load takes seconds. The state
		// BACKUP owner waits the master-down interval (3 s and a skew of
		// about 0 at priority 255), so a gap of at least 2.4 s means the
		// state MASTER owner did not wait it.
		if gap < 2400*time.Millisecond {
			t.Errorf("%s: state MASTER owner MASTER after %v, state BACKUP owner %v later (want 3s later: the state MASTER owner must not wait):\n%s", p.Name, m, gap, p.Log())
		}
	}
}

// TestVRRPSyncGroupWithKeepalived: a vrrp_sync_group goes MASTER only once
// every member's master is gone, in keepalived and in this agent, each
// way: VI_1's master-down interval is 3.6s, VI_2's (3s adverts) 9.6s, and
// VI_1 waits for VI_2, the two taking over together.
func TestVRRPSyncGroupWithKeepalived(t *testing.T) {
	const vip2 = "10.0.6.11"
	group := func(prio int) string {
		return "vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n}\n" +
			instConf("VI_1", "BACKUP", 81, prio, "1", pairVIP) + instConf("VI_2", "BACKUP", 82, prio, "3", vip2)
	}
	// together fails unless both instances of p entered MASTER within
	// 1.5s of each other, and returns when the first did.
	together := func(t *testing.T, p *peers.Process) time.Time {
		at := logTimes(t, 30*time.Second, []func() string{p.Log}, "(VI_1) Entering MASTER STATE", "(VI_2) Entering MASTER STATE")[0]
		if d := at[1].Sub(at[0]).Abs(); d > 1500*time.Millisecond {
			t.Errorf("%s: VI_1 and VI_2 MASTER %v apart:\n%s", p.Name, d, p.Log())
		}
		if at[1].Before(at[0]) {
			return at[1]
		}
		return at[0]
	}
	// run starts the master (first) and the backup, crashes the master
	// and times the backup's takeover.
	run := func(t *testing.T, master, backup func(prio int) *peers.Process) {
		m := master(150)
		together(t, m)
		bk := backup(100)
		logTimes(t, 30*time.Second, []func() string{bk.Log}, "(VI_1) Entering BACKUP STATE", "(VI_2) Entering BACKUP STATE")
		// The backup's VI_2 hears the master before it crashes.
		time.Sleep(4 * time.Second)
		t0 := time.Now()
		m.Kill()
		took := together(t, bk).Sub(t0)
		t.Logf("%s: MASTER %.2fs after the master's crash", bk.Name, took.Seconds())
		if took < 5*time.Second {
			t.Errorf("%s: MASTER %v after the master's crash: VI_1 did not wait for VI_2 (6.6s+)", bk.Name, took)
		}
	}
	t.Run("ours-backup", func(t *testing.T) {
		t.Parallel()
		a, b := vrrpPair(t)
		run(t, func(prio int) *peers.Process { return peers.Keepalived(t, b, group(prio)) },
			func(prio int) *peers.Process {
				op, _, _ := startOurs(t, a, func(string) string { return group(prio) }, "-P")
				return op
			})
	})
	t.Run("keepalived-backup", func(t *testing.T) {
		t.Parallel()
		a, b := vrrpPair(t)
		run(t, func(prio int) *peers.Process {
			op, _, _ := startOurs(t, a, func(string) string { return group(prio) }, "-P")
			return op
		}, func(prio int) *peers.Process { return peers.Keepalived(t, b, group(prio)) })
	})
}

// TestVRRPUnicastIPv6WithKeepalived: this agent and keepalived 2.2.7 as a
// VRRPv3 pair over IPv6 unicast, with a VIP on a second device (eth1, on
// a second segment) beside the one on eth0, each way: the master holds both VIPs, the
// backup none; the master's SIGTERM (a priority-0 advert) moves both to
// the other.
func TestVRRPUnicastIPv6WithKeepalived(t *testing.T) {
	const (
		a6, b6    = "fd00:6::1", "fd00:6::2"
		vip, vip2 = "fd00:6::10", "fd00:7::10"
	)
	conf := func(prio int, self, peer string) string {
		return fmt.Sprintf(`global_defs {
  router_id node6_%d
}
vrrp_instance VI_6 {
  state BACKUP
  interface eth0
  version 3
  virtual_router_id 66
  priority %d
  advert_int 1
  unicast_src_ip %s
  unicast_peer {
    %s
  }
  virtual_ipaddress {
    %s/128 dev eth0
    %s/128 dev eth1
  }
}
`, prio, prio, self, peer, vip, vip2)
	}
	pair := func(t *testing.T) (a, b *nstest.NS) {
		a, b = nstest.New(t), nstest.New(t)
		pf := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s + "/64")} }
		nstest.Segment(t, "br0",
			nstest.Member{NS: a, Name: "eth0", Addrs: pf(a6)},
			nstest.Member{NS: b, Name: "eth0", Addrs: pf(b6)})
		// The second VIP's segment (a VIP announced by neighbour
		// advertisements needs a device that does neighbour discovery).
		nstest.Segment(t, "br1",
			nstest.Member{NS: a, Name: "eth1", Addrs: pf("fd00:7::1")},
			nstest.Member{NS: b, Name: "eth1", Addrs: pf("fd00:7::2")})
		return a, b
	}
	// holds says which of the two VIPs ns has: "both", "none" or one.
	holds := func(t *testing.T, ns *nstest.NS) string {
		on := func(dev, addr string) bool {
			return strings.Contains(ns.Exec(t, "ip", "-o", "-6", "addr", "show", "dev", dev), " "+addr+"/128 ")
		}
		switch v1, v2 := on("eth0", vip), on("eth1", vip2); {
		case v1 && v2:
			return "both"
		case !v1 && !v2:
			return "none"
		case v1:
			return "eth0's only"
		}
		return "eth1's only"
	}
	wait := func(t *testing.T, master, backup *nstest.NS, ps ...*peers.Process) time.Time {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			hm, hb := holds(t, master), holds(t, backup)
			if hm == "both" && hb == "none" {
				return time.Now()
			}
			if time.Now().After(deadline) {
				var b strings.Builder
				for _, p := range ps {
					fmt.Fprintf(&b, "\n%s:\n%s", p.Name, p.Log())
				}
				t.Fatalf("after 60s: the master holds %s of the VIPs, the backup %s%s", hm, hb, b.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Run("ours-master", func(t *testing.T) {
		t.Parallel()
		a, b := pair(t)
		op, _, _ := startOurs(t, a, func(string) string { return conf(150, a6, b6) }, "-P")
		waitText(t, 60*time.Second, "ours", op.Log, "(VI_6) Entering MASTER STATE")
		ka := peers.Keepalived(t, b, conf(100, b6, a6))
		waitText(t, 60*time.Second, "keepalived", ka.Log, "(VI_6) Entering BACKUP STATE")
		wait(t, a, b, op, ka)
		t0 := time.Now()
		if err := op.Stop(); err != nil {
			t.Fatalf("ours on SIGTERM: %v\n%s", err, op.Log())
		}
		tk := wait(t, b, a, op, ka)
		t.Logf("keepalived holds both VIPs %.2fs after SIGTERM of ours", tk.Sub(t0).Seconds())
		// Priority 0 ends keepalived's wait at once: not the 3 s master-down timer.
		if !strings.Contains(ka.Log(), "(VI_6) Backup received priority 0 advertisement") {
			t.Errorf("keepalived did not hear our priority 0:\n%s", ka.Log())
		}
	})
	t.Run("keepalived-master", func(t *testing.T) {
		t.Parallel()
		a, b := pair(t)
		ka := peers.Keepalived(t, b, conf(150, b6, a6))
		waitText(t, 60*time.Second, "keepalived", ka.Log, "(VI_6) Entering MASTER STATE")
		op, _, _ := startOurs(t, a, func(string) string { return conf(100, a6, b6) }, "-P")
		waitText(t, 60*time.Second, "ours", op.Log, "(VI_6) Entering BACKUP STATE")
		wait(t, b, a, op, ka)
		t0 := time.Now()
		if err := ka.Stop(); err != nil {
			t.Fatalf("keepalived on SIGTERM: %v", err)
		}
		to := wait(t, a, b, op, ka)
		t.Logf("ours holds both VIPs %.2fs after SIGTERM of keepalived", to.Sub(t0).Seconds())
		if !strings.Contains(ka.Log(), "(VI_6) sent 0 priority") {
			t.Errorf("keepalived did not send priority 0:\n%s", ka.Log())
		}
	})
}
