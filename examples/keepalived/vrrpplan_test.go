package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/examples/keepalived/internal/conf"
	"github.com/golvs/lvs/failover"
	"github.com/golvs/lvs/failover/vrrp"
)

const planConf = `global_defs {
  enable_script_security
  vrrp_garp_master_delay 2
  vrrp_garp_master_repeat 3
  vrrp_garp_interval 0.01
  lvs_sync_daemon eth1 VI_1 id 7
}
vrrp_script chk {
  script "/bin/true x"
  interval 2
  weight -20
  rise 2
  fall 3
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
  notify /bin/g
}
vrrp_instance VI_1 {
  state MASTER
  interface eth1
  virtual_router_id 51
  priority 150
  advert_int 1
  nopreempt
  preempt_delay 4
  authentication {
    auth_type PASS
    auth_pass abcdefghij
  }
  unicast_src_ip 10.1.0.1
  unicast_peer {
    10.1.0.2
  }
  virtual_ipaddress {
    192.0.2.10 dev eth0
    192.0.2.11/32 dev eth0 scope global
    10.1.0.100 
  }
  track_interface {
    eth2
  }
  track_script {
    chk
  }
  garp_master_delay 0
  notify_master /bin/m
  notify "/bin/n a"
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 52
  virtual_ipaddress {
    2001:db8::10
  }
}
`

// TestPlanVRRP: every keyword of the VRRP side reaches the vrrp and
// failover configurations, with keepalived's defaults.
func TestPlanVRRP(t *testing.T) {
	plan, probs := planVRRP(parse(t, planConf))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if len(plan.insts) != 2 || len(plan.groups) != 1 {
		t.Fatalf("plan %+v", plan)
	}
	p := plan.insts[0]
	v := p.vrrp
	if v.Interface != "eth1" || v.VRID != 51 || v.Priority != 150 || v.Version != 2 || v.AdvertInterval != time.Second ||
		!v.NoPreempt || v.PreemptDelay != 0 || v.AuthPass != "abcdefgh" || v.Source != netip.MustParseAddr("10.1.0.1") ||
		len(v.UnicastPeers) != 1 || len(v.VIPs) != 3 {
		t.Errorf("vrrp %+v", v)
	}
	if strings.Join(p.devs, ",") != "eth0,eth1" || len(p.vips["eth0"]) != 2 || len(p.vips["eth1"]) != 1 {
		t.Errorf("devices %v, VIPs %v", p.devs, p.vips)
	}
	// The first VIP's device has the main client: it tracks the
	// instance's interface, and has the sync daemon.
	fc := p.failoverConfig("eth0")
	if fc.Interface != "eth0" || strings.Join(fc.TrackInterfaces, ",") != "eth2,eth1" || fc.Priority != 150 ||
		fc.Sync != (failover.Sync{Mode: failover.SyncFollow, Interface: "eth1", SyncID: 7}) {
		t.Errorf("main failover config %+v", fc)
	}
	if x := p.failoverConfig("eth1"); x.Sync.Mode != failover.SyncOff || len(x.TrackInterfaces) != 0 || x.Identity == fc.Identity {
		t.Errorf("second failover config %+v", x)
	}
	if fc.Identity != "keepalived:VI_1@eth0" {
		t.Errorf("identity %q", fc.Identity)
	}
	// garp_master_delay 0 in the instance: no second burst.
	if p.burst != (director.Gratuitous{Count: 3, Interval: 10 * time.Millisecond}) || p.secondDelay >= 0 {
		t.Errorf("garp %+v then %v", p.burst, p.secondDelay)
	}
	// In a sync group, scripts track with weight 0.
	if len(p.scripts) != 1 || p.scripts[0].weight != 0 || p.scripts[0].rise != 2 || p.scripts[0].fall != 3 || p.scripts[0].interval != 2*time.Second {
		t.Errorf("scripts %+v", p.scripts)
	}
	if p.notify.master != "/bin/m" || p.notify.any != "/bin/n a" || p.group == nil || p.group.name != "G" {
		t.Errorf("notify %+v group %+v", p.notify, p.group)
	}
	q := plan.insts[1]
	if q.vrrp.Version != 3 || q.priority != 100 || q.secondDelay != 2*time.Second || q.burst.Count != 3 {
		t.Errorf("VI_2: version %d, priority %d, garp %v %+v", q.vrrp.Version, q.priority, q.secondDelay, q.burst)
	}
}

// TestPlanGARP: the periodic refresh (vrrp_garp_master_refresh and
// _repeat, or the instance's garp_master_refresh and _repeat over them) on
// the instance's interface only, and the re-announcement on hearing an
// outranked master (vrrp_garp_lower_prio_repeat and _delay, or the
// instance's) on every device, its delay by default the master delay;
// unset or 0, neither.
func TestPlanGARP(t *testing.T) {
	inst := func(more string) string {
		return "vrrp_instance A {\n  interface eth0\n  virtual_router_id 1\n" + more + "  virtual_ipaddress {\n    10.0.0.1\n    10.9.0.1 dev eth9\n  }\n}\n"
	}
	refresh := "global_defs {\n  vrrp_garp_interval 0.002\n  vrrp_garp_master_refresh 60\n  vrrp_garp_master_refresh_repeat 2\n}\n"
	lower := "global_defs {\n  vrrp_garp_master_delay 3\n  vrrp_garp_lower_prio_repeat 2\n}\n"
	type want struct {
		refresh, again time.Duration
		rcount, ocount int
	}
	for _, tc := range []struct {
		text       string
		eth0, eth9 want
	}{
		{inst(""), want{}, want{}},
		{refresh + inst(""), want{refresh: time.Minute, rcount: 2}, want{}},
		{refresh + inst("  garp_master_refresh 10\n  garp_master_refresh_repeat 3\n"), want{refresh: 10 * time.Second, rcount: 3}, want{}},
		{refresh + inst("  garp_master_refresh 0\n"), want{}, want{}},
		{lower + inst(""), want{again: 3 * time.Second, ocount: 2}, want{again: 3 * time.Second, ocount: 2}},
		{lower + inst("  garp_lower_prio_repeat 4\n  garp_lower_prio_delay 0\n"), want{ocount: 4}, want{ocount: 4}},
		{lower + inst("  garp_lower_prio_repeat 0\n"), want{}, want{}},
		{"global_defs {\n  vrrp_garp_lower_prio_delay 7\n}\n" + inst("  garp_lower_prio_repeat 1\n"), want{again: 7 * time.Second, ocount: 1}, want{again: 7 * time.Second, ocount: 1}},
	} {
		plan, probs := planVRRP(parse(t, tc.text))
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		for dev, w := range map[string]want{"eth0": tc.eth0, "eth9": tc.eth9} {
			fc := plan.insts[0].failoverConfig(dev)
			got := want{refresh: fc.RefreshInterval, again: fc.OutrankedDelay, ocount: fc.Outranked.Count}
			if fc.RefreshInterval > 0 {
				got.rcount = fc.Refresh.Count
			}
			if got != w || w.rcount > 0 && fc.Refresh.Interval != 2*time.Millisecond {
				t.Errorf("%s on %s: %+v (refresh %+v), want %+v", tc.text, dev, got, fc.Refresh, w)
			}
		}
	}
}

// TestPlanOwnerStart: state only matters to an address owner (priority
// 255): MASTER is MASTER at once, BACKUP, nopreempt and preempt_delay
// wait the master-down interval, as keepalived 2.2.7 does.
func TestPlanOwnerStart(t *testing.T) {
	for _, tc := range []struct {
		prio        int
		state, more string
		want        bool
	}{
		{255, "MASTER", "", false},
		{255, "BACKUP", "", true},
		{255, "MASTER", "  nopreempt\n", true},
		{255, "MASTER", "  preempt_delay 2\n", true},
		{100, "BACKUP", "", false}, // unused below 255
	} {
		text := fmt.Sprintf("vrrp_instance VI_1 {\n  state %s\n  interface eth0\n  virtual_router_id 51\n  priority %d\n%s  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n", tc.state, tc.prio, tc.more)
		plan, probs := planVRRP(parse(t, text))
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		if got := plan.insts[0].vrrp.OwnerWaits; got != tc.want {
			t.Errorf("priority %d, state %s %q: owner waits %v, want %v", tc.prio, tc.state, tc.more, got, tc.want)
		}
	}
}

// TestPlanVRRPProblems: what the agent cannot run as written is an error
// with file:line, before anything changes.
func TestPlanVRRPProblems(t *testing.T) {
	inst := func(body string) string {
		return "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n" + body + "}\n"
	}
	vip := "  virtual_ipaddress {\n    10.0.0.1\n  }\n"
	for _, tc := range []struct{ conf, want string }{
		{inst("  virtual_ipaddress {\n    10.0.0.1/24\n  }\n"), "k.conf:5: error: virtual_ipaddress 10.0.0.1/24: only host addresses"},
		{inst("  virtual_ipaddress {\n    10.0.0.1 label eth0:1\n  }\n"), "k.conf:5: error: virtual_ipaddress 10.0.0.1/32: label"},
		{inst("  virtual_ipaddress {\n    10.0.0.1 scope link\n  }\n"), "k.conf:5: error: virtual_ipaddress 10.0.0.1/32: scope link"},
		{inst("  virtual_ipaddress {\n    10.0.0.1\n    10.0.0.1\n  }\n"), "k.conf:6: error: virtual_ipaddress 10.0.0.1 is listed twice"},
		{inst(""), "k.conf:1: error: vrrp_instance VI_1 has no virtual_ipaddress"},
		{inst(vip + "  advert_int 1.5\n"), "k.conf:1: error: vrrp_instance VI_1: "},
		{inst(vip + "  unicast_peer {\n    2001:db8::1\n  }\n"), "k.conf:1: error: vrrp_instance VI_1: "},
		{"static_ipaddress {\n  10.0.0.9\n}\n" + inst(vip), "k.conf:2: error: static_ipaddress"},
		{inst(vip + "  garp_lower_prio_repeat 101\n"), "k.conf:1: error: vrrp_instance VI_1: "},
		{inst(vip + "  garp_master_refresh_repeat 101\n  garp_master_refresh 5\n"), "k.conf:1: error: vrrp_instance VI_1: "},
		{"global_defs {\n  lvs_sync_daemon eth0 VI_9\n}\n" + inst(vip), "k.conf:2: error: lvs_sync_daemon: no vrrp_instance VI_9"},
		{"global_defs {\n  lvs_sync_daemon eth0\n}\n" + inst(vip), "k.conf:2: error: lvs_sync_daemon in global_defs needs"},
		{"global_defs {\n  lvs_sync_daemon eth0 VI_1\n}\n" + inst(vip+"  lvs_sync_daemon eth0\n"), "k.conf:10: error: a second lvs_sync_daemon"},
		{inst(vip) + strings.Replace(inst(vip), "VI_1", "VI_2", 1), "k.conf:8: error: vrrp_instance VI_2: virtual_router_id 51 on eth0 is vrrp_instance VI_1's too"},
	} {
		c := parse(t, tc.conf)
		_, probs := planVRRP(c)
		var got []string
		for _, p := range probs {
			got = append(got, filepath.Base(p.Pos.File)+":"+strings.SplitN(p.String(), ":", 2)[1])
		}
		if !strings.Contains(strings.Join(got, "\n"), tc.want) {
			t.Errorf("%s\nproblems:\n%s\nwant %q", tc.conf, strings.Join(got, "\n"), tc.want)
		}
	}
	// -C ignores the VRRP side, as keepalived's -C runs none of it.
	f := filepath.Join(t.TempDir(), "k.conf")
	if err := os.WriteFile(f, []byte("static_ipaddress {\n  10.0.0.9\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := load(f, options{checkOnly: true}, &logger{w: io.Discard}); err != nil {
		t.Errorf("-C: %v", err)
	}
	if _, _, err := load(f, options{}, &logger{w: io.Discard}); err == nil {
		t.Error("without -C: no error")
	}
}

// FuzzPlanVRRP feeds arbitrary files through the parser and the VRRP
// plan: never a panic, and a plan only without problems.
func FuzzPlanVRRP(f *testing.F) {
	f.Add(planConf)
	f.Add("vrrp_instance X {\n interface e\n virtual_router_id 1\n virtual_ipaddress {\n 1.2.3.4 dev d\n }\n}\n")
	f.Add("global_defs {\n lvs_sync_daemon e X id 3\n}\nvrrp_sync_group G {\n group {\n X\n X\n }\n}\n")
	f.Add("global_defs {\n vrrp_garp_master_refresh 5\n}\nvrrp_instance X {\n state MASTER\n priority 255\n interface e\n virtual_router_id 1\n garp_master_refresh 1.5\n garp_master_refresh_repeat 2\n garp_lower_prio_repeat 1\n virtual_ipaddress {\n 1.2.3.4\n }\n}\n")
	f.Fuzz(func(t *testing.T, s string) {
		read := func(string) ([]byte, error) { return []byte(s), nil }
		glob := func(string) ([]string, error) { return nil, nil }
		c, _ := conf.ParseFS("k.conf", read, glob)
		if c == nil {
			return
		}
		plan, probs := planVRRP(c)
		if (plan == nil) == (len(probs) == 0) {
			t.Fatalf("plan %v with problems %v", plan, probs)
		}
		if plan != nil {
			for _, p := range plan.insts {
				if err := p.vrrp.Validate(); err != nil {
					t.Fatalf("planned an invalid vrrp config: %v", err)
				}
				if len(p.devs) == 0 || len(p.vips[p.devs[0]]) == 0 {
					t.Fatalf("instance %s without a main device", p.name)
				}
			}
		}
	})
}

// shScript writes a shell script of body into dir and returns its path.
func shScript(t *testing.T, dir, body string) string {
	t.Helper()
	script := filepath.Join(dir, "s.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// argsScript returns a script that appends its arguments, as a line, to
// the file out.
func argsScript(t *testing.T) (script, out string) {
	dir := t.TempDir()
	out = filepath.Join(dir, "out")
	return shScript(t, dir, `echo "$*" >> `+out), out
}

// TestScriptRiseFall: a vrrp_script succeeds after rise successes in a
// row and fails after fall failures in a row, starting succeeded (or
// failed with init_fail).
func TestScriptRiseFall(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "ok")
	script := shScript(t, dir, "test -e "+flag)
	s := newScriptRun(scriptPlan{name: "chk", cmd: script, interval: 20 * time.Millisecond, timeout: time.Second, rise: 2, fall: 2}, &logger{w: io.Discard})
	if s.check(context.Background()) != nil {
		t.Fatal("not succeeded at start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.run(ctx)
	wait := func(ok bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for (s.check(ctx) == nil) != ok {
			if time.Now().After(deadline) {
				t.Fatalf("script did not become ok=%v", ok)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait(false)
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wait(true)
	if s := newScriptRun(scriptPlan{initFail: true}, &logger{w: io.Discard}); s.check(ctx) == nil {
		t.Error("init_fail: succeeded at start")
	}
}

// TestNotifyArguments: notify gets keepalived's four arguments after its
// own, after the notify_STATE script, in order.
func TestNotifyArguments(t *testing.T) {
	script, out := argsScript(t)
	n := newNotifier(&logger{w: io.Discard})
	r := &instRun{side: &vrrpSide{log: &logger{w: io.Discard}, scripts: true, notify: n},
		p: &instPlan{name: "VI_1", notify: notifyCmds{master: "'" + script + "' master-only", any: script + " x"}}, prio: 150, failing: map[string]bool{}}
	r.event(failover.Event{Kind: failover.EventRole, From: failover.Backup, To: failover.Master})
	r.event(failover.Event{Kind: failover.EventPriority, Priority: 130})
	r.event(failover.Event{Kind: failover.EventRole, From: failover.Master, To: failover.Stopped})
	n.close(10 * time.Second)
	b, _ := os.ReadFile(out)
	if got, want := string(b), "master-only\nx INSTANCE VI_1 MASTER 150\nx INSTANCE VI_1 STOP 130\n"; got != want {
		t.Errorf("notify calls:\n%s\nwant:\n%s", got, want)
	}
}

// TestSyncGroupFaultsTogether: a member in FAULT on its own account (an
// interface, a weight-0 script) fails the others' group tracker, not its
// own, so that the group recovers once the cause goes; the group's notify
// runs with "GROUP".
func TestSyncGroupFaultsTogether(t *testing.T) {
	script, out := argsScript(t)
	side := &vrrpSide{log: &logger{w: io.Discard}, scripts: true, notify: newNotifier(&logger{w: io.Discard})}
	gp := &groupPlan{name: "G", members: []string{"A", "B"}, notify: notifyCmds{any: script}}
	g := &groupRun{p: gp, members: map[string]*instRun{}}
	mk := func(name string) *instRun {
		r := &instRun{side: side, p: &instPlan{name: name, group: gp}, group: g, failing: map[string]bool{}}
		g.join(r)
		return r
	}
	a, b := mk("A"), mk("B")
	ctx := context.Background()
	for _, r := range []*instRun{a, b} {
		r.event(failover.Event{Kind: failover.EventRole, From: failover.Init, To: failover.Master})
	}
	a.event(failover.Event{Kind: failover.EventTracker, Tracker: "interface eth1", Err: io.EOF})
	if a.groupCheck(ctx) != nil || b.groupCheck(ctx) == nil {
		t.Errorf("A's interface down: A's group check %v, B's %v", a.groupCheck(ctx), b.groupCheck(ctx))
	}
	a.event(failover.Event{Kind: failover.EventRole, From: failover.Master, To: failover.Fault})
	b.event(failover.Event{Kind: failover.EventTracker, Tracker: "vrrp_sync_group G", Err: io.EOF})
	b.event(failover.Event{Kind: failover.EventRole, From: failover.Master, To: failover.Fault})
	if a.groupCheck(ctx) != nil {
		t.Error("B's fault, caused by the group, holds A in FAULT")
	}
	a.event(failover.Event{Kind: failover.EventTracker, Tracker: "interface eth1"})
	if b.groupCheck(ctx) != nil {
		t.Error("A recovered, B's group check still fails")
	}
	side.notify.close(10 * time.Second)
	got, _ := os.ReadFile(out)
	if want := "GROUP G MASTER 0\nGROUP G FAULT 0\n"; !strings.Contains(string(got), want) {
		t.Errorf("group notify calls:\n%s\nwant them to contain:\n%s", got, want)
	}
}

// TestSyncGroupMovesTogether: a member's own transition to MASTER, or
// from MASTER to BACKUP, moves the other members; a start, or a
// transition the group caused, moves nobody.
func TestSyncGroupMovesTogether(t *testing.T) {
	gp := &groupPlan{name: "G", members: []string{"A", "B", "C"}}
	g := &groupRun{p: gp, members: map[string]*instRun{}}
	var mu sync.Mutex
	var got []string
	mk := func(name string) *instRun {
		r := &instRun{p: &instPlan{name: name, group: gp}, group: g, failing: map[string]bool{},
			syncTo: func(s vrrp.State) error { mu.Lock(); got = append(got, name+" "+s.String()); mu.Unlock(); return nil }}
		g.join(r)
		return r
	}
	a, _, _ := mk("A"), mk("B"), mk("C")
	ev := func(from, to vrrp.State, why vrrp.Reason) vrrp.Event {
		return vrrp.Event{Kind: vrrp.EventTransition, From: from, To: to, Reason: why}
	}
	for _, tc := range []struct {
		e    vrrp.Event
		want string
	}{
		{ev(vrrp.Initialize, vrrp.Backup, vrrp.ReasonStart), ""},
		{ev(vrrp.Backup, vrrp.Master, vrrp.ReasonMasterDown), "B MASTER,C MASTER"},
		{ev(vrrp.Master, vrrp.Backup, vrrp.ReasonHigherPriority), "B BACKUP,C BACKUP"},
		{ev(vrrp.Backup, vrrp.Master, vrrp.ReasonSync), ""},
		{ev(vrrp.Master, vrrp.Initialize, vrrp.ReasonStop), ""},
		{vrrp.Event{Kind: vrrp.EventMismatch}, ""},
	} {
		got = nil
		a.group.follow(a, tc.e)
		slices.Sort(got)
		if s := strings.Join(got, ","); s != tc.want {
			t.Errorf("A %v: synced %q, want %q", tc.e, s, tc.want)
		}
	}
}

// TestOneRunnerPerScript: instances tracking one vrrp_script share its
// runner (keepalived runs each script once), each with its own weight; a
// reload keeps an unchanged script's runner and replaces a changed one.
func TestOneRunnerPerScript(t *testing.T) {
	// VI_1 tracks chk in group G (weight 0), VI_3 outside it (weight -20).
	text := planConf + "vrrp_instance VI_3 {\n  interface eth1\n  virtual_router_id 53\n  virtual_ipaddress {\n    10.1.0.103\n  }\n  track_script {\n    chk\n  }\n}\n"
	plan, probs := planVRRP(parse(t, text))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if w1, w3 := plan.insts[0].scripts[0].weight, plan.insts[2].scripts[0].weight; w1 != 0 || w3 != -20 {
		t.Fatalf("weights %d and %d, want 0 and -20", w1, w3)
	}
	s := &vrrpSide{log: &logger{w: io.Discard}, scripts: true, runs: map[string]*scriptRun{}}
	runs := s.scriptRuns(plan)
	if len(runs) != 1 || runs["chk"] == nil || runs["chk"].p.weight != 0 {
		t.Fatalf("runners %v", runs)
	}
	s.runs = runs
	if again := s.scriptRuns(plan); again["chk"] != runs["chk"] {
		t.Error("an unchanged script got a new runner")
	}
	changed, _ := planVRRP(parse(t, strings.Replace(text, "interval 2", "interval 3", 1)))
	if again := s.scriptRuns(changed); again["chk"] == runs["chk"] || again["chk"].p.interval != 3*time.Second {
		t.Error("a changed script kept its runner")
	}
	if none := (&vrrpSide{runs: runs}).scriptRuns(plan); len(none) != 0 {
		t.Errorf("without enable_script_security: runners %v", none)
	}
}

// TestSyncGroupHold: a member whose timer expired stays BACKUP until
// every other member has timed out too or is MASTER, as keepalived's
// sync groups do.
func TestSyncGroupHold(t *testing.T) {
	gp := &groupPlan{name: "G", members: []string{"A", "B"}}
	g := &groupRun{p: gp, members: map[string]*instRun{}}
	mk := func(name string, advert time.Duration) *instRun {
		r := &instRun{p: &instPlan{name: name, group: gp, vrrp: vrrp.Config{AdvertInterval: advert}}, group: g, failing: map[string]bool{}}
		g.join(r)
		return r
	}
	a, b := mk("A", time.Second), mk("B", 5*time.Second)
	if !g.hold(a) {
		t.Error("A taken over while B has not timed out")
	}
	if g.hold(b) {
		t.Error("B held although A timed out just now")
	}
	a.timedOut = time.Now().Add(-5 * time.Second) // A heard a master since
	if !g.hold(b) {
		t.Error("B taken over while A hears a master")
	}
	g.follow(a, vrrp.Event{Kind: vrrp.EventTransition, From: vrrp.Backup, To: vrrp.Master, Reason: vrrp.ReasonSync})
	if g.hold(b) {
		t.Error("B held although A is MASTER")
	}
}

// TestReloadPriorityInPlace: a reload that changes only a priority is
// made in place (no restart, so no priority-0 advert); anything else
// restarts the instance.
func TestReloadPriorityInPlace(t *testing.T) {
	p1, _ := planVRRP(parse(t, planConf))
	p2, _ := planVRRP(parse(t, strings.Replace(planConf, "priority 150", "priority 120", 1)))
	p3, _ := planVRRP(parse(t, strings.Replace(planConf, "advert_int 1", "advert_int 2", 1)))
	if !onlyPriority(p1.insts[0], p2.insts[0]) || onlyPriority(p1.insts[0], p3.insts[0]) {
		t.Errorf("priority alone: %v; advert_int too: %v", onlyPriority(p1.insts[0], p2.insts[0]), onlyPriority(p1.insts[0], p3.insts[0]))
	}
	weighted := strings.Replace(strings.Replace(planConf, "    VI_1\n", "", 1), "priority 150", "priority 120", 1)
	p4, _ := planVRRP(parse(t, weighted))
	p5, _ := planVRRP(parse(t, strings.Replace(weighted, "priority 120", "priority 110", 1)))
	if onlyPriority(p4.insts[0], p5.insts[0]) {
		t.Error("with a weighted script, a priority change is made in place")
	}
}
