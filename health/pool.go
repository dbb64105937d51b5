package health

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// Pool health-checks the real servers of one or more virtual services and
// keeps the services' destinations in line with the results.
//
// A check is keyed by what it checks: the checker's kind and parameters,
// the target (address, port, mark, source) and the timing of its
// attempts. Servers with the same key, in one service or in several (the
// same backend behind VIP:80 and VIP:443), share one stream of checks
// whose results feed each of them; Rise and Fall are counted per server.
// Built-in checkers are compared by their parameters, other checkers by
// value when their type is comparable (one pointer shared), else never.
//
// Services and servers can be added, changed, removed and put in
// maintenance while the pool runs, without touching the checks or the
// destinations of the others.
type Pool struct {
	cfg     Config // pool-wide settings; services live in svcs
	running atomic.Bool

	// runMu orders live changes against Run's start and end: while Run
	// runs, changes go to its goroutine through ops; otherwise they edit
	// the configuration under runMu.
	runMu sync.Mutex
	ops   chan *op
	done  chan struct{}

	mu   sync.Mutex // guards svcs, the members' state and the services' quorum
	svcs []*service

	// Run's goroutine owns the rest.
	ns      *namespace
	probes  map[probeKey]*probe
	heap    timerHeap
	results chan result
	batches chan []result // the TCP poller's results, a round at a time
	tcp     *tcpPoller    // TCP checks' poller, started with the first
	wg      sync.WaitGroup
	events  []Event // to notify after the next write
	flushAt time.Time
}

type service struct {
	cfg       ServiceConfig
	members   []*member
	quorum    bool
	upWeight  int
	sorryIn   bool // the sorry server is in IPVS (as written or found)
	requorum  bool // an up server's weight changed: evaluate quorum
	sorryWant bool
}

// member is one real server of one service.
type member struct {
	svc     *service
	cfg     Server
	timing  Timing
	addr    netip.AddrPort // destination address:port, the server's identity
	target  Target
	probe   *probe
	st      ServerState
	cur     ipvs.Destination // as written or found; valid while st.InIPVS
	dynamic uint32           // weight from a WeightChecker
	hasDyn  bool
	dirty   bool // IPVS may differ from what the member wants
	drainID uint64
	drainBy time.Time
	probeIn bool // Run created the ViaVIP probe service
}

type op struct {
	f   func(ctx context.Context) error
	err chan error
}

// New validates cfg and returns a pool; nothing is changed until Run.
func New(cfg Config) (*Pool, error) {
	if cfg.IPVS == nil {
		return nil, pkg.Invalid("configure", "", "IPVS", "missing: pass an *ipvs.Client")
	}
	if err := checkTiming("", "Timing", cfg.Timing, true); err != nil {
		return nil, err
	}
	if cfg.DrainPoll < 0 {
		return nil, pkg.Invalid("configure", "", "DrainPoll", "negative")
	}
	if cfg.DrainPoll == 0 {
		cfg.DrainPoll = defaultDrainPoll
	}
	if cfg.WriteDelay < 0 {
		return nil, pkg.Invalid("configure", "", "WriteDelay", "negative")
	}
	if cfg.WriteDelay == 0 {
		cfg.WriteDelay = defaultWriteDelay
	}
	if cfg.Start < StartAdopt || cfg.Start > StartUp {
		return nil, pkg.Invalid("configure", "", "Start", "not a StartMode")
	}
	p := &Pool{cfg: cfg}
	scs := cfg.Services
	if sc, ok := cfg.first(); ok {
		scs = append([]ServiceConfig{sc}, scs...)
	}
	if len(scs) == 0 {
		return nil, pkg.Invalid("configure", "", "Service", "missing: a pool needs a service")
	}
	for _, sc := range scs {
		s, err := p.newService(sc)
		if err != nil {
			return nil, err
		}
		if p.find(sc.Service) != nil {
			return nil, pkg.Invalid("configure", sc.Service.String(), "Service", "listed twice")
		}
		p.svcs = append(p.svcs, s)
	}
	p.cfg.Service, p.cfg.Servers, p.cfg.Services, p.cfg.Sorry = ipvs.ServiceKey{}, nil, nil, nil
	return p, nil
}

// newService validates sc and builds its service; nothing runs.
func (p *Pool) newService(sc ServiceConfig) (*service, error) {
	svc := sc.Service.String()
	if err := checkService(sc); err != nil {
		return nil, err
	}
	if sc.Quorum == 0 {
		sc.Quorum = 1
	}
	sc.Servers = slices.Clone(sc.Servers)
	s := &service{cfg: sc}
	for i, srv := range sc.Servers {
		m, err := p.newMember(s, srv, "Servers["+itoa(i)+"].")
		if err != nil {
			return nil, err
		}
		if s.member(m.addr) != nil {
			return nil, pkg.Invalid("configure", m.addr.String(), "Destination", "listed twice in "+svc)
		}
		if err := s.markFree(m); err != nil {
			return nil, err
		}
		s.members = append(s.members, m)
	}
	return s, nil
}

// newMember validates srv as a server of s.
func (p *Pool) newMember(s *service, srv Server, field string) (*member, error) {
	if err := checkServer(s.cfg, srv, field, p.cfg.Passive); err != nil {
		return nil, err
	}
	addr := netip.AddrPortFrom(srv.Destination.Address.Unmap(), srv.Destination.Port)
	t := srv.Timing.or(p.cfg.Timing).withDefaults()
	if err := checkTiming(addr.String(), "Timing", t, false); err != nil {
		return nil, err
	}
	return &member{svc: s, cfg: srv, timing: t, addr: addr, st: ServerState{Server: addr}}, nil
}

// markFree checks that no other server of s uses m's ViaVIP mark.
func (s *service) markFree(m *member) error {
	if !m.cfg.ViaVIP {
		return nil
	}
	for _, o := range s.members {
		if o != m && o.addr != m.addr && o.cfg.ViaVIP && o.cfg.Mark == m.cfg.Mark {
			return pkg.Invalid("configure", m.addr.String(), "Mark", "used by another server: marks pick the server a check goes to")
		}
	}
	return nil
}

func (s *service) member(a netip.AddrPort) *member {
	for _, m := range s.members {
		if m.addr == a {
			return m
		}
	}
	return nil
}

// present returns the server of s (service k) at a, which must not be
// leaving: the one a live change may touch.
func (s *service) present(op string, k ipvs.ServiceKey, a netip.AddrPort) (*member, error) {
	m := s.member(a)
	if m == nil || m.st.Leaving {
		return nil, pkg.New(op, a.String(), ErrNotExist, errors.New("not a server of "+k.String()))
	}
	return m, nil
}

func (p *Pool) find(k ipvs.ServiceKey) *service {
	for _, s := range p.svcs {
		if sameService(s.cfg.Service, k) {
			return s
		}
	}
	return nil
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// Snapshot returns the state of the pool's first service. It is safe to
// call at any time from any goroutine.
func (p *Pool) Snapshot() State {
	all := p.Snapshots()
	if len(all) == 0 {
		return State{Running: p.running.Load()}
	}
	return all[0]
}

// Snapshots returns the state of every service of the pool, in the order
// they were added.
func (p *Pool) Snapshots() []State {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]State, 0, len(p.svcs))
	for _, s := range p.svcs {
		st := State{Service: s.cfg.Service, Running: p.running.Load(), Quorum: s.quorum, UpWeight: s.upWeight,
			SorryActive: s.sorryWant && s.cfg.Sorry != nil, Servers: make([]ServerState, len(s.members))}
		for i, m := range s.members {
			st.Servers[i] = m.st
		}
		out = append(out, st)
	}
	return out
}

// weight is the weight an up server is written with.
func (m *member) weight() uint32 {
	if m.hasDyn {
		return m.dynamic
	}
	return m.cfg.Destination.Weight
}

// counts reports whether m's weight counts toward its service's quorum.
func (m *member) counts() bool { return m.st.Up && !m.st.Maintenance && !m.st.Leaving }

// Run checks the servers and updates IPVS until ctx ends. It first reads
// each service's destinations and brings them in line with the servers'
// initial state (see Config.Start); it fails if a service does not exist.
//
// When ctx ends Run waits for checks in flight (they are cancelled) and
// returns an error matching ErrCanceled and ctx's error. IPVS is left as
// last written, which is consistent with the last results: up servers at
// their weight, down servers at weight 0 (Inhibit) or absent (Remove; a
// server still draining stays at weight 0), the sorry server present
// exactly while quorum is lost. Nothing is restored: the pool's view of
// health stays in force until another Run or another tool changes it.
func (p *Pool) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return pkg.New("run", "", ErrBusy, errors.New("the pool is already running"))
	}
	defer p.running.Store(false)
	p.runMu.Lock()
	unlocked := false
	defer func() {
		if !unlocked {
			p.runMu.Unlock()
		}
	}()
	fd, err := openNetNS(p.cfg.NetNSPath)
	if err != nil {
		return wrap("run", p.cfg.NetNSPath, err)
	}
	defer closeNetNS(fd)
	p.ns = nil
	if fd >= 0 {
		p.ns = &namespace{fd: fd}
	}
	p.probes = map[probeKey]*probe{}
	p.heap = timerHeap{}
	p.results = make(chan result, 64)
	p.batches = make(chan []result, 4)
	p.events, p.flushAt = nil, time.Time{}
	defer p.stop()
	for _, s := range p.svcs {
		if err := p.startService(ctx, s); err != nil {
			return err
		}
	}
	p.flush(ctx)
	p.ops, p.done = make(chan *op), make(chan struct{})
	p.runMu.Unlock()
	err = p.loop(ctx)
	p.runMu.Lock()
	return err
}

// stop ends a Run (runMu held): checks in flight end, probe services go,
// live changes edit the configuration again.
func (p *Pool) stop() {
	if p.tcp != nil {
		p.tcp.stop()
	}
	p.wg.Wait()
	if p.tcp != nil {
		p.tcp.close()
		p.tcp = nil
	}
	if p.done != nil {
		close(p.done)
	}
	p.ops, p.done = nil, nil
	// Run's context is over by now; removal is bounded on its own.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.svcs {
		for _, m := range s.members {
			p.removeProbeService(ctx, m)
			m.probe = nil
		}
		// A removed server still draining was the caller's to remove:
		// it stays in IPVS at weight 0, out of the pool.
		s.members = slices.DeleteFunc(s.members, func(m *member) bool { return m.st.Leaving })
	}
	p.probes = nil
}

// startService reads s's destinations, sets its members' initial state
// and starts their checks; the next flush writes what differs.
func (p *Pool) startService(ctx context.Context, s *service) error {
	have, err := p.destinations(ctx, s.cfg.Service)
	if err != nil {
		return err
	}
	for _, m := range s.members {
		if err := p.startMember(ctx, m, have); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.cfg.Sorry != nil {
		_, s.sorryIn = have[netip.AddrPortFrom(s.cfg.Sorry.Address.Unmap(), s.cfg.Sorry.Port)]
	}
	s.upWeight = 0
	for _, m := range s.members {
		if m.counts() {
			s.upWeight += int(m.weight())
		}
	}
	s.quorum = s.upWeight >= s.cfg.Quorum
	s.sorryWant = !s.quorum
	return nil
}

// startMember prepares m's target, its probe service, its initial state
// (from have, the service's destinations) and its checks.
func (p *Pool) startMember(ctx context.Context, m *member, have map[netip.AddrPort]ipvs.Destination) error {
	k := m.svc.cfg.Service
	t := Target{Server: m.addr, Mark: m.cfg.Mark, Addr: m.addr, Source: m.cfg.Source, ns: p.ns}
	if m.cfg.Connect.IsValid() {
		t.Addr = m.cfg.Connect
	}
	if m.cfg.ViaVIP {
		port := k.Port
		if m.cfg.Connect.Port() != 0 {
			port = m.cfg.Connect.Port()
		}
		t.Addr = netip.AddrPortFrom(k.Address, port)
		if !t.Source.IsValid() {
			// Ask the kernel which source address reaches the server: a
			// connected UDP socket sends nothing.
			c, err := (Target{Addr: m.addr, ns: p.ns}).DialContext(ctx, "udp")
			if err != nil {
				return wrap("find source address", m.addr.String(), err)
			}
			t.Source = c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
			c.Close()
		}
		if err := p.createProbeService(ctx, m); err != nil {
			return err
		}
	}
	cur, listed := have[m.addr]
	var up bool
	switch p.cfg.Start {
	case StartUp:
		up = true
	case StartAdopt:
		up = listed && cur.Weight > 0 && cur.Weight == m.cfg.Destination.Weight
	}
	p.mu.Lock()
	m.target = t
	maint := m.st.Maintenance
	m.st = ServerState{Server: m.addr, Up: up, InIPVS: listed, Weight: cur.Weight, Maintenance: maint}
	m.cur, m.hasDyn, m.dirty = cur, false, true
	p.mu.Unlock()
	p.attach(m)
	return nil
}

// viaVIPKey is the firewall-mark service that carries m's ViaVIP checks.
func viaVIPKey(m *member) ipvs.ServiceKey {
	return ipvs.ServiceKey{Family: ipvs.FamilyOf(m.svc.cfg.Service.Address), Fwmark: m.cfg.Mark}
}

// createProbeService creates, for a ViaVIP server, a firewall-mark
// service whose only destination is that server. IPVS looks firewall-mark
// services up first, and schedules locally generated packets too, so a
// marked check to the VIP is forwarded to exactly that server, the way
// clients' packets are. (A policy route for the mark alone does not do
// it: IPVS would catch the packet to the VIP in LOCAL_OUT and schedule it
// to any server.) Run removes it when it ends.
func (p *Pool) createProbeService(ctx context.Context, m *member) error {
	k := viaVIPKey(m)
	err := p.cfg.IPVS.CreateService(ctx, ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin})
	switch {
	case err == nil:
		m.probeIn = true
	case !errors.Is(err, ipvs.ErrExist):
		return wrap("create probe service", k.String(), err)
	}
	d := m.cfg.Destination
	d.Weight = 1
	if err := upsert(ctx, p.cfg.IPVS, k, d); err != nil {
		return wrap("create probe service", k.String()+" -> "+d.String(), err)
	}
	return nil
}

func (p *Pool) removeProbeService(ctx context.Context, m *member) {
	if m.probeIn {
		p.cfg.IPVS.DeleteService(ctx, viaVIPKey(m))
		m.probeIn = false
	}
}

// upsert updates d, or creates it if it is missing.
func upsert(ctx context.Context, c IPVS, k ipvs.ServiceKey, d ipvs.Destination) error {
	err := c.UpdateDestination(ctx, k, d)
	if errors.Is(err, ipvs.ErrNotExist) {
		err = c.CreateDestination(ctx, k, d)
	}
	return err
}

func (p *Pool) notify(e Event) {
	if p.cfg.Notify != nil {
		p.cfg.Notify(e)
	}
}

const defaultWriteDelay = 10 * time.Millisecond

// maxSlack bounds how late a check may start to share a wake-up with
// others (a hundredth of its interval at most).
const maxSlack = 10 * time.Millisecond

// loop is the pool's one scheduling goroutine: a timer heap of due checks
// and drain polls, the results of checks in flight, live changes, and the
// writes they cause.
func (p *Pool) loop(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := time.Time{}
		if p.heap.len() > 0 {
			e := p.heap.peek()
			next = e.due
			if e.p != nil {
				// Checks due within a little while start together: one
				// wake-up per batch, not per check, when thousands are
				// spread over their interval.
				next = next.Add(min(e.p.timing.Interval/100, maxSlack))
			}
		}
		if !p.flushAt.IsZero() && (next.IsZero() || p.flushAt.Before(next)) {
			next = p.flushAt
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return wrap("run", "", ctx.Err())
		case r := <-p.results:
			p.handle(r)
		case rs := <-p.batches:
			for _, r := range rs {
				p.handle(r)
			}
		case o := <-p.ops:
			// A live change is in IPVS when its call returns.
			err := o.f(ctx)
			p.flush(ctx)
			o.err <- err
		case <-timer.C:
			p.due(ctx)
		}
		timer.Stop() // Go 1.23 timers: no stale tick after Stop
		if !p.flushAt.IsZero() && !time.Now().Before(p.flushAt) {
			p.flush(ctx)
		}
	}
}

// due starts the checks and drain polls whose time has come.
func (p *Pool) due(ctx context.Context) {
	now := time.Now()
	var polls []entry
	for p.heap.len() > 0 && !p.heap.peek().due.After(now) {
		e := p.heap.pop()
		switch {
		case e.m != nil:
			polls = append(polls, e)
		case !e.p.dead:
			p.launch(ctx, e.p, e.due)
		}
	}
	if len(polls) > 0 {
		p.pollDrains(ctx, polls)
	}
}

// changed asks for a write soon.
func (p *Pool) changed() {
	if p.flushAt.IsZero() {
		p.flushAt = time.Now().Add(p.cfg.WriteDelay)
	}
}

// handle counts one finished check for every server it is for.
func (p *Pool) handle(r result) {
	pr := r.probe
	if pr.dead {
		return
	}
	next := r.due.Add(pr.timing.Interval)
	if now := time.Now(); next.Before(now) {
		// Overran its slot(s): resume on the grid.
		skip := now.Sub(next)/pr.timing.Interval + 1
		next = next.Add(skip * pr.timing.Interval)
	}
	p.heap.push(entry{due: next, p: pr})
	// One instant for the transitions: the events' time and the drains'
	// deadline, so "deleted Drain after it went down" holds exactly.
	at := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range pr.subs {
		p.judge(m, r, at)
	}
}

// judge applies one result to m (p.mu held): counters, transitions,
// drains; the write and the events follow at the next flush.
func (p *Pool) judge(m *member, r result, at time.Time) {
	s := m.svc
	m.st.Checks++
	m.st.LastCheck, m.st.LastDuration, m.st.LastError = r.start, r.dur, r.err
	oldWeight := m.weight()
	var changed bool
	if r.err == nil {
		m.st.Successes++
		m.st.Failures = 0
		m.hasDyn, m.dynamic = r.hasWeight, r.weight
		if !m.st.Up && m.st.Successes >= m.timing.Rise {
			m.st.Up, changed = true, true
			if m.st.Draining && !m.st.Leaving {
				m.st.Draining = false
				m.drainID++
			}
		}
	} else {
		m.st.Failures++
		m.st.Successes = 0
		if m.st.Up && m.st.Failures >= m.timing.Fall {
			m.st.Up, changed = false, true
			if s.cfg.OnFailure == Remove && s.cfg.Drain > 0 && !m.st.Leaving {
				p.startDrain(m, at, s.cfg.Drain)
			}
		}
	}
	if changed || m.st.Up && m.weight() != oldWeight || m.dirty {
		m.dirty = true
		s.requorum = true
		p.changed()
	}
	if changed {
		kind := ServerUp
		if !m.st.Up {
			kind = ServerDown
		}
		p.events = append(p.events, Event{Kind: kind, Service: s.cfg.Service, Time: at, Server: m.addr, Err: r.err})
	}
}

// startDrain puts m at weight 0 and polls its connections until it can be
// deleted (p.mu held). UDP and SCTP are deleted at once.
func (p *Pool) startDrain(m *member, at time.Time, d time.Duration) {
	if m.svc.cfg.Service.DrainsAtOnce() || !m.st.InIPVS {
		return
	}
	// First poll at once: a server without connections goes without
	// waiting.
	m.st.Draining, m.st.DrainConns = true, 0
	m.drainID++
	m.drainBy = at.Add(d)
	p.heap.push(entry{due: at, m: m, drain: m.drainID})
}

// want is the destination m should have in IPVS (p.mu held).
func (m *member) want() (d ipvs.Destination, present bool) {
	d = m.cfg.Destination
	d.Address = d.Address.Unmap()
	d.Weight = 0
	switch {
	case m.st.Draining:
		return d, true
	case m.st.Leaving:
		return d, false
	case m.st.Up && !m.st.Maintenance:
		d.Weight = m.weight()
		return d, true
	case m.st.Maintenance || m.svc.cfg.OnFailure == Inhibit:
		return d, true
	}
	return d, false
}

// pending is one write of a flush and whom it is for.
type pending struct {
	m     *member  // nil: the sorry server of svc
	svc   *service // for the sorry server
	ch    ipvs.Change
	retry bool
}

// flush writes what the members and services want and IPVS does not
// have, in one batch, then sends the events of the changes.
func (p *Pool) flush(ctx context.Context) {
	p.flushAt = time.Time{}
	p.mu.Lock()
	var ws []pending
	for _, s := range p.svcs {
		if s.requorum {
			p.quorum(s)
		}
		svc := ipvs.Service{ServiceKey: s.cfg.Service}
		for _, m := range s.members {
			if !m.dirty {
				continue
			}
			d, present := m.want()
			var op ipvs.Op
			switch {
			case present && !m.st.InIPVS:
				op = ipvs.OpCreateDestination
			case present && m.cur != d:
				op = ipvs.OpUpdateDestination
			case !present && m.st.InIPVS:
				op = ipvs.OpDeleteDestination
			default:
				m.dirty = false
				continue
			}
			ws = append(ws, pending{m: m, ch: ipvs.Change{Op: op, Service: svc, Destination: d}})
		}
		if s.cfg.Sorry != nil && s.sorryWant != s.sorryIn {
			d := *s.cfg.Sorry
			if d.Weight == 0 {
				d.Weight = 1
			}
			op := ipvs.OpDeleteDestination
			if s.sorryWant {
				op = ipvs.OpCreateDestination
			}
			ws = append(ws, pending{svc: s, ch: ipvs.Change{Op: op, Service: svc, Destination: d}})
		}
	}
	p.mu.Unlock()
	for len(ws) > 0 {
		ws = p.write(ctx, ws)
	}
	p.mu.Lock()
	for _, s := range p.svcs {
		s.members = slices.DeleteFunc(s.members, func(m *member) bool {
			return m.st.Leaving && !m.st.InIPVS && !m.dirty
		})
	}
	evs := p.events
	p.events = nil
	p.mu.Unlock()
	for _, e := range evs {
		p.notify(e)
	}
}

// write commits ws and records the outcome; it returns the writes to try
// again in the other form (an update of a destination someone deleted
// becomes a create, and the reverse), once.
func (p *Pool) write(ctx context.Context, ws []pending) []pending {
	chs := make([]ipvs.Change, len(ws))
	for i, w := range ws {
		chs[i] = w.ch
	}
	errs := make([]error, len(chs)) // passive: Desired carries them
	if !p.cfg.Passive {
		errs = commit(ctx, p.cfg.IPVS, chs)
	}
	var again []pending
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range ws {
		err := errs[i]
		if err != nil && !w.retry {
			switch {
			case w.ch.Op == ipvs.OpUpdateDestination && errors.Is(err, ipvs.ErrNotExist):
				w.ch.Op, w.retry = ipvs.OpCreateDestination, true
				again = append(again, w)
				continue
			case w.ch.Op == ipvs.OpCreateDestination && errors.Is(err, ipvs.ErrExist):
				w.ch.Op, w.retry = ipvs.OpUpdateDestination, true
				again = append(again, w)
				continue
			}
		}
		if err != nil && w.ch.Op == ipvs.OpDeleteDestination && errors.Is(err, ipvs.ErrNotExist) {
			err = nil // gone already
		}
		present := w.ch.Op != ipvs.OpDeleteDestination
		if w.m == nil {
			if err == nil {
				w.svc.sorryIn = present
				continue
			}
			e := wrap("update IPVS", "sorry server "+w.ch.Destination.String(), err)
			p.events = append(p.events, Event{Kind: IPVSError, Service: w.svc.cfg.Service, Time: time.Now(),
				Server: netip.AddrPortFrom(w.ch.Destination.Address, w.ch.Destination.Port), Err: e})
			continue
		}
		m := w.m
		if err != nil {
			e := wrap("update IPVS", m.addr.String(), err)
			m.st.IPVSError = e
			p.events = append(p.events, Event{Kind: IPVSError, Service: m.svc.cfg.Service, Time: time.Now(), Server: m.addr, Err: e})
			continue // m stays dirty: tried again after its next check
		}
		m.dirty, m.st.IPVSError = false, nil
		m.st.InIPVS, m.cur = present, w.ch.Destination
		m.st.Weight = 0
		if present {
			m.st.Weight = m.cur.Weight
		}
	}
	return again
}

// batcher is *ipvs.Client's batch method.
type batcher interface{ Batch() *ipvs.Batch }

// commit sends chs, in one batch when c can, and returns one error (or
// nil) per change.
func commit(ctx context.Context, c IPVS, chs []ipvs.Change) []error {
	errs := make([]error, len(chs))
	if b, ok := c.(batcher); ok {
		res, err := b.Batch().Add(chs...).Commit(ctx)
		switch {
		case len(res.Errs) == len(chs):
			copy(errs, res.Errs)
		case err != nil:
			for i := range errs {
				errs[i] = err
			}
		}
		return errs
	}
	for i, ch := range chs {
		k := ch.Service.ServiceKey
		switch ch.Op {
		case ipvs.OpCreateDestination:
			errs[i] = c.CreateDestination(ctx, k, ch.Destination)
		case ipvs.OpUpdateDestination:
			errs[i] = c.UpdateDestination(ctx, k, ch.Destination)
		case ipvs.OpDeleteDestination:
			errs[i] = c.DeleteDestination(ctx, k, netip.AddrPortFrom(ch.Destination.Address, ch.Destination.Port))
		}
	}
	return errs
}

// pollDrains reads the connections of the servers whose drain polls es
// are due, with one dump per service, and lets those without connections
// or past their drain time go (unless they recovered); it schedules the
// next polls of those still draining.
func (p *Pool) pollDrains(ctx context.Context, es []entry) {
	p.mu.Lock()
	es = slices.DeleteFunc(es, func(e entry) bool {
		return !e.m.st.Draining || e.m.drainID != e.drain || !slices.Contains(p.svcs, e.m.svc) // recovered, an older drain, or gone
	})
	p.mu.Unlock()
	bySvc := map[*service][]entry{}
	for _, e := range es {
		bySvc[e.m.svc] = append(bySvc[e.m.svc], e)
	}
	for s, es := range bySvc {
		ds, err := p.cfg.IPVS.Destinations(ctx, s.cfg.Service)
		if err != nil && ctx.Err() == nil {
			// Connections unknown: drains go on until their time is up.
			p.events = append(p.events, Event{Kind: IPVSError, Service: s.cfg.Service, Time: time.Now(), Err: wrap("poll drains", s.cfg.Service.String(), err)})
		}
		conns := make(map[netip.AddrPort]uint32, len(ds))
		for _, d := range ds {
			conns[netip.AddrPortFrom(d.Address.Unmap(), d.Port)] = d.ActiveConns + d.InactiveConns
		}
		now := time.Now()
		p.mu.Lock()
		for _, e := range es {
			m := e.m
			n, listed := conns[m.addr]
			m.st.DrainConns = n
			if now.Before(m.drainBy) && (err != nil || (listed && n > 0)) {
				p.heap.push(entry{due: minTime(now.Add(p.cfg.DrainPoll), m.drainBy), m: m, drain: e.drain})
				continue
			}
			m.st.Draining, m.dirty = false, true
			p.changed()
		}
		p.mu.Unlock()
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// quorum re-evaluates s's quorum with hysteresis (p.mu held) and queues
// the event; flush swaps the sorry server.
func (p *Pool) quorum(s *service) {
	s.requorum = false
	up := 0
	for _, m := range s.members {
		if m.counts() {
			up += int(m.weight())
		}
	}
	s.upWeight = up
	had := s.quorum
	switch {
	case had && up < s.cfg.Quorum-s.cfg.Hysteresis:
		s.quorum = false
	case !had && up >= s.cfg.Quorum+s.cfg.Hysteresis:
		s.quorum = true
	}
	for i := range p.events {
		if e := &p.events[i]; e.Service == s.cfg.Service && (e.Kind == ServerUp || e.Kind == ServerDown) {
			e.UpWeight = up
		}
	}
	if s.quorum == had {
		return
	}
	s.sorryWant = !s.quorum
	var sorry netip.AddrPort
	if s.cfg.Sorry != nil {
		sorry = netip.AddrPortFrom(s.cfg.Sorry.Address, s.cfg.Sorry.Port)
	}
	kind := QuorumRegained
	if !s.quorum {
		kind = QuorumLost
	}
	p.events = append(p.events, Event{Kind: kind, Service: s.cfg.Service, Time: time.Now(), Server: sorry, UpWeight: up})
}

// probe is one stream of checks, shared by every member with its key.
type probe struct {
	key     probeKey
	checker Checker
	target  Target
	timing  Timing
	subs    []*member
	dead    bool // no member left: its entries and results are dropped
	fastTCP bool // a TCP connect without retries: the poller runs it
}

// probeKey identifies a check: what it checks and how its attempts go.
type probeKey struct {
	check         any
	target        Target
	interval      time.Duration
	timeout       time.Duration
	retries       int
	retryDelay    time.Duration
	weightChecker bool
}

// keyed is implemented by the built-in checkers: a comparable value of
// their parameters.
type keyed interface{ key() any }

func keyOf(m *member) probeKey {
	var check any = m // not comparable: never shared
	target := m.target
	switch c := m.cfg.Checker.(type) {
	case keyed:
		check = c.key()
		if _, ok := c.(*Command); !ok {
			// Only a command sees the real server (LVS_REAL_SERVER);
			// the others check the address alone, so VIP:80 -> RS:80
			// and VIP:8080 -> RS:8080 with Connect RS:80 share.
			target.Server = netip.AddrPort{}
		}
	default:
		if reflect.ValueOf(c).Comparable() {
			check = c
		}
	}
	_, wc := m.cfg.Checker.(WeightChecker)
	t := m.timing
	return probeKey{check: check, target: target, interval: t.Interval, timeout: t.Timeout,
		retries: t.Retries, retryDelay: t.RetryDelay, weightChecker: wc}
}

// attach subscribes m to the probe of its key, starting one if none runs.
func (p *Pool) attach(m *member) {
	k := keyOf(m)
	pr := p.probes[k]
	if pr == nil {
		pr = &probe{key: k, checker: m.cfg.Checker, target: m.target, timing: m.timing}
		pr.fastTCP = fastTCP(pr)
		p.probes[k] = pr
		due := time.Now()
		if m.timing.Warmup > 0 {
			due = due.Add(rand.N(m.timing.Warmup))
		}
		p.heap.push(entry{due: due, p: pr})
	}
	p.mu.Lock()
	pr.subs = append(pr.subs, m)
	m.probe = pr
	p.mu.Unlock()
}

// detach ends m's subscription; a probe without members stops.
func (p *Pool) detach(m *member) {
	pr := m.probe
	if pr == nil {
		return
	}
	p.mu.Lock()
	pr.subs = slices.DeleteFunc(pr.subs, func(o *member) bool { return o == m })
	m.probe = nil
	p.mu.Unlock()
	if len(pr.subs) == 0 {
		pr.dead = true
		delete(p.probes, pr.key)
	}
}

// result is one finished check.
type result struct {
	probe     *probe
	due       time.Time
	start     time.Time
	dur       time.Duration
	err       error
	weight    uint32
	hasWeight bool
}

// launch runs one check of pr: a TCP connect on the pool's poller, any
// other on a goroutine of its own.
func (p *Pool) launch(ctx context.Context, pr *probe, due time.Time) {
	if ctx.Err() != nil {
		return // ending: a check started now could not report
	}
	if pr.fastTCP && p.tcp == nil {
		// Without a poller (none can be made), checks run as the others.
		p.tcp, _ = newTCPPoller(ctx, p.batches, &p.wg)
	}
	if pr.fastTCP && p.tcp != nil {
		if r, ok := p.tcp.start(pr, due); ok {
			p.handle(r)
		}
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		r := pr.check(ctx, due)
		select {
		case p.results <- r:
		case <-ctx.Done():
		}
	}()
}

// check runs one check, with its retries.
func (pr *probe) check(ctx context.Context, due time.Time) result {
	r := result{probe: pr, due: due, start: time.Now()}
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, pr.timing.Timeout)
		if wc, ok := pr.checker.(WeightChecker); ok {
			r.weight, r.hasWeight, r.err = wc.CheckWeight(cctx, pr.target)
		} else {
			r.err = pr.checker.Check(cctx, pr.target)
		}
		cancel()
		if r.err == nil || attempt >= pr.timing.Retries || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(pr.timing.RetryDelay):
		}
	}
	r.dur = time.Since(r.start)
	return r
}
