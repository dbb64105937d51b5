package ipvs

import "context"

// ServiceSnapshot is a service with its destinations, as read from the
// kernel.
type ServiceSnapshot struct {
	ServiceInfo
	Destinations []DestinationInfo
}

// multiDumper is implemented by transports that run many dumps in one go
// (on Linux: one socket, no pool round trip per dump, reads batched).
// fn gets the index of the request each reply belongs to.
type multiDumper interface {
	dumpMany(ctx context.Context, reqs []request, fn func(i int, b []byte) error) error
}

// Snapshot reads every service of the namespace and its destinations: one
// dump of the services, then one destination dump per service, all on one
// socket. The kernel runs one dump per socket at a time (a second gets
// EBUSY), so the destination dumps cannot share a datagram.
func (c *Client) Snapshot(ctx context.Context) ([]ServiceSnapshot, error) {
	return c.snapshot(ctx, nil)
}

// snapshot is Snapshot restricted to the services keep accepts (nil: all).
// The listing comes first, checked as Services does. (Checking it instead
// with a second listing on another socket while the destinations are read
// was slower: the kernel serialises the two on one lock.)
func (c *Client) snapshot(ctx context.Context, keep func(ServiceKey) bool) ([]ServiceSnapshot, error) {
	svcs, err := c.Services(ctx)
	if err != nil {
		return nil, err
	}
	return c.withDests(ctx, svcs, keep)
}

// withDests reads the destinations of the services of svcs keep accepts.
func (c *Client) withDests(ctx context.Context, svcs []ServiceInfo, keep func(ServiceKey) bool) ([]ServiceSnapshot, error) {
	out := make([]ServiceSnapshot, 0, len(svcs))
	for _, s := range svcs {
		if keep == nil || keep(s.ServiceKey) {
			out = append(out, ServiceSnapshot{ServiceInfo: s})
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	if err := c.dumpDests(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// dumpDests reads the destinations of each service of out, with one dump
// per service on one socket where the transport allows.
func (c *Client) dumpDests(ctx context.Context, out []ServiceSnapshot) error {
	reqs := make([]request, len(out))
	w := attrWriter{b: make([]byte, 0, len(out)*(4+16+addrAttrLen+8))}
	for i := range out {
		start := len(w.b)
		serviceKeyAttr(&w, out[i].ServiceKey)
		reqs[i] = request{cmd: cmdGetDest, dump: true, attrs: w.b[start:len(w.b):len(w.b)]}
	}
	// Each service's destinations are decoded into scratch, then moved to
	// a slice shared with the services after it: a few allocations for
	// the whole snapshot instead of a growing slice per service.
	var (
		scratch, store []DestinationInfo
		cur            = -1
		seen           int // destinations so far
	)
	flush := func() {
		if cur < 0 || len(scratch) == 0 {
			return
		}
		seen += len(scratch)
		if cap(store)-len(store) < len(scratch) {
			// Room for the rest, if they have as many as those so far.
			rest := seen * (len(out) - cur) / (cur + 1)
			store = make([]DestinationInfo, 0, max(len(scratch), rest))
		}
		n := len(store)
		store = append(store, scratch...)
		out[cur].Destinations = store[n:len(store):len(store)]
		scratch = scratch[:0]
	}
	fn := func(i int, b []byte) error {
		if i != cur {
			flush()
			cur = i
		}
		d, err := decodeDestination(b, out[i].ServiceKey.family())
		if err != nil {
			return err
		}
		scratch = append(scratch, d)
		return nil
	}
	var err error
	if md, ok := c.t.(multiDumper); ok {
		err = md.dumpMany(ctx, reqs, fn)
	} else {
		for i := range reqs {
			if err = c.t.do(ctx, reqs[i], func(_ uint8, b []byte) error { return fn(i, b) }); err != nil {
				break
			}
		}
	}
	if err != nil {
		return kernelError("list destinations", "", opOther, err)
	}
	flush()
	return nil
}
