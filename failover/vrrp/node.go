package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/runguard"
)

// DefaultAdvertInterval is keepalived's and the RFCs' advertisement
// interval.
const DefaultAdvertInterval = time.Second

// Config configures a Node. New checks every field before it opens
// anything.
type Config struct {
	// NetNSPath names the network namespace the node speaks in, e.g.
	// /run/netns/NAME or /proc/PID/ns/net; "" is the caller's namespace.
	NetNSPath string
	// Interface is the interface adverts are sent and received on
	// (required; it must exist).
	Interface string
	// VRID is the virtual router's identifier, 1 to 255 (required).
	VRID int
	// Priority, 1 to 255 (required): the highest priority wins; 255 says
	// this node owns the addresses, and it becomes master at once.
	// keepalived's default is 100.
	Priority int
	// Version is the VRRP version, 2 (RFC 3768, IPv4 only, keepalived's
	// default for IPv4) or 3 (RFC 5798). 0 means 2 for IPv4, 3 for IPv6.
	Version int
	// AdvertInterval is the advertisement interval (required; keepalived's
	// default is DefaultAdvertInterval, 1s): whole seconds from 1s to 255s
	// for VRRPv2, whole centiseconds from 10ms to 40.95s for VRRPv3.
	AdvertInterval time.Duration
	// VIPs are the virtual addresses the adverts carry, 1 to 255, all IPv4
	// or all IPv6 (required). The node only advertises them: it does not
	// add them to the interface (the caller does, on becoming Master).
	VIPs []netip.Addr
	// NoPreempt keeps a higher-priority node that starts or comes back in
	// Backup while a lower-priority master runs (keepalived's nopreempt).
	// The RFC default, false, preempts.
	NoPreempt bool
	// PreemptDelay, with preemption on, delays taking over from a
	// lower-priority master until this long after this node first heard it
	// (keepalived's preempt_delay): time to learn the live connections
	// before failing back.
	PreemptDelay time.Duration
	// Source is the node's primary address, the adverts' source and the
	// tie-break between equal priorities. Zero: the interface's first
	// IPv4 address, or its first usable IPv6 link-local address (RFC 5798
	// §5.1.2.1).
	Source netip.Addr
	// UnicastPeers, when set, are the only destinations of adverts (one
	// copy each) and the only sources accepted, for networks without
	// multicast (keepalived's unicast_peer). Empty: multicast to
	// 224.0.0.18 or ff02::12.
	UnicastPeers []netip.Addr
	// AuthPass, VRRPv2 only, sets keepalived's `auth_type PASS` with this
	// password (at most 8 bytes); adverts without it are rejected. For
	// interoperability only: it is sent in clear.
	AuthPass string
	// OldUnicastChecksum sends VRRPv3 unicast adverts with the checksum
	// keepalived computed before 1.3.6 (the multicast group in the
	// pseudo-header instead of the destination; keepalived's
	// old_unicast_checksum). Such adverts are accepted either way.
	OldUnicastChecksum bool
	// OwnerWaits starts an address owner (Priority 255) in Backup for the
	// master-down interval, as any other priority (keepalived's state
	// BACKUP with priority 255); by default it is Master at once (RFC 5798
	// §6.4.1, keepalived's state MASTER).
	OwnerWaits bool
	// Hold, if set, is asked when a Backup's timer expires, before it
	// takes over: true keeps it Backup for another master-down interval
	// (keepalived holds a vrrp_sync_group member until every member
	// has timed out). Called on the node's goroutine: it must return
	// quickly.
	Hold func() bool
	// OnEvent, if set, receives every transition and peer mismatch, in
	// order, on the node's goroutine: it must return quickly (hand slow
	// work to another goroutine), and must not call Close.
	OnEvent func(Event)
}

// EventKind says what an Event reports.
type EventKind int

const (
	// EventTransition: the node changed state (From, To, Reason).
	EventTransition EventKind = iota + 1
	// EventMismatch: a peer's adverts differ from this node's
	// configuration (Mismatch, Ours, Theirs); reported once per peer and
	// value until it changes.
	EventMismatch
	// EventOutranked: as Master, an advert from a peer this node outranks
	// (Peer, PeerPriority), i.e. two masters, as after a partition heals:
	// the caller may announce the addresses again, since neighbours may
	// hold the other's MAC (keepalived's garp_lower_prio_repeat). One per
	// such advert.
	EventOutranked
)

// Mismatch names what differs between a peer's adverts and this node.
type Mismatch int

const (
	// MismatchVersion: another VRRP version; the advert is rejected.
	MismatchVersion Mismatch = iota + 1
	// MismatchAuth: another VRRPv2 authentication type or password; the
	// advert is rejected. The password is never reported.
	MismatchAuth
	// MismatchInterval: another advertisement interval. VRRPv2 rejects
	// the advert (RFC 3768 §7.1); a VRRPv3 backup accepts it and times the
	// master by its interval (RFC 5798 §6.4.2).
	MismatchInterval
	// MismatchAddrs: other virtual addresses; the advert is accepted (RFC
	// 3768 §7.1 leaves it to the receiver; keepalived accepts it too).
	MismatchAddrs
	numMismatches
)

func (m Mismatch) String() string {
	switch m {
	case MismatchVersion:
		return "version"
	case MismatchAuth:
		return "authentication"
	case MismatchInterval:
		return "advertisement interval"
	case MismatchAddrs:
		return "virtual addresses"
	}
	return "mismatch?"
}

// Event is a transition or a mismatch report.
type Event struct {
	Kind EventKind
	Time time.Time
	// From, To and Reason describe a transition.
	From, To State
	Reason   Reason
	// Peer is the peer whose advert caused the event, or the master this
	// node last heard when its master-down timer fired; PeerPriority its
	// priority. Zero when there is none.
	Peer         netip.Addr
	PeerPriority int
	// Mismatch, Ours and Theirs describe a mismatch; Rejected says the
	// peer's adverts are discarded (so each side may act as master).
	Mismatch     Mismatch
	Ours, Theirs string
	Rejected     bool
}

func (e Event) String() string {
	if e.Kind == EventOutranked {
		return fmt.Sprintf("%s: outranked master %v priority %d", e.Time.Format(time.RFC3339Nano), e.Peer, e.PeerPriority)
	}
	if e.Kind == EventMismatch {
		verb := "accepted"
		if e.Rejected {
			verb = "rejected"
		}
		return fmt.Sprintf("%s: adverts from %v: %s %s, ours %s (%s)", e.Time.Format(time.RFC3339Nano), e.Peer, e.Mismatch, e.Theirs, e.Ours, verb)
	}
	s := fmt.Sprintf("%s: %s -> %s: %s", e.Time.Format(time.RFC3339Nano), e.From, e.To, e.Reason)
	if e.Peer.IsValid() {
		s += fmt.Sprintf(" (peer %v priority %d)", e.Peer, e.PeerPriority)
	}
	return s
}

// Stats counts adverts. Dropped packets never reach the state machine.
type Stats struct {
	// Sent counts adverts sent (one per unicast peer), SentPriorityZero
	// those announcing a stop, SendErrors those the kernel refused.
	Sent, SentPriorityZero, SendErrors uint64
	// Received counts accepted adverts of this VRID, ReceivedPriorityZero
	// those announcing a peer's stop.
	Received, ReceivedPriorityZero uint64
	// OtherVRID counts well-formed adverts of other virtual routers
	// (ignored); UnknownPeer, in unicast mode, adverts from addresses not
	// in UnicastPeers (ignored); Mismatched, adverts of this VRID rejected
	// for their version, authentication or VRRPv2 interval.
	OtherVRID, UnknownPeer, Mismatched uint64
	// OldChecksum counts VRRPv3 unicast adverts accepted with keepalived's
	// pre-1.3.6 checksum.
	OldChecksum uint64
	// Malformed counts packets dropped as malformed; the fields after it
	// say why (BadField: no addresses, interval 0, mixed families).
	Malformed                                                     uint64
	Truncated, BadVersion, BadType, BadChecksum, BadTTL, BadField uint64
	// Transitions counts state changes.
	Transitions uint64
}

// counters index Node.ctr.
const (
	cSent = iota
	cSentZero
	cSendErr
	cRecv
	cRecvZero
	cOtherVRID
	cUnknownPeer
	cMismatched
	cOldSum
	cTransitions
	numCounters
)

// Node is one VRRP router of one virtual router, on one interface. It
// elects and reports its role; it never adds or removes the addresses
// itself. Safe for concurrent use; Run runs one at a time.
type Node struct {
	cfg    Config
	v3     bool
	self   netip.Addr
	dsts   []netip.Addr // the group, or the unicast peers
	groupv netip.Addr
	c      conn

	run    runguard.Guard // Run and Close
	state  atomic.Int32
	prio   atomic.Int32
	prioCh chan struct{}
	syncTo atomic.Int32 // the state Sync asked for, or Initialize
	syncCh chan struct{}
	ctr    [numCounters]atomic.Uint64
	drops  [numDrops]atomic.Uint64

	// The reader goroutine's scratch.
	rx   Advert
	last [numMismatches]seen
	// The run loop's scratch.
	tx   Advert
	sbuf []byte
	peer netip.Addr // the master last heard
	pp   uint8
}

// seen is the last mismatch reported per kind.
type seen struct {
	peer   netip.Addr
	theirs int64
}

// rxMsg is what the reader hands the run loop: no pointers into its
// buffers, so that handing it over allocates nothing.
type rxMsg struct {
	src      netip.Addr
	prio     uint8
	interval time.Duration
	accept   bool
	mm       Mismatch // to report, or 0
	theirs   int64
	detail   string // their addresses, for MismatchAddrs
}

// conn is the node's socket, on Linux a raw IP socket.
type conn interface {
	// recv returns the next packet's VRRP payload (valid until the next
	// call), its addresses and its TTL or hop limit.
	recv() (pkt []byte, src, dst netip.Addr, ttl int, err error)
	send(pkt []byte, dst netip.Addr) error
	// setDeadline makes recv return errDeadline after t (zero: never).
	setDeadline(t time.Time) error
	close() error
}

var errDeadline = errors.New("deadline")

// New checks cfg and opens the node's socket in cfg.NetNSPath. Nothing is
// sent before Run.
func New(cfg *Config) (*Node, error) {
	if cfg == nil {
		return nil, invalid("Config", "missing")
	}
	n := &Node{cfg: *cfg, prioCh: make(chan struct{}, 1), syncCh: make(chan struct{}, 1)}
	n.cfg.VIPs = slices.Clone(cfg.VIPs)
	n.cfg.UnicastPeers = slices.Clone(cfg.UnicastPeers)
	if err := n.validate(); err != nil {
		return nil, err
	}
	c, self, err := open(&n.cfg)
	if err != nil {
		return nil, err
	}
	n.c, n.self = c, self
	n.finish()
	return n, nil
}

// validate checks the configuration and fills in the version.
func (n *Node) validate() error {
	c := &n.cfg
	if c.Interface == "" {
		return invalid("Interface", "missing")
	}
	if c.VRID < 1 || c.VRID > 255 {
		return invalid("VRID", fmt.Sprintf("%d: must be 1 to 255", c.VRID))
	}
	if c.Priority < 1 || c.Priority > 255 {
		return invalid("Priority", fmt.Sprintf("%d: must be 1 to 255 (255: this node owns the addresses; 0 is reserved for a master that stops)", c.Priority))
	}
	if len(c.VIPs) == 0 || len(c.VIPs) > 255 {
		return invalid("VIPs", fmt.Sprintf("%d addresses: must be 1 to 255", len(c.VIPs)))
	}
	v4 := c.VIPs[0].Is4()
	fam := func(a netip.Addr) bool { return a.IsValid() && a.Is4() == v4 && !a.Is4In6() }
	for i, a := range c.VIPs {
		if !fam(a) || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.Zone() != "" {
			return invalid("VIPs", fmt.Sprintf("%v: not a unicast address of the first VIP's family (%v)", a, c.VIPs[0]))
		}
		if slices.Contains(c.VIPs[:i], a) {
			return invalid("VIPs", fmt.Sprintf("%v listed twice", a))
		}
	}
	switch {
	case c.Version == 0 && v4:
		c.Version = 2
	case c.Version == 0:
		c.Version = 3
	case c.Version == 2 && !v4:
		return invalid("Version", "VRRPv2 is IPv4-only; IPv6 needs version 3")
	case c.Version != 2 && c.Version != 3:
		return invalid("Version", fmt.Sprintf("%d: must be 2 or 3", c.Version))
	}
	if c.AdvertInterval == 0 {
		return invalid("AdvertInterval", "missing (keepalived's default is 1s)")
	}
	if msg := checkInterval(c.Version, c.AdvertInterval); msg != "" {
		return invalid("AdvertInterval", fmt.Sprintf("%v: %s", c.AdvertInterval, msg))
	}
	if c.PreemptDelay < 0 {
		return invalid("PreemptDelay", "negative")
	}
	if c.NoPreempt && c.PreemptDelay != 0 {
		return invalid("PreemptDelay", "set with NoPreempt: a node that never preempts has nothing to delay")
	}
	if c.AuthPass != "" && c.Version != 2 {
		return invalid("AuthPass", "VRRPv3 has no authentication")
	}
	if len(c.AuthPass) > 8 {
		return invalid("AuthPass", "longer than 8 bytes")
	}
	if c.Source.IsValid() && (!fam(c.Source) || c.Source.IsUnspecified() || c.Source.IsMulticast()) {
		return invalid("Source", fmt.Sprintf("%v: not a unicast address of the VIPs' family", c.Source))
	}
	for i, a := range c.UnicastPeers {
		if !fam(a) || a.IsUnspecified() || a.IsMulticast() {
			return invalid("UnicastPeers", fmt.Sprintf("%v: not a unicast address of the VIPs' family", a))
		}
		if slices.Contains(c.UnicastPeers[:i], a) || a == c.Source {
			return invalid("UnicastPeers", fmt.Sprintf("%v listed twice, or is the Source", a))
		}
	}
	if c.OldUnicastChecksum && (c.Version != 3 || len(c.UnicastPeers) == 0) {
		return invalid("OldUnicastChecksum", "applies to VRRPv3 with UnicastPeers only")
	}
	return nil
}

// finish prepares the advert and destinations once the source is known.
func (n *Node) finish() {
	c := &n.cfg
	n.v3 = c.Version == 3
	n.groupv = GroupIPv4
	if !n.self.Is4() {
		n.groupv = GroupIPv6
	}
	n.dsts = c.UnicastPeers
	if len(n.dsts) == 0 {
		n.dsts = []netip.Addr{n.groupv}
	}
	n.prio.Store(int32(c.Priority))
	n.tx = Advert{Version: c.Version, VRID: uint8(c.VRID), Interval: c.AdvertInterval, Addrs: c.VIPs}
	if c.AuthPass != "" {
		n.tx.AuthType = AuthPass
		copy(n.tx.AuthData[:], c.AuthPass)
	}
	n.sbuf = make([]byte, 0, maxAdvertLen)
	n.rx.Addrs = make([]netip.Addr, 0, 255)
}

// Source returns the node's primary address (the adverts' source).
func (n *Node) Source() netip.Addr { return n.self }

// State returns the node's current state.
func (n *Node) State() State { return State(n.state.Load()) }

// SetPriority changes the priority the node advertises (1 to 254, or 255
// for an owner), e.g. to step down when a tracked check fails; a running
// node uses it from its next advert or timer.
func (n *Node) SetPriority(p int) error {
	if p < 1 || p > 255 {
		return errs.Invalid(pkg, "set priority", "", "Priority", fmt.Sprintf("%d: must be 1 to 255", p))
	}
	n.prio.Store(int32(p))
	select {
	case n.prioCh <- struct{}{}:
	default:
	}
	return nil
}

// Sync moves a running node to Master or Backup now, with ReasonSync, for
// virtual routers that change state together (keepalived's
// vrrp_sync_group: the caller syncs the others when one transitions). To
// Master it advertises and takes over as if its master-down timer had
// fired; to Backup it stops advertising and waits the master-down
// interval. A node not running, or in that state already, is left alone.
func (n *Node) Sync(s State) error {
	if s != Master && s != Backup {
		return errs.Invalid(pkg, "sync", "", "State", fmt.Sprintf("%v: must be MASTER or BACKUP", s))
	}
	if !n.run.Running() {
		return nil
	}
	n.syncTo.Store(int32(s))
	select {
	case n.syncCh <- struct{}{}:
	default:
	}
	return nil
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	d := func(r drop) uint64 { return n.drops[r].Load() }
	s := Stats{
		Sent: n.ctr[cSent].Load(), SentPriorityZero: n.ctr[cSentZero].Load(), SendErrors: n.ctr[cSendErr].Load(),
		Received: n.ctr[cRecv].Load(), ReceivedPriorityZero: n.ctr[cRecvZero].Load(),
		OtherVRID: n.ctr[cOtherVRID].Load(), UnknownPeer: n.ctr[cUnknownPeer].Load(), Mismatched: n.ctr[cMismatched].Load(),
		OldChecksum: n.ctr[cOldSum].Load(), Transitions: n.ctr[cTransitions].Load(),
		Truncated:   d(dropShort) + d(dropLong),
		BadVersion:  d(dropVersion),
		BadType:     d(dropType),
		BadChecksum: d(dropChecksum),
		BadTTL:      d(dropTTL),
		BadField:    d(dropCount) + d(dropInterval) + d(dropFamily),
	}
	s.Malformed = s.Truncated + s.BadVersion + s.BadType + s.BadChecksum + s.BadTTL + s.BadField
	return s
}

// Close closes the socket. A running node's Run returns ErrClosed after a
// transition to Initialize with ReasonClosed, without sending priority 0:
// to its peers it is as if the node had crashed. Use Run's context for a
// graceful stop.
func (n *Node) Close() error {
	if n.run.Close() {
		return nil
	}
	if err := n.c.close(); err != nil {
		return errs.New(pkg, "close", ErrKernel, err)
	}
	return nil
}

// Run runs the node until ctx ends, then stops gracefully: a master sends
// a priority-0 advert so that a backup takes over after its skew time.
// It returns nil then, ErrClosed if the node was closed, or the error
// that stopped it. Run may be called again after it returned (e.g. to
// leave a fault); the state is Initialize in between.
func (n *Node) Run(ctx context.Context) error {
	leave, err := n.run.Start(pkg)
	if err != nil {
		return err
	}
	defer leave()
	n.syncTo.Store(int32(Initialize)) // a Sync of an earlier run is stale
	n.drain()
	msgs := make(chan rxMsg, 64)
	rerr := make(chan error, 1)
	done := make(chan struct{})
	go func() { rerr <- n.readLoop(msgs, done) }()
	stopReader := func() {
		close(done)
		n.c.setDeadline(time.Unix(1, 0))
		<-rerr
		n.c.setDeadline(time.Time{})
	}

	m := machine{
		prio: uint8(n.prio.Load()), interval: n.cfg.AdvertInterval, v3: n.v3,
		preempt: !n.cfg.NoPreempt, preemptDelay: n.cfg.PreemptDelay, self: n.self,
		ownerWaits: n.cfg.OwnerWaits,
	}
	n.peer, n.pp = netip.Addr{}, 0
	n.apply(&m, m.start(time.Now()), netip.Addr{}, 0)
	t := time.NewTimer(time.Until(m.deadline))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Priority 0 first: stopping the reader can take a while.
			n.apply(&m, m.shutdown(ReasonStop), netip.Addr{}, 0)
			stopReader()
			return nil
		case err := <-rerr:
			n.apply(&m, m.shutdown(ReasonClosed), netip.Addr{}, 0)
			if n.run.Closed() {
				return errs.New(pkg, "run", ErrClosed, nil)
			}
			return errs.New(pkg, "run", kindOf(err), err)
		case msg := <-msgs:
			if msg.mm != 0 {
				n.report(msg)
			}
			if msg.accept {
				if msg.prio != 0 && (m.state == Backup || msg.prio > m.prio || msg.prio == m.prio && msg.src.Compare(n.self) > 0) {
					n.peer, n.pp = msg.src, msg.prio
				}
				n.apply(&m, m.advert(time.Now(), msg.src, msg.prio, msg.interval), msg.src, msg.prio)
			}
		case <-n.prioCh:
			m.prio = uint8(n.prio.Load())
		case <-n.syncCh:
			if st := State(n.syncTo.Swap(int32(Initialize))); st != Initialize {
				n.apply(&m, m.sync(time.Now(), st), netip.Addr{}, 0)
			}
		case <-t.C:
			switch now := time.Now(); {
			case now.Before(m.deadline): // early: reset below
			case m.state == Backup && n.cfg.Hold != nil && n.cfg.Hold():
				m.hold(now)
			default:
				n.apply(&m, m.expire(now), n.peer, n.pp)
			}
		}
		t.Reset(time.Until(m.deadline))
	}
}

// drain discards packets queued while the node was not running.
func (n *Node) drain() {
	n.c.setDeadline(time.Unix(1, 0))
	for range 1024 {
		if _, _, _, _, err := n.c.recv(); err != nil {
			break
		}
	}
	n.c.setDeadline(time.Time{})
}

// apply carries out a step: send first, then report.
func (n *Node) apply(m *machine, s step, peer netip.Addr, prio uint8) {
	if s.send {
		n.send(s.sendPrio)
	}
	if s.outranked && n.cfg.OnEvent != nil {
		n.cfg.OnEvent(Event{Kind: EventOutranked, Time: time.Now(), Peer: peer, PeerPriority: int(prio)})
	}
	if !s.change {
		return
	}
	n.state.Store(int32(s.to))
	n.ctr[cTransitions].Add(1)
	if n.cfg.OnEvent != nil {
		ev := Event{Kind: EventTransition, Time: time.Now(), From: s.from, To: s.to, Reason: s.reason}
		if s.reason != ReasonStart && s.reason != ReasonStop && s.reason != ReasonClosed && peer.IsValid() {
			ev.Peer, ev.PeerPriority = peer, int(prio)
		}
		n.cfg.OnEvent(ev)
	}
}

// send sends one advert with priority p to every destination.
func (n *Node) send(p uint8) {
	n.tx.Priority = p
	for _, dst := range n.dsts {
		sumDst := dst
		if n.cfg.OldUnicastChecksum {
			sumDst = n.groupv
		}
		n.sbuf = n.tx.append(n.sbuf[:0], n.self, dst, sumDst)
		if err := n.c.send(n.sbuf, dst); err != nil {
			n.ctr[cSendErr].Add(1)
			continue
		}
		n.ctr[cSent].Add(1)
		if p == 0 {
			n.ctr[cSentZero].Add(1)
		}
	}
}

// readLoop reads, checks and hands over adverts until recv fails or done
// is closed.
func (n *Node) readLoop(msgs chan<- rxMsg, done <-chan struct{}) error {
	for {
		pkt, src, dst, ttl, err := n.c.recv()
		if err != nil {
			select {
			case <-done:
				return nil
			default:
			}
			if errors.Is(err, errDeadline) {
				continue
			}
			return err
		}
		msg, ok := n.receive(pkt, src, dst, ttl)
		if !ok {
			continue
		}
		select {
		case msgs <- msg:
		case <-done:
			return nil
		}
	}
}

// receive checks one packet and says what the run loop must see of it.
func (n *Node) receive(pkt []byte, src, dst netip.Addr, ttl int) (rxMsg, bool) {
	// RFC 5798 §7.1 wants TTL 255, which proves the sender is on the link.
	// Unicast peers may be routed, and keepalived sends IPv6 unicast
	// adverts with the default hop limit and checks none (without min_ttl):
	// in unicast mode the listed sources are the check instead.
	if ttl != 255 && len(n.cfg.UnicastPeers) == 0 {
		n.drops[dropTTL].Add(1)
		return rxMsg{}, false
	}
	d := decode(&n.rx, pkt, src, dst, false)
	if d == dropChecksum && n.v3 && len(n.cfg.UnicastPeers) > 0 {
		if decode(&n.rx, pkt, src, dst, true) == dropNone {
			d = dropNone
			n.ctr[cOldSum].Add(1)
		}
	}
	if d != dropNone {
		n.drops[d].Add(1)
		return rxMsg{}, false
	}
	a := &n.rx
	if int(a.VRID) != n.cfg.VRID {
		n.ctr[cOtherVRID].Add(1)
		return rxMsg{}, false
	}
	if src == n.self {
		return rxMsg{}, false // our own, looped back by a bridge or a peer's misconfiguration
	}
	if len(n.cfg.UnicastPeers) > 0 && !slices.Contains(n.cfg.UnicastPeers, src) {
		n.ctr[cUnknownPeer].Add(1)
		return rxMsg{}, false
	}
	msg := rxMsg{src: src, prio: a.Priority, interval: a.Interval, accept: true}
	switch {
	case a.Version != n.cfg.Version:
		n.mismatch(&msg, MismatchVersion, int64(a.Version), false)
	case a.Version == 2 && (a.AuthType != n.tx.AuthType || a.AuthType == AuthPass && a.AuthData != n.tx.AuthData):
		n.mismatch(&msg, MismatchAuth, int64(a.AuthType), false)
	case a.Interval != n.cfg.AdvertInterval:
		n.mismatch(&msg, MismatchInterval, int64(a.Interval), n.v3)
	case !slices.Equal(a.Addrs, n.cfg.VIPs):
		if n.mismatch(&msg, MismatchAddrs, addrsKey(a.Addrs), true) {
			msg.detail = fmt.Sprint(a.Addrs) // allocates only when reported
		}
	default:
		n.clearMismatches(src)
	}
	if !msg.accept {
		n.ctr[cMismatched].Add(1)
		return msg, msg.mm != 0
	}
	n.ctr[cRecv].Add(1)
	if a.Priority == 0 {
		n.ctr[cRecvZero].Add(1)
	}
	return msg, true
}

// mismatch marks msg with a mismatch, to be reported when it is new, and
// says whether it is.
func (n *Node) mismatch(msg *rxMsg, k Mismatch, theirs int64, accept bool) bool {
	msg.accept = accept
	s := seen{peer: msg.src, theirs: theirs}
	if n.last[k] == s {
		return false
	}
	n.last[k] = s
	msg.mm, msg.theirs = k, theirs
	return true
}

// clearMismatches forgets src's mismatches once its adverts agree again, so
// that a recurrence is reported.
func (n *Node) clearMismatches(src netip.Addr) {
	for k := range n.last {
		if n.last[k].peer == src {
			n.last[k] = seen{}
		}
	}
}

// addrsKey condenses an address list into a number, to tell lists apart.
func addrsKey(as []netip.Addr) int64 {
	var h uint64 = 14695981039346656037
	for _, a := range as {
		b := a.As16()
		for _, c := range b {
			h = (h ^ uint64(c)) * 1099511628211
		}
	}
	return int64(h)
}

// report emits a mismatch event.
func (n *Node) report(msg rxMsg) {
	if n.cfg.OnEvent == nil {
		return
	}
	ev := Event{Kind: EventMismatch, Time: time.Now(), Peer: msg.src, PeerPriority: int(msg.prio), Mismatch: msg.mm, Rejected: !msg.accept}
	switch msg.mm {
	case MismatchVersion:
		ev.Ours, ev.Theirs = fmt.Sprint(n.cfg.Version), fmt.Sprint(msg.theirs)
	case MismatchAuth:
		ev.Ours, ev.Theirs = n.tx.AuthType.String(), AuthType(msg.theirs).String()
		if ev.Ours == ev.Theirs {
			ev.Ours, ev.Theirs = "PASS", "PASS with another password"
		}
	case MismatchInterval:
		ev.Ours, ev.Theirs = n.cfg.AdvertInterval.String(), time.Duration(msg.theirs).String()
	case MismatchAddrs:
		ev.Ours, ev.Theirs = fmt.Sprint(n.cfg.VIPs), msg.detail
	}
	n.cfg.OnEvent(ev)
}

// kindOf maps a socket error to a sentinel.
func kindOf(err error) error {
	var en syscall.Errno
	if errors.As(err, &en) {
		return errs.ErrnoKind(en)
	}
	if k := errs.KindOf(err); k != nil {
		return k
	}
	return ErrKernel
}

// Validate checks cfg as New does, without opening anything (an interface
// missing from the namespace is found by New only), so that a program can
// refuse a bad configuration before it changes the host.
func (cfg *Config) Validate() error {
	if cfg == nil {
		return invalid("Config", "missing")
	}
	n := &Node{cfg: *cfg}
	return n.validate()
}
