package ipvs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Services lists every virtual service of the namespace. No services is an
// empty result, not an error. While other namespaces keep changing their
// services faster than a listing can be confirmed it fails with ErrBusy:
// try again.
func (c *Client) Services(ctx context.Context) ([]ServiceInfo, error) {
	// The kernel resumes a services dump that spans several datagrams by
	// position in a table every namespace shares (up to 6.12 at least), so
	// services another namespace adds or deletes meanwhile make it repeat
	// or skip some of ours. Repeats are dropped. A dump in one datagram is
	// taken whole, under the kernel's lock, and needs no second look. A
	// longer one is confirmed by a second listing of the keys only, in
	// the same order (the table's, which other namespaces' changes do not
	// alter); where the two disagree, by the namespace's own list in
	// /proc/net/ip_vs, whose position counts this namespace's services
	// only, so other namespaces cannot shift it: services the dump skipped
	// are read one by one, services it listed but the namespace no longer
	// has are dropped. A listing is returned only once confirmed.
	var last error
	for range maxListings {
		out, parts, err := c.listServices(ctx)
		if err != nil {
			return nil, err
		}
		if parts <= 1 {
			return out, nil
		}
		same, err := c.sameListing(ctx, out)
		if err != nil {
			return nil, err
		}
		if same {
			return out, nil
		}
		out, err = c.confirmListing(ctx, out)
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, errUnconfirmed) {
			return nil, err
		}
		last = err
	}
	return nil, newError("list services", "", ErrBusy,
		fmt.Errorf("no listing could be confirmed in %d tries while services kept changing (%v): try again", maxListings, last))
}

// maxListings bounds the tries Services makes to confirm a listing.
const maxListings = 4

// errUnconfirmed: this namespace's own services changed between the
// listing and its confirmation.
var errUnconfirmed = errors.New("the namespace's services changed while they were listed")

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
	err := c.t.do(ctx, request{cmd: cmdGetService, dump: true}, func(_ uint8, b []byte) error {
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
	})
	if err != nil {
		return false, kernelError("list services", "", opOther, err)
	}
	return same && n == len(out), nil
}

// serviceKeyLister stands in for /proc/net/ip_vs in tests.
type serviceKeyLister interface {
	serviceKeys(ctx context.Context) ([]ServiceKey, error)
}

// procKeys returns the keys of the namespace's services as
// /proc/net/ip_vs lists them: fwmark keys without their family, which the
// file does not show.
func (c *Client) procKeys(ctx context.Context) ([]ServiceKey, error) {
	if l, ok := c.t.(serviceKeyLister); ok {
		return l.serviceKeys(ctx)
	}
	const op = "list services"
	b, err := c.readProc(ctx, op, "/proc/thread-self/net/ip_vs")
	if err != nil {
		return nil, err
	}
	keys, err := parseProcServiceKeys(b)
	if err != nil {
		return nil, newError(op, "/proc/net/ip_vs", ErrKernel, err)
	}
	return keys, nil
}

// procForm is k as procKeys reports it.
func procForm(k ServiceKey) ServiceKey {
	if k.Fwmark != 0 {
		k.Family = 0
	}
	return k
}

// confirmListing makes out, a listing the kernel may have skipped or
// repeated services in, agree with the namespace's own list of keys (see
// Services). It fails with errUnconfirmed if the namespace's services
// changed meanwhile.
func (c *Client) confirmListing(ctx context.Context, out []ServiceInfo) ([]ServiceInfo, error) {
	keys, err := c.procKeys(ctx)
	if err != nil {
		return nil, err
	}
	want := make(map[ServiceKey]int, len(keys))
	for _, k := range keys {
		want[k]++
	}
	have := make(map[ServiceKey]bool, len(out))
	kept := out[:0]
	for _, s := range out {
		if pk := procForm(s.ServiceKey); want[pk] > 0 {
			want[pk]--
			kept = append(kept, s)
			have[s.ServiceKey] = true
		}
	}
	for pk, n := range want {
		cands := []ServiceKey{pk}
		if pk.Fwmark != 0 {
			cands = []ServiceKey{{Family: IPv4, Fwmark: pk.Fwmark}, {Family: IPv6, Fwmark: pk.Fwmark}}
		}
		for _, k := range cands {
			if n == 0 {
				break
			}
			if have[k] {
				continue
			}
			s, err := c.Service(ctx, k)
			switch {
			case errors.Is(err, ErrNotExist):
				continue
			case err != nil:
				return nil, err
			}
			kept = append(kept, s)
			have[k] = true
			n--
		}
		if n > 0 {
			return nil, errUnconfirmed
		}
	}
	return kept, nil
}

// parseProcServiceKeys reads the service lines of /proc/net/ip_vs:
// "TCP  0A000001:0050 wlc", "UDP  [2001:0db8:...:0001]:0035 rr",
// "FWM  00000007 wlc", after three lines of header; destination lines
// ("  -> ...") are skipped.
func parseProcServiceKeys(b []byte) ([]ServiceKey, error) {
	var out []ServiceKey
	for n := 0; len(b) > 0; n++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if n < 3 || len(line) == 0 || line[0] == ' ' {
			continue // the header, destinations
		}
		f := strings.Fields(string(line))
		if len(f) < 2 {
			return nil, fmt.Errorf("line %d: %q", n+1, line)
		}
		if f[0] == "FWM" {
			m, err := strconv.ParseUint(f[1], 16, 32)
			if err != nil || m == 0 {
				return nil, fmt.Errorf("line %d: fwmark %q", n+1, f[1])
			}
			out = append(out, ServiceKey{Fwmark: uint32(m)})
			continue
		}
		p, ok := parseProtocolName(f[0])
		if !ok {
			return nil, fmt.Errorf("line %d: protocol %q", n+1, f[0])
		}
		i := strings.LastIndexByte(f[1], ':')
		if i < 0 {
			return nil, fmt.Errorf("line %d: address %q", n+1, f[1])
		}
		ap, err := parseConnAddrPort(strings.TrimSuffix(strings.TrimPrefix(f[1][:i], "["), "]"), f[1][i+1:])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		a, port := ap.Addr(), ap.Port()
		out = append(out, ServiceKey{Family: FamilyOf(a), Protocol: p, Address: a, Port: port})
	}
	return out, nil
}
