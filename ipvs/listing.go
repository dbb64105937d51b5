package ipvs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
)

// Services lists every virtual service of the namespace. No services is an
// empty result, not an error. It fails with ErrBusy only if this
// namespace's own services changed while it read them (another namespace's
// changes cannot disturb it): try again.
func (c *Client) Services(ctx context.Context) ([]ServiceInfo, error) {
	// The kernel resumes a services dump that spans several datagrams by
	// position in a table every namespace shares (up to 6.12 at least),
	// so services another namespace adds or deletes meanwhile make it
	// repeat or skip some of ours, and a skip leaves no trace in the
	// dump. No second dump can prove one right: two dumps can lose the
	// same services. /proc/net/ip_vs can: a read of it resumes by
	// position among this namespace's services only, which other
	// namespaces' changes do not move. So a dump is taken as it is only
	// when it cannot have been resumed (see wholeDump); otherwise the
	// file's list of keys decides which services exist, in the table's
	// order, and the dump gives their attributes, each service it missed
	// being read on its own.
	for try := 1; ; try++ {
		out, grams, err := c.dumpServices(ctx)
		if err != nil || wholeDump(grams) {
			return out, err
		}
		b, err := c.readProc(ctx, "list services", "/proc/thread-self/net/ip_vs")
		if err != nil {
			return nil, err
		}
		keys, err := parseServiceKeys(b)
		if err != nil {
			return nil, newError("list services", "/proc/net/ip_vs", ErrKernel, err)
		}
		res, ok, err := c.reconcile(ctx, out, keys)
		if err != nil || ok {
			return res, err
		}
		if try == maxListings {
			return nil, newError("list services", "", ErrBusy,
				fmt.Errorf("the namespace's services changed during each of %d listings: try again", maxListings))
		}
	}
}

// maxListings bounds the listings Services makes while this namespace's
// own services keep changing under it.
const maxListings = 3

// datagram is one datagram of a services dump: its length in bytes and
// how many services it carried.
type datagram struct{ bytes, services int }

// dumpServices dumps the services, repeats dropped, and says how the
// kernel's answer came.
func (c *Client) dumpServices(ctx context.Context) ([]ServiceInfo, []datagram, error) {
	var grams []datagram
	var out []ServiceInfo
	req := request{cmd: cmdGetService, dump: true, onDatagram: func(n int) { grams = append(grams, datagram{bytes: n}) }}
	err := c.t.do(ctx, req, func(_ uint8, b []byte) error {
		s, err := decodeService(b)
		if err != nil {
			return err
		}
		out = append(out, s)
		if len(grams) > 0 {
			grams[len(grams)-1].services++
		}
		return nil
	})
	if err != nil {
		return nil, nil, kernelError("list services", "", opOther, err)
	}
	return dropRepeats(out), grams, nil
}

// The sizes wholeDump reasons with. The kernel packs a dump's datagram
// into an skb of max(NLMSG_GOODSIZE, the largest read the socket has
// made, at most SKB_WITH_OVERHEAD(32768)), falling back to
// NLMSG_GOODSIZE when the larger allocation fails, and ends a datagram
// only when the next service does not fit. NLMSG_GOODSIZE is a page (at
// most 8 KiB) less an skb_shared_info, which takes 320 to 768 bytes on
// 6.x. The pooled sockets read with 64 KiB buffers.
const (
	// maxServiceMessage bounds one service's message: headers, an IPv6
	// key, the longest scheduler and engine names, both stats nests
	// (about 350 bytes).
	maxServiceMessage = 512
	// largeDatagram is at least what a datagram of the large kind holds.
	largeDatagram = 32768 - 1024
)

// goodSize bounds NLMSG_GOODSIZE: at most hi, at least lo.
func goodSize() (lo, hi int) {
	hi = min(os.Getpagesize(), 8192)
	return hi - 1024, hi
}

// wholeDump reports whether a dump that came as grams cannot have been
// disturbed by another namespace: its services came in one datagram (the
// first, which starts at the table's head, under the kernel's lock) and
// that datagram had room for another service, so the kernel ended it at
// the end of the table and resumed nothing. A datagram longer than
// NLMSG_GOODSIZE was of the large kind, whose size is known; a shorter
// one may have been a fallback of NLMSG_GOODSIZE.
func wholeDump(grams []datagram) bool {
	var data []datagram
	for _, g := range grams {
		if g.services > 0 {
			data = append(data, g)
		}
	}
	switch len(data) {
	case 0:
		return true // the first datagram, from the head, held none of ours
	case 1:
		room, hi := goodSize()
		if data[0].bytes > hi {
			room = largeDatagram
		}
		return data[0].bytes+maxServiceMessage <= room
	}
	return false
}

// reconcile makes the listing keys (from /proc/net/ip_vs: exact, in the
// table's order) with the attributes dumped, reading on its own each
// service the dump missed. ok is false if the two cannot be one state of
// the namespace: its services changed in between.
func (c *Client) reconcile(ctx context.Context, dumped []ServiceInfo, keys []ServiceKey) (_ []ServiceInfo, ok bool, _ error) {
	// /proc/net/ip_vs names a fwmark service without its family: such
	// keys match by mark, in order.
	byKey := make(map[ServiceKey][]int, len(dumped))
	for i := range dumped {
		k := procForm(dumped[i].ServiceKey)
		byKey[k] = append(byKey[k], i)
	}
	out := make([]ServiceInfo, 0, len(keys))
	listed := make(map[ServiceKey]bool, len(keys))
	for _, k := range keys {
		if idx := byKey[k]; len(idx) > 0 {
			out = append(out, dumped[idx[0]])
			byKey[k] = idx[1:]
			listed[k] = true
			continue
		}
		if k.Fwmark == 0 && listed[k] {
			// A key the file repeats (kernels whose per-namespace tables
			// grow and move their services can show one twice).
			continue
		}
		listed[k] = true
		s, found, err := c.lookupMissed(ctx, k, out)
		if err != nil || !found {
			return nil, false, err
		}
		out = append(out, s)
	}
	for _, idx := range byKey {
		if len(idx) > 0 {
			return nil, false, nil // dumped, then gone from the file
		}
	}
	return out, true, nil
}

// lookupMissed reads a service of /proc/net/ip_vs the dump missed; a
// fwmark one is tried in each family not listed yet.
func (c *Client) lookupMissed(ctx context.Context, k ServiceKey, listed []ServiceInfo) (ServiceInfo, bool, error) {
	cands := []ServiceKey{k}
	if k.Fwmark != 0 {
		cands = nil
		for _, f := range []Family{IPv4, IPv6} {
			fk := ServiceKey{Family: f, Fwmark: k.Fwmark}
			if !hasKey(listed, fk) {
				cands = append(cands, fk)
			}
		}
	}
	for _, fk := range cands {
		s, err := c.Service(ctx, fk)
		switch {
		case err == nil:
			return s, true, nil
		case !errors.Is(err, ErrNotExist):
			return ServiceInfo{}, false, err
		}
	}
	return ServiceInfo{}, false, nil
}

func hasKey(s []ServiceInfo, k ServiceKey) bool {
	for i := range s {
		if s[i].ServiceKey == k {
			return true
		}
	}
	return false
}

// procForm is k as /proc/net/ip_vs gives it: a fwmark service by its mark
// alone.
func procForm(k ServiceKey) ServiceKey {
	if k.Fwmark != 0 {
		return ServiceKey{Fwmark: k.Fwmark}
	}
	return k.Canonical()
}

// parseServiceKeys reads the services' keys from the text of
// /proc/net/ip_vs, in procForm. The kernel writes a service as
// "%s  %08X:%04X %s ..." (IPv4), "%s  [%pI6]:%04X %s ..." (IPv6) or
// "FWM  %08X %s ...", each followed by its destinations' "  -> ..." lines,
// after a header of three lines. A large table's file is megabytes, so
// the common lines are read without allocating.
func parseServiceKeys(b []byte) ([]ServiceKey, error) {
	out := make([]ServiceKey, 0, bytes.Count(b, []byte("\n"))/4)
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		if n <= 3 {
			if n == 1 && !bytes.HasPrefix(line, []byte("IP Virtual Server ")) {
				return nil, fmt.Errorf("line 1: %q is not the header of /proc/net/ip_vs", line)
			}
			continue
		}
		if len(line) == 0 || line[0] == ' ' {
			continue // a destination
		}
		k, err := parseServiceLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, k)
	}
	return out, nil
}

func parseServiceLine(line []byte) (ServiceKey, error) {
	name, rest, _ := bytes.Cut(line, []byte{' '})
	addr, _, _ := bytes.Cut(bytes.TrimLeft(rest, " "), []byte{' '})
	if len(addr) == 0 {
		return ServiceKey{}, fmt.Errorf("%q: want a protocol and an address", line)
	}
	if string(name) == "FWM" {
		m, ok := hex32(addr)
		if !ok || m == 0 {
			return ServiceKey{}, fmt.Errorf("fwmark %q: want 8 hex digits, not 0", addr)
		}
		return ServiceKey{Fwmark: m}, nil
	}
	var p Protocol
	switch string(name) {
	case "TCP":
		p = TCP
	case "UDP":
		p = UDP
	default:
		var ok bool
		if p, ok = parseProtocolName(string(name)); !ok {
			return ServiceKey{}, fmt.Errorf("unknown protocol %q", name)
		}
	}
	// IPv4: 8 hex digits, a colon, 4 hex digits.
	if len(addr) == 13 && addr[8] == ':' {
		a, ok1 := hex32(addr[:8])
		port, ok2 := hex32(addr[9:])
		if !ok1 || !ok2 {
			return ServiceKey{}, fmt.Errorf("address %q: not hex", addr)
		}
		return ServiceKey{Family: IPv4, Protocol: p, Address: netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), Port: uint16(port)}, nil
	}
	a, port, ok := bytes.Cut(addr, []byte("]:"))
	if !ok || len(a) == 0 || a[0] != '[' {
		return ServiceKey{}, fmt.Errorf("address %q: neither %%08X:%%04X nor [IPv6]:%%04X", addr)
	}
	ap, err := parseConnAddrPort(string(a[1:]), string(port))
	if err != nil {
		return ServiceKey{}, err
	}
	if !ap.Addr().Is6() || len(a) != 40 {
		return ServiceKey{}, fmt.Errorf("address %q: not a full IPv6 address", addr)
	}
	return ServiceKey{Family: IPv6, Protocol: p, Address: ap.Addr(), Port: ap.Port()}, nil
}

// hex32 parses 4 or 8 upper- or lower-case hex digits.
func hex32(b []byte) (uint32, bool) {
	if len(b) != 4 && len(b) != 8 {
		return 0, false
	}
	var v uint32
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
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
