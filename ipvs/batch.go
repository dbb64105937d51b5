package ipvs

import (
	"context"
	"fmt"
	"net/netip"
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
	switch o {
	case OpCreateService:
		return "create service"
	case OpUpdateService:
		return "update service"
	case OpDeleteService:
		return "delete service"
	case OpCreateDestination:
		return "create destination"
	case OpUpdateDestination:
		return "update destination"
	case OpDeleteDestination:
		return "delete destination"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
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

func (c Change) isDest() bool { return c.Op >= OpCreateDestination }

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
		return nil
	}
	return invalid("commit batch", c.Object(), "Op", fmt.Sprintf("unknown operation %d", c.Op))
}

// encode appends the attributes of a validated change to w and returns
// its command.
func (c Change) encode(w *attrWriter) (uint8, opKind) {
	k := c.Service.ServiceKey
	switch c.Op {
	case OpCreateService:
		serviceAttr(w, c.Service)
		return cmdNewService, opServiceWrite
	case OpUpdateService:
		serviceAttr(w, c.Service)
		return cmdSetService, opServiceWrite
	case OpDeleteService:
		serviceKeyAttr(w, k)
		return cmdDelService, opOther
	default:
		serviceKeyAttr(w, k)
		return c.encodeDest(w)
	}
}

// encodeDest appends the destination nest of a destination change, after
// its service's key nest.
func (c Change) encodeDest(w *attrWriter) (uint8, opKind) {
	switch c.Op {
	case OpCreateDestination:
		destAttr(w, c.Destination)
		return cmdNewDest, opDestWrite
	case OpUpdateDestination:
		destAttr(w, c.Destination)
		return cmdSetDest, opDestWrite
	default: // OpDeleteDestination
		destKeyAttr(w, c.Destination.Address, c.Destination.Port)
		return cmdDelDest, opDestWrite
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
func (r BatchResult) Applied() []Change {
	var out []Change
	for i, c := range r.Changes {
		if r.Errs[i] == nil {
			out = append(out, c)
		}
	}
	return out
}

// Failed returns the changes that failed, with their errors.
func (r BatchResult) Failed() ([]Change, []error) {
	var (
		out  []Change
		errs []error
	)
	for i, c := range r.Changes {
		if r.Errs[i] != nil {
			out = append(out, c)
			errs = append(errs, r.Errs[i])
		}
	}
	return out, errs
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
// Unlike CreateDestination, Commit does not read GUE or GRE destinations
// back: on kernels before 5.2/5.3 they silently become IPIP.
func (b *Batch) Commit(ctx context.Context) (BatchResult, error) {
	return b.c.commit(ctx, append([]Change(nil), b.changes...), false)
}

// commit sends changes, which it keeps in the result; validated skips
// checks already made (Apply validates the desired state).
func (c *Client) commit(ctx context.Context, changes []Change, validated bool) (BatchResult, error) {
	const op = "commit batch"
	res := BatchResult{Changes: changes}
	if !validated {
		for _, ch := range changes {
			if err := ch.check(); err != nil {
				return BatchResult{}, err
			}
		}
	}
	res.Errs = make([]error, len(changes))
	if len(changes) == 0 {
		return res, nil
	}
	// One buffer for every request's attributes: a few allocations for a
	// batch instead of one per write.
	reqs := make([]request, len(changes))
	kinds := make([]opKind, len(changes))
	w := attrWriter{b: make([]byte, 0, 160*len(changes))}
	// A service's destinations follow it: encode its key nest once and
	// copy it for each of them.
	var (
		lastKey ServiceKey
		keyNest []byte
	)
	for i, ch := range changes {
		start := len(w.b)
		if ch.isDest() {
			if keyNest == nil || ch.Service.ServiceKey != lastKey {
				serviceKeyAttr(&w, ch.Service.ServiceKey)
				lastKey, keyNest = ch.Service.ServiceKey, w.b[start:len(w.b):len(w.b)]
			} else {
				w.b = append(w.b, keyNest...)
			}
			reqs[i].cmd, kinds[i] = ch.encodeDest(&w)
		} else {
			reqs[i].cmd, kinds[i] = ch.encode(&w)
		}
		reqs[i].attrs = w.b[start:len(w.b):len(w.b)]
	}
	errs, batchErr := c.t.batch(ctx, reqs)
	var first error
	failed := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		ch := res.Changes[i]
		res.Errs[i] = kernelError(ch.Op.String(), ch.Object(), kinds[i], err)
		failed++
		if first == nil {
			first = res.Errs[i]
		}
	}
	if failed == 0 {
		return res, nil
	}
	if batchErr != nil {
		first = kernelError(op, "", opOther, batchErr)
	}
	return res, &Error{Op: op, Object: fmt.Sprintf("(%d of %d writes failed)", failed, len(reqs)), Err: first}
}
