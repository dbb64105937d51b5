package failover

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/failover/vrrp"
	"github.com/golvs/lvs/internal/enum"
	"github.com/golvs/lvs/internal/runguard"
	"github.com/golvs/lvs/ipvs"
)

// Role is what the election made of this node, and so what the host holds.
type Role int32

const (
	// Init: not elected yet (before the elector reports, or between a
	// fault and the elector's restart); the VIPs are not held.
	Init Role = iota
	// Backup: another node is master; the VIPs are not held.
	Backup
	// Master: this node holds the VIPs.
	Master
	// Fault: a tracker or a tracked interface failed; the elector is
	// stopped (a master says so with priority 0) and the VIPs are not held.
	Fault
	// Stopped: Run returned; nothing of ours is left on the host.
	Stopped
)

func (r Role) String() string {
	return enum.Name(r, "role", []Role{Init, Backup, Master, Fault, Stopped}, "INIT", "BACKUP", "MASTER", "FAULT", "STOP")
}

// Elector is what elects the master, such as a *vrrp.Node: Run elects
// until ctx ends (a master then tells its peers it stops), SetPriority
// changes the priority it offers. Its role changes reach the Client
// through SetRole (HandleVRRP for a vrrp.Node's events). Run must return
// soon after ctx ends, and may be called again afterwards.
type Elector interface {
	Run(ctx context.Context) error
	SetPriority(p int) error
}

// SyncMode selects how the IPVS connection-synchronisation daemons follow
// the role.
type SyncMode int

const (
	// SyncOff: no sync daemon.
	SyncOff SyncMode = iota
	// SyncFollow: the master daemon while Master, the backup daemon
	// otherwise, one sync ID on both nodes (keepalived's lvs_sync_daemon).
	// A node that comes back only learns connections synced after its
	// backup daemon started.
	SyncFollow
	// SyncBoth: a master daemon (SyncID) and a backup daemon (PeerSyncID,
	// the peer's SyncID) always, so that a node that is Backup, or comes
	// back, keeps learning the live connections whatever the roles
	// (keepalived issue #1076's workaround). The peers swap the two IDs.
	SyncBoth
)

// Sync configures the sync daemons.
type Sync struct {
	Mode SyncMode
	// Interface the daemons send and listen on (required unless SyncOff).
	Interface string
	// SyncID is the ID of this node's master daemon, 1..255; 0 means
	// Config.VRID, as keepalived does.
	SyncID int
	// PeerSyncID (SyncBoth only, required) is the ID the backup daemon
	// listens for: the peer's SyncID. It must differ from SyncID.
	PeerSyncID int
	// Group, Port, TTL and MaxLen are the daemons' (zero: the kernel's
	// defaults, 224.0.0.81:8848, TTL 1, the interface's MTU).
	Group  netip.Addr
	Port   uint16
	TTL    uint8
	MaxLen uint16
}

// Tracker is one condition the node's role depends on (keepalived's
// track_script): a health pool's quorum (`func(ctx) error { if
// !pool.Snapshot().Quorum { return errNoQuorum }; return nil }`), a
// process, a route.
type Tracker struct {
	// Name identifies it in events (required, unique).
	Name string
	// Check returns nil while the condition holds. It runs every
	// Config.CheckInterval on Run's goroutine with a ctx ending after the
	// interval: it must be quick (read a snapshot, not probe a network).
	Check func(ctx context.Context) error
	// Weight: 0 forces Fault while Check fails; negative lowers the
	// priority by -Weight while it fails; positive raises it by Weight
	// while it holds (keepalived's weight). -254..254.
	Weight int
}

// Defaults.
const (
	// DefaultBurstCount packets at once, then DefaultBurstCount more
	// after DefaultSecondBurstDelay: keepalived's gratuitous ARP pattern
	// (vrrp_garp_master_repeat 5, vrrp_garp_master_delay 5).
	DefaultBurstCount       = 5
	DefaultBurstInterval    = 10 * time.Millisecond
	DefaultSecondBurstDelay = 5 * time.Second
	DefaultCheckInterval    = 500 * time.Millisecond
)

// Config configures a Client. New checks every field before it changes
// anything.
type Config struct {
	// NetNSPath names the network namespace (/run/netns/NAME,
	// /proc/PID/ns/net); "" is the caller's.
	NetNSPath string
	// Identity names this node's records on the host (see director.Config):
	// with it, a process killed with SIGKILL leaves records from which the
	// next New with the same Identity removes its VIPs and daemons.
	Identity string
	// Interface is where the VIPs go while Master (required; it must
	// exist). It is tracked: down or gone forces Fault.
	Interface string
	// VIPs are added as /32 or /128 on Interface while Master; 1 or more,
	// one family.
	VIPs []netip.Addr
	// VRID is the virtual router's ID (1..255), the sync ID's default;
	// required with a sync mode and no Sync.SyncID.
	VRID int
	// Burst is the gratuitous ARP / unsolicited NA burst sent on becoming
	// Master, SecondBurst the one sent SecondBurstDelay later if still
	// Master. A zero Burst means DefaultBurstCount packets
	// DefaultBurstInterval apart (a zero Count within a non-zero Burst
	// too); a negative Count sends none. A negative SecondBurstDelay
	// sends no second burst; zero means DefaultSecondBurstDelay.
	Burst, SecondBurst director.Gratuitous
	SecondBurstDelay   time.Duration
	// Refresh is sent every RefreshInterval while Master, for switches
	// and neighbours whose caches expire (keepalived's
	// vrrp_garp_master_refresh and _refresh_repeat). A zero
	// RefreshInterval sends none; a zero Refresh.Count sends one packet.
	Refresh         director.Gratuitous
	RefreshInterval time.Duration
	// Outranked, with a positive Count, is sent while Master each time
	// the elector reports a master this node outranks (Client.Outranked,
	// vrrp.EventOutranked through HandleVRRP): after a partition heals,
	// neighbours may hold the other master's MAC. OutrankedDelay, if
	// positive, sends it once more that long later (keepalived's
	// garp_lower_prio_repeat and garp_lower_prio_delay). Zero: none.
	Outranked      director.Gratuitous
	OutrankedDelay time.Duration
	// Sync configures the IPVS sync daemons.
	Sync Sync
	// Elector, if set, is run by Run (and stopped while in Fault);
	// trackers with a weight change its priority.
	Elector Elector
	// Priority is the elector's configured priority, 1..255, which
	// weighted trackers raise or lower (clamped to 1..254; 255, the
	// address owner, is never changed). Required with weighted trackers.
	Priority int
	// Trackers are checked every CheckInterval.
	Trackers []Tracker
	// TrackInterfaces are more interfaces whose going down (or away)
	// forces Fault (keepalived's track_interface).
	TrackInterfaces []string
	// CheckInterval is how often trackers and interfaces are checked;
	// 0 means DefaultCheckInterval.
	CheckInterval time.Duration
	// OnEvent, if set, receives every event on Run's goroutine, in order
	// (keepalived's notify_master/backup/fault/stop are the EventRole
	// events). It must return quickly and must not call Run or Close.
	OnEvent func(Event)
}

// EventKind says what an Event reports.
type EventKind int

const (
	// EventRole: the role changed (From, To, Reason), after the host
	// actions of the new role were made.
	EventRole EventKind = iota + 1
	// EventTracker: a tracker (Tracker, "interface NAME" for an
	// interface) started failing (Err) or recovered (Err nil).
	EventTracker
	// EventPriority: the priority offered to the elector changed.
	EventPriority
	// EventError: a host action failed (Op, Err); the role stays.
	EventError
)

// Event is one notification.
type Event struct {
	Kind     EventKind
	Time     time.Time
	From, To Role
	Reason   string
	Tracker  string
	Priority int
	Op       string
	Err      error
}

func (e Event) String() string {
	t := e.Time.Format(time.RFC3339Nano)
	switch e.Kind {
	case EventRole:
		return fmt.Sprintf("%s: %s -> %s: %s", t, e.From, e.To, e.Reason)
	case EventTracker:
		if e.Err == nil {
			return fmt.Sprintf("%s: %s recovered", t, e.Tracker)
		}
		return fmt.Sprintf("%s: %s failing: %v", t, e.Tracker, e.Err)
	case EventPriority:
		return fmt.Sprintf("%s: priority %d", t, e.Priority)
	case EventError:
		return fmt.Sprintf("%s: %s: %v", t, e.Op, e.Err)
	}
	return t + ": event?"
}

// host is what the Client does to the host; host_linux.go's is the real
// one, the tests use a fake.
type host interface {
	// addVIPs adds every VIP not yet held, announcing each with g.
	addVIPs(ctx context.Context, g director.Gratuitous) error
	// removeVIPs removes the VIPs addVIPs added.
	removeVIPs(ctx context.Context) error
	// announce sends g for every held VIP.
	announce(ctx context.Context, g director.Gratuitous) error
	// startDaemon starts d (recorded on the host first); ErrConflict if a
	// daemon of its role runs that we did not start.
	startDaemon(ctx context.Context, d ipvs.Daemon) error
	// stopDaemon stops the daemon of role s if we started it.
	stopDaemon(ctx context.Context, s ipvs.DaemonState) error
	// linkUp reports whether the interface exists and is up; the error
	// says why not.
	linkUp(name string) error
	close() error
}

// Client turns role changes into host actions. Safe for concurrent use;
// Run runs one at a time.
type Client struct {
	cfg Config
	h   host

	mu        sync.Mutex
	pending   *roleMsg
	outranked atomic.Bool // Outranked was called since Run last looked
	sig       chan struct{}

	role atomic.Int32
	run  runguard.Guard // Run and Close
}

type roleMsg struct {
	role   Role
	reason string
}

// New checks cfg, opens the host's clients in cfg.NetNSPath and, with an
// Identity, removes what a killed predecessor of that identity left (its
// VIPs and sync daemons). Nothing else changes before Run. A VIP that
// would not be reachable where it goes (director.CheckVIP) is refused
// with ErrIneffective before that: a master would hold only part of its
// VIPs.
func New(cfg *Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := newClient(cfg)
	h, err := openHost(&c.cfg)
	if err != nil {
		return nil, err
	}
	c.h = h
	return c, nil
}

func newClient(cfg *Config) *Client {
	c := &Client{cfg: *cfg, sig: make(chan struct{}, 1)}
	c.cfg.VIPs = slices.Clone(cfg.VIPs)
	c.cfg.Trackers = slices.Clone(cfg.Trackers)
	c.cfg.TrackInterfaces = slices.Clone(cfg.TrackInterfaces)
	c.cfg.defaults()
	return c
}

// Validate checks cfg without touching the host (New also checks that the
// interfaces exist and that each VIP would be reachable there).
func (cfg *Config) Validate() error {
	if cfg == nil {
		return invalid("Config", "missing")
	}
	if cfg.Interface == "" {
		return invalid("Interface", "missing: the interface the VIPs go on")
	}
	if len(cfg.VIPs) == 0 {
		return invalid("VIPs", "missing: at least one")
	}
	for i, a := range cfg.VIPs {
		if err := (director.VIP{Address: a, Announce: director.AnnounceARP, Interface: cfg.Interface}).Validate(); err != nil {
			msg := err.Error()
			var e *Error
			if errors.As(err, &e) && e.Err != nil {
				msg = e.Err.Error()
			}
			return invalid("VIPs", fmt.Sprintf("%v: %s", a, msg))
		}
		if a.Unmap().Is4() != cfg.VIPs[0].Unmap().Is4() {
			return invalid("VIPs", fmt.Sprintf("%v: not of the first VIP's family (%v)", a, cfg.VIPs[0]))
		}
		if slices.Contains(cfg.VIPs[:i], a) {
			return invalid("VIPs", fmt.Sprintf("%v listed twice", a))
		}
	}
	if cfg.VRID < 0 || cfg.VRID > 255 {
		return invalid("VRID", fmt.Sprintf("%d: must be 1 to 255", cfg.VRID))
	}
	for _, b := range []struct {
		name string
		g    director.Gratuitous
	}{{"Burst", cfg.Burst}, {"SecondBurst", cfg.SecondBurst}, {"Refresh", cfg.Refresh}, {"Outranked", cfg.Outranked}} {
		if b.g.Interval < 0 {
			return invalid(b.name, "negative Interval")
		}
		if b.g.Count > 100 {
			return invalid(b.name, fmt.Sprintf("Count %d: at most 100", b.g.Count))
		}
	}
	if cfg.CheckInterval < 0 {
		return invalid("CheckInterval", "negative")
	}
	if cfg.RefreshInterval < 0 {
		return invalid("RefreshInterval", "negative")
	}
	if cfg.OutrankedDelay < 0 {
		return invalid("OutrankedDelay", "negative")
	}
	s := cfg.Sync
	switch s.Mode {
	case SyncOff:
		if s.Interface != "" || s.SyncID != 0 || s.PeerSyncID != 0 {
			return invalid("Sync.Mode", "SyncOff with other Sync fields set: choose SyncFollow or SyncBoth")
		}
	case SyncFollow, SyncBoth:
		if s.Interface == "" {
			return invalid("Sync.Interface", "missing: the interface the sync daemons use")
		}
		if s.SyncID < 0 || s.SyncID > 255 {
			return invalid("Sync.SyncID", fmt.Sprintf("%d: must be 1 to 255", s.SyncID))
		}
		if s.SyncID == 0 && cfg.VRID == 0 {
			return invalid("Sync.SyncID", "missing, and no VRID to default to")
		}
		id := s.SyncID
		if id == 0 {
			id = cfg.VRID
		}
		if s.Mode == SyncFollow && s.PeerSyncID != 0 {
			return invalid("Sync.PeerSyncID", "only for SyncBoth")
		}
		if s.Mode == SyncBoth && (s.PeerSyncID < 1 || s.PeerSyncID > 255 || s.PeerSyncID == id) {
			return invalid("Sync.PeerSyncID", fmt.Sprintf("%d: must be 1 to 255 and differ from the sync ID %d", s.PeerSyncID, id))
		}
		if s.Group.IsValid() && !s.Group.IsMulticast() {
			return invalid("Sync.Group", fmt.Sprintf("%v: not a multicast group", s.Group))
		}
	default:
		return invalid("Sync.Mode", fmt.Sprintf("%d: unknown", s.Mode))
	}
	weighted := false
	for i, t := range cfg.Trackers {
		field := fmt.Sprintf("Trackers[%d]", i)
		if t.Name == "" || t.Check == nil {
			return invalid(field, "Name and Check are required")
		}
		if slices.ContainsFunc(cfg.Trackers[:i], func(o Tracker) bool { return o.Name == t.Name }) {
			return invalid(field, fmt.Sprintf("name %q used twice", t.Name))
		}
		if t.Weight < -254 || t.Weight > 254 {
			return invalid(field, fmt.Sprintf("Weight %d: must be -254 to 254", t.Weight))
		}
		weighted = weighted || t.Weight != 0
	}
	if cfg.Priority < 0 || cfg.Priority > 255 || weighted && cfg.Priority == 0 {
		return invalid("Priority", fmt.Sprintf("%d: must be 1 to 255 (required with weighted trackers)", cfg.Priority))
	}
	if weighted && cfg.Elector == nil {
		return invalid("Elector", "missing: weighted trackers change the elector's priority")
	}
	for i, name := range cfg.TrackInterfaces {
		if name == "" || slices.Contains(cfg.TrackInterfaces[:i], name) {
			return invalid("TrackInterfaces", fmt.Sprintf("%q: empty or listed twice", name))
		}
	}
	return nil
}

func (cfg *Config) defaults() {
	fill := func(g *director.Gratuitous) {
		if g.Count == 0 {
			g.Count = DefaultBurstCount
		}
		if g.Interval == 0 {
			g.Interval = DefaultBurstInterval
		}
	}
	fill(&cfg.Burst)
	fill(&cfg.SecondBurst)
	if cfg.Refresh.Count == 0 {
		cfg.Refresh.Count = 1 // keepalived's vrrp_garp_master_refresh_repeat
	}
	fill(&cfg.Refresh)
	if cfg.Outranked.Count > 0 && cfg.Outranked.Interval == 0 {
		cfg.Outranked.Interval = DefaultBurstInterval
	}
	if cfg.SecondBurstDelay == 0 {
		cfg.SecondBurstDelay = DefaultSecondBurstDelay
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.Sync.Mode != SyncOff && cfg.Sync.SyncID == 0 {
		cfg.Sync.SyncID = cfg.VRID
	}
}

// interfaces are the interfaces whose state forces Fault.
func (cfg *Config) interfaces() []string {
	out := []string{cfg.Interface}
	for _, n := range cfg.TrackInterfaces {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// SetRole tells the Client the elector's new role (Init, Backup or
// Master; others are ignored), with why. It never blocks: Run applies the
// latest role on its goroutine, so it may be called from an elector's
// event callback.
func (c *Client) SetRole(r Role, reason string) {
	if r != Init && r != Backup && r != Master {
		return
	}
	c.mu.Lock()
	c.pending = &roleMsg{r, reason}
	c.mu.Unlock()
	select {
	case c.sig <- struct{}{}:
	default:
	}
}

// Outranked tells a Master that a master it outranks advertised: it
// sends Config.Outranked (if any) without blocking the caller.
func (c *Client) Outranked() {
	c.outranked.Store(true)
	select {
	case c.sig <- struct{}{}:
	default:
	}
}

// HandleVRRP passes a vrrp.Node's transitions to SetRole, and its
// EventOutranked to Outranked: use it as (or call it from)
// vrrp.Config.OnEvent.
func (c *Client) HandleVRRP(e vrrp.Event) {
	if e.Kind == vrrp.EventOutranked {
		c.Outranked()
		return
	}
	if e.Kind != vrrp.EventTransition {
		return
	}
	switch e.To {
	case vrrp.Master:
		c.SetRole(Master, "vrrp: "+e.Reason.String())
	case vrrp.Backup:
		c.SetRole(Backup, "vrrp: "+e.Reason.String())
	default:
		c.SetRole(Init, "vrrp: "+e.Reason.String())
	}
}

func (c *Client) takePending() *roleMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.pending
	c.pending = nil
	return m
}

// Role returns the role the host is set up for now.
func (c *Client) Role() Role { return Role(c.role.Load()) }

// Close releases the Client's sockets; call it after Run returned.
func (c *Client) Close() error {
	if c.run.Close() || c.h == nil {
		return nil
	}
	return c.h.close()
}

// Run starts the sync daemons of the initial role (Init: the backup
// daemon), runs the elector and applies every role it reports, checks
// the trackers and interfaces, until ctx ends. Then it stops the elector
// (a master tells its peers), removes the VIPs and stops the daemons it
// started, and returns nil, or the cleanup's error. An elector that stops
// on its own is an error: Run cleans up and returns it.
func (c *Client) Run(ctx context.Context) error {
	done, err := c.run.Start(pkg)
	if err != nil {
		return err
	}
	defer done()
	c.outranked.Store(false) // an earlier run's
	r := &runner{c: c, cfg: &c.cfg, prio: c.cfg.Priority, failing: map[string]bool{}, daemons: map[ipvs.DaemonState]bool{}}
	return r.run(ctx)
}

// runner is one Run's state, owned by its goroutine.
type runner struct {
	c        *Client
	cfg      *Config
	role     Role
	inFault  bool
	faultWhy string
	prio     int
	failing  map[string]bool
	daemons  map[ipvs.DaemonState]bool
	elCancel context.CancelFunc
	elDone   chan error
	burst    *time.Timer
	refresh  *time.Ticker // while Master, with a RefreshInterval
	again    *time.Timer  // Outranked's second burst
}

// actionTimeout bounds one host action.
const actionTimeout = 30 * time.Second

func (r *runner) emit(e Event) {
	e.Time = time.Now()
	if r.cfg.OnEvent != nil {
		r.cfg.OnEvent(e)
	}
}

func (r *runner) fail(op string, err error) {
	if err != nil {
		r.emit(Event{Kind: EventError, Op: op, Err: err})
	}
}

func (r *runner) run(ctx context.Context) error {
	actx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	var err error
	switch r.cfg.Sync.Mode {
	case SyncBoth:
		if err = r.daemon(actx, ipvs.DaemonMaster, true); err == nil {
			err = r.daemon(actx, ipvs.DaemonBackup, true)
		}
	case SyncFollow:
		err = r.daemon(actx, ipvs.DaemonBackup, true)
	}
	cancel()
	if err != nil {
		return errors.Join(err, r.shutdown())
	}
	r.check(ctx)
	if !r.inFault {
		r.startElector()
	}
	tick := time.NewTicker(r.cfg.CheckInterval)
	defer tick.Stop()
	for {
		var burstC, refreshC, againC <-chan time.Time
		if r.burst != nil {
			burstC = r.burst.C
		}
		if r.refresh != nil {
			refreshC = r.refresh.C
		}
		if r.again != nil {
			againC = r.again.C
		}
		select {
		case <-ctx.Done():
			return r.shutdown()
		case <-r.c.sig:
			if m := r.c.takePending(); m != nil && !r.inFault && r.elDone != nil {
				r.toRole(m.role, m.reason)
			}
			if r.c.outranked.Swap(false) && r.role == Master && r.cfg.Outranked.Count > 0 {
				r.announce(ctx, "outranked gratuitous burst", r.cfg.Outranked)
				if r.cfg.OutrankedDelay > 0 && r.again == nil {
					r.again = time.NewTimer(r.cfg.OutrankedDelay)
				}
			}
		case <-tick.C:
			r.check(ctx)
		case <-burstC:
			r.burst = nil
			r.announce(ctx, "second gratuitous burst", r.cfg.SecondBurst)
		case <-refreshC:
			r.announce(ctx, "gratuitous refresh", r.cfg.Refresh)
		case <-againC:
			r.again = nil
			r.announce(ctx, "outranked gratuitous burst", r.cfg.Outranked)
		case err := <-r.elDone:
			r.elDone, r.elCancel = nil, nil
			if err == nil {
				err = errors.New("elector stopped")
			}
			r.fail("elector", err)
			r.c.takePending()
			return errors.Join(err, r.shutdown())
		}
	}
}

func (r *runner) startElector() {
	if r.cfg.Elector == nil {
		r.elDone = make(chan error) // never fires; SetRole alone drives
		r.elCancel = func() {}
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	el := r.cfg.Elector
	go func() { done <- el.Run(ctx) }()
	r.elCancel, r.elDone = cancel, done
}

// stopElector stops the elector and waits for it; the roles it reported
// meanwhile are dropped (the caller sets the role).
func (r *runner) stopElector() {
	if r.elCancel == nil {
		return
	}
	r.elCancel()
	if r.cfg.Elector != nil {
		if err := <-r.elDone; err != nil {
			r.fail("elector", err)
		}
	}
	r.elCancel, r.elDone = nil, nil
	r.c.takePending()
}

// check runs the trackers and interface checks and acts on changes.
func (r *runner) check(ctx context.Context) {
	fault := ""
	prio := r.cfg.Priority
	for _, t := range r.cfg.Trackers {
		tctx, cancel := context.WithTimeout(ctx, r.cfg.CheckInterval)
		err := t.Check(tctx)
		cancel()
		r.note(t.Name, err)
		switch {
		case err != nil && t.Weight == 0:
			if fault == "" {
				fault = fmt.Sprintf("tracker %s: %v", t.Name, err)
			}
		case err != nil && t.Weight < 0:
			prio += t.Weight
		case err == nil && t.Weight > 0:
			prio += t.Weight
		}
	}
	for _, name := range r.cfg.interfaces() {
		err := r.c.h.linkUp(name)
		r.note("interface "+name, err)
		if err != nil && fault == "" {
			fault = fmt.Sprintf("interface %s: %v", name, err)
		}
	}
	if r.cfg.Priority == 255 {
		prio = 255
	} else {
		prio = min(max(prio, 1), 254)
	}
	// Only weighted trackers move the priority: without them the
	// elector keeps its own.
	if r.weighted() && prio != r.prio {
		r.prio = prio
		r.fail("set priority", r.cfg.Elector.SetPriority(prio))
		r.emit(Event{Kind: EventPriority, Priority: prio})
	}
	switch {
	case fault != "" && !r.inFault:
		r.inFault = true
		r.stopElector()
		r.toRole(Fault, fault)
	case fault == "" && r.inFault:
		r.inFault = false
		r.toRole(Backup, "fault cleared")
		if ctx.Err() == nil {
			r.startElector()
		}
	}
}

func (r *runner) weighted() bool {
	for _, t := range r.cfg.Trackers {
		if t.Weight != 0 {
			return true
		}
	}
	return false
}

// note reports a tracker's change of state.
func (r *runner) note(name string, err error) {
	if (err != nil) != r.failing[name] {
		r.failing[name] = err != nil
		r.emit(Event{Kind: EventTracker, Tracker: name, Err: err})
	}
}

// toRole makes the host actions of role to and reports the change.
func (r *runner) toRole(to Role, reason string) {
	if to == r.role {
		return
	}
	from := r.role
	r.role = to
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	follow := r.cfg.Sync.Mode == SyncFollow
	if to == Master {
		// The VIPs first: they are what clients wait for.
		r.fail("add VIPs", r.c.h.addVIPs(ctx, r.cfg.Burst))
		if r.cfg.SecondBurstDelay > 0 && r.cfg.SecondBurst.Count > 0 {
			r.burst = time.NewTimer(r.cfg.SecondBurstDelay)
		}
		if r.cfg.RefreshInterval > 0 {
			r.refresh = time.NewTicker(r.cfg.RefreshInterval)
		}
		if follow {
			r.fail("stop backup sync daemon", r.daemon(ctx, ipvs.DaemonBackup, false))
			r.fail("start master sync daemon", r.daemon(ctx, ipvs.DaemonMaster, true))
		}
	} else {
		r.stopTimers()
		r.fail("remove VIPs", r.c.h.removeVIPs(ctx))
		if follow {
			r.fail("stop master sync daemon", r.daemon(ctx, ipvs.DaemonMaster, false))
			if to == Backup || to == Init {
				r.fail("start backup sync daemon", r.daemon(ctx, ipvs.DaemonBackup, true))
			}
		}
	}
	r.c.role.Store(int32(to))
	r.emit(Event{Kind: EventRole, From: from, To: to, Reason: reason})
}

// daemon starts or stops our daemon of role s.
func (r *runner) daemon(ctx context.Context, s ipvs.DaemonState, on bool) error {
	if r.daemons[s] == on {
		return nil
	}
	if !on {
		err := r.c.h.stopDaemon(ctx, s)
		if err == nil {
			r.daemons[s] = false
		}
		return err
	}
	sy := r.cfg.Sync
	d := ipvs.Daemon{State: s, Interface: sy.Interface, SyncID: uint8(sy.SyncID), Group: sy.Group, Port: sy.Port, TTL: sy.TTL, MaxLen: sy.MaxLen}
	if s == ipvs.DaemonBackup && sy.Mode == SyncBoth {
		d.SyncID = uint8(sy.PeerSyncID)
	}
	err := r.c.h.startDaemon(ctx, d)
	if err == nil {
		r.daemons[s] = true
	}
	return err
}

// announce sends g for the VIPs while Master.
func (r *runner) announce(ctx context.Context, op string, g director.Gratuitous) {
	if r.role != Master || ctx.Err() != nil {
		return
	}
	actx, cancel := context.WithTimeout(ctx, actionTimeout)
	err := r.c.h.announce(actx, g)
	cancel()
	// A burst cut short because we are stopping is no failure: select
	// picks among ready cases at random, so a timer can win over
	// ctx.Done.
	if ctx.Err() == nil {
		r.fail(op, err)
	}
}

// stopTimers stops the announcements of a Master.
func (r *runner) stopTimers() {
	if r.burst != nil {
		r.burst.Stop()
		r.burst = nil
	}
	if r.refresh != nil {
		r.refresh.Stop()
		r.refresh = nil
	}
	if r.again != nil {
		r.again.Stop()
		r.again = nil
	}
}

// shutdown stops the elector, then removes everything of ours.
func (r *runner) shutdown() error {
	r.stopElector()
	r.stopTimers()
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	errl := []error{r.c.h.removeVIPs(ctx), r.daemon(ctx, ipvs.DaemonMaster, false), r.daemon(ctx, ipvs.DaemonBackup, false)}
	from := r.role
	r.role = Stopped
	r.c.role.Store(int32(Stopped))
	err := errors.Join(errl...)
	if err != nil {
		r.fail("stop", err)
	}
	r.emit(Event{Kind: EventRole, From: from, To: Stopped, Reason: "stopped"})
	return err
}
