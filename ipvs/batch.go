package ipvs

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/golvs/lvs/internal/enum"
)

// Op is the kind of one write in a Batch.
type Op uint8

// Writes a Batch can carry.
const (
	OpCreateService Op = iota + 1
	OpUpdateService
	OpDeleteService
	OpCreateDestination
	OpUpdateDestination
	OpDeleteDestination
)

func (o Op) String() string {
	return enum.Name(o, "op", []Op{OpCreateService, OpUpdateService, OpDeleteService, OpCreateDestination, OpUpdateDestination, OpDeleteDestination}, "create service", "update service", "delete service", "create destination", "update destination", "delete destination")
}

// Change is one write: a service operation (Service is the full entry for
// create and update, only its key counts for delete) or a destination
// operation on the service with key Service.ServiceKey (Destination is the
// full entry for create and update; only Address and Port count for
// delete).
type Change struct {
	Op          Op
	Service     Service
	Destination Destination
}

// Object names what c is about, as errors do: "TCP 10.0.0.1:80" or
// "TCP 10.0.0.1:80 -> 10.0.1.1:80".
func (c Change) Object() string {
	if c.isDest() {
		return c.Service.ServiceKey.String() + " -> " + c.Destination.String()
	}
	return c.Service.ServiceKey.String()
}

func (c Change) String() string { return c.Op.String() + " " + c.Object() }

func (c Change) isDest() bool { return c.Op.isDest() }

func (o Op) isDest() bool { return o >= OpCreateDestination }

// check validates c as the corresponding Client method would.
func (c Change) check() error {
	op := c.Op.String()
	switch c.Op {
	case OpCreateService, OpUpdateService:
		return checkService(op, c.Service)
	case OpDeleteService:
		return checkKey(op, c.Service.ServiceKey)
	case OpCreateDestination, OpUpdateDestination:
		return checkDestination(op, c.Service.ServiceKey, c.Destination)
	case OpDeleteDestination:
		if err := checkKey(op, c.Service.ServiceKey); err != nil {
			return err
		}
		if !c.Destination.Address.IsValid() {
			return invalid(op, c.Object(), "Address", "missing")
		}
		return checkDestFamily(op, c.Object, &c.Destination)
	}
	return invalid("commit batch", c.Object(), "Op", fmt.Sprintf("unknown operation %d", c.Op))
}

// kind is what ENOENT means for the write (see opKind).
func (o Op) kind() opKind {
	switch o {
	case OpCreateService, OpUpdateService:
		return opServiceWrite
	case OpDeleteService:
		return opOther
	}
	return opDestWrite
}

// encode appends the attributes of a validated change to w and returns
// its command.
func (c *Change) encode(w *attrWriter) uint8 {
	switch c.Op {
	case OpCreateService:
		serviceAttr(w, &c.Service)
		return cmdNewService
	case OpUpdateService:
		serviceAttr(w, &c.Service)
		return cmdSetService
	case OpDeleteService:
		serviceKeyAttr(w, c.Service.ServiceKey)
		return cmdDelService
	}
	serviceKeyAttr(w, c.Service.ServiceKey)
	switch c.Op {
	case OpCreateDestination:
		destAttr(w, c.Destination)
		return cmdNewDest
	case OpUpdateDestination:
		destAttr(w, c.Destination)
		return cmdSetDest
	default: // OpDeleteDestination
		destKeyAttr(w, c.Destination)
		return cmdDelDest
	}
}

// Batch collects writes and sends them to the kernel together: many
// requests per system call, one acknowledgement per send, each failure
// still attributed to the write that caused it. Build one with
// Client.Batch, add writes, then Commit. A Batch is not safe for
// concurrent use.
type Batch struct {
	c       *Client
	changes []Change
}

// Batch starts an empty batch of writes.
func (c *Client) Batch() *Batch { return &Batch{c: c} }

// Add appends changes as they are.
func (b *Batch) Add(changes ...Change) *Batch {
	b.changes = append(b.changes, changes...)
	return b
}

// CreateService adds a service creation.
func (b *Batch) CreateService(s Service) *Batch {
	return b.Add(Change{Op: OpCreateService, Service: s})
}

// UpdateService adds a service update (the whole entry is replaced).
func (b *Batch) UpdateService(s Service) *Batch {
	return b.Add(Change{Op: OpUpdateService, Service: s})
}

// DeleteService adds a service deletion (its destinations go with it).
func (b *Batch) DeleteService(k ServiceKey) *Batch {
	return b.Add(Change{Op: OpDeleteService, Service: Service{ServiceKey: k}})
}

// CreateDestination adds a destination creation.
func (b *Batch) CreateDestination(k ServiceKey, d Destination) *Batch {
	return b.Add(Change{Op: OpCreateDestination, Service: Service{ServiceKey: k}, Destination: d})
}

// UpdateDestination adds a destination update (the whole entry is replaced).
func (b *Batch) UpdateDestination(k ServiceKey, d Destination) *Batch {
	return b.Add(Change{Op: OpUpdateDestination, Service: Service{ServiceKey: k}, Destination: d})
}

// DeleteDestination adds a destination deletion.
func (b *Batch) DeleteDestination(k ServiceKey, d netip.AddrPort) *Batch {
	return b.Add(Change{Op: OpDeleteDestination, Service: Service{ServiceKey: k},
		Destination: Destination{Address: d.Addr(), Port: d.Port()}})
}

// Len is the number of writes added so far.
func (b *Batch) Len() int { return len(b.changes) }

// BatchResult is the fate of each write of a committed batch.
type BatchResult struct {
	// Changes are the writes in the order they were added and sent.
	Changes []Change
	// Errs holds one entry per change: nil if the kernel applied it, else
	// an *Error naming the change.
	Errs []error
}

// Applied returns the changes the kernel acknowledged.
func (r BatchResult) Applied() []Change { return applied(len(r.Changes), r.change, r.Errs) }

// Failed returns the changes that failed, with their errors.
func (r BatchResult) Failed() ([]Change, []error) { return failed(r.change, r.Errs) }

func (r BatchResult) change(i int) Change { return r.Changes[i] }

// applied returns those of n writes whose entry in errs is nil (all of
// them if errs is nil), in order.
func applied(n int, change func(int) Change, errs []error) []Change {
	var out []Change
	for i := range n {
		if errs == nil || errs[i] == nil {
			out = append(out, change(i))
		}
	}
	return out
}

// failed returns the writes with an error in errs, and those errors.
func failed(change func(int) Change, errs []error) ([]Change, []error) {
	var (
		out   []Change
		cause []error
	)
	for i, err := range errs {
		if err != nil {
			out = append(out, change(i))
			cause = append(cause, err)
		}
	}
	return out, cause
}

// Commit validates every write, then sends them all, in order. If one is
// invalid nothing is sent and the error names it. Otherwise every write
// is attempted, even after one fails (a datagram's requests are all
// processed by the kernel), so a write depending on a failed one fails
// too, e.g. a destination of a service whose creation failed. The result
// tells which were applied; the error, if some failed, wraps the first
// failure and says how many failed.
//
// If ctx ends or the socket fails midway, the writes whose
// acknowledgement never came are reported failed with that error,
// although the kernel may have applied some of them: read the state back
// (Snapshot, or Apply again) to know.
//
// Like CreateDestination, Commit reads GUE and GRE destinations back
// until the kernel has been seen to honour one: kernels before 5.2 (GUE)
// and 5.3 (GRE) silently make IPIP tunnels instead. Such a write is
// reported failed with ErrNotSupported, and a destination it created is
// deleted again.
func (b *Batch) Commit(ctx context.Context) (BatchResult, error) {
	return b.c.commit(ctx, append([]Change(nil), b.changes...))
}

// batchEncoder is implemented by transports that frame a batch straight
// into their send buffer (on Linux): no request per write, no copy.
type batchEncoder interface {
	// batchEncode sends n requests, the attributes of each appended by
	// enc, and calls fail for each request that failed, possibly twice
	// (the first error counts). The error is what stopped the batch as a
	// whole.
	batchEncode(ctx context.Context, n int, enc encodeFunc, fail func(i int, err error)) error
}

// readsBack reports whether a write op of d is checked by reading it back.
func readsBack(op Op, d *Destination) bool {
	return (op == OpCreateDestination || op == OpUpdateDestination) && needsReadBack(*d)
}

// commit validates and sends changes, which it keeps in the result.
func (c *Client) commit(ctx context.Context, changes []Change) (BatchResult, error) {
	for _, ch := range changes {
		if err := ch.check(); err != nil {
			return BatchResult{}, err
		}
	}
	errs, err := c.send(ctx, &plan{changes: changes, tunnels: hasTunnels(changes)})
	if errs == nil {
		errs = make([]error, len(changes))
	}
	return BatchResult{Changes: changes, Errs: errs}, err
}

// send sends the validated writes of p in order. errs is nil if the kernel
// applied them all, else it holds one entry per write; err then wraps the
// first failure.
func (c *Client) send(ctx context.Context, p *plan) (errs []error, err error) {
	n := p.len()
	if n == 0 {
		return nil, nil
	}
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, n)
		}
		if errs[i] == nil {
			errs[i] = err
		}
	}
	var batchErr error
	if be, ok := c.t.(batchEncoder); ok {
		batchErr = be.batchEncode(ctx, n, p.encode, fail)
	} else {
		reqs := make([]request, n)
		for i := range reqs {
			var w attrWriter
			reqs[i].cmd = p.encode(i, &w)
			reqs[i].attrs = w.b
		}
		var es []error
		es, batchErr = c.t.batch(ctx, reqs)
		for i, e := range es {
			if e != nil {
				fail(i, e)
			}
		}
	}
	for i, e := range errs {
		if e != nil {
			ch := p.change(i)
			errs[i] = kernelError(ch.Op.String(), ch.Object(), ch.Op.kind(), e)
			if !ch.isDest() {
				errs[i] = moduleError(errs[i], &ch.Service)
			}
		}
	}
	if batchErr == nil {
		c.verifyTunnels(ctx, p, errs, fail)
	}
	failed := 0
	var first error
	for _, e := range errs {
		if e != nil {
			failed++
			if first == nil {
				first = e
			}
		}
	}
	if failed == 0 {
		return nil, nil
	}
	if batchErr != nil {
		first = kernelError("commit batch", "", opOther, batchErr)
	}
	return errs, newError("commit batch", fmt.Sprintf("(%d of %d writes failed)", failed, n), kindOf(first), first)
}

// verifyTunnels reads back the GUE and GRE destinations that p created or
// updated, as CreateDestination does, until the kernel has been seen to
// honour one. A destination that reads back as another tunnel fails with
// ErrNotSupported through fail (errs are the failures so far, nil if
// none); one the batch created is deleted again. Only a destination's
// last write in the batch is checked, and one that cannot be read back is
// left alone: it is the kernel's answer to the writes that counts.
func (c *Client) verifyTunnels(ctx context.Context, p *plan, errs []error, fail func(int, error)) {
	if c.tunnelsVerified.Load() {
		return
	}
	if !p.tunnels {
		return
	}
	n := p.len()
	type destKey = drainKey
	var last map[destKey]int // tunnel writes by destination
	for i := range n {
		ch := p.change(i)
		if !ch.isDest() {
			continue
		}
		dk := destKey{ch.Service.ServiceKey.Canonical(), destID(ch.Destination)}
		applied := errs == nil || errs[i] == nil
		if applied && p.readBack(i) {
			if last == nil {
				last = map[destKey]int{}
			}
			last[dk] = i
		} else if last != nil {
			delete(last, dk)
		}
	}
	if last == nil {
		return
	}
	var svcs []ServiceSnapshot
	seen := map[ServiceKey]bool{}
	for dk := range last {
		if !seen[dk.svc] {
			seen[dk.svc] = true
			svcs = append(svcs, ServiceSnapshot{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: dk.svc}}})
		}
	}
	if err := c.dumpDests(ctx, svcs); err != nil {
		for _, i := range last {
			fail(i, err)
		}
		return
	}
	var undo []Change
	for _, s := range svcs {
		for _, got := range s.Destinations {
			i, ok := last[drainKey{s.ServiceKey, destID(got.Destination)}]
			if !ok {
				continue
			}
			ch := p.change(i)
			if err := tunnelIgnored(ch.Op.String(), ch.Object(), ch.Destination, got.Destination); err != nil {
				fail(i, err)
				if ch.Op == OpCreateDestination {
					undo = append(undo, Change{Op: OpDeleteDestination, Service: ch.Service, Destination: ch.Destination})
				}
				continue
			}
			c.tunnelsVerified.Store(true)
		}
	}
	if len(undo) > 0 {
		// Leave nothing behind: the kernel made IPIP tunnels the caller
		// did not ask for.
		_, _ = c.send(ctx, &plan{changes: undo})
	}
}

// hasTunnels reports whether some of changes may need reading back.
func hasTunnels(changes []Change) bool {
	for i := range changes {
		if readsBack(changes[i].Op, &changes[i].Destination) {
			return true
		}
	}
	return false
}

// needsReadBack reports whether d is a tunnel an old kernel would turn
// into IPIP without a word.
func needsReadBack(d Destination) bool {
	return d.Forward == Tunnel && (d.TunnelType != IPIP || d.TunnelFlags != 0)
}

// tunnelIgnored returns an ErrNotSupported error if the kernel made got
// where want was asked for.
func tunnelIgnored(op, obj string, want, got Destination) error {
	if got.TunnelType == want.TunnelType && got.TunnelPort == want.TunnelPort && got.TunnelFlags == want.TunnelFlags {
		return nil
	}
	e := newError(op, obj, ErrNotSupported, fmt.Errorf("the kernel ignored tunnel %v port %d flags %#x and made %v port %d flags %#x (GUE needs Linux 5.2, GRE and checksum flags 5.3)",
		want.TunnelType, want.TunnelPort, uint16(want.TunnelFlags), got.TunnelType, got.TunnelPort, uint16(got.TunnelFlags)))
	e.Field = "TunnelType"
	return e
}
