package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/golvs/lvs/examples/keepalived/internal/conf"
	"github.com/golvs/lvs/failover"
	"github.com/golvs/lvs/failover/vrrp"
	"github.com/golvs/lvs/health"
)

// vrrpSide runs the VRRP side of a configuration: per vrrp_instance a
// failover/vrrp Node elects and a failover Client turns its roles into
// VIPs, gratuitous ARPs, sync daemons and notify scripts.
type vrrpSide struct {
	log     *logger
	scripts bool // scripts may run (enable_script_security)
	notify  *notifier
	insts   map[string]*instRun
	groups  map[string]*groupRun
	// runs has one runner per vrrp_script, shared by every instance that
	// tracks it: keepalived runs each script once.
	runs map[string]*scriptRun
}

// instRun is one running vrrp_instance.
type instRun struct {
	side *vrrpSide
	p    *instPlan
	node *vrrp.Node
	// syncTo is node.Sync (a stand-in in unit tests).
	syncTo func(vrrp.State) error
	// vstate and timedOut are the elector's state and when its timer
	// last expired; the sync group's, under its mutex.
	vstate   vrrp.State
	timedOut time.Time
	main     *failover.Client
	extra    []*failover.Client // the VIPs on other devices, following main
	group    *groupRun

	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	role    failover.Role
	prio    int
	failing map[string]bool // fault-causing trackers failing now
}

// groupRun is a running vrrp_sync_group: its members fault together, and
// its notify scripts run on the group's transitions.
type groupRun struct {
	p       *groupPlan
	mu      sync.Mutex
	members map[string]*instRun
	state   string
}

func newVRRPSide(log *logger, scripts bool) *vrrpSide {
	return &vrrpSide{log: log, scripts: scripts, notify: newNotifier(log), insts: map[string]*instRun{}, groups: map[string]*groupRun{}, runs: map[string]*scriptRun{}}
}

// apply makes plan the running VRRP side: instances whose plan changed
// (or that are gone) stop first, as on SIGTERM (priority 0, VIPs
// removed); new and changed ones are created, every one before any runs,
// so that an error (an interface missing) changes nothing at start-up.
func (s *vrrpSide) apply(plan *vrrpPlan) error {
	next := map[string]*instPlan{}
	for _, p := range plan.insts {
		next[p.name] = p
	}
	var stopping []*instRun
	for name, r := range s.insts {
		np, ok := next[name]
		switch {
		case ok && samePlan(r.p, np):
		case ok && onlyPriority(r.p, np):
			// keepalived's reload changes a priority in place: no
			// priority-0 advert, no VIP bouncing to the peer and back.
			if err := r.node.SetPriority(np.priority); err == nil {
				s.log.vprintf("(%s) Changing effective priority from %d to %d", name, r.p.priority, np.priority)
				// Only this goroutine reads a plan's priorities.
				r.p.priority, r.p.vrrp.Priority = np.priority, np.vrrp.Priority
				r.mu.Lock()
				r.prio = np.priority
				r.mu.Unlock()
				continue
			}
			fallthrough
		default:
			stopping = append(stopping, r)
			delete(s.insts, name)
		}
	}
	s.stopAll(stopping)
	groups := map[string]*groupRun{}
	for _, gp := range plan.groups {
		if g := s.groups[gp.name]; g != nil && reflect.DeepEqual(g.p, gp) {
			groups[gp.name] = g
			continue
		}
		groups[gp.name] = &groupRun{p: gp, members: map[string]*instRun{}}
	}
	s.groups = groups
	runs := s.scriptRuns(plan)
	var created []*instRun
	var errl []error
	for _, p := range plan.insts {
		if s.insts[p.name] != nil {
			// Kept: its group's plan is the same, so its groupRun too.
			continue
		}
		r, err := s.newInst(p, runs)
		if err != nil {
			errl = append(errl, fmt.Errorf("%s: vrrp_instance %s: %w", p.pos, p.name, err))
			continue
		}
		if p.group != nil {
			r.group = groups[p.group.name]
			r.group.join(r)
		}
		created = append(created, r)
	}
	if err := errors.Join(errl...); err != nil {
		for _, r := range created {
			r.close()
		}
		return err
	}
	for name, t := range s.runs {
		if runs[name] != t {
			t.stop()
		}
	}
	s.runs = runs
	for _, t := range runs {
		t.start()
	}
	for _, r := range created {
		s.insts[r.p.name] = r
		r.start()
	}
	return nil
}

// stop stops every instance (priority 0, VIPs removed, notify_stop) and
// waits, bounded, for the notify scripts.
func (s *vrrpSide) stop() {
	var all []*instRun
	for _, r := range s.insts {
		all = append(all, r)
	}
	s.insts = map[string]*instRun{}
	s.stopAll(all)
	for _, t := range s.runs {
		t.stop()
	}
	s.runs = map[string]*scriptRun{}
	s.notify.close(30 * time.Second)
}

func (s *vrrpSide) stopAll(rs []*instRun) {
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() { defer wg.Done(); r.stop() }()
	}
	wg.Wait()
}

// scriptRuns returns one runner per vrrp_script plan tracks, not started:
// a script whose plan is unchanged keeps its runner and its state (the
// instances tracking it are unchanged too, or restarted).
func (s *vrrpSide) scriptRuns(plan *vrrpPlan) map[string]*scriptRun {
	runs := map[string]*scriptRun{}
	if !s.scripts {
		return runs
	}
	for _, p := range plan.insts {
		for _, sp := range p.scripts {
			base := sp
			base.weight = 0 // the instance's, not the script's
			switch old := s.runs[sp.name]; {
			case runs[sp.name] != nil:
			case old != nil && old.p == base:
				runs[sp.name] = old
			default:
				runs[sp.name] = newScriptRun(base, s.log)
			}
		}
	}
	return runs
}

func (s *vrrpSide) newInst(p *instPlan, runs map[string]*scriptRun) (*instRun, error) {
	r := &instRun{side: s, p: p, prio: p.priority, failing: map[string]bool{}, done: make(chan struct{})}
	vc := p.vrrp
	vc.OnEvent = r.vrrpEvent
	if p.group != nil {
		vc.Hold = func() bool { return r.group.hold(r) }
	}
	node, err := vrrp.New(&vc)
	if err != nil {
		return nil, err
	}
	r.node, r.syncTo = node, node.Sync
	fc := p.failoverConfig(p.devs[0])
	fc.Elector, fc.OnEvent = node, r.event
	for _, sp := range p.scripts {
		if !s.scripts {
			s.log.vprintf("(%s) track_script %s is not run: scripts need enable_script_security", p.name, sp.name)
			continue
		}
		t := runs[sp.name]
		fc.Trackers = append(fc.Trackers, failover.Tracker{Name: "script " + sp.name, Weight: sp.weight, Check: t.check})
	}
	if p.group != nil {
		fc.Trackers = append(fc.Trackers, failover.Tracker{Name: "vrrp_sync_group " + p.group.name, Check: r.groupCheck})
	}
	if r.main, err = failover.New(&fc); err != nil {
		r.close()
		return nil, err
	}
	for _, dev := range p.devs[1:] {
		xc := p.failoverConfig(dev)
		xc.OnEvent = func(e failover.Event) {
			if e.Kind == failover.EventError {
				s.log.vprintf("(%s) %s on %s: %v", p.name, e.Op, dev, e.Err)
			}
		}
		x, err := failover.New(&xc)
		if err != nil {
			r.close()
			return nil, err
		}
		r.extra = append(r.extra, x)
	}
	return r, nil
}

func (r *instRun) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	var wg sync.WaitGroup
	for _, x := range r.extra {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := x.Run(ctx); err != nil {
				r.side.log.vprintf("(%s) %v", r.p.name, err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := r.main.Run(ctx)
		if err != nil && ctx.Err() == nil {
			r.side.log.vprintf("(%s) stopped: %v", r.p.name, err)
		}
	}()
	go func() { wg.Wait(); close(r.done) }()
}

func (r *instRun) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	r.close()
	if r.group != nil {
		r.group.leave(r)
	}
}

func (r *instRun) close() {
	if r.main != nil {
		r.main.Close()
	}
	for _, x := range r.extra {
		x.Close()
	}
	if r.node != nil {
		r.node.Close()
	}
}

func (r *instRun) vrrpEvent(e vrrp.Event) {
	if e.Kind == vrrp.EventMismatch {
		r.side.log.vprintf("(%s) %v", r.p.name, e)
	}
	if r.group != nil && e.Kind == vrrp.EventTransition {
		r.group.follow(r, e)
	}
	if e.Kind == vrrp.EventOutranked {
		r.side.log.vprintf("(%s) Received advert from %v with lower priority %d, ours %d", r.p.name, e.Peer, e.PeerPriority, r.currentPrio())
		for _, x := range r.extra {
			x.Outranked()
		}
	}
	if r.main != nil {
		r.main.HandleVRRP(e)
	}
}

// event is the main failover Client's: logs close to keepalived's, the
// other devices' VIPs following, notify scripts, the sync group.
func (r *instRun) event(e failover.Event) {
	name := r.p.name
	log := r.side.log
	switch e.Kind {
	case failover.EventRole:
		r.mu.Lock()
		r.role = e.To
		prio := r.prio
		r.mu.Unlock()
		for _, x := range r.extra {
			if e.To == failover.Master {
				x.SetRole(failover.Master, e.Reason)
			} else {
				x.SetRole(failover.Backup, e.Reason)
			}
		}
		state := ""
		var script string
		switch e.To {
		case failover.Master:
			state, script = "MASTER", r.p.notify.master
			log.vprintf("(%s) Entering MASTER STATE", name)
		case failover.Backup:
			state, script = "BACKUP", r.p.notify.backup
			log.vprintf("(%s) Entering BACKUP STATE", name)
		case failover.Fault:
			state, script = "FAULT", r.p.notify.fault
			log.vprintf("(%s) Entering FAULT STATE (%s)", name, e.Reason)
		case failover.Stopped:
			state, script = "STOP", r.p.notify.stop
			if e.From == failover.Master {
				log.vprintf("(%s) sent 0 priority", name)
				log.vprintf("(%s) removing VIPs.", name)
			}
			log.vprintf("(%s) Stopped", name)
		default:
			return
		}
		if r.side.scripts {
			r.side.notify.run(script)
			if r.p.notify.any != "" {
				r.side.notify.run(r.p.notify.any, "INSTANCE", name, state, strconv.Itoa(prio))
			}
		}
		if r.group != nil && e.To != failover.Stopped {
			r.group.update()
		}
	case failover.EventTracker:
		fault := true
		for _, s := range r.p.scripts {
			if "script "+s.name == e.Tracker && s.weight != 0 {
				fault = false
			}
		}
		if r.group != nil && e.Tracker == "vrrp_sync_group "+r.group.p.name {
			fault = false // the group's own: not a cause of its members' faults
		}
		r.mu.Lock()
		if fault {
			r.failing[e.Tracker] = e.Err != nil
		}
		r.mu.Unlock()
		if e.Err != nil {
			log.vprintf("(%s) %s failing: %v", name, e.Tracker, e.Err)
		} else {
			log.vprintf("(%s) %s recovered", name, e.Tracker)
		}
	case failover.EventPriority:
		r.mu.Lock()
		from := r.prio
		r.prio = e.Priority
		r.mu.Unlock()
		log.vprintf("(%s) Changing effective priority from %d to %d", name, from, e.Priority)
	case failover.EventError:
		log.vprintf("(%s) %s: %v", name, e.Op, e.Err)
	}
}

func (r *instRun) currentPrio() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prio
}

// ownFault reports whether the instance is in FAULT on its own account
// (an interface or a weight-0 script), not its sync group's.
func (r *instRun) ownFault() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.failing {
		if f {
			return true
		}
	}
	return false
}

// groupCheck fails while another member of the sync group is in FAULT on
// its own account: the group faults together.
func (r *instRun) groupCheck(context.Context) error {
	g := r.group
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, m := range g.members {
		if m != r && m.ownFault() {
			return fmt.Errorf("vrrp_instance %s is in FAULT", name)
		}
	}
	return nil
}

// follow moves the group's other members to the state r's election gave
// it (keepalived: a member's transition is reflected to the others). A
// transition the group caused, a start or a stop moves nobody; a member
// in FAULT has no running elector and stays there.
func (g *groupRun) follow(r *instRun, e vrrp.Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r.vstate = e.To
	switch {
	case e.Reason == vrrp.ReasonSync || e.Reason == vrrp.ReasonStart:
		return
	case e.To == vrrp.Master, e.To == vrrp.Backup && e.From == vrrp.Master:
	default:
		return
	}
	for _, m := range g.members {
		if m != r && m.syncTo != nil {
			m.syncTo(e.To)
		}
	}
}

// hold says whether r, whose master-down timer expired, must stay
// BACKUP: keepalived takes a sync group to MASTER only once every member
// has timed out too (within about its own master-down interval) or is
// MASTER already; the last one's transition then moves the others.
func (g *groupRun) hold(r *instRun) bool {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	r.timedOut = now
	for _, m := range g.members {
		if m != r && m.vstate != vrrp.Master && now.Sub(m.timedOut) > 4*m.p.vrrp.AdvertInterval {
			return true
		}
	}
	return false
}

func (g *groupRun) join(r *instRun) {
	g.mu.Lock()
	g.members[r.p.name] = r
	g.mu.Unlock()
}

func (g *groupRun) leave(r *instRun) {
	g.mu.Lock()
	if g.members[r.p.name] == r {
		delete(g.members, r.p.name)
	}
	g.mu.Unlock()
}

// update runs the group's notify scripts when its members, together,
// change state: FAULT if one is, MASTER or BACKUP once all are.
func (g *groupRun) update() {
	g.mu.Lock()
	var roles []failover.Role
	for _, m := range g.members {
		m.mu.Lock()
		roles = append(roles, m.role)
		m.mu.Unlock()
	}
	state := ""
	switch {
	case len(roles) < len(g.p.members):
	case allRoles(roles, failover.Master):
		state = "MASTER"
	case anyRole(roles, failover.Fault):
		state = "FAULT"
	case allRoles(roles, failover.Backup):
		state = "BACKUP"
	}
	if state == "" || state == g.state {
		g.mu.Unlock()
		return
	}
	g.state = state
	g.mu.Unlock()
	var side *vrrpSide
	for _, m := range g.members {
		side = m.side
		break
	}
	if side == nil {
		return
	}
	side.log.vprintf("VRRP_Group(%s) Syncing instances to %s state", g.p.name, state)
	if !side.scripts {
		return
	}
	switch state {
	case "MASTER":
		side.notify.run(g.p.notify.master)
	case "BACKUP":
		side.notify.run(g.p.notify.backup)
	case "FAULT":
		side.notify.run(g.p.notify.fault)
	}
	if g.p.notify.any != "" {
		side.notify.run(g.p.notify.any, "GROUP", g.p.name, state, "0")
	}
}

func allRoles(rs []failover.Role, r failover.Role) bool {
	for _, x := range rs {
		if x != r {
			return false
		}
	}
	return true
}

func anyRole(rs []failover.Role, r failover.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// notifier runs notify scripts one after the other, in the order of the
// events, each bounded in time, without a shell (keepalived's notify
// commands are a program and its arguments, quoted when they have some).
type notifier struct {
	log  *logger
	q    chan []string
	done chan struct{}
	once sync.Once
}

func newNotifier(log *logger) *notifier {
	n := &notifier{log: log, q: make(chan []string, 1024), done: make(chan struct{})}
	go func() {
		defer close(n.done)
		for args := range n.q {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := exec.CommandContext(ctx, args[0], args[1:]...).Run(); err != nil {
				log.vprintf("notify script %q: %v", args, err)
			}
			cancel()
		}
	}()
	return n
}

// run queues cmd with extra arguments after its own.
func (n *notifier) run(cmd string, extra ...string) {
	if cmd == "" {
		return
	}
	args := append(splitCommand(cmd), extra...)
	if len(args) == 0 {
		return
	}
	select {
	case n.q <- args:
	default:
		n.log.vprintf("notify script %q dropped: too many queued", args)
	}
}

// close waits, at most d, for the queued scripts.
func (n *notifier) close(d time.Duration) {
	n.once.Do(func() { close(n.q) })
	select {
	case <-n.done:
	case <-time.After(d):
	}
}

// scriptRun runs one vrrp_script every interval: rise successes in a row
// make it succeed, fall failures in a row fail it (keepalived's
// semantics; it starts succeeded unless init_fail).
type scriptRun struct {
	p      scriptPlan // weight 0: each instance has its own
	log    *logger
	cancel context.CancelFunc // set by start
	done   chan struct{}

	mu  sync.Mutex
	ok  bool
	err error
}

func newScriptRun(p scriptPlan, log *logger) *scriptRun {
	s := &scriptRun{p: p, log: log, ok: !p.initFail}
	if !s.ok {
		s.err = errors.New("init_fail: not succeeded yet")
	}
	return s
}

// start runs the script until stop; a running one is left alone.
func (s *scriptRun) start() {
	if s.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() { defer close(s.done); s.run(ctx) }()
}

func (s *scriptRun) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
}

func (s *scriptRun) check(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ok {
		return nil
	}
	return s.err
}

func (s *scriptRun) run(ctx context.Context) {
	args := splitCommand(s.p.cmd)
	// health's Command runs the script as a process group of its own and
	// kills the group at the timeout: a script that forks leaves nothing.
	script := &health.Command{Path: args[0], Args: args[1:]}
	rise, fall := 0, 0
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, s.p.timeout)
		err := script.Check(cctx, health.Target{})
		if cctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("timed out after %v", s.p.timeout)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		if err == nil {
			rise, fall = rise+1, 0
			if !s.ok && rise >= s.p.rise {
				s.ok, s.err = true, nil
				s.log.vprintf("VRRP_Script(%s) succeeded", s.p.name)
			}
		} else {
			rise, fall = 0, fall+1
			if s.ok && fall >= s.p.fall {
				s.ok, s.err = false, fmt.Errorf("vrrp_script %s: %v", s.p.name, err)
				s.log.vprintf("VRRP_Script(%s) failed (%v)", s.p.name, err)
			}
		}
		s.mu.Unlock()
		t.Reset(s.p.interval)
	}
}

// onlyPriority reports whether b differs from a in the priority alone,
// with no weighted script (whose adjustments failover makes from the
// configured priority, which only a restart changes).
func onlyPriority(a, b *instPlan) bool {
	for _, sp := range b.scripts {
		if sp.weight != 0 {
			return false
		}
	}
	x := *b
	x.priority, x.vrrp.Priority = a.priority, a.vrrp.Priority
	return samePlan(a, &x)
}

// samePlan compares two instances' plans, positions in the file aside
// (a line added above an instance changes nothing of it).
func samePlan(a, b *instPlan) bool {
	x, y := *a, *b
	x.pos, y.pos = conf.Pos{}, conf.Pos{}
	return reflect.DeepEqual(&x, &y)
}
