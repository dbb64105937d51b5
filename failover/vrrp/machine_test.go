package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

var (
	t0   = time.Unix(1000, 0)
	low  = netip.MustParseAddr("10.0.0.1")
	high = netip.MustParseAddr("10.0.0.2")
)

func newMachine(prio uint8, v3 bool, interval time.Duration) *machine {
	return &machine{prio: prio, interval: interval, v3: v3, preempt: true, self: high}
}

func at(d time.Duration) time.Time { return t0.Add(d) }

func wantStep(t *testing.T, what string, got step, want step) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

// The RFCs' timers: VRRPv2's skew is in seconds whatever the interval,
// VRRPv3's a share of the master's interval.
func TestMasterDownInterval(t *testing.T) {
	m := newMachine(100, false, time.Second)
	m.start(t0)
	if got, want := m.deadline.Sub(t0), 3*time.Second+156*time.Second/256; got != want {
		t.Errorf("v2 priority 100, 1s: master down after %v, want %v (keepalived: 3.61s)", got, want)
	}
	m = newMachine(100, false, 3*time.Second)
	m.start(t0)
	if got, want := m.deadline.Sub(t0), 9*time.Second+156*time.Second/256; got != want {
		t.Errorf("v2 priority 100, 3s: master down after %v, want %v", got, want)
	}
	m = newMachine(200, true, 100*time.Millisecond)
	m.start(t0)
	if got, want := m.deadline.Sub(t0), 300*time.Millisecond+56*100*time.Millisecond/256; got != want {
		t.Errorf("v3 priority 200, 100ms: master down after %v, want %v", got, want)
	}
	// A VRRPv3 backup times the master by the master's interval.
	m.advert(at(time.Second), low, 250, time.Second)
	if got, want := m.deadline.Sub(at(time.Second)), 3*time.Second+56*time.Second/256; got != want {
		t.Errorf("v3 backup after a 1s advert: master down after %v, want %v", got, want)
	}
}

func TestElection(t *testing.T) {
	m := newMachine(100, false, time.Second)
	wantStep(t, "start", m.start(t0), step{change: true, from: Initialize, to: Backup, reason: ReasonStart})
	// A higher-priority master's adverts keep it backup.
	for i := time.Duration(1); i <= 10; i++ {
		wantStep(t, "higher advert", m.advert(at(i*time.Second), low, 150, time.Second), step{})
	}
	if m.state != Backup || m.deadline != at(10*time.Second+m.masterDown()) {
		t.Fatalf("state %v deadline %v", m.state, m.deadline)
	}
	// Silence: master down.
	wantStep(t, "expire", m.expire(m.deadline), step{send: true, sendPrio: 100, change: true, from: Backup, to: Master, reason: ReasonMasterDown})
	if m.deadline != at(10*time.Second+m.masterDown()+time.Second) {
		t.Fatalf("adver timer at %v", m.deadline)
	}
	wantStep(t, "adver timer", m.expire(m.deadline), step{send: true, sendPrio: 100})
	// A lower priority, or an equal one from a lower address, is discarded.
	wantStep(t, "lower", m.advert(at(20*time.Second), low, 99, time.Second), step{outranked: true})
	wantStep(t, "equal, lower address", m.advert(at(20*time.Second), low, 100, time.Second), step{outranked: true})
	// A peer's stop is answered with an advert at once.
	wantStep(t, "priority 0", m.advert(at(20*time.Second), low, 0, time.Second), step{send: true, sendPrio: 100})
	// Equal priority, higher address: the tie-break.
	m.self = low
	wantStep(t, "equal, higher address", m.advert(at(21*time.Second), high, 100, time.Second), step{change: true, from: Master, to: Backup, reason: ReasonHigherAddress})
	// Stopping as backup sends nothing.
	wantStep(t, "shutdown", m.shutdown(ReasonStop), step{change: true, from: Backup, to: Initialize, reason: ReasonStop})
}

func TestOwner(t *testing.T) {
	m := newMachine(255, true, time.Second)
	wantStep(t, "start", m.start(t0), step{send: true, sendPrio: 255, change: true, from: Initialize, to: Master, reason: ReasonStart})
	wantStep(t, "shutdown", m.shutdown(ReasonStop), step{send: true, sendPrio: 0, change: true, from: Master, to: Initialize, reason: ReasonStop})
	m.start(t0)
	// Closed: no advert, as after a crash.
	wantStep(t, "closed", m.shutdown(ReasonClosed), step{change: true, from: Master, to: Initialize, reason: ReasonClosed})
}

// TestOwnerWaits: an owner that waits (keepalived's state BACKUP) times
// out as any other priority; a lower-priority master does not hold it.
func TestOwnerWaits(t *testing.T) {
	m := newMachine(255, false, time.Second)
	m.ownerWaits = true
	wantStep(t, "start", m.start(t0), step{change: true, from: Initialize, to: Backup, reason: ReasonStart})
	if got, want := m.deadline.Sub(t0), 3*time.Second+time.Second/256; got != want {
		t.Errorf("master after %v, want %v", got, want)
	}
	wantStep(t, "lower", m.advert(at(time.Second/2), low, 100, time.Second), step{})
	wantStep(t, "expire", m.expire(m.deadline), step{send: true, sendPrio: 255, change: true, from: Backup, to: Master, reason: ReasonPreempt})
	// Held: another master-down interval in Backup.
	m = newMachine(100, false, time.Second)
	m.start(t0)
	m.hold(at(5 * time.Second))
	if m.state != Backup || m.deadline != at(5*time.Second+m.masterDown()) {
		t.Errorf("held: %v until %v", m.state, m.deadline)
	}
}

func TestHigherPriorityPeer(t *testing.T) {
	m := newMachine(100, false, time.Second)
	m.start(t0)
	m.expire(m.deadline)
	wantStep(t, "higher", m.advert(at(10*time.Second), low, 101, time.Second), step{change: true, from: Master, to: Backup, reason: ReasonHigherPriority})
	if m.deadline != at(10*time.Second+m.masterDown()) {
		t.Fatalf("master down timer at %v", m.deadline)
	}
}

// TestMasterStopped: a master's priority 0 makes the backup take over
// after its skew time, not the whole master-down interval.
func TestMasterStopped(t *testing.T) {
	m := newMachine(100, false, time.Second)
	m.start(t0)
	m.advert(at(time.Second), low, 150, time.Second)
	wantStep(t, "priority 0", m.advert(at(2*time.Second), low, 0, time.Second), step{})
	if want := at(2*time.Second + 156*time.Second/256); m.deadline != want {
		t.Fatalf("takeover at %v, want %v", m.deadline, want)
	}
	wantStep(t, "expire", m.expire(m.deadline), step{send: true, sendPrio: 100, change: true, from: Backup, to: Master, reason: ReasonMasterStopped})
}

func TestPreemption(t *testing.T) {
	m := newMachine(200, false, time.Second)
	m.start(t0)
	// Preemption on: a lower-priority master's adverts are discarded.
	d := m.deadline
	m.advert(at(time.Second), low, 100, time.Second)
	if m.deadline != d {
		t.Fatal("a lower-priority advert reset the master-down timer with preemption on")
	}
	wantStep(t, "expire", m.expire(d), step{send: true, sendPrio: 200, change: true, from: Backup, to: Master, reason: ReasonPreempt})

	// Preemption off: they are accepted.
	m = newMachine(200, false, time.Second)
	m.preempt = false
	m.start(t0)
	for i := time.Duration(1); i <= 20; i++ {
		m.advert(at(i*time.Second), low, 100, time.Second)
	}
	if m.state != Backup || m.deadline != at(20*time.Second+m.masterDown()) {
		t.Fatalf("nopreempt: state %v, timer %v", m.state, m.deadline)
	}
}

func TestPreemptDelay(t *testing.T) {
	m := newMachine(200, false, time.Second)
	m.preemptDelay = 10 * time.Second
	m.start(t0)
	// Accepted for 10 s after the first lower advert (at 1 s)...
	for i := time.Duration(1); i <= 10; i++ {
		m.advert(at(i*time.Second), low, 100, time.Second)
	}
	if m.deadline != at(10*time.Second+m.masterDown()) {
		t.Fatalf("within the delay: timer %v", m.deadline)
	}
	// ...then discarded.
	m.advert(at(11*time.Second), low, 100, time.Second)
	if m.deadline != at(10*time.Second+m.masterDown()) {
		t.Fatalf("after the delay: timer reset to %v", m.deadline)
	}
	wantStep(t, "expire", m.expire(m.deadline), step{send: true, sendPrio: 200, change: true, from: Backup, to: Master, reason: ReasonPreempt})
	// A higher-priority master in between restarts the delay.
	m = newMachine(200, false, time.Second)
	m.preemptDelay = 10 * time.Second
	m.start(t0)
	m.advert(at(time.Second), low, 100, time.Second)
	m.advert(at(5*time.Second), low, 250, time.Second)
	m.advert(at(12*time.Second), low, 100, time.Second)
	if m.deadline != at(12*time.Second+m.masterDown()) {
		t.Fatal("the delay did not restart after a higher-priority master")
	}
}

// TestSync: a group moves a running node either way; a node not running,
// or already there, does not change.
func TestSync(t *testing.T) {
	m := newMachine(100, false, time.Second)
	wantStep(t, "not running", m.sync(t0, Master), step{})
	m.start(t0)
	wantStep(t, "backup", m.sync(t0, Backup), step{})
	wantStep(t, "to master", m.sync(at(time.Second), Master), step{send: true, sendPrio: 100, change: true, from: Backup, to: Master, reason: ReasonSync})
	if m.deadline != at(2*time.Second) {
		t.Fatalf("adver timer at %v", m.deadline)
	}
	wantStep(t, "to backup", m.sync(at(2*time.Second), Backup), step{change: true, from: Master, to: Backup, reason: ReasonSync})
	if m.deadline != at(2*time.Second+m.masterDown()) {
		t.Fatalf("master down timer at %v", m.deadline)
	}
}
