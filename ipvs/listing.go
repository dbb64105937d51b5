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
	// longer one is returned only once a listing of another kind agrees
	// with it: full listings in 32 KiB datagrams alternate with listings
	// of the keys only in page-sized ones (on the dump socket), and a full
	// listing is returned when its keys, in order (the table's, which
	// other namespaces' changes do not alter), are those of a keys-only
	// listing made before or after it. Their datagram boundaries, where a
	// disturbance strikes, fall in different places, so two listings of
	// the same kind disturbed alike (they were, in lockstep with a
	// neighbour's writes, in the kernel tests) cannot confirm each other.
	// The namespace's /proc/net/ip_vs is no help: its reads resume by
	// position in the same shared table.
	var fulls [][]ServiceInfo
	var keys [][]ServiceKey
	for n := 0; n < maxListings; n += 2 {
		out, parts, err := c.listServices(ctx)
		if err != nil || parts <= 1 {
			return out, false, err
		}
		for _, k := range keys {
			if sameKeys(out, k) {
				return out, true, nil
			}
		}
		fulls = append(fulls, out)
		k, err := c.listKeys(ctx)
		if err != nil {
			return nil, true, err
		}
		for _, f := range fulls {
			if sameKeys(f, k) {
				return f, true, nil
			}
		}
		keys = append(keys, k)
	}
	return nil, true, newError("list services", "", ErrBusy,
		fmt.Errorf("no two of %d listings agreed while services kept changing (the kernel resumes a listing by position in a table shared with other namespaces): try again", maxListings))
}

// maxListings bounds the listings Services makes, keys-only ones included.
const maxListings = 8

// sameKeys reports whether a lists the keys k, in the same order.
func sameKeys(a []ServiceInfo, k []ServiceKey) bool {
	if len(a) != len(k) {
		return false
	}
	for i := range a {
		if a[i].ServiceKey != k[i] {
			return false
		}
	}
	return true
}

func (c *Client) listServices(ctx context.Context) ([]ServiceInfo, int, error) {
	parts := 0
	out, err := dumpAll(ctx, c, "list services", request{cmd: cmdGetService, dump: true, datagrams: &parts}, decodeService)
	if err != nil {
		return nil, 0, err
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

// listKeys lists the keys of the services, repeats dropped, on the dump
// socket where there is one: its datagrams hold a page, not 32 KiB.
func (c *Client) listKeys(ctx context.Context) ([]ServiceKey, error) {
	var out []ServiceKey
	seen := map[ServiceKey]bool{}
	fn := func(b []byte) error {
		k, err := decodeServiceKey(b)
		if err != nil {
			return err
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
		return nil
	}
	req := request{cmd: cmdGetService, dump: true}
	var err error
	if md, ok := c.t.(multiDumper); ok {
		err = md.dumpMany(ctx, []request{req}, func(_ int, b []byte) error { return fn(b) })
	} else {
		err = c.t.do(ctx, req, func(_ uint8, b []byte) error { return fn(b) })
	}
	if err != nil {
		return nil, kernelError("list services", "", opOther, err)
	}
	return out, nil
}
