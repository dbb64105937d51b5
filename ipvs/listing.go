package ipvs

import (
	"context"
	"fmt"
)

// Services lists every virtual service of the namespace. No services is an
// empty result, not an error. While other namespaces change their services
// too fast for any two listings to agree, it fails with ErrBusy: try
// again.
func (c *Client) Services(ctx context.Context) ([]ServiceInfo, error) {
	out, _, err := c.services(ctx)
	return out, err
}

// services is Services, and says whether the listing took several
// datagrams (so that another namespace's changes could have disturbed it).
func (c *Client) services(ctx context.Context) (out []ServiceInfo, several bool, err error) {
	// The kernel resumes a services dump that spans several datagrams by
	// position in a table every namespace shares (up to 6.12 at least), so
	// services another namespace adds or deletes meanwhile make it repeat
	// or skip some of ours. Repeats are dropped. A dump in one datagram is
	// taken whole, under the kernel's lock, and needs no second look. A
	// longer one is returned only once another listing agrees with it:
	// first a listing of the keys only, in the same order (the table's,
	// which other namespaces' changes do not alter); then more full
	// listings, each compared with every one before it. Two listings
	// disturbed in exactly the same way do not happen by chance. The
	// namespace's /proc/net/ip_vs is no help: its reads resume by position
	// in the same shared table.
	out, parts, err := c.listServices(ctx)
	if err != nil || parts <= 1 {
		return out, false, err
	}
	same, err := c.sameListing(ctx, out)
	if err != nil {
		return nil, true, err
	}
	if same {
		return out, true, nil
	}
	prev := [][]ServiceInfo{out}
	for n := 2; n < maxListings; n++ {
		out, parts, err = c.listServices(ctx)
		if err != nil || parts <= 1 {
			return out, false, err
		}
		for _, p := range prev {
			if sameKeys(p, out) {
				return out, true, nil
			}
		}
		prev = append(prev, out)
	}
	return nil, true, newError("list services", "", ErrBusy,
		fmt.Errorf("no two of %d listings agreed while services kept changing (the kernel resumes a listing by position in a table shared with other namespaces): try again", maxListings))
}

// maxListings bounds the listings Services makes, keys-only ones included.
const maxListings = 8

// sameKeys reports whether a and b list the same keys in the same order.
func sameKeys(a, b []ServiceInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ServiceKey != b[i].ServiceKey {
			return false
		}
	}
	return true
}

func (c *Client) listServices(ctx context.Context) ([]ServiceInfo, int, error) {
	var out []ServiceInfo
	parts := 0
	err := c.t.do(ctx, request{cmd: cmdGetService, dump: true, datagrams: &parts}, func(_ uint8, b []byte) error {
		s, err := decodeService(b)
		if err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, 0, kernelError("list services", "", opOther, err)
	}
	return dropRepeats(out), parts, nil
}

// dropRepeats removes services listed twice (see Services).
func dropRepeats(s []ServiceInfo) []ServiceInfo {
	if len(s) < 2 {
		return s
	}
	keys := newKeyTable(len(s))
	out := s[:0]
	keyAt := func(i int) *ServiceKey { return &out[i].ServiceKey }
	for i := range s {
		if slot, found := keys.lookup(&s[i].ServiceKey, keyAt); found < 0 {
			keys.slots[slot] = int32(len(out) + 1)
			out = append(out, s[i])
		}
	}
	return out
}

// sameListing lists the services again, keys only, and reports whether
// they are those of out, in the same order. A key it has passed may come
// again (a repeat, see Services): it goes back there.
func (c *Client) sameListing(ctx context.Context, out []ServiceInfo) (bool, error) {
	n, same := 0, true
	fn := func(b []byte) error {
		if !same {
			return nil
		}
		k, err := decodeServiceKey(b)
		if err != nil {
			return err
		}
		if n < len(out) && out[n].ServiceKey == k {
			n++
			return nil
		}
		same = false
		for p := n - 1; p >= 0; p-- {
			if out[p].ServiceKey == k {
				n, same = p+1, true
				break
			}
		}
		return nil
	}
	// Read on the dump socket where there is one: its datagrams hold a
	// page, not 32 KiB, so their boundaries, where another namespace's
	// changes shift the kernel's position, fall elsewhere than the first
	// listing's, and a disturbance cannot repeat itself exactly.
	req := request{cmd: cmdGetService, dump: true}
	var err error
	if md, ok := c.t.(multiDumper); ok {
		err = md.dumpMany(ctx, []request{req}, func(_ int, b []byte) error { return fn(b) })
	} else {
		err = c.t.do(ctx, req, func(_ uint8, b []byte) error { return fn(b) })
	}
	if err != nil {
		return false, kernelError("list services", "", opOther, err)
	}
	return same && n == len(out), nil
}
