package vrrp

import (
	"net/netip"
	"time"
)

// State is a VRRP router's state (RFC 5798 §6.4).
type State int32

const (
	// Initialize: not running (before Run, after it returns).
	Initialize State = iota
	// Backup: monitoring the master; must not hold the addresses.
	Backup
	// Master: forwarding for the virtual router; must hold the addresses.
	Master
)

func (s State) String() string {
	switch s {
	case Initialize:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	}
	return "state?"
}

// Reason says why a transition happened.
type Reason int

const (
	// ReasonStart: Run started the node (as Backup, or as Master when it
	// owns the addresses).
	ReasonStart Reason = iota + 1
	// ReasonMasterDown: no advert from a master for the master-down
	// interval (3 × the master's interval + skew).
	ReasonMasterDown
	// ReasonMasterStopped: the master sent priority 0 (it is stopping);
	// this node waited its skew time and took over.
	ReasonMasterStopped
	// ReasonPreempt: this node has the higher priority and preemption is on;
	// it ignored the lower-priority master's adverts (after PreemptDelay).
	ReasonPreempt
	// ReasonHigherPriority: a peer advertised a higher priority.
	ReasonHigherPriority
	// ReasonHigherAddress: a peer advertised the same priority from a
	// higher primary address (the RFC's tie-break).
	ReasonHigherAddress
	// ReasonStop: Run's context ended; as master the node sent priority 0.
	ReasonStop
	// ReasonClosed: the node was closed while running; no advert was sent
	// (as after a crash, peers wait for their master-down timer).
	ReasonClosed
	// ReasonSync: Node.Sync moved the node with the other routers of its
	// group.
	ReasonSync
)

func (r Reason) String() string {
	switch r {
	case ReasonStart:
		return "start"
	case ReasonMasterDown:
		return "master down"
	case ReasonMasterStopped:
		return "master stopped (priority 0)"
	case ReasonPreempt:
		return "preempt"
	case ReasonHigherPriority:
		return "peer has higher priority"
	case ReasonHigherAddress:
		return "peer has equal priority and higher address"
	case ReasonStop:
		return "stop"
	case ReasonClosed:
		return "closed"
	case ReasonSync:
		return "sync group"
	}
	return "reason?"
}

// machine is RFC 5798 §6's state machine without I/O or clocks: the node
// feeds it times and adverts and carries out what it returns. VRRPv2
// (RFC 3768) differs only in the skew time and in not learning the
// master's interval.
type machine struct {
	prio         uint8
	interval     time.Duration // Advertisement_Interval
	masterInt    time.Duration // Master_Adver_Interval
	v3           bool
	preempt      bool
	preemptDelay time.Duration
	self         netip.Addr // primary address, for the tie-break
	ownerWaits   bool

	state    State
	deadline time.Time // Adver_Timer (Master) or Master_Down_Timer (Backup)
	// pending is the reason a Backup's timer expiry will give.
	pending Reason
	// lowerSince is when a Backup first saw a lower-priority master, for
	// PreemptDelay; zero when it has not.
	lowerSince time.Time
}

// step is what the node must do after an input.
type step struct {
	send     bool
	sendPrio uint8
	change   bool
	from, to State
	reason   Reason
	// outranked: a Master heard a master it outranks.
	outranked bool
}

func (m *machine) to(s *step, st State, r Reason) {
	s.change, s.from, s.to, s.reason = true, m.state, st, r
	m.state = st
}

// skew is the Skew_Time.
func (m *machine) skew() time.Duration {
	if m.v3 {
		return time.Duration(256-int(m.prio)) * m.masterInt / 256
	}
	return time.Duration(256-int(m.prio)) * time.Second / 256
}

// masterDown is the Master_Down_Interval.
func (m *machine) masterDown() time.Duration { return 3*m.masterInt + m.skew() }

func (m *machine) becomeMaster(now time.Time, r Reason) step {
	s := step{send: true, sendPrio: m.prio}
	m.deadline = now.Add(m.interval)
	m.lowerSince = time.Time{}
	m.to(&s, Master, r)
	return s
}

func (m *machine) becomeBackup(now time.Time, r Reason) step {
	var s step
	m.deadline = now.Add(m.masterDown())
	m.pending, m.lowerSince = ReasonMasterDown, time.Time{}
	m.to(&s, Backup, r)
	return s
}

// start is the Startup event.
func (m *machine) start(now time.Time) step {
	m.masterInt = m.interval
	if m.prio == 255 && !m.ownerWaits {
		return m.becomeMaster(now, ReasonStart)
	}
	return m.becomeBackup(now, ReasonStart)
}

// expire handles the timer, due at m.deadline.
func (m *machine) expire(now time.Time) step {
	switch m.state {
	case Master:
		m.deadline = now.Add(m.interval)
		return step{send: true, sendPrio: m.prio}
	case Backup:
		return m.becomeMaster(now, m.pending)
	}
	return step{}
}

// advert handles an accepted advert from peer; interval is the advert's
// (VRRPv3 backups adopt it as Master_Adver_Interval).
func (m *machine) advert(now time.Time, peer netip.Addr, prio uint8, interval time.Duration) step {
	switch m.state {
	case Backup:
		if prio == 0 {
			m.deadline = now.Add(m.skew())
			m.pending = ReasonMasterStopped
			return step{}
		}
		if prio < m.prio && m.preempt {
			// A lower-priority master: discard its adverts so the
			// master-down timer fires, once PreemptDelay has passed since
			// this node first saw it.
			if m.lowerSince.IsZero() {
				m.lowerSince = now
			}
			if now.Sub(m.lowerSince) >= m.preemptDelay {
				m.pending = ReasonPreempt
				return step{}
			}
		} else {
			m.lowerSince = time.Time{}
		}
		if m.v3 {
			m.masterInt = interval
		}
		m.deadline = now.Add(m.masterDown())
		m.pending = ReasonMasterDown
	case Master:
		if prio == 0 {
			m.deadline = now.Add(m.interval)
			return step{send: true, sendPrio: m.prio}
		}
		if prio > m.prio || prio == m.prio && peer.Compare(m.self) > 0 {
			r := ReasonHigherPriority
			if prio == m.prio {
				r = ReasonHigherAddress
			}
			if m.v3 {
				m.masterInt = interval
			}
			return m.becomeBackup(now, r)
		}
		return step{outranked: true}
	}
	return step{}
}

// hold keeps a Backup whose timer expired in Backup for another
// master-down interval (Config.Hold).
func (m *machine) hold(now time.Time) {
	m.deadline = now.Add(m.masterDown())
}

// sync moves a running node to st (Master or Backup) as its group did.
func (m *machine) sync(now time.Time, st State) step {
	if m.state == Initialize || m.state == st {
		return step{}
	}
	if st == Master {
		return m.becomeMaster(now, ReasonSync)
	}
	return m.becomeBackup(now, ReasonSync)
}

// shutdown is the Shutdown event: a master sends priority 0.
func (m *machine) shutdown(r Reason) step {
	var s step
	if m.state == Master && r == ReasonStop {
		s.send, s.sendPrio = true, 0
	}
	if m.state != Initialize {
		m.to(&s, Initialize, r)
	}
	return s
}
