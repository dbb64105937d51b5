package ipvs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// State is a desired IPVS configuration: the services Apply makes the
// kernel hold, each with exactly its destinations.
type State struct {
	Services []ServiceState
}

// ServiceState is one desired service with its destinations.
type ServiceState struct {
	Service
	Destinations []Destination
}

// ApplyOptions tune Apply. The zero value owns the whole namespace and
// deletes what leaves the desired state at once.
type ApplyOptions struct {
	// Owns limits Apply to the kernel's services it returns true for;
	// the others are neither read beyond the service dump nor touched, so
	// several agents (or an agent and an operator) can share a namespace.
	// Services in the desired state are always owned. nil: every service
	// of the namespace is owned, and those not desired are deleted.
	Owns func(ServiceKey) bool

	// DrainTimeout, when positive, drains TCP (and fwmark) destinations
	// instead of deleting them: a destination leaving the desired state
	// is set to weight 0, so it gets no new connections, and is deleted
	// by a later Apply once its active and inactive connections reach
	// zero or DrainTimeout has passed. Call Apply again (periodically, or
	// when Result.Draining is not empty) to finish drains. UDP and SCTP
	// destinations are deleted at once, as kube-proxy does: IPVS keeps a
	// UDP "connection" until its idle timeout (300 s by default) and keeps
	// sending the flow to the old server while it exists, so waiting only
	// prolongs black-holing (think of DNS to a server that is gone);
	// deleting lets the flows be rescheduled (with expire_nodest_conn) or
	// expire.
	DrainTimeout time.Duration
	// DrainServices drains a service leaving the desired state the same
	// way: all its destinations go to weight 0 and the service is deleted
	// once none of them has connections or DrainTimeout has passed.
	DrainServices bool
	// Drains remembers when each drain began; required with DrainTimeout.
	// Keep one per namespace for the life of the agent.
	Drains *Drains

	// MaxDeleteShare guards against a truncated or empty desired state (a
	// configuration file cut short, a discovery service answering
	// nothing), which would otherwise delete what Apply owns: Apply
	// refuses, before writing anything, to delete or start draining more
	// than this share of the services it owns in one call (one service
	// may always go), and to delete any with an empty desired state.
	// 0 means DefaultMaxDeleteShare; 1 allows any share of a non-empty
	// desired state. See AllowMassDelete.
	MaxDeleteShare float64
	// AllowMassDelete lifts that guard: Apply deletes whatever leaves the
	// desired state, all it owns for an empty one. Set it for a deliberate
	// mass removal, such as an agent's teardown.
	AllowMassDelete bool
}

// DefaultMaxDeleteShare is the share of its services one Apply may delete
// when ApplyOptions.MaxDeleteShare is 0.
const DefaultMaxDeleteShare = 0.5

// Drains is the in-memory record of drains in progress, kept between
// Apply calls. The zero value is ready to use; it is safe for concurrent
// use.
//
// Everything else about a drain is read from the kernel: a destination is
// draining if Apply owns its service and it is not desired. An agent that
// restarts mid-drain starts with an empty record, so it counts the drain
// of each such destination from its first Apply: a drain can last up to
// twice DrainTimeout across a restart but never ends early, and a
// destination whose connections are gone is deleted at once anyway.
type Drains struct {
	mu    sync.Mutex
	dests map[drainKey]time.Time
	svcs  map[ServiceKey]time.Time
	now   func() time.Time // tests
}

type drainKey struct {
	svc  ServiceKey
	dest netip.AddrPort
}

func (d *Drains) clock() time.Time {
	if d.now != nil {
		return d.now()
	}
	return time.Now()
}

// Draining is a destination at weight 0 waiting for its connections to end.
type Draining struct {
	Service     ServiceKey
	Destination netip.AddrPort
	// Since is when the drain began (as far as this process knows).
	Since time.Time
	// Conns is active plus inactive connections at the snapshot.
	Conns uint32
}

// ApplyResult is what an Apply did. It keeps the writes in a compact form
// and makes Change values only when asked: a bulk create of thousands of
// objects then costs almost nothing beyond the requests themselves. The
// writes refer to the desired State passed to Apply, which Apply never
// modifies: call Applied and Failed before modifying that State's
// destinations in place.
type ApplyResult struct {
	// Draining are destinations left at weight 0 for a later Apply to
	// delete; services being drained show through their destinations.
	Draining []Draining

	plan plan
	errs []error // one per write; nil if the kernel applied them all
}

// Writes is the number of writes sent.
func (r ApplyResult) Writes() int { return r.plan.len() }

// Applied returns the writes the kernel acknowledged, in the order sent.
func (r ApplyResult) Applied() []Change { return applied(r.plan.len(), r.plan.change, r.errs) }

// Failed returns the writes the kernel refused, in the order sent, and
// the error of each.
func (r ApplyResult) Failed() ([]Change, []error) { return failed(r.plan.change, r.errs) }

func normalService(s Service) Service {
	normalise(&s)
	return s
}

// normalise is normalService in place: Apply normalises thousands.
func normalise(s *Service) {
	s.ServiceKey = s.ServiceKey.Canonical()
	if s.Scheduler == "" {
		s.Scheduler = defaultScheduler
	}
	if s.Netmask.IsFull() {
		s.Netmask = Netmask{}
	}
}

// Canonical returns d in the form the kernel reports it in: an IPv4-mapped
// address unmapped unless Family keeps it IPv6 (see Destination.Family),
// Family set only then.
func (d Destination) Canonical() Destination { return normalDest(d) }

func normalDest(d Destination) Destination {
	if mappedV6(d.Family, d.Address) {
		return d
	}
	d.Address, d.Family = d.Address.Unmap(), 0
	return d
}

// destID identifies a destination within its service: an IPv6
// destination with a mapped address is another than the IPv4 one.
func destID(d Destination) netip.AddrPort {
	if mappedV6(d.Family, d.Address) {
		return netip.AddrPortFrom(d.Address, d.Port)
	}
	return netip.AddrPortFrom(d.Address.Unmap(), d.Port)
}

// DrainsAtOnce reports whether destinations of k are deleted rather than
// drained: UDP and SCTP (see ApplyOptions.DrainTimeout). Package health
// follows the same rule.
func (k ServiceKey) DrainsAtOnce() bool { return k.Protocol == UDP || k.Protocol == SCTP }

// desiredIndex is the validated, normalised desired state.
type desiredIndex struct {
	svcs    []ServiceState // in the caller's order
	tunnels bool           // some destination needs reading back (see needsReadBack)
	keys    keyTable       // of svcs
}

func (ix *desiredIndex) keyAt(i int) *ServiceKey { return &ix.svcs[i].ServiceKey }

// find returns the index of the desired service with key k (normalised).
func (ix *desiredIndex) find(k ServiceKey) (int, bool) {
	_, i := ix.keys.lookup(&k, ix.keyAt)
	return i, i >= 0
}

// add indexes svcs[i], or returns false if its key is there already.
func (ix *desiredIndex) add(i int) bool {
	slot, found := ix.keys.lookup(&ix.svcs[i].ServiceKey, ix.keyAt)
	if found >= 0 {
		return false
	}
	ix.keys.slots[slot] = int32(i + 1)
	return true
}

// keyTable is an open-addressing hash table of services by key, for
// thousands of them: its slots hold an index into the caller's slice plus
// one (0: empty). Cheaper to build than a map, and a slice of integers the
// garbage collector never scans.
type keyTable struct {
	slots []int32
	seed  uint64 // random, so that no set of keys collides by design
}

// newKeyTable makes a table for n keys, at most half full: short probes.
func newKeyTable(n int) keyTable {
	return keyTable{slots: make([]int32, 1<<bits.Len(uint(2*n))), seed: rand.Uint64()}
}

// lookup finds k (normalised), keyAt giving the key of each index held:
// found is its index, or -1 and slot is where to add it.
func (t *keyTable) lookup(k *ServiceKey, keyAt func(int) *ServiceKey) (slot, found int) {
	if len(t.slots) == 0 {
		return 0, -1
	}
	mask := len(t.slots) - 1
	for j := t.hash(k) & mask; ; j = (j + 1) & mask {
		s := t.slots[j]
		if s == 0 {
			return j, -1
		}
		if *keyAt(int(s - 1)) == *k {
			return j, int(s - 1)
		}
	}
}

func (t *keyTable) hash(k *ServiceKey) int {
	a := k.Address.As16()
	h := t.seed
	for _, v := range [...]uint64{
		binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:]),
		uint64(k.Port) | uint64(k.Protocol)<<16 | uint64(k.Family)<<32 | uint64(k.Fwmark)<<48,
		uint64(k.Fwmark) >> 16,
	} {
		// Multiply-xorshift mixing (as in splitmix64).
		h = (h ^ v) * 0xbf58476d1ce4e5b9
		h ^= h >> 31
	}
	return int(h)
}

// indexState validates and normalises desired. The caller's destinations
// are read in place, never written (see ApplyResult); only IPv4-mapped
// addresses need a normalised copy.
func indexState(desired State) (desiredIndex, error) {
	const op = "apply"
	ix := desiredIndex{svcs: make([]ServiceState, len(desired.Services)), keys: newKeyTable(len(desired.Services))}
	for i := range desired.Services {
		s := &desired.Services[i]
		if err := checkService(op, s.Service); err != nil {
			return ix, err
		}
		ns := &ix.svcs[i]
		ns.Service = s.Service
		normalise(&ns.Service)
		k := ns.ServiceKey
		if !ix.add(i) {
			return ix, invalid(op, k.String(), "Services", "the service appears twice in the desired state")
		}
		mapped := false
		for j := range s.Destinations {
			d := &s.Destinations[j]
			if err := checkDest(op, k, k.Family, d); err != nil {
				return ix, err
			}
			mapped = mapped || d.Address.Is4In6() || d.Family != 0
			ix.tunnels = ix.tunnels || needsReadBack(*d)
		}
		ns.Destinations = s.Destinations[:len(s.Destinations):len(s.Destinations)]
		if mapped {
			ns.Destinations = make([]Destination, len(s.Destinations))
			for j, d := range s.Destinations {
				ns.Destinations[j] = normalDest(d)
			}
		}
		if d, dup := firstDuplicate(ns.Destinations); dup {
			return ix, invalid(op, k.String()+" -> "+d.String(), "Destinations", "the destination appears twice in the service")
		}
	}
	return ix, nil
}

// firstDuplicate finds a destination listed twice; services have few, so
// a map is built only for long lists.
func firstDuplicate(ds []Destination) (Destination, bool) {
	if len(ds) <= 16 {
		for i := range ds {
			for j := i + 1; j < len(ds); j++ {
				if ds[i].Address == ds[j].Address && ds[i].Port == ds[j].Port {
					return ds[i], true
				}
			}
		}
		return Destination{}, false
	}
	seen := make(map[netip.AddrPort]bool, len(ds))
	for _, d := range ds {
		if seen[destID(d)] {
			return d, true
		}
		seen[destID(d)] = true
	}
	return Destination{}, false
}

// Apply makes the services Apply owns (see ApplyOptions.Owns) match
// desired: it reads them once, creates what is missing, updates what
// differs, deletes or drains what is not desired, and sends all of it as
// one batch. Applying the same state twice makes no write the second
// time. Desired entries are compared with what the kernel reports, with
// an empty Scheduler meaning wlc and a full Netmask meaning the default.
//
// The desired state is validated before anything is read or written. If
// the kernel refuses some writes, the others are still made; the result
// lists both and the error wraps the first refusal. A GUE or GRE
// destination the kernel turns into IPIP counts as refused, with
// ErrNotSupported (see Batch.Commit).
func (c *Client) Apply(ctx context.Context, desired State, opts *ApplyOptions) (ApplyResult, error) {
	return apply(ctx, c, desired, opts)
}

// applier is what Apply needs of a table: the kernel's through a Client,
// or another (see ApplyTo).
type applier interface {
	// snapshot lists the services keep accepts, with their destinations.
	snapshot(ctx context.Context, keep func(ServiceKey) bool) ([]ServiceSnapshot, error)
	// send makes the writes of p (see Client.send).
	send(ctx context.Context, p *plan) ([]error, error)
}

// apply is Apply over any table: Plan and ApplyPlan under one lock of the
// drain records, without reading the kernel twice (see plan.go).
func apply(ctx context.Context, t applier, desired State, opts *ApplyOptions) (ApplyResult, error) {
	p, owned, err := prepare(desired, opts)
	if err != nil {
		return ApplyResult{}, err
	}
	if d := p.opts.Drains; d != nil {
		d.mu.Lock()
		defer d.mu.Unlock()
		p.startDrains()
	}
	pl, _, err := p.compute(ctx, t, owned)
	if err != nil {
		return ApplyResult{}, err
	}
	return p.commit(ctx, t, pl, owned)
}

// planner computes the writes of one Apply.
type planner struct {
	ix   desiredIndex
	opts ApplyOptions
	now  time.Time
	// Drain records before and after this Apply; nil without drains.
	oldDests, newDests map[drainKey]time.Time
	oldSvcs, newSvcs   map[ServiceKey]time.Time
	draining           []Draining

	// Drops come first, so that destinations leave before their
	// services; writes follow, each service before its destinations.
	destDrops, svcDrops []Change
	match               destIndex
	// leaving counts the owned services this Apply starts to delete or
	// drain (see ApplyOptions.MaxDeleteShare).
	leaving int
}

// checkDeletes enforces ApplyOptions.MaxDeleteShare once the plan is made:
// owned is the number of services Apply read. The refusal is ErrConflict:
// the desired state is well formed, but what the kernel holds contradicts
// it beyond what one Apply is trusted to undo.
func (p *planner) checkDeletes(owned int) error {
	if p.opts.AllowMassDelete || p.leaving == 0 {
		return nil
	}
	share := p.opts.MaxDeleteShare
	if share == 0 {
		share = DefaultMaxDeleteShare
	}
	var msg string
	switch {
	case len(p.ix.svcs) == 0:
		msg = fmt.Sprintf("refusing to delete all %d of the services it owns: the desired state is empty (truncated?); set AllowMassDelete to delete them", p.leaving)
	case p.leaving > 1 && float64(p.leaving) > share*float64(owned):
		msg = fmt.Sprintf("refusing to delete %d of the %d services it owns (%.0f%%, above MaxDeleteShare %.0f%%) for a desired state of %d: is it truncated? Set AllowMassDelete or raise MaxDeleteShare to delete them",
			p.leaving, owned, 100*float64(p.leaving)/float64(owned), 100*share, len(p.ix.svcs))
	default:
		return nil
	}
	return newError("apply", "", ErrConflict, errors.New(msg))
}

// plan returns the writes that make the kernel's snap match the desired
// state, in an order the kernel accepts.
func (p *planner) plan(snap []ServiceSnapshot) plan {
	var (
		writes []write
		seen   []bool // desired services the kernel has
	)
	if len(snap) > 0 {
		seen = make([]bool, len(p.ix.svcs))
	}
	for si := range snap {
		ks := &snap[si]
		k := ks.ServiceKey
		idx, ok := p.ix.find(k)
		if !ok {
			p.leaveService(ks)
			continue
		}
		seen[idx] = true
		want := &p.ix.svcs[idx]
		if normalService(ks.Service) != want.Service {
			writes = append(writes, write{op: OpUpdateService, svc: int32(idx)})
		}
		p.match.reset(want.Destinations)
		for di := range ks.Destinations {
			kd := &ks.Destinations[di]
			i, ok := p.match.find(kd.Address, kd.Port)
			switch {
			case !ok:
				p.leaveDest(k, kd, time.Time{})
				continue
			case normalDest(kd.Destination) != want.Destinations[i]:
				writes = append(writes, write{op: OpUpdateDestination, svc: int32(idx), dest: int32(i)})
			}
			p.match.have[i] = true
		}
		for i := range want.Destinations {
			if !p.match.have[i] {
				writes = append(writes, write{op: OpCreateDestination, svc: int32(idx), dest: int32(i)})
			}
		}
	}
	// The services the kernel lacks, each followed by its destinations:
	// counted first, so that a bulk create fills one slice.
	n := 0
	for idx := range p.ix.svcs {
		if seen == nil || !seen[idx] {
			n += 1 + len(p.ix.svcs[idx].Destinations)
		}
	}
	writes = slices.Grow(writes, n)
	for idx := range p.ix.svcs {
		if seen != nil && seen[idx] {
			continue
		}
		writes = append(writes, write{op: OpCreateService, svc: int32(idx)})
		for i := range p.ix.svcs[idx].Destinations {
			writes = append(writes, write{op: OpCreateDestination, svc: int32(idx), dest: int32(i)})
		}
	}
	changes := p.destDrops
	if len(p.svcDrops) > 0 {
		changes = append(changes, p.svcDrops...)
	}
	return plan{svcs: p.ix.svcs, changes: changes, writes: writes, tunnels: p.ix.tunnels || hasTunnels(changes)}
}

// destIndex finds a desired destination of one service by address and
// port: a scan of the few most services have, a map for long lists. It is
// reused from service to service.
type destIndex struct {
	ds   []Destination
	m    map[netip.AddrPort]int
	have []bool // found in the kernel
}

const destScanMax = 16

func (x *destIndex) reset(ds []Destination) {
	x.ds = ds
	x.have = slices.Grow(x.have[:0], len(ds))[:len(ds)]
	clear(x.have)
	if len(ds) <= destScanMax {
		return
	}
	if x.m == nil {
		x.m = make(map[netip.AddrPort]int, len(ds))
	}
	clear(x.m)
	for i := range ds {
		x.m[destID(ds[i])] = i
	}
}

// find looks up the kernel's destination a, port (a is a mapped address
// only for an IPv6 destination: the kernel reports IPv4 as such).
func (x *destIndex) find(a netip.Addr, port uint16) (int, bool) {
	if len(x.ds) > destScanMax {
		i, ok := x.m[netip.AddrPortFrom(a, port)]
		return i, ok
	}
	for i := range x.ds {
		if x.ds[i].Port == port && x.ds[i].Address == a {
			return i, true
		}
	}
	return 0, false
}

// since returns when the drain of dk began, starting it now if unknown.
func (p *planner) since(dk drainKey) time.Time {
	t, ok := p.oldDests[dk]
	if !ok {
		t = p.now
	}
	p.newDests[dk] = t
	return t
}

// leaveDest deletes or drains a destination that is not desired.
// svcSince is set when its whole service is draining.
func (p *planner) leaveDest(k ServiceKey, kd *DestinationInfo, svcSince time.Time) (gone bool) {
	del := Change{Op: OpDeleteDestination, Service: Service{ServiceKey: k}, Destination: Destination{Address: kd.Address, Port: kd.Port, Family: kd.Family}}
	if p.opts.DrainTimeout == 0 || k.DrainsAtOnce() {
		p.destDrops = append(p.destDrops, del)
		return true
	}
	dk := drainKey{k, destID(kd.Destination)}
	since := svcSince
	if since.IsZero() {
		since = p.since(dk)
	}
	conns := kd.ActiveConns + kd.InactiveConns
	if conns == 0 || p.now.Sub(since) >= p.opts.DrainTimeout {
		delete(p.newDests, dk)
		p.destDrops = append(p.destDrops, del)
		return true
	}
	if kd.Weight != 0 {
		d := kd.Destination
		d.Weight = 0
		p.destDrops = append(p.destDrops, Change{Op: OpUpdateDestination, Service: Service{ServiceKey: k}, Destination: d})
	}
	p.draining = append(p.draining, Draining{Service: k, Destination: dk.dest, Since: since, Conns: conns})
	return false
}

// leaveService deletes a service that is not desired, or drains it.
func (p *planner) leaveService(ks *ServiceSnapshot) {
	k := ks.ServiceKey
	if !p.opts.DrainServices || k.DrainsAtOnce() {
		p.leaving++
		p.svcDrops = append(p.svcDrops, Change{Op: OpDeleteService, Service: ks.Service})
		return
	}
	since, ok := p.oldSvcs[k]
	if !ok {
		// A drain in progress was counted when it began.
		p.leaving++
		since = p.now
	}
	p.newSvcs[k] = since
	mark := len(p.destDrops)
	nDraining := len(p.draining)
	done := true
	for i := range ks.Destinations {
		if !p.leaveDest(k, &ks.Destinations[i], since) {
			done = false
		}
	}
	if done {
		// Every destination is idle or out of time: the service goes,
		// taking them with it, without writes of their own.
		p.destDrops = p.destDrops[:mark]
		p.draining = p.draining[:nDraining]
		delete(p.newSvcs, k)
		p.svcDrops = append(p.svcDrops, Change{Op: OpDeleteService, Service: ks.Service})
	}
}

// String summarises a result for logs: "3 writes (2 applied, 1 failed), 1 draining".
func (r ApplyResult) String() string {
	failed := 0
	for _, e := range r.errs {
		if e != nil {
			failed++
		}
	}
	return fmt.Sprintf("%d writes (%d applied, %d failed), %d draining", r.Writes(), r.Writes()-failed, failed, len(r.Draining))
}
