package ipvs

import ()

// write is one write Apply planned, by position in the desired state:
// plain memory, so that thousands of them cost the garbage collector
// nothing, made into a Change only when asked for.
type write struct {
	op   Op
	svc  int32 // index in plan.svcs
	dest int32 // index in that service's Destinations
}

// plan is the writes of a commit, in the order sent: changes first, then
// writes (Apply's deletions and drains, then its creates and updates; a
// Batch has only changes).
type plan struct {
	svcs    []ServiceState
	changes []Change
	writes  []write

	tunnels bool // some write may need reading back (see readBack)

	keySvc int32  // the service whose key attribute key holds, plus one
	key    []byte // cached: a service's destinations repeat its key
}

func (p *plan) len() int { return len(p.changes) + len(p.writes) }

// change returns write i as a Change.
func (p *plan) change(i int) Change {
	if i < len(p.changes) {
		return p.changes[i]
	}
	w := p.writes[i-len(p.changes)]
	s := &p.svcs[w.svc]
	if !w.op.isDest() {
		return Change{Op: w.op, Service: s.Service}
	}
	return Change{Op: w.op, Service: Service{ServiceKey: s.ServiceKey}, Destination: s.Destinations[w.dest]}
}

// readBack reports whether write i creates or updates a tunnel an old
// kernel may ignore (see needsReadBack).
func (p *plan) readBack(i int) bool {
	if i < len(p.changes) {
		ch := &p.changes[i]
		return readsBack(ch.Op, &ch.Destination)
	}
	w := p.writes[i-len(p.changes)]
	return w.op.isDest() && readsBack(w.op, &p.svcs[w.svc].Destinations[w.dest])
}

// encode appends the attributes of write i to w and returns its command.
func (p *plan) encode(i int, w *attrWriter) uint8 {
	if i < len(p.changes) {
		return p.changes[i].encode(w)
	}
	wr := p.writes[i-len(p.changes)]
	s := &p.svcs[wr.svc]
	if !wr.op.isDest() {
		serviceAttr(w, &s.Service)
		if wr.op == OpCreateService {
			return cmdNewService
		}
		return cmdSetService
	}
	if p.keySvc != wr.svc+1 {
		k := attrWriter{b: p.key[:0]}
		serviceKeyAttr(&k, s.ServiceKey)
		p.key, p.keySvc = k.b, wr.svc+1
	}
	w.b = append(w.b, p.key...)
	destAttr(w, s.Destinations[wr.dest])
	if wr.op == OpCreateDestination {
		return cmdNewDest
	}
	return cmdSetDest
}
