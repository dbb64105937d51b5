package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/golvs/lvs/examples/keepalived/internal/conf"
	"github.com/golvs/lvs/health"
	"github.com/golvs/lvs/ipvs"
)

// reloadDrain bounds the drain of a real server a reload removes: IPVS's
// default FIN_WAIT and TIME_WAIT timeouts, after which closed connections
// are no longer counted.
const reloadDrain = health.DefaultRemoveDrain

// vsRun is one running virtual server: its configuration and its pool.
type vsRun struct {
	vs      *conf.VirtualServer
	pool    *health.Pool
	start   health.StartMode
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// agent runs the LVS side of a configuration.
type agent struct {
	ctx    context.Context
	ipvs   table
	log    *logger
	mu     sync.Mutex // guards cfg, which pools' events read
	cfg    *conf.Config
	vss    map[string]*vsRun // by the virtual server's name in the file
	owned  map[ipvs.ServiceKey]bool
	drains ipvs.Drains
	dirty  chan struct{}
	script bool // run notify scripts
}

// table is the part of *ipvs.Client the agent uses (ipvstest.Client in
// unit tests).
type table interface {
	health.IPVS
	Apply(ctx context.Context, desired ipvs.State, opts *ipvs.ApplyOptions) (ipvs.ApplyResult, error)
}

// logger writes one line per event to standard error, keepalived-like.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s Keepalived_healthcheckers: %s\n", time.Now().Format("Mon Jan _2 15:04:05 2006"), fmt.Sprintf(format, a...))
}

func (l *logger) vprintf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s Keepalived_vrrp: %s\n", time.Now().Format("Mon Jan _2 15:04:05 2006"), fmt.Sprintf(format, a...))
}

// load parses file, prints its problems and refuses one with errors
// (the VRRP side's included: it is planned here, before anything runs).
func load(file string, o options, log *logger) (*conf.Config, *vrrpPlan, error) {
	c, probs := conf.Parse(file)
	for _, p := range probs {
		log.printf("%s", p)
	}
	if c == nil {
		return nil, nil, fmt.Errorf("%s: configuration has errors; nothing was changed", file)
	}
	if o.checkOnly {
		// -C: only the virtual servers and their checks.
		c.Instances, c.SyncGroups, c.Scripts, c.StaticAddrs, c.Global.SyncDaemon = nil, nil, nil, nil, nil
	}
	plan, vprobs := planVRRP(c)
	for _, p := range vprobs {
		log.printf("%s", p)
	}
	if len(vprobs) > 0 {
		return nil, nil, fmt.Errorf("%s: configuration has errors; nothing was changed", file)
	}
	if o.vrrpOnly {
		// -P: only the VRRP side.
		c.VirtualServers = nil
	}
	return c, plan, nil
}

func start(o options, stderr io.Writer) error {
	log := &logger{w: stderr}
	c, plan, err := load(o.file, o, log)
	if err != nil {
		return err
	}
	if o.pidFile != "" {
		if err := os.WriteFile(o.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(o.pidFile)
	}
	// -P needs no IPVS (the sync daemons are failover's own client).
	var tbl table = noIPVS{}
	if !o.vrrpOnly {
		cl, err := ipvs.New(&ipvs.Config{})
		if err != nil {
			return err
		}
		defer cl.Close()
		tbl = cl
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	a := newAgent(ctx, tbl, log, c)
	// The VRRP side's nodes and clients are made first: a missing
	// interface stops the start before anything changes.
	vs := newVRRPSide(log, a.script)
	if err := vs.apply(plan); err != nil {
		vs.stop()
		return err
	}
	if err := a.configure(c); err != nil {
		vs.stop()
		a.shutdown()
		return err
	}
	if len(c.VirtualServers) > 0 {
		log.printf("Initializing ipvs")
	}
	a.apply()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGHUP {
				log.printf("Reloading")
				nc, nplan, err := load(o.file, o, log)
				if err != nil {
					log.printf("reload refused, configuration kept: %v", err)
					continue
				}
				if err := a.configure(nc); err != nil {
					log.printf("reload failed: %v", err)
				}
				a.apply()
				if err := vs.apply(nplan); err != nil {
					log.printf("reload failed: %v", err)
				}
				continue
			}
			log.printf("Stopping")
			// VRRP first: the peer takes the VIPs over at once, and no
			// client segment reaches a VIP whose service is gone (IPVS
			// unhooks itself with its last service, and the local stack
			// would answer with a reset).
			vs.stop()
			if o.keepIPVS {
				a.stopChecks()
				return nil
			}
			a.shutdown()
			return nil
		case <-a.dirty:
			a.apply()
		case <-tick.C:
			// Finishes drains, and retries after a failed write.
			a.apply()
		}
	}
}

func newAgent(ctx context.Context, t table, log *logger, c *conf.Config) *agent {
	a := &agent{ctx: ctx, ipvs: t, log: log, vss: map[string]*vsRun{}, owned: map[ipvs.ServiceKey]bool{},
		dirty: make(chan struct{}, 1), script: c.Global.ScriptSecurity || !c.Global.HasScripts}
	if c.Global.HasScripts && !c.Global.ScriptSecurity {
		log.printf("SECURITY VIOLATION - scripts are being executed but script_security not enabled; scripts are not run")
	}
	return a
}

// configure makes c the running configuration: new virtual servers get a
// pool, removed ones lose theirs, and a kept one keeps its pool and
// changes only the real servers that changed (unchanged ones keep their
// checks and state).
func (a *agent) configure(c *conf.Config) error {
	next := map[string]*conf.VirtualServer{}
	for _, vs := range c.VirtualServers {
		next[vs.Name] = vs
		for _, k := range vs.Keys {
			a.owned[k.Canonical()] = true
		}
	}
	for name, r := range a.vss {
		if nv, ok := next[name]; !ok || !samePool(r.vs, nv) {
			r.stop()
			delete(a.vss, name)
		}
	}
	var errs []error
	for _, vs := range c.VirtualServers {
		if r, ok := a.vss[vs.Name]; ok {
			if err := a.updateReals(r, vs); err != nil {
				errs = append(errs, err)
			}
			r.vs = vs
			continue
		}
		start := health.StartUp
		if vs.Alpha {
			start = health.StartDown
		}
		if a.cfg != nil || a.inKernel(vs) {
			// A virtual server rebuilt by a reload, or found in the
			// kernel at start-up (left by -I or by a killed agent),
			// adopts what IPVS holds: a restart changes nothing.
			start = health.StartAdopt
		}
		r, err := a.newPool(vs, start)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.vss[vs.Name] = r
	}
	a.mu.Lock()
	a.cfg = c
	a.mu.Unlock()
	return errors.Join(errs...)
}

func (r *vsRun) stop() {
	if r.started {
		r.cancel()
		<-r.done
	}
}

// samePool reports whether a reload can keep a virtual server's pool:
// its services, quorum and sorry server are unchanged.
func samePool(a, b *conf.VirtualServer) bool {
	return reflect.DeepEqual(a.Keys, b.Keys) && a.Quorum == b.Quorum && a.Hysteresis == b.Hysteresis &&
		reflect.DeepEqual(a.Sorry, b.Sorry) && a.Alpha == b.Alpha
}

func (a *agent) server(vs *conf.VirtualServer, rs *conf.RealServer, k ipvs.ServiceKey) (health.Server, error) {
	ck, t, err := checker(vs, rs)
	if err != nil {
		return health.Server{}, err
	}
	return health.Server{Destination: dest(rs, k), Checker: ck, Timing: t}, nil
}

// dest is the real server as written for service k: direct routing and
// tunnels use the service's port.
func dest(rs *conf.RealServer, k ipvs.ServiceKey) ipvs.Destination {
	return portFor(rs.Dest, k)
}

// portFor gives d the port it has in service k: direct routing and tunnels
// use the service's port, and keepalived ignores (with a warning) the port
// of a firewall-mark service's real or sorry server.
func portFor(d ipvs.Destination, k ipvs.ServiceKey) ipvs.Destination {
	switch {
	case k.Fwmark != 0:
		d.Port = 0
	case d.Forward != ipvs.Masquerade:
		d.Port = k.Port
	}
	return d
}

func (a *agent) newPool(vs *conf.VirtualServer, start health.StartMode) (*vsRun, error) {
	cfg := health.Config{IPVS: a.ipvs, Passive: true, Start: start, Notify: a.notify}
	for _, k := range vs.Keys {
		sc := health.ServiceConfig{Service: k, OnFailure: health.Remove, Quorum: vs.Quorum, Hysteresis: vs.Hysteresis}
		if vs.Sorry != nil {
			s := portFor(*vs.Sorry, k)
			sc.Sorry = &s
		}
		for _, rs := range vs.Reals {
			srv, err := a.server(vs, rs, k)
			if err != nil {
				return nil, err
			}
			sc.Servers = append(sc.Servers, srv)
		}
		cfg.Services = append(cfg.Services, sc)
	}
	p, err := health.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: virtual_server %s: %w", vs.Pos, vs.Name, err)
	}
	return &vsRun{vs: vs, pool: p, start: start, done: make(chan struct{})}, nil
}

// run starts r's checks, once its services exist (a pool adopts the
// kernel's state when it starts).
func (a *agent) run(r *vsRun) {
	ctx, cancel := context.WithCancel(a.ctx)
	r.cancel, r.started = cancel, true
	go func() {
		defer close(r.done)
		if err := r.pool.Run(ctx); err != nil && !errors.Is(err, health.ErrCanceled) && ctx.Err() == nil {
			a.log.printf("virtual_server %s: checks stopped: %v", r.vs.Name, err)
		}
	}()
}

// initial is what a service holds before its pool runs: what the kernel
// has (a pool rebuilt by a reload adopts it), or for a new service every
// real server up as keepalived starts them (none with alpha; inhibited
// ones at weight 0).
func (a *agent) initial(vs *conf.VirtualServer, k ipvs.ServiceKey, start health.StartMode) []ipvs.Destination {
	if have, err := a.ipvs.Destinations(a.ctx, k); err == nil {
		out := make([]ipvs.Destination, len(have))
		for i, d := range have {
			out[i] = d.Destination
		}
		return out
	}
	var out []ipvs.Destination
	for _, rs := range vs.Reals {
		d := dest(rs, k)
		switch {
		case start != health.StartDown:
		case rs.Inhibit:
			d.Weight = 0
		default:
			continue
		}
		out = append(out, d)
	}
	return out
}

// updateReals applies a reload's changes to a kept virtual server's real
// servers, one live change per changed server.
func (a *agent) updateReals(r *vsRun, vs *conf.VirtualServer) error {
	old := map[netip.AddrPort]*conf.RealServer{}
	for _, rs := range r.vs.Reals {
		old[addrOf(rs)] = rs
	}
	var errs []error
	for _, rs := range vs.Reals {
		o, ok := old[addrOf(rs)]
		delete(old, addrOf(rs))
		if ok && sameReal(o, rs) && timing(r.vs, o, first(o.Checkers)) == timing(vs, rs, first(rs.Checkers)) {
			continue
		}
		for _, k := range vs.Keys {
			srv, err := a.server(vs, rs, k)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if ok {
				err = r.pool.UpdateServer(a.ctx, k, srv)
			} else {
				err = r.pool.AddServer(a.ctx, k, srv)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, rs := range old {
		for _, k := range r.vs.Keys {
			if err := r.pool.RemoveServer(a.ctx, k, netip.AddrPortFrom(dest(rs, k).Address, dest(rs, k).Port)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func first(cs []*conf.Checker) *conf.Checker {
	if len(cs) == 0 {
		return nil
	}
	return cs[0]
}

func addrOf(rs *conf.RealServer) netip.AddrPort {
	return netip.AddrPortFrom(rs.Dest.Address, rs.Dest.Port)
}

// sameReal compares two real servers' configurations, positions aside.
func sameReal(a, b *conf.RealServer) bool {
	x, y := *a, *b
	x.Pos, y.Pos = conf.Pos{}, conf.Pos{}
	x.Checkers, y.Checkers = nil, nil
	if !reflect.DeepEqual(x, y) || len(a.Checkers) != len(b.Checkers) {
		return false
	}
	for i := range a.Checkers {
		c, d := *a.Checkers[i], *b.Checkers[i]
		c.Pos, d.Pos = conf.Pos{}, conf.Pos{}
		if !reflect.DeepEqual(c, d) {
			return false
		}
	}
	return true
}

// notify logs a pool's event, runs the matching notify script and asks
// for an Apply.
func (a *agent) notify(e health.Event) {
	select {
	case a.dirty <- struct{}{}:
	default:
	}
	vs, rs := a.find(e.Service, e.Server)
	switch e.Kind {
	case health.ServerUp:
		a.log.printf("Adding service %s to VS %s", e.Server, e.Service)
		if rs != nil {
			a.notifyScript(rs.NotifyUp)
		}
	case health.ServerDown:
		a.log.printf("Removing service %s from VS %s (%v)", e.Server, e.Service, e.Err)
		if rs != nil {
			a.notifyScript(rs.NotifyDown)
		}
	case health.QuorumLost:
		a.log.printf("Lost quorum %d-%d=%d > %d for VS %s", vs.Quorum, vs.Hysteresis, vs.Quorum-vs.Hysteresis, e.UpWeight, e.Service)
		a.notifyScript(vs.QuorumDown)
	case health.QuorumRegained:
		a.log.printf("Gained quorum %d+%d=%d <= %d for VS %s", vs.Quorum, vs.Hysteresis, vs.Quorum+vs.Hysteresis, e.UpWeight, e.Service)
		a.notifyScript(vs.QuorumUp)
	case health.IPVSError:
		a.log.printf("IPVS error for VS %s: %v", e.Service, e.Err)
	}
}

// find returns the configuration of a service and real server; the pool
// calls Notify from its own goroutine, so it reads the configuration the
// pool was made with through the agent's map only under the event.
func (a *agent) find(k ipvs.ServiceKey, srv netip.AddrPort) (*conf.VirtualServer, *conf.RealServer) {
	cfg := a.current()
	for _, vs := range cfg {
		for _, vk := range vs.Keys {
			if vk.Canonical() != k.Canonical() {
				continue
			}
			for _, rs := range vs.Reals {
				d := dest(rs, vk)
				if netip.AddrPortFrom(d.Address, d.Port) == srv {
					return vs, rs
				}
			}
			return vs, nil
		}
	}
	return &conf.VirtualServer{}, nil
}

func (a *agent) current() []*conf.VirtualServer {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg == nil {
		return nil
	}
	return a.cfg.VirtualServers
}

// run starts a notify script without a shell, in the background, bounded
// in time.
func (a *agent) notifyScript(cmd string) {
	if cmd == "" {
		return
	}
	if !a.script {
		return
	}
	args := splitCommand(cmd)
	go func() {
		ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
		defer cancel()
		if err := exec.CommandContext(ctx, args[0], args[1:]...).Run(); err != nil {
			a.log.printf("script %s: %v", cmd, err)
		}
	}()
}

// desired is the IPVS state the configuration and the checks call for.
func (a *agent) desired() ipvs.State {
	var st ipvs.State
	for _, vs := range a.cfg.VirtualServers {
		r := a.vss[vs.Name]
		var part ipvs.State
		for _, k := range vs.Keys {
			svc := vs.Service
			svc.ServiceKey = k
			part.Services = append(part.Services, ipvs.ServiceState{Service: svc})
		}
		if r == nil || !r.started {
			for i := range part.Services {
				if r != nil {
					part.Services[i].Destinations = a.initial(vs, part.Services[i].ServiceKey, r.start)
				}
			}
			st.Services = append(st.Services, part.Services...)
			continue
		}
		part = r.pool.Desired(part)
		snaps := map[ipvs.ServiceKey]health.State{}
		for _, s := range r.pool.Snapshots() {
			snaps[s.Service.Canonical()] = s
		}
		for i := range part.Services {
			ss := &part.Services[i]
			snap := snaps[ss.Canonical()]
			have := map[netip.AddrPort]bool{}
			for _, d := range ss.Destinations {
				have[netip.AddrPortFrom(d.Address, d.Port)] = true
			}
			if snap.SorryActive {
				// keepalived: with a sorry server, every real server is
				// brought down while quorum is lost.
				var kept []ipvs.Destination
				for _, d := range ss.Destinations {
					if vs.Sorry != nil && d.Address == vs.Sorry.Address {
						kept = append(kept, d)
					} else if rs := realFor(vs, ss.ServiceKey, d); rs != nil && rs.Inhibit {
						d.Weight = 0
						kept = append(kept, d)
					}
				}
				ss.Destinations = kept
			}
			for _, rs := range vs.Reals {
				d := dest(rs, ss.ServiceKey)
				if rs.Inhibit && !have[netip.AddrPortFrom(d.Address, d.Port)] {
					d.Weight = 0
					ss.Destinations = append(ss.Destinations, d)
				}
			}
			if vs.Sorry != nil && vs.SorryInhibit && !snap.SorryActive {
				d := portFor(*vs.Sorry, ss.ServiceKey)
				d.Weight = 0
				ss.Destinations = append(ss.Destinations, d)
			}
		}
		st.Services = append(st.Services, part.Services...)
	}
	return st
}

func realFor(vs *conf.VirtualServer, k ipvs.ServiceKey, d ipvs.Destination) *conf.RealServer {
	for _, rs := range vs.Reals {
		x := dest(rs, k)
		if x.Address == d.Address && x.Port == d.Port {
			return rs
		}
	}
	return nil
}

func (a *agent) owns(k ipvs.ServiceKey) bool { return a.owned[k.Canonical()] }

// apply is the one path that writes IPVS.
func (a *agent) apply() {
	// Only this goroutine writes a.cfg: no lock needed to read it here
	// (and none may be held across the pools' calls, which notify).
	st := a.desired()
	res, err := a.ipvs.Apply(a.ctx, st, &ipvs.ApplyOptions{Owns: a.owns, DrainTimeout: reloadDrain, Drains: &a.drains, MaxDeleteShare: 1})
	if err != nil {
		a.log.printf("IPVS: %v", err)
		return
	}
	for _, ch := range res.Applied() {
		a.log.printf("IPVS: %v", ch)
	}
	for _, r := range a.vss {
		if !r.started {
			a.run(r)
		}
	}
}

// inKernel says whether every service of vs is already in the kernel.
func (a *agent) inKernel(vs *conf.VirtualServer) bool {
	for _, k := range vs.Keys {
		if _, err := a.ipvs.Destinations(a.ctx, k); err != nil {
			return false
		}
	}
	return len(vs.Keys) > 0
}

// stopChecks stops the checks and leaves the IPVS table as it is (-I).
func (a *agent) stopChecks() {
	for _, r := range a.vss {
		r.stop()
	}
}

// shutdown stops the checks and removes the services the agent made, as
// keepalived does on SIGTERM.
func (a *agent) shutdown() {
	a.stopChecks()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.ipvs.Apply(ctx, ipvs.State{}, &ipvs.ApplyOptions{Owns: a.owns, AllowMassDelete: true}); err != nil {
		a.log.printf("IPVS: removing the virtual servers: %v", err)
	}
}

// noIPVS is the table of -P, which has no virtual servers: nothing to
// apply.
type noIPVS struct{ health.IPVS }

func (noIPVS) Apply(context.Context, ipvs.State, *ipvs.ApplyOptions) (ipvs.ApplyResult, error) {
	return ipvs.ApplyResult{}, nil
}
