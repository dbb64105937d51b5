package ipvs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
)

// Services lists every virtual service of the namespace. No services is an
// empty result, not an error. While other namespaces change their services
// so fast that no listing can be proven complete, it fails with ErrBusy:
// try again. It never returns a listing that could lack a service.
func (c *Client) Services(ctx context.Context) ([]ServiceInfo, error) {
	// The kernel resumes a services dump that spans several datagrams by
	// position in a table every namespace shares (up to 6.12 at least),
	// so services another namespace adds or deletes between two
	// datagrams make the next one repeat some of ours (dropped) or skip
	// some, and a skip leaves no trace. Each datagram is filled under
	// the kernel's lock, so a skip can only be a run of services right
	// after a datagram's end, and never after an end whose next
	// datagram begins with a repeat (its resume was not past ours).
	// Hence a dump is taken as it is when it came in one datagram that
	// had room for another service (the kernel ended it at the end of
	// the table: see tailProven), and otherwise only once a second dump,
	// with datagrams of another size, lists the same services in the
	// same order, no datagram of one ends where a datagram of the other
	// ends, repeats aside (a run both skipped would sit after an end they
	// share), and one of the two ends with room to spare (no run after
	// the last service). The sizes of the second
	// dump's datagrams are chosen so: the messages of the first are
	// packed as the kernel packs them. /proc/net/ip_vs is no help: the
	// kernel resumes its reads by a position counted among this
	// namespace's services but advanced over every namespace's.
	first, err := c.listServices(ctx, 0)
	if err != nil {
		return nil, err
	}
	if first.whole() {
		return first.svcs, nil
	}
	// The dumps that prove another are read for their keys only; once
	// two prove each other, a full dump listing exactly their keys is
	// complete.
	seen := []*servicesDump{first}
	var proven *servicesDump
	for len(seen) < maxListings {
		size := 0
		if proven == nil {
			size = chooseSize(seen)
		}
		d, err := c.listServices(ctx, size)
		if err != nil {
			return nil, err
		}
		if proven != nil {
			if sameKeys(proven, d) {
				return d.svcs, nil
			}
			proven = nil // the full dump was disturbed: prove again
		}
		for _, o := range seen {
			if confirms(o, d) {
				if o.size == 0 {
					return o.svcs, nil
				}
				proven = d
			}
		}
		seen = append(seen, d)
	}
	return nil, newError("list services", "", ErrBusy,
		fmt.Errorf("no two of %d listings proved each other while other namespaces changed their services (the kernel resumes a listing by position in a table they share): try again", maxListings))
}

// maxListings bounds the dumps Services makes.
const maxListings = 6

// maxServices is more services than a namespace holds (the kernel's
// table has no limit, but a listing of four times as many messages is
// one that other namespaces' inserts keep sending back: stopped).
const maxServices = 1 << 18

// servicesDump is one services dump as it came.
type servicesDump struct {
	svcs []ServiceInfo // repeats dropped
	// ends holds, for each datagram that carried a service but the
	// last, how many services (repeats dropped) came up to its end,
	// unless the next datagram began with a repeat (see listServices).
	ends []int
	// last is the length in bytes of the last datagram that carried a
	// service, and size the datagram size asked for (0: the pool's).
	last, size int
	// msgs holds each service's message length, in order, repeats
	// dropped: what chooseSize packs.
	msgs []int
}

// listServices dumps the services, with datagrams of size bytes (0: on a
// pooled socket, 32 KiB), and records how they came. Only a dump on a
// pooled socket is decoded whole; the others give keys.
func (c *Client) listServices(ctx context.Context, size int) (*servicesDump, error) {
	d := &servicesDump{size: size}
	var (
		all    []ServiceInfo
		lens   []int
		grams  []int // per datagram: services in it
		gramBy []int // per datagram: its length
	)
	req := request{cmd: cmdGetService, dump: true, onDatagram: func(n int) {
		grams = append(grams, 0)
		gramBy = append(gramBy, n)
	}}
	fn := func(_ uint8, b []byte) error {
		var s ServiceInfo
		var err error
		if size == 0 {
			s, err = decodeService(b)
		} else {
			s.ServiceKey, err = decodeServiceKey(b)
		}
		if err != nil {
			return err
		}
		if len(all) > 4*maxServices {
			return errStopDump
		}
		all = append(all, s)
		lens = append(lens, messageLen(len(b)))
		if len(grams) > 0 {
			grams[len(grams)-1]++
		}
		return nil
	}
	var err error
	if sd, ok := c.t.(sizedDumper); ok && size != 0 {
		err = sd.dumpSized(ctx, req, size, fn)
	} else {
		err = c.t.do(ctx, req, fn)
	}
	if errors.Is(err, errStopDump) {
		return nil, newError("list services", "", ErrBusy, errors.New("the kernel kept repeating services while other namespaces added theirs: try again"))
	}
	if err != nil {
		return nil, kernelError("list services", "", opOther, err)
	}
	// Drop repeats, noting where each datagram ended in what is kept.
	keys := newKeyTable(len(all))
	keyAt := func(i int) *ServiceKey { return &d.svcs[i].ServiceKey }
	i := 0
	for g, n := range grams {
		if n == 0 {
			continue
		}
		for j, s := range all[i : i+n] {
			slot, found := keys.lookup(&s.ServiceKey, keyAt)
			if j == 0 && i > 0 && found < 0 {
				// A datagram that starts with a service not listed
				// yet may have been resumed past some. One that starts
				// with a repeat was resumed at or before where the
				// last one stopped, so nothing was skipped there.
				d.ends = append(d.ends, len(d.svcs))
			}
			if found < 0 {
				keys.slots[slot] = int32(len(d.svcs) + 1)
				d.svcs = append(d.svcs, s)
				d.msgs = append(d.msgs, lens[i+j])
			}
		}
		i += n
		d.last = gramBy[g]
	}
	if i != len(all) { // messages before any datagram was counted: a transport that does not count
		return nil, newError("list services", "", ErrKernel, fmt.Errorf("%d of %d services came outside any datagram", len(all)-i, len(all)))
	}
	return d, nil
}

// messageLen is the length a service's message takes in a datagram, from
// its attributes' length: netlink and generic netlink headers, aligned.
func messageLen(attrs int) int { return (nlmsgHdrLen + genlHdrLen + attrs + 3) &^ 3 }

// The sizes tailProven reasons with. The kernel packs a dump's datagram
// into an skb of max(NLMSG_GOODSIZE, the largest read the socket has
// made, at most SKB_WITH_OVERHEAD(32 KiB)); when that larger allocation
// fails it falls back to NLMSG_GOODSIZE. It ends a datagram only when
// the next service does not fit. NLMSG_GOODSIZE is a page (at most 8 KiB)
// less an skb_shared_info, 320 to 768 bytes on 6.x.
const (
	// maxServiceMessage bounds one service's message: headers, an IPv6
	// key, 16-byte scheduler and engine names, flags, timeout, netmask,
	// and both stats nests (the kernel's take about 350 bytes).
	maxServiceMessage = 448
	// largeDatagram is at most what a datagram of the largest kind
	// holds, and at least SKB_WITH_OVERHEAD(32 KiB).
	largeDatagram = 32768 - 768
)

// goodSize, as a size of a dump's datagrams, asks for NLMSG_GOODSIZE:
// the socket never reads more than a datagram holds, so the kernel
// never tries a larger allocation (nor falls back from one).
const goodSize = -1

// goodSizeBounds bounds NLMSG_GOODSIZE: at least lo, at most hi.
func goodSizeBounds() (lo, hi int) {
	hi = min(os.Getpagesize(), 8192)
	return hi - 768, hi
}

// tailProven reports whether the last datagram of d had room for another
// service, so that the kernel ended it at the end of the table. A
// datagram longer than NLMSG_GOODSIZE came in an skb of the size asked
// for; a shorter one may have been a fallback of NLMSG_GOODSIZE.
func (d *servicesDump) tailProven() bool {
	if len(d.svcs) == 0 {
		return true // the first datagram, from the table's head, held none of ours
	}
	return roomAfter(d.last, d.size)
}

// roomAfter reports whether a datagram of n bytes, of the size asked
// (0: the pool's), had room for any service.
func roomAfter(n, size int) bool {
	switch size {
	case 0:
		size = largeDatagram
	case goodSize:
		size, _ = goodSizeBounds()
	}
	room, hi := goodSizeBounds()
	if n > hi {
		room = size
	}
	return n+maxServiceMessage <= room
}

// whole reports whether d needs no second dump: its services came in one
// datagram with room to spare, from the table's head and under the
// kernel's lock, so nothing was resumed.
func (d *servicesDump) whole() bool { return len(d.ends) == 0 && d.tailProven() }

// confirms reports whether a and b prove each other complete (see
// Services).
func confirms(a, b *servicesDump) bool {
	if !sameKeys(a, b) {
		return false
	}
	if len(a.ends) == 0 && len(b.ends) == 0 && (a.size == goodSize || b.size == goodSize) {
		// A table of a datagram's size, too large for tailProven
		// and too small to split: a dump with datagrams of
		// NLMSG_GOODSIZE, which never fall back to another size,
		// agrees with the pool's, whose datagram then had room unless
		// the kernel's larger allocation failed for it (see Services).
		return true
	}
	if !a.tailProven() && !b.tailProven() {
		return false
	}
	for _, e := range a.ends {
		if _, shared := slices.BinarySearch(b.ends, e); shared {
			return false
		}
	}
	return true
}

// sameKeys reports whether a and b list the same services in the same
// order.
func sameKeys(a, b *servicesDump) bool {
	if len(a.svcs) != len(b.svcs) {
		return false
	}
	for i := range a.svcs {
		if a.svcs[i].ServiceKey != b.svcs[i].ServiceKey {
			return false
		}
	}
	return true
}

// chooseSize picks the datagram size of the next dump: one whose
// datagrams, packed with the messages of the last dump, would end where
// no earlier dump's did and leave room after the last service, if no
// earlier dump's last datagram did. Sizes are tried from the largest
// down; one already used is not used again. A table that fits in a
// datagram of NLMSG_GOODSIZE cannot be split: it gets goodSize.
func chooseSize(seen []*servicesDump) int {
	base := seen[len(seen)-1]
	tailDone := false
	used := func(size int) bool {
		for _, d := range seen {
			if d.size == size || (d.size == 0 && size == largeDatagram) {
				return true
			}
		}
		return false
	}
	for _, d := range seen {
		tailDone = tailDone || (d.tailProven() && len(d.svcs) == len(base.svcs))
	}
	_, hi := goodSizeBounds()
	if len(base.ends) == 0 && base.last <= hi && !tailDone && !used(goodSize) {
		return goodSize
	}
	fallback := 0
	for size := largeDatagram; size > hi; size -= 8 {
		if used(size) {
			continue
		}
		if fallback == 0 {
			fallback = size
		}
		ends, last := pack(base.msgs, size)
		if !tailDone && !roomAfter(last, size) {
			continue
		}
		clash := false
		for _, d := range seen {
			for _, e := range ends {
				if _, shared := slices.BinarySearch(d.ends, e); shared {
					clash = true
					break
				}
			}
		}
		if !clash {
			return size
		}
	}
	if fallback == 0 {
		return goodSize
	}
	return fallback
}

// pack packs messages of the lengths msgs into datagrams of size bytes as
// the kernel does, and returns where each datagram but the last ends (in
// messages) and the length of the last.
func pack(msgs []int, size int) (ends []int, last int) {
	for i, m := range msgs {
		if last+m > size && last > 0 {
			ends = append(ends, i)
			last = 0
		}
		last += m
	}
	return ends, last
}
