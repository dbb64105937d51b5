package health

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// Pool health-checks the real servers of one virtual service and keeps
// the service's destinations in line with the results.
type Pool struct {
	cfg     Config
	servers []*server
	running atomic.Bool

	mu    sync.Mutex // guards the fields below and every server's st
	state State

	drains []entry // drain polls set by handle, for loop's heap
}

type server struct {
	cfg     Server
	timing  Timing
	addr    netip.AddrPort // destination address:port, the server's identity
	target  Target
	st      ServerState
	dynamic uint32 // weight from a WeightChecker
	hasDyn  bool
	dirty   bool      // an IPVS change failed: reapply after the next check
	drainID uint64    // which drain is current
	drainBy time.Time // when the current drain ends at the latest
}

// New validates cfg and returns a pool; nothing is changed until Run.
func New(cfg Config) (*Pool, error) {
	if cfg.IPVS == nil {
		return nil, invalid("", "IPVS", "missing: pass an *ipvs.Client")
	}
	svc := cfg.Service.String()
	if cfg.Service.Fwmark == 0 && !cfg.Service.Address.IsValid() {
		return nil, invalid(svc, "Service", "needs an address or a firewall mark")
	}
	if len(cfg.Servers) == 0 {
		return nil, invalid(svc, "Servers", "empty")
	}
	if cfg.OnFailure != Inhibit && cfg.OnFailure != Remove {
		return nil, invalid(svc, "OnFailure", "neither Inhibit nor Remove")
	}
	if cfg.Drain < 0 || (cfg.Drain > 0 && cfg.OnFailure != Remove) {
		return nil, invalid(svc, "Drain", "only with OnFailure: Remove (Inhibit already drains), and not negative")
	}
	if cfg.DrainPoll < 0 {
		return nil, invalid(svc, "DrainPoll", "negative")
	}
	if cfg.DrainPoll == 0 {
		cfg.DrainPoll = defaultDrainPoll
	}
	if cfg.Quorum < 0 || cfg.Hysteresis < 0 {
		return nil, invalid(svc, "Quorum", "Quorum and Hysteresis must not be negative")
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = 1
	}
	if cfg.Sorry != nil && !cfg.Sorry.Address.IsValid() {
		return nil, invalid(svc, "Sorry", "has no address")
	}
	p := &Pool{cfg: cfg}
	seen := map[netip.AddrPort]bool{}
	marks := map[uint32]bool{}
	for i, s := range cfg.Servers {
		addr := netip.AddrPortFrom(s.Destination.Address.Unmap(), s.Destination.Port)
		obj := addr.String()
		switch {
		case !s.Destination.Address.IsValid():
			return nil, invalid(svc, "Servers["+itoa(i)+"].Destination.Address", "missing")
		case seen[addr]:
			return nil, invalid(obj, "Destination", "listed twice")
		case s.Checker == nil:
			return nil, invalid(obj, "Checker", "missing")
		case s.ViaVIP && s.Mark == 0:
			return nil, invalid(obj, "Mark", "ViaVIP needs a socket mark that the director routes to this server")
		case s.ViaVIP && marks[s.Mark]:
			return nil, invalid(obj, "Mark", "used by another server: marks pick the server a check goes to")
		case s.ViaVIP && cfg.Service.Fwmark != 0:
			return nil, invalid(obj, "ViaVIP", "needs an address service (a firewall-mark service has no single VIP)")
		case cfg.Sorry != nil && addr == netip.AddrPortFrom(cfg.Sorry.Address.Unmap(), cfg.Sorry.Port):
			return nil, invalid(obj, "Sorry", "is also a real server")
		}
		seen[addr] = true
		if s.ViaVIP {
			marks[s.Mark] = true
		}
		t := s.Timing.or(cfg.Timing).withDefaults()
		switch {
		case t.Interval < 0 || t.Timeout < 0 || t.RetryDelay < 0 || t.Warmup < 0:
			return nil, invalid(obj, "Timing", "durations must not be negative")
		case t.Rise < 1 || t.Fall < 1:
			return nil, invalid(obj, "Timing", "Rise and Fall must be at least 1")
		case t.Retries < 0:
			return nil, invalid(obj, "Timing.Retries", "negative")
		}
		target := Target{Server: addr, Mark: s.Mark, Addr: addr, Source: s.Source}
		if s.Connect.IsValid() {
			target.Addr = s.Connect
		}
		if s.ViaVIP {
			port := cfg.Service.Port
			if s.Connect.Port() != 0 {
				port = s.Connect.Port()
			}
			target.Addr = netip.AddrPortFrom(cfg.Service.Address, port)
		}
		p.servers = append(p.servers, &server{cfg: s, timing: t, addr: addr, target: target, st: ServerState{Server: addr}})
	}
	p.state.Service = cfg.Service
	return p, nil
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// Snapshot returns the pool's current state. It is safe to call at any
// time from any goroutine.
func (p *Pool) Snapshot() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state
	s.Running = p.running.Load()
	s.Servers = make([]ServerState, len(p.servers))
	for i, sv := range p.servers {
		s.Servers[i] = sv.st
	}
	return s
}

// configuredWeight is the weight an up server is written with.
func (s *server) weight() uint32 {
	if s.hasDyn {
		return s.dynamic
	}
	return s.cfg.Destination.Weight
}

// result is one finished check.
type result struct {
	i        int
	due      time.Time
	start    time.Time
	dur      time.Duration
	err      error
	weight   uint32
	hasWeigh bool
}

// Run checks the servers and updates IPVS until ctx ends. It first brings
// the service in line with the servers' initial state (see
// Config.StartUp), and fails if the service does not exist.
//
// When ctx ends Run waits for checks in flight (they are cancelled) and
// returns ctx's error. IPVS is left as last written, which is consistent
// with the last results: up servers at their weight, down servers at
// weight 0 (Inhibit) or absent (Remove; a server still draining stays at
// weight 0), the sorry server present exactly while quorum is lost.
// Nothing is restored: the pool's view of health stays in force until
// another Run or another tool changes it.
func (p *Pool) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return newErr("run", p.cfg.Service.String(), ErrBusy, errors.New("the pool is already running"))
	}
	defer p.running.Store(false)
	fd, err := openNetNS(p.cfg.NetNSPath)
	if err != nil {
		return wrap("run", p.cfg.NetNSPath, err)
	}
	defer closeNetNS(fd)
	var ns *namespace
	if fd >= 0 {
		ns = &namespace{fd: fd}
	}
	for _, s := range p.servers {
		s.target.ns = ns
		if s.cfg.ViaVIP && !s.cfg.Source.IsValid() {
			// Ask the kernel which source address reaches the server: a
			// connected UDP socket sends nothing.
			c, err := (Target{Addr: s.addr, ns: ns}).DialContext(ctx, "udp")
			if err != nil {
				return wrap("find source address", s.addr.String(), err)
			}
			s.target.Source = c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
			c.Close()
		}
	}
	created, err := p.probeServices(ctx)
	defer p.removeProbeServices(created)
	if err != nil {
		return err
	}
	if err := p.start(ctx); err != nil {
		return err
	}
	return p.loop(ctx)
}

// probeKey is the firewall-mark service that carries ViaVIP checks of s.
func (p *Pool) probeKey(s *server) ipvs.ServiceKey {
	return ipvs.ServiceKey{Family: ipvs.FamilyOf(p.cfg.Service.Address), Fwmark: s.cfg.Mark}
}

// probeServices creates, for each ViaVIP server, a firewall-mark service
// whose only destination is that server. IPVS looks firewall-mark services
// up first, and schedules locally generated packets too, so a marked check
// to the VIP is forwarded to exactly that server, the way clients' packets
// are. (A policy route for the mark alone does not do it: IPVS would catch
// the packet to the VIP in LOCAL_OUT and schedule it to any server.) It
// returns the services it created, to remove when Run ends.
func (p *Pool) probeServices(ctx context.Context) ([]ipvs.ServiceKey, error) {
	var created []ipvs.ServiceKey
	for _, s := range p.servers {
		if !s.cfg.ViaVIP {
			continue
		}
		k := p.probeKey(s)
		err := p.cfg.IPVS.CreateService(ctx, ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin})
		switch {
		case err == nil:
			created = append(created, k)
		case !errors.Is(err, ipvs.ErrExist):
			return created, wrap("create probe service", k.String(), err)
		}
		d := s.cfg.Destination
		d.Weight = 1
		if err := upsert(ctx, p.cfg.IPVS, k, d); err != nil {
			return created, wrap("create probe service", k.String()+" -> "+d.String(), err)
		}
	}
	return created, nil
}

func (p *Pool) removeProbeServices(keys []ipvs.ServiceKey) {
	if len(keys) == 0 {
		return
	}
	// Run's context is over by now; removal is bounded on its own.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, k := range keys {
		p.cfg.IPVS.DeleteService(ctx, k)
	}
}

// start writes the initial state: every server up or down as configured,
// and the sorry server according to the resulting quorum.
func (p *Pool) start(ctx context.Context) error {
	ds, err := p.cfg.IPVS.Destinations(ctx, p.cfg.Service)
	if err != nil {
		return wrap("run", p.cfg.Service.String(), err)
	}
	// Write only what differs: one dump instead of a failed update per
	// missing destination, and nothing at all on a restart.
	have := make(map[netip.AddrPort]ipvs.Destination, len(ds))
	for _, d := range ds {
		d.Address = d.Address.Unmap()
		have[netip.AddrPortFrom(d.Address, d.Port)] = d.Destination
	}
	p.mu.Lock()
	for _, s := range p.servers {
		s.st = ServerState{Server: s.addr, Up: p.cfg.StartUp}
		s.hasDyn = false
	}
	p.mu.Unlock()
	var first error
	for _, s := range p.servers {
		if err := p.applyKnown(ctx, s, have); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	up := p.upWeight()
	p.mu.Lock()
	p.state.UpWeight = up
	p.state.Quorum = up >= p.cfg.Quorum
	p.mu.Unlock()
	return p.applySorry(ctx, !p.state.Quorum)
}

// apply writes s's desired destination state to IPVS.
func (p *Pool) apply(ctx context.Context, s *server) error { return p.applyKnown(ctx, s, nil) }

// applyKnown is apply given the service's destinations (nil: unknown).
func (p *Pool) applyKnown(ctx context.Context, s *server, have map[netip.AddrPort]ipvs.Destination) error {
	p.mu.Lock()
	up, draining := s.st.Up, s.st.Draining
	p.mu.Unlock()
	d := s.cfg.Destination
	var err error
	present, weight := true, uint32(0)
	switch {
	case up:
		weight = s.weight()
	case p.cfg.OnFailure == Remove && !draining:
		present = false
	}
	cur, listed := have[s.addr]
	d.Address = d.Address.Unmap()
	d.Weight = weight
	switch {
	case have != nil && present && !listed:
		err = p.cfg.IPVS.CreateDestination(ctx, p.cfg.Service, d)
	case have != nil && (present && cur == d || !present && !listed):
		// Already so.
	case present:
		err = upsert(ctx, p.cfg.IPVS, p.cfg.Service, d)
	default:
		err = p.cfg.IPVS.DeleteDestination(ctx, p.cfg.Service, s.addr)
		if errors.Is(err, ipvs.ErrNotExist) {
			// Gone already; but a missing service is still an error.
			_, err = p.cfg.IPVS.Destinations(ctx, p.cfg.Service)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		s.dirty = true
		s.st.IPVSError = err
		return wrap("update IPVS", s.addr.String(), err)
	}
	s.dirty = false
	s.st.IPVSError = nil
	s.st.InIPVS, s.st.Weight = present, weight
	return nil
}

// upsert updates d, or creates it if it is missing.
func upsert(ctx context.Context, c IPVS, k ipvs.ServiceKey, d ipvs.Destination) error {
	err := c.UpdateDestination(ctx, k, d)
	if errors.Is(err, ipvs.ErrNotExist) {
		err = c.CreateDestination(ctx, k, d)
	}
	return err
}

func (p *Pool) applySorry(ctx context.Context, active bool) error {
	p.mu.Lock()
	p.state.SorryActive = active && p.cfg.Sorry != nil
	p.mu.Unlock()
	if p.cfg.Sorry == nil {
		return nil
	}
	d := *p.cfg.Sorry
	if d.Weight == 0 {
		d.Weight = 1
	}
	var err error
	if active {
		err = upsert(ctx, p.cfg.IPVS, p.cfg.Service, d)
	} else if err = p.cfg.IPVS.DeleteDestination(ctx, p.cfg.Service, netip.AddrPortFrom(d.Address, d.Port)); errors.Is(err, ipvs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return wrap("update IPVS", "sorry server "+d.String(), err)
	}
	return nil
}

func (p *Pool) upWeight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.servers {
		if s.st.Up {
			n += int(s.weight())
		}
	}
	return n
}

func (p *Pool) notify(e Event) {
	if p.cfg.Notify != nil {
		p.cfg.Notify(e)
	}
}

// loop is the pool's one scheduling goroutine: a timer heap of due checks
// and drain polls, and the results of checks in flight.
func (p *Pool) loop(ctx context.Context) error {
	var (
		h       timerHeap
		results = make(chan result, len(p.servers))
		wg      sync.WaitGroup
		timer   = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	defer wg.Wait()
	now := time.Now()
	for i, s := range p.servers {
		due := now
		if s.timing.Warmup > 0 {
			due = now.Add(rand.N(s.timing.Warmup))
		}
		h.push(entry{due: due, i: i})
	}
	for {
		if h.len() > 0 {
			timer.Reset(time.Until(h.peek().due))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-results:
			p.handle(ctx, r)
			s := p.servers[r.i]
			next := r.due.Add(s.timing.Interval)
			if now := time.Now(); next.Before(now) {
				// Overran its slot(s): resume on the grid.
				skip := now.Sub(next)/s.timing.Interval + 1
				next = next.Add(skip * s.timing.Interval)
			}
			h.push(entry{due: next, i: r.i})
		case <-timer.C:
			now := time.Now()
			var polls []entry
			for h.len() > 0 && !h.peek().due.After(now) {
				e := h.pop()
				if e.drain != 0 {
					polls = append(polls, e)
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					results <- p.check(ctx, e.i, e.due)
				}()
			}
			if len(polls) > 0 {
				p.drains = append(p.drains, p.pollDrains(ctx, polls)...)
			}
		}
		timer.Stop() // Go 1.23 timers: no stale tick after Stop
		for _, d := range p.drains {
			h.push(d)
		}
		p.drains = p.drains[:0]
	}
}

// check runs one check of server i, with its retries.
func (p *Pool) check(ctx context.Context, i int, due time.Time) result {
	s := p.servers[i]
	r := result{i: i, due: due, start: time.Now()}
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, s.timing.Timeout)
		if wc, ok := s.cfg.Checker.(WeightChecker); ok {
			r.weight, r.hasWeigh, r.err = wc.CheckWeight(cctx, s.target)
		} else {
			r.err = s.cfg.Checker.Check(cctx, s.target)
		}
		cancel()
		if r.err == nil || attempt >= s.timing.Retries || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(s.timing.RetryDelay):
		}
	}
	r.dur = time.Since(r.start)
	return r
}

// handle applies one result: counters, transitions, IPVS, quorum, events.
func (p *Pool) handle(ctx context.Context, r result) {
	if ctx.Err() != nil {
		return // cancelled checks say nothing about the servers
	}
	s := p.servers[r.i]
	// One instant for the transition: the event's time and the drain's
	// deadline, so "deleted Drain after it went down" holds exactly.
	at := time.Now()
	p.mu.Lock()
	s.st.Checks++
	s.st.LastCheck, s.st.LastDuration, s.st.LastError = r.start, r.dur, r.err
	oldWeight := s.weight()
	var changed bool
	if r.err == nil {
		s.st.Successes++
		s.st.Failures = 0
		s.hasDyn, s.dynamic = r.hasWeigh, r.weight
		if !s.st.Up && s.st.Successes >= s.timing.Rise {
			s.st.Up, s.st.Draining, changed = true, false, true
			s.drainID++
		}
	} else {
		s.st.Failures++
		s.st.Successes = 0
		if s.st.Up && s.st.Failures >= s.timing.Fall {
			s.st.Up, changed = false, true
			if p.cfg.OnFailure == Remove && p.cfg.Drain > 0 && !p.cfg.Service.DrainsAtOnce() {
				// First poll at once: a server without connections
				// goes without waiting.
				s.st.Draining, s.st.DrainConns = true, 0
				s.drainID++
				s.drainBy = at.Add(p.cfg.Drain)
				p.drains = append(p.drains, entry{due: at, i: r.i, drain: s.drainID})
			}
		}
	}
	up := s.st.Up
	reweigh := up && s.weight() != oldWeight
	dirty := s.dirty
	p.mu.Unlock()
	if changed || reweigh || dirty {
		if err := p.apply(ctx, s); err != nil {
			p.notify(Event{Kind: IPVSError, Time: time.Now(), Server: s.addr, Err: err})
		}
	}
	if changed {
		kind := ServerUp
		if !up {
			kind = ServerDown
		}
		p.notify(Event{Kind: kind, Time: at, Server: s.addr, Err: r.err, UpWeight: p.upWeight()})
	}
	if changed || reweigh {
		p.quorum(ctx)
	}
}

// pollDrains reads the connections of the servers whose drain polls es
// are due, with one dump of the service, and deletes those without
// connections or past their drain time (unless they recovered). It
// returns the next polls of those still draining.
func (p *Pool) pollDrains(ctx context.Context, es []entry) []entry {
	p.mu.Lock()
	es = slices.DeleteFunc(es, func(e entry) bool {
		s := p.servers[e.i]
		return !s.st.Draining || s.drainID != e.drain // recovered, or an older drain
	})
	p.mu.Unlock()
	if len(es) == 0 {
		return nil
	}
	ds, err := p.cfg.IPVS.Destinations(ctx, p.cfg.Service)
	if err != nil && ctx.Err() == nil {
		// Connections unknown: drains go on until their time is up.
		p.notify(Event{Kind: IPVSError, Time: time.Now(), Err: wrap("poll drains", p.cfg.Service.String(), err)})
	}
	conns := make(map[netip.AddrPort]uint32, len(ds))
	for _, d := range ds {
		conns[netip.AddrPortFrom(d.Address.Unmap(), d.Port)] = d.ActiveConns + d.InactiveConns
	}
	now := time.Now()
	var next []entry
	for _, e := range es {
		s := p.servers[e.i]
		n, listed := conns[s.addr]
		if now.Before(s.drainBy) && (err != nil || (listed && n > 0)) {
			p.mu.Lock()
			s.st.DrainConns = n
			p.mu.Unlock()
			next = append(next, entry{due: minTime(now.Add(p.cfg.DrainPoll), s.drainBy), i: e.i, drain: e.drain})
			continue
		}
		p.mu.Lock()
		s.st.Draining, s.st.DrainConns = false, n
		p.mu.Unlock()
		if err := p.apply(ctx, s); err != nil {
			p.notify(Event{Kind: IPVSError, Time: time.Now(), Server: s.addr, Err: err})
		}
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// quorum re-evaluates quorum with hysteresis and swaps the sorry server.
func (p *Pool) quorum(ctx context.Context) {
	up := p.upWeight()
	p.mu.Lock()
	p.state.UpWeight = up
	had := p.state.Quorum
	has := had
	switch {
	case had && up < p.cfg.Quorum-p.cfg.Hysteresis:
		has = false
	case !had && up >= p.cfg.Quorum+p.cfg.Hysteresis:
		has = true
	}
	p.state.Quorum = has
	p.mu.Unlock()
	if has == had {
		return
	}
	var sorry netip.AddrPort
	if p.cfg.Sorry != nil {
		sorry = netip.AddrPortFrom(p.cfg.Sorry.Address, p.cfg.Sorry.Port)
	}
	if err := p.applySorry(ctx, !has); err != nil {
		p.notify(Event{Kind: IPVSError, Time: time.Now(), Server: sorry, Err: err, UpWeight: up})
	}
	kind := QuorumRegained
	if !has {
		kind = QuorumLost
	}
	p.notify(Event{Kind: kind, Time: time.Now(), Server: sorry, UpWeight: up})
}
