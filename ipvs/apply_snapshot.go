package ipvs

import (
	"context"
)

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
	// The destinations are decoded where they are kept: one slice shared
	// by the services in turn, each getting its part of it, reallocated
	// only when full. A few allocations for the whole snapshot, and no
	// copy of a destination once decoded.
	var (
		store []DestinationInfo
		cur   = -1
		first int // where cur's destinations begin in store
		seen  int // destinations decoded so far
	)
	finish := func() {
		if cur >= 0 && len(store) > first {
			out[cur].Destinations = store[first:len(store):len(store)]
		}
	}
	fn := func(i int, b []byte) error {
		if i != cur {
			finish()
			cur, first = i, len(store)
		}
		seen++
		if len(store) == cap(store) {
			// Room for the rest, if they have as many as those so far;
			// cur's destinations so far move along.
			rest := seen * (len(out) - cur) / (cur + 1)
			moved := make([]DestinationInfo, len(store)-first, len(store)-first+max(rest, 16))
			copy(moved, store[first:])
			store, first = moved, 0
		}
		store = store[:len(store)+1]
		return decodeDestinationTo(&store[len(store)-1], b, out[i].ServiceKey.family())
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
	finish()
	return nil
}
