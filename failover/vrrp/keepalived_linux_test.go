package vrrp_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/golvs/lvs/failover/vrrp"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/internal/peers"
)

// kaOpts is one keepalived instance's configuration.
type kaOpts struct {
	prio         int
	nopreempt    bool
	preemptDelay int
	pass         string
}

// keepalivedConf is keepalived's configuration for node self ("a" or
// "b") in mode m: the addresses our node would use there.
func keepalivedConf(m mode, self string, o kaOpts) string {
	cfg := m.config(self, o.prio)
	return vrrp.KAConf{
		Name: "ka_" + self, Version: m.version, VRID: cfg.VRID, Priority: o.prio, Interval: m.interval,
		NoPreempt: o.nopreempt, PreemptDelay: o.preemptDelay, Pass: o.pass,
		Source: cfg.Source, Peers: cfg.UnicastPeers, VIP: m.vip(),
	}.String()
}

// speaker is one side of an interop test: our node or keepalived.
type speaker struct {
	name string
	ns   *nstest.NS
	vip  netip.Addr
	ours *router
	ka   *peers.Process
	conf string
}

func (l *lab) ours(t *testing.T, m mode, self string, prio int, mod func(*vrrp.Config)) *speaker {
	ns := l.ns(self)
	cfg := m.config(self, prio)
	if mod != nil {
		mod(&cfg)
	}
	return &speaker{name: "ours-" + self, ns: ns, vip: m.vip(), ours: startRouter(t, "ours-"+self, ns, cfg)}
}

func (l *lab) keepalived(t *testing.T, m mode, self string, o kaOpts) *speaker {
	ns := l.ns(self)
	conf := keepalivedConf(m, self, o)
	return &speaker{name: "keepalived-" + self, ns: ns, vip: m.vip(), conf: conf, ka: peers.Keepalived(t, ns, conf)}
}

func (l *lab) ns(self string) *nstest.NS {
	if self == "a" {
		return l.a
	}
	return l.b
}

// holds says whether the speaker's interface carries the VIP.
func (s *speaker) holds(t *testing.T) bool {
	var has bool
	err := s.ns.Do(func() error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		fam := netlink.FAMILY_V4
		if s.vip.Is6() {
			fam = netlink.FAMILY_V6
		}
		as, err := netcfg.Dump(func() ([]netlink.Addr, error) { return netlink.AddrList(link, fam) })
		for _, a := range as {
			has = has || a.IP.Equal(net.IP(s.vip.AsSlice()))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return has
}

// waitHolder waits, at most d, until exactly want holds the VIP among
// ss, and returns when that was first seen.
func waitHolder(t *testing.T, d time.Duration, want *speaker, ss ...*speaker) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok := true
		var who []string
		for _, s := range ss {
			h := s.holds(t)
			if h {
				who = append(who, s.name)
			}
			ok = ok && h == (s == want)
		}
		if ok {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the VIP is held by %v, want only %s", d, who, want.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop stops the speaker gracefully (our Run's end; keepalived's SIGTERM).
func (s *speaker) stop(t *testing.T) {
	if s.ours != nil {
		if err := s.ours.stop(); err != nil {
			t.Fatal(err)
		}
		return
	}
	s.ka.Stop()
}

// crash stops it without a last advert (Close; SIGKILL). A crashed
// keepalived leaves its VIP behind, as on a real host: remove it, as the
// host's reboot would.
func (s *speaker) crash(t *testing.T) {
	if s.ours != nil {
		s.ours.crash()
		s.ours.event(vrrp.Event{Kind: vrrp.EventTransition, From: vrrp.Master, To: vrrp.Initialize}) // drop the VIP
		return
	}
	s.ka.Kill()
	s.ns.TryExec("ip", "addr", "del", s.vip.String(), "dev", "eth0")
}

// settleBackup waits until keepalived has entered BACKUP more than since
// times (its log says so; it logs late under emulation), then two advert
// intervals more, so that it has heard our adverts before a measurement.
func (s *speaker) settleBackup(t *testing.T, since int, interval time.Duration) {
	t.Helper()
	deadline := time.Now().Add(kaWait)
	for strings.Count(s.ka.Log(), "Entering BACKUP STATE") <= since {
		if time.Now().After(deadline) {
			t.Fatalf("%s never entered BACKUP:\n%s", s.name, s.ka.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * interval)
}

// restart starts the speaker again with the same configuration.
func (s *speaker) restart(t *testing.T) {
	if s.ours != nil {
		s.ours.run()
		return
	}
	s.ka = peers.Keepalived(t, s.ns, s.conf)
}

var kaModes = []mode{
	{"v2-ipv4", false, 2, false, time.Second},
	{"v3-ipv4", false, 3, false, time.Second},
	{"v3-ipv6", true, 3, false, time.Second},
	{"v2-ipv4-unicast", false, 2, true, time.Second},
	{"v3-ipv4-unicast", false, 3, true, time.Second},
	{"v3-ipv6-unicast", true, 3, true, time.Second},
}

// kaHalf is the half of kaModes a direction runs (first: 0 or 1). In the
// VM each kernel runs OursMaster in one half and TheirsMaster in the
// other, the other kernel the other way round: every mode (family,
// version, multicast or unicast, the socket paths the kernel decides)
// still runs on both kernels, and every direction in every mode on one of
// them, at half the cost. Natively, every mode in both directions.
func kaHalf(first int) []mode {
	half, split := nstest.KernelHalf()
	if !split {
		return kaModes
	}
	var modes []mode
	for i := (first + half) % 2; i < len(kaModes); i += 2 {
		modes = append(modes, kaModes[i])
	}
	return modes
}

// kaWait bounds every wait on keepalived: under emulation and a loaded host
// it has taken 5 s to start and another 4 to take over.
const kaWait = 45 * time.Second

// TestKeepalivedOursMaster: our node (priority 150) against keepalived
// (100): election, graceful stop (keepalived takes over at once), return
// and preemption, crash (keepalived takes over after its master-down
// timer). Exactly one host holds the VIP in every steady state.
func TestKeepalivedOursMaster(t *testing.T) {
	inModes(t, kaHalf(0), func(t *testing.T, m mode, l *lab) {
		o := l.ours(t, m, "a", 150, nil)
		k := l.keepalived(t, m, "b", kaOpts{prio: 100})
		waitHolder(t, kaWait, o, o, k)
		k.settleBackup(t, 0, m.interval)
		l.oneHolder(t, o.ours)

		start := time.Now()
		o.stop(t)
		at := waitHolder(t, kaWait, k, o, k)
		t.Logf("MEASURE ka-interop %s ours graceful stop -> keepalived MASTER: %v", m.name, at.Sub(start).Round(time.Millisecond))

		start = time.Now()
		o.restart(t)
		at = waitHolder(t, kaWait, o, o, k)
		t.Logf("MEASURE ka-interop %s ours returns, preempts keepalived: %v", m.name, at.Sub(start).Round(time.Millisecond))
		k.settleBackup(t, 1, m.interval)

		start = time.Now()
		o.crash(t)
		at = waitHolder(t, kaWait, k, o, k)
		t.Logf("MEASURE ka-interop %s ours crash -> keepalived MASTER: %v", m.name, at.Sub(start).Round(time.Millisecond))
		if s := o.ours.n.Stats(); s.Malformed != 0 || s.Mismatched != 0 || s.Received == 0 {
			t.Errorf("our stats: %+v", s)
		}
	})
}

// TestKeepalivedTheirsMaster: keepalived (150) against our node (100):
// SIGKILL -> we take over after the master-down timer; keepalived returns
// and preempts; SIGTERM (priority 0) -> we take over at once.
func TestKeepalivedTheirsMaster(t *testing.T) {
	inModes(t, kaHalf(1), func(t *testing.T, m mode, l *lab) {
		k := l.keepalived(t, m, "a", kaOpts{prio: 150})
		o := l.ours(t, m, "b", 100, nil)
		waitHolder(t, kaWait, k, o, k)

		start := time.Now()
		k.crash(t)
		e := o.ours.waitState(vrrp.Master, kaWait)
		if e.Reason != vrrp.ReasonMasterDown {
			t.Errorf("we became master: %v, want master down", e)
		}
		t.Logf("MEASURE ka-interop %s keepalived SIGKILL -> ours MASTER: %v", m.name, e.Time.Sub(start).Round(time.Millisecond))
		waitHolder(t, kaWait, o, o, k)

		k.restart(t)
		waitHolder(t, kaWait, k, o, k)
		if e := o.ours.waitState(vrrp.Backup, kaWait); e.Reason != vrrp.ReasonHigherPriority {
			t.Errorf("we became backup: %v, want a higher-priority peer", e)
		}

		start = time.Now()
		k.stop(t)
		e = o.ours.waitState(vrrp.Master, kaWait)
		if e.Reason != vrrp.ReasonMasterStopped {
			t.Errorf("we became master: %v, want after keepalived's priority 0", e)
		}
		t.Logf("MEASURE ka-interop %s keepalived SIGTERM -> ours MASTER: %v", m.name, e.Time.Sub(start).Round(time.Millisecond))
		if s := o.ours.n.Stats(); s.Malformed != 0 || s.Mismatched != 0 || s.ReceivedPriorityZero == 0 {
			t.Errorf("our stats: %+v", s)
		}
	})
}

// TestKeepalivedTieBreak: equal priorities; after a partition both are
// master, and once healed the lower primary address yields, ours or
// keepalived.
func TestKeepalivedTieBreak(t *testing.T) {
	inModes(t, []mode{kaModes[0], kaModes[2], kaModes[3]}, func(t *testing.T, m mode, l *lab) {
		// Ours at .1 (lower), keepalived at .2.
		o := l.ours(t, m, "a", 100, nil)
		o.ours.waitState(vrrp.Master, kaWait)
		k := l.keepalived(t, m, "b", kaOpts{prio: 100})
		cut(t, l.a)
		waitBoth(t, o, k)
		start := time.Now()
		heal(t, l.a)
		e := o.ours.waitState(vrrp.Backup, kaWait)
		if e.Reason != vrrp.ReasonHigherAddress {
			t.Errorf("we became backup: %v, want the tie-break", e)
		}
		at := waitHolder(t, kaWait, k, o, k)
		t.Logf("MEASURE ka-interop %s partition healed -> one MASTER (tie-break, ours yields): %v", m.name, at.Sub(start).Round(time.Millisecond))
		l.oneHolder(t, &router{name: k.name, ns: k.ns, vip: k.vip})

		// Now keepalived at .1 and ours at .2: keepalived yields.
		l2 := newLab(t)
		k2 := l2.keepalived(t, m, "a", kaOpts{prio: 100})
		waitHolder(t, kaWait, k2, k2)
		o2 := l2.ours(t, m, "b", 100, nil)
		o2.ours.waitSteadyBackup(kaWait)
		cut(t, l2.a)
		waitBoth(t, o2, k2)
		start = time.Now()
		heal(t, l2.a)
		at = waitHolder(t, kaWait, o2, o2, k2)
		t.Logf("MEASURE ka-interop %s partition healed -> one MASTER (tie-break, keepalived yields): %v", m.name, at.Sub(start).Round(time.Millisecond))
		if o2.ours.n.State() != vrrp.Master {
			t.Errorf("ours: %v", o2.ours.n.State())
		}
	})
}

// waitBoth waits until both hold the VIP (split brain).
func waitBoth(t *testing.T, ss ...*speaker) {
	t.Helper()
	deadline := time.Now().Add(kaWait)
	for {
		n := 0
		for _, s := range ss {
			if s.holds(t) {
				n++
			}
		}
		if n == len(ss) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition: %d of %d hold the VIP", n, len(ss))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKeepalivedPreempt: our returning higher priority preempts keepalived
// (also with a delay); with nopreempt it does not; and keepalived's
// nopreempt is respected by ours.
func TestKeepalivedPreempt(t *testing.T) {
	t.Parallel()
	m := kaModes[0]
	l := newLab(t)
	k := l.keepalived(t, m, "b", kaOpts{prio: 100})
	waitHolder(t, kaWait, k, k)
	o := l.ours(t, m, "a", 150, func(c *vrrp.Config) { c.NoPreempt = true })
	o.ours.waitSteadyBackup(kaWait)
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if o.ours.n.State() != vrrp.Backup || !k.holds(t) {
			t.Fatalf("nopreempt: ours %v, keepalived holds %v", o.ours.n.State(), k.holds(t))
		}
	}
	o.stop(t)
	o.ours.n.Close()
	start := time.Now()
	o = l.ours(t, m, "a", 150, func(c *vrrp.Config) { c.PreemptDelay = 3 * time.Second })
	e := o.ours.waitState(vrrp.Master, kaWait)
	if took := e.Time.Sub(start); took < 3*time.Second || e.Reason != vrrp.ReasonPreempt {
		t.Fatalf("preempt delay 3s: master after %v: %v", took, e)
	}
	waitHolder(t, kaWait, o, o, k)
	t.Logf("MEASURE ka-interop preempt delay 3s -> ours MASTER after %v", e.Time.Sub(start).Round(time.Millisecond))
}

// TestKeepalivedPass: VRRPv2 with auth_type PASS interoperates; a wrong
// password is rejected and reported, never a flap.
func TestKeepalivedPass(t *testing.T) {
	t.Parallel()
	m := kaModes[0]
	l := newLab(t)
	k := l.keepalived(t, m, "b", kaOpts{prio: 100, pass: "s3cret"})
	o := l.ours(t, m, "a", 150, func(c *vrrp.Config) { c.AuthPass = "s3cret" })
	waitHolder(t, kaWait, o, o, k)
	k.settleBackup(t, 0, m.interval)
	start := time.Now()
	o.stop(t)
	at := waitHolder(t, kaWait, k, o, k)
	t.Logf("MEASURE ka-interop v2 PASS ours graceful stop -> keepalived MASTER: %v", at.Sub(start).Round(time.Millisecond))

	l2 := newLab(t)
	k2 := l2.keepalived(t, m, "b", kaOpts{prio: 100, pass: "s3cret"})
	o2 := l2.ours(t, m, "a", 150, func(c *vrrp.Config) { c.AuthPass = "other" })
	waitBoth(t, o2, k2)
	reports := func() int {
		o2.ours.mu.Lock()
		defer o2.ours.mu.Unlock()
		n := 0
		for _, e := range o2.ours.events {
			if e.Kind == vrrp.EventMismatch && e.Mismatch == vrrp.MismatchAuth && e.Rejected {
				n++
			}
		}
		return n
	}
	// Ours can be MASTER (its own timer) before keepalived's first advert
	// arrives: wait for the report, then let more adverts come, which
	// must not report again.
	deadline := time.Now().Add(kaWait)
	for reports() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * m.interval)
	if n := reports(); n != 1 {
		t.Fatalf("%d authentication mismatch reports, want 1", n)
	}
}

// TestKeepalivedReference measures two keepalived against each other in
// the same VM run, the reference for our times: crash, graceful stop,
// partition healed.
func TestKeepalivedReference(t *testing.T) {
	inModes(t, []mode{kaModes[0], kaModes[2]}, func(t *testing.T, m mode, l *lab) {
		a := l.keepalived(t, m, "a", kaOpts{prio: 150})
		waitHolder(t, kaWait, a, a)
		b := l.keepalived(t, m, "b", kaOpts{prio: 100})
		b.settleBackup(t, 0, m.interval)
		waitHolder(t, kaWait, a, a, b)

		start := time.Now()
		a.crash(t)
		at := waitHolder(t, kaWait, b, a, b)
		t.Logf("MEASURE ka-reference %s keepalived SIGKILL -> keepalived MASTER: %v", m.name, at.Sub(start).Round(time.Millisecond))

		a.restart(t)
		waitHolder(t, kaWait, a, a, b)
		b.settleBackup(t, 1, m.interval)
		start = time.Now()
		a.stop(t)
		at = waitHolder(t, kaWait, b, a, b)
		t.Logf("MEASURE ka-reference %s keepalived SIGTERM -> keepalived MASTER: %v", m.name, at.Sub(start).Round(time.Millisecond))

		a.restart(t)
		waitHolder(t, kaWait, a, a, b)
		cut(t, l.a)
		waitBoth(t, a, b)
		start = time.Now()
		heal(t, l.a)
		at = waitHolder(t, kaWait, a, a, b)
		t.Logf("MEASURE ka-reference %s partition healed -> one MASTER: %v", m.name, at.Sub(start).Round(time.Millisecond))
	})
}
