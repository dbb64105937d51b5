//go:build linux

package ipvs

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestKernelDumpsCannotShareADatagram checks what dumpMany is built on:
// two GET_DEST dumps sent in one datagram do not both run; the second is
// refused with EBUSY while the first is in flight. If a kernel ever
// accepts it, dumps can be batched like writes.
func TestKernelDumpsCannotShareADatagram(t *testing.T) {
	c := nsClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	keys := []ServiceKey{
		{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80},
		{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.2"), Port: 80},
	}
	b := c.Batch()
	for i, k := range keys {
		b.CreateService(Service{ServiceKey: k})
		b.CreateDestination(k, Destination{Address: netip.AddrFrom4([4]byte{192, 168, 1, byte(i + 1)}), Port: 80, Forward: DirectRoute, Weight: 1})
	}
	if _, err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	tr := c.t.(*nlTransport)
	nc, err := tr.get()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.put(nc, unix.EIO) // discard it: replies may be left
	var buf []byte
	var seqs [2]uint32
	for i, k := range keys {
		buf, seqs[i] = nc.appendRequest(buf, tr.family, unix.NLM_F_REQUEST|unix.NLM_F_DUMP,
			request{cmd: cmdGetDest, dump: true, attrs: encode(func(w *attrWriter) { serviceKeyAttr(w, k) })})
	}
	err = nc.guard(ctx, func() error {
		if err := nc.send(buf); err != nil {
			return err
		}
		var dests [2]int
		var ended [2]bool
		var errnos [2]error
		for !(ended[0] && ended[1]) {
			d, err := nc.recv()
			if err != nil {
				return err
			}
			if err := splitMessages(d, func(m nlmsg) error {
				for i, s := range seqs {
					if m.seq != s {
						continue
					}
					switch m.typ {
					case unix.NLMSG_DONE:
						ended[i] = true
					case unix.NLMSG_ERROR:
						ended[i] = true
						errno, err := errnoOf(m.body)
						if err != nil {
							return err
						}
						if errno != 0 {
							errnos[i] = errno
						}
					default:
						dests[i]++
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if dests[0] != 1 || errnos[0] != nil {
			t.Errorf("first dump: %d destinations, error %v", dests[0], errnos[0])
		}
		if errnos[1] != unix.EBUSY || dests[1] != 0 {
			t.Errorf("second dump in the same datagram: %d destinations, error %v; want EBUSY", dests[1], errnos[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
