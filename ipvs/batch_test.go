package ipvs

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// batchChanges is one write of every kind, with services of both
// families, fwmark, scheduler names and persistence engines of different
// lengths (different padding).
func batchChanges() []Change {
	k6 := ServiceKey{Protocol: UDP, Address: netip.MustParseAddr("2001:db8::1"), Port: 5060}
	fwm := ServiceKey{Family: IPv4, Fwmark: 7}
	d6 := Destination{Address: netip.MustParseAddr("2001:db8::2"), Port: 5060, Forward: Masquerade, Weight: 2}
	gue := Destination{Address: netip.MustParseAddr("192.168.1.9"), Forward: Tunnel, Weight: 1, TunnelType: GUE, TunnelPort: 6080, TunnelFlags: TunnelChecksum}
	return []Change{
		{Op: OpCreateService, Service: Service{ServiceKey: tcpKey, Scheduler: RoundRobin}},
		{Op: OpCreateService, Service: Service{ServiceKey: k6, Scheduler: WeightedLeastConnection, Flags: FlagPersistent, Timeout: 60e9, PersistenceEngine: PersistenceEngineSIP, Netmask: mustMask(IPv6, 64)}},
		{Op: OpUpdateService, Service: Service{ServiceKey: fwm, Scheduler: "mh"}},
		{Op: OpCreateDestination, Service: Service{ServiceKey: tcpKey}, Destination: rs(1, 80, 1)},
		{Op: OpCreateDestination, Service: Service{ServiceKey: k6}, Destination: d6},
		{Op: OpUpdateDestination, Service: Service{ServiceKey: fwm}, Destination: gue},
		{Op: OpDeleteDestination, Service: Service{ServiceKey: tcpKey}, Destination: rs(2, 80, 0)},
		{Op: OpDeleteService, Service: Service{ServiceKey: k6}},
	}
}

// In-place encoding writes every byte: a send buffer full of old requests
// yields what a fresh one does.
func TestEncodeIntoDirtyBuffer(t *testing.T) {
	chs := batchChanges()
	enc := func(i int, w *attrWriter) uint8 { return chs[i].encode(w) }
	clean, n := frameBatch(nil, 0x20, 7, 1, 0, len(chs), 1<<20, enc)
	if n != len(chs) {
		t.Fatalf("framed %d of %d", n, len(chs))
	}
	dirty := bytes.Repeat([]byte{0xa5}, 4096)
	got, _ := frameBatch(dirty[:0], 0x20, 7, 1, 0, len(chs), 1<<20, enc)
	if !bytes.Equal(got, clean) {
		t.Fatalf("dirty buffer:\n% x\nclean:\n% x", got, clean)
	}
}

// frameBatch splits a batch at the size limit, numbers the messages in
// order, asks for one acknowledgement per chunk (its last message) and
// carries exactly the bytes each single request would.
func TestFrameBatchChunks(t *testing.T) {
	chs := batchChanges()
	enc := func(i int, w *attrWriter) uint8 { return chs[i].encode(w) }
	const limit = 300
	var buf []byte
	seq := uint32(100)
	chunks := 0
	for from := 0; from < len(chs); chunks++ {
		b, end := frameBatch(buf[:0], 0x20, 7, seq, from, len(chs), limit, enc)
		buf = b
		if end <= from {
			t.Fatalf("no progress at %d", from)
		}
		if len(b) > limit && end-from > 1 {
			t.Fatalf("chunk of %d requests is %d bytes, over %d", end-from, len(b), limit)
		}
		i := from
		for len(b) > 0 {
			l := int(native.Uint32(b))
			flags := native.Uint16(b[6:])
			if got := native.Uint32(b[8:]); got != seq+uint32(i-from) {
				t.Errorf("request %d: seq %d, want %d", i, got, seq+uint32(i-from))
			}
			wantFlags := uint16(nlmFRequest)
			if i == end-1 {
				wantFlags |= nlmFAck
			}
			if flags != wantFlags || native.Uint16(b[4:]) != 0x20 || native.Uint32(b[12:]) != 7 {
				t.Errorf("request %d: header % x", i, b[:16])
			}
			var w attrWriter
			cmd := chs[i].encode(&w)
			if b[16] != cmd || b[17] != 1 || !bytes.Equal(b[20:l], w.b) {
				t.Errorf("request %d: body differs from a single encoding", i)
			}
			b = b[l:]
			i++
		}
		if i != end {
			t.Fatalf("chunk held %d requests, frameBatch said %d", i-from, end-from)
		}
		seq += uint32(end - from)
		from = end
	}
	if chunks < 3 {
		t.Fatalf("%d chunks: the limit did not split the batch", chunks)
	}
}

// tunnelKernel is a fake kernel that answers destination dumps with what
// reply makes of the last destination written.
func tunnelKernel(reply func(d Destination) Destination) *fakeTransport {
	var last Destination
	f := &fakeTransport{}
	f.replies = func(r request) ([][]byte, error) {
		switch r.cmd {
		case cmdNewDest, cmdSetDest:
			nest, err := wantNested(r.attrs, attrDest)
			if err != nil {
				return nil, err
			}
			d, err := decodeDestination(rewrap(nest), IPv4)
			if err != nil {
				return nil, err
			}
			last = d.Destination
		case cmdGetDest:
			return [][]byte{encode(func(w *attrWriter) { destAttr(w, reply(last)) })}, nil
		}
		return nil, nil
	}
	return f
}

// rewrap turns the payload of a DEST nest back into the nest.
func rewrap(nest []byte) []byte {
	return encode(func(w *attrWriter) {
		start := w.begin(attrDest)
		w.b = append(w.b, nest...)
		w.end(start)
	})
}

func cmdsOf(f *fakeTransport) []uint8 {
	var cmds []uint8
	for _, r := range f.reqs {
		cmds = append(cmds, r.cmd)
	}
	return cmds
}

// A kernel that makes IPIP of a GUE destination created in a batch is
// caught by the read-back: the write fails with ErrNotSupported, the
// destination is deleted again, the other writes stand.
func TestBatchGUEDowngradeIsReportedAndUndone(t *testing.T) {
	gue := Destination{Address: netip.MustParseAddr("192.168.1.2"), Port: 80, Forward: Tunnel, Weight: 1, TunnelType: GUE, TunnelPort: 6080}
	f := tunnelKernel(func(d Destination) Destination {
		d.TunnelType, d.TunnelPort, d.TunnelFlags = IPIP, 0, 0
		return d
	})
	c := newFake(f)
	res, err := c.Batch().CreateService(Service{ServiceKey: tcpKey}).CreateDestination(tcpKey, gue).Commit(context.Background())
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "1 of 2") {
		t.Fatalf("got %v, want ErrNotSupported for 1 of 2 writes", err)
	}
	if res.Errs[0] != nil || !errors.Is(res.Errs[1], ErrNotSupported) || !strings.Contains(res.Errs[1].Error(), "made ipip") {
		t.Fatalf("errors %v", res.Errs)
	}
	if got, want := cmdsOf(f), []uint8{cmdNewService, cmdNewDest, cmdGetDest, cmdDelDest}; !bytes.Equal(got, want) {
		t.Fatalf("commands %v, want %v (create, read back, undo)", got, want)
	}
	if c.tunnelsVerified.Load() {
		t.Fatal("a downgrading kernel marked as verified")
	}

	// Apply reports the same write as failed.
	f.reqs = nil
	ares, err := c.Apply(context.Background(), State{Services: []ServiceState{{Service: Service{ServiceKey: tcpKey}, Destinations: []Destination{gue}}}}, nil)
	if failed, _ := ares.Failed(); !errors.Is(err, ErrNotSupported) || len(failed) != 1 || failed[0].Op != OpCreateDestination {
		t.Fatalf("Apply: %v, %+v", err, ares)
	}
}

// A kernel that honours GUE is read back once per client, not per batch.
func TestBatchGUEVerifiedOnce(t *testing.T) {
	gue := Destination{Address: netip.MustParseAddr("192.168.1.2"), Port: 80, Forward: Tunnel, Weight: 1, TunnelType: GUE, TunnelPort: 6080}
	f := tunnelKernel(func(d Destination) Destination { return d })
	c := newFake(f)
	for i := 0; i < 2; i++ {
		if _, err := c.Batch().CreateDestination(tcpKey, gue).Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := cmdsOf(f), []uint8{cmdNewDest, cmdGetDest, cmdNewDest}; !bytes.Equal(got, want) {
		t.Fatalf("commands %v, want %v", got, want)
	}
	// A destination whose last write in the batch is a deletion is not
	// read back (nor is anything when nothing is a GUE or GRE tunnel).
	f.reqs = nil
	c2 := newFake(f)
	if _, err := c2.Batch().CreateDestination(tcpKey, gue).DeleteDestination(tcpKey, netip.AddrPortFrom(gue.Address, gue.Port)).
		CreateDestination(tcpKey, rs(3, 80, 1)).Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := cmdsOf(f), []uint8{cmdNewDest, cmdDelDest, cmdNewDest}; !bytes.Equal(got, want) {
		t.Fatalf("commands %v, want %v", got, want)
	}
}
