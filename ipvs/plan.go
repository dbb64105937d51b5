package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Plan is what an Apply would write, computed without writing: the user
// prints it (ipvsadm.WritePlan gives a diff), reviews it, then applies it
// as is with ApplyPlan. It remembers the kernel's state it was computed
// from, and ApplyPlan refuses, with ErrConflict and without writing, if
// the services it covers changed meanwhile: the user approved a diff
// against that state, not whatever the kernel holds now.
//
// Apply is Plan followed at once by ApplyPlan without that check (it
// computes and writes under one lock of ApplyOptions.Drains). Like
// ApplyResult, a Plan refers to the desired State's destinations without
// copying them: leave them unmodified until the plan is applied or
// dropped.
type Plan struct {
	p     planner
	pl    plan
	owned func(ServiceKey) bool
	// base is the owned services as the plan read them.
	base []ServiceSnapshot
}

// PlanStep is one write of a Plan with what it replaces.
type PlanStep struct {
	Change
	// Before is the kernel's object as the plan read it, in the shape of
	// Change (same Op; the full service, or the service key and the full
	// destination): set for updates and deletions, zero for creates.
	Before Change
}

// Plan computes the writes Apply(ctx, desired, opts) would make, and
// writes nothing. It validates desired and opts and enforces the deletion
// guard as Apply does, so that a plan that would be refused is refused
// here. With drains (ApplyOptions.DrainTimeout), the plan decides which
// drains end and records them when applied.
func (c *Client) Plan(ctx context.Context, desired State, opts *ApplyOptions) (*Plan, error) {
	return makePlan(ctx, c, desired, opts)
}

// ApplyPlan makes the writes of p, made by Plan on this Client's
// namespace, once it has read the services p covers again and found them
// as p found them (configuration only: counters and connection counts may
// move). If they differ, it writes nothing and returns an error wrapping
// ErrConflict: plan again. A service another program creates between that
// read and the writes makes p's create fail with ErrExist, as in Apply.
// The result and errors are Apply's.
func (c *Client) ApplyPlan(ctx context.Context, p *Plan) (ApplyResult, error) {
	return applyPlan(ctx, c, p)
}

// PlanTo is Client.Plan for a Table other than the kernel's (see ApplyTo).
func PlanTo(ctx context.Context, t Table, desired State, opts *ApplyOptions) (*Plan, error) {
	return makePlan(ctx, tableApplier{t}, desired, opts)
}

// ApplyPlanTo is Client.ApplyPlan for a Table other than the kernel's.
func ApplyPlanTo(ctx context.Context, t Table, p *Plan) (ApplyResult, error) {
	return applyPlan(ctx, tableApplier{t}, p)
}

// Len is the number of writes of the plan; 0 means the kernel already
// holds the desired state.
func (p *Plan) Len() int { return p.pl.len() }

// Draining are the destinations the plan leaves draining (see
// ApplyResult.Draining).
func (p *Plan) Draining() []Draining { return p.p.draining }

// Steps returns the writes of the plan in the order ApplyPlan sends them:
// destinations leave before their services, services are created before
// their destinations.
func (p *Plan) Steps() []PlanStep {
	svcs := make(map[ServiceKey]int, len(p.base))
	for i := range p.base {
		svcs[p.base[i].ServiceKey] = i
	}
	out := make([]PlanStep, p.pl.len())
	for i := range out {
		ch := p.pl.change(i)
		out[i].Change = ch
		if ch.Op == OpCreateService || ch.Op == OpCreateDestination {
			continue
		}
		si, ok := svcs[ch.Service.ServiceKey.Canonical()]
		if !ok {
			continue
		}
		ks := &p.base[si]
		b := Change{Op: ch.Op, Service: normalService(ks.Service)}
		if ch.isDest() {
			b.Service = Service{ServiceKey: b.Service.ServiceKey}
			for j := range ks.Destinations {
				if destID(ks.Destinations[j].Destination) == destID(ch.Destination) {
					b.Destination = normalDest(ks.Destinations[j].Destination)
				}
			}
		}
		out[i].Before = b
	}
	return out
}

// String summarises the plan: "3 writes (1 create, 1 update, 1 delete), 1 draining".
func (p *Plan) String() string {
	var create, update, del int
	for i := range p.pl.len() {
		switch p.pl.change(i).Op {
		case OpCreateService, OpCreateDestination:
			create++
		case OpUpdateService, OpUpdateDestination:
			update++
		default:
			del++
		}
	}
	return fmt.Sprintf("%d writes (%d create, %d update, %d delete), %d draining", p.Len(), create, update, del, len(p.p.draining))
}

// prepare validates what Apply and Plan are given and indexes desired;
// owned says which services they read (see ApplyOptions.Owns).
func prepare(desired State, opts *ApplyOptions) (planner, func(ServiceKey) bool, error) {
	const op = "apply"
	var o ApplyOptions
	if opts != nil {
		o = *opts
	}
	if o.DrainTimeout < 0 {
		return planner{}, nil, invalid(op, "", "DrainTimeout", "negative")
	}
	if (o.DrainTimeout > 0) != (o.Drains != nil) {
		return planner{}, nil, invalid(op, "", "Drains", "DrainTimeout and Drains go together: the record says when each drain began")
	}
	if o.DrainServices && o.DrainTimeout == 0 {
		return planner{}, nil, invalid(op, "", "DrainServices", "needs DrainTimeout")
	}
	if !(o.MaxDeleteShare >= 0 && o.MaxDeleteShare <= 1) {
		return planner{}, nil, invalid(op, "", "MaxDeleteShare", fmt.Sprintf("%v is not a share between 0 and 1", o.MaxDeleteShare))
	}
	ix, err := indexState(desired)
	if err != nil {
		return planner{}, nil, err
	}
	owned := func(k ServiceKey) bool {
		_, want := ix.find(k)
		return want || o.Owns == nil || o.Owns(k)
	}
	return planner{ix: ix, opts: o}, owned, nil
}

// startDrains loads the drain records; o.Drains must be locked.
func (p *planner) startDrains() {
	d := p.opts.Drains
	p.now = d.clock()
	p.oldDests, p.oldSvcs = d.dests, d.svcs
	p.newDests = map[drainKey]time.Time{}
	p.newSvcs = map[ServiceKey]time.Time{}
}

// compute reads the owned services of t and plans the writes; the
// deletion guard refuses a plan before anything is written.
func (p *planner) compute(ctx context.Context, t applier, owned func(ServiceKey) bool) (plan, []ServiceSnapshot, error) {
	snap, err := t.snapshot(ctx, owned)
	if err != nil {
		return plan{}, nil, err
	}
	pl := p.plan(snap)
	if err := p.checkDeletes(len(snap)); err != nil {
		return plan{}, nil, err
	}
	return pl, snap, nil
}

// commit sends pl and updates the drain records (locked by the caller).
func (p *planner) commit(ctx context.Context, t applier, pl plan, owned func(ServiceKey) bool) (ApplyResult, error) {
	const op = "apply"
	res := ApplyResult{plan: pl, Draining: p.draining}
	var err error
	res.errs, err = t.send(ctx, &res.plan)
	for i, e := range res.errs {
		if e == nil {
			continue
		}
		// A drain whose deletion failed goes on with its old start.
		ch := res.plan.change(i)
		if p.oldDests != nil && ch.Op == OpDeleteDestination {
			dk := drainKey{ch.Service.ServiceKey, destID(ch.Destination)}
			if t, ok := p.oldDests[dk]; ok {
				p.newDests[dk] = t
			}
		}
		if p.oldSvcs != nil && ch.Op == OpDeleteService {
			if t, ok := p.oldSvcs[ch.Service.ServiceKey]; ok {
				p.newSvcs[ch.Service.ServiceKey] = t
			}
		}
	}
	if d := p.opts.Drains; d != nil {
		// Records of services Apply did not read (not owned now) stay.
		for dk, t := range p.oldDests {
			if !owned(dk.svc) {
				p.newDests[dk] = t
			}
		}
		for k, t := range p.oldSvcs {
			if !owned(k) {
				p.newSvcs[k] = t
			}
		}
		d.dests, d.svcs = p.newDests, p.newSvcs
	}
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.Op = op
		}
		return res, err
	}
	return res, nil
}

func makePlan(ctx context.Context, t applier, desired State, opts *ApplyOptions) (*Plan, error) {
	p, owned, err := prepare(desired, opts)
	if err != nil {
		return nil, err
	}
	if d := p.opts.Drains; d != nil {
		d.mu.Lock()
		defer d.mu.Unlock()
		p.startDrains()
	}
	pl, snap, err := p.compute(ctx, t, owned)
	if err != nil {
		return nil, err
	}
	return &Plan{p: p, pl: pl, owned: owned, base: snap}, nil
}

func applyPlan(ctx context.Context, t applier, p *Plan) (ApplyResult, error) {
	if p == nil || p.owned == nil {
		return ApplyResult{}, invalid("apply plan", "", "Plan", "not made by Plan")
	}
	if d := p.p.opts.Drains; d != nil {
		d.mu.Lock()
		defer d.mu.Unlock()
	}
	now, err := t.snapshot(ctx, p.owned)
	if err != nil {
		return ApplyResult{}, err
	}
	if what := changedSince(p.base, now); what != "" {
		return ApplyResult{}, newError("apply plan", what, ErrConflict,
			errors.New("the kernel changed since the plan was made, so it may not do what was reviewed; nothing was written: plan again"))
	}
	return p.p.commit(ctx, t, p.pl, p.owned)
}

// changedSince names the first service or destination whose
// configuration differs between two snapshots of the same owned
// services, or returns "".
func changedSince(was, now []ServiceSnapshot) string {
	type destKey struct {
		svc  ServiceKey
		dest netip.AddrPort
	}
	svcs := make(map[ServiceKey]Service, len(was))
	dests := map[destKey]Destination{}
	for i := range was {
		s := &was[i]
		svcs[s.ServiceKey] = normalService(s.Service)
		for j := range s.Destinations {
			d := normalDest(s.Destinations[j].Destination)
			dests[destKey{s.ServiceKey, destID(d)}] = d
		}
	}
	for i := range now {
		s := &now[i]
		old, ok := svcs[s.ServiceKey]
		if !ok || old != normalService(s.Service) {
			return s.ServiceKey.String()
		}
		delete(svcs, s.ServiceKey)
		for j := range s.Destinations {
			d := normalDest(s.Destinations[j].Destination)
			dk := destKey{s.ServiceKey, destID(d)}
			if od, ok := dests[dk]; !ok || od != d {
				return s.ServiceKey.String() + " -> " + d.String()
			}
			delete(dests, dk)
		}
	}
	for k := range svcs {
		return k.String()
	}
	for dk := range dests {
		return dk.svc.String() + " -> " + dk.dest.String()
	}
	return ""
}
