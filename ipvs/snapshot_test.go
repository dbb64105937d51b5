package ipvs

import (
	"context"
	"net/netip"
	"testing"
)

// TestSnapshotKeepsEachServicesDestinations: services with different
// numbers of destinations (none among them) each get exactly theirs, and
// appending to one service's slice never writes into another's, although
// the snapshot stores them side by side.
func TestSnapshotKeepsEachServicesDestinations(t *testing.T) {
	counts := []int{2, 0, 5, 1, 9, 3}
	key := func(i int) ServiceKey {
		return ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), Port: 80}
	}
	dest := func(i, j int) Destination {
		return Destination{Address: netip.AddrFrom4([4]byte{192, 168, byte(i), byte(j + 1)}), Port: 80, Forward: Masquerade, Weight: uint32(j + 1)}
	}
	f := &fakeTransport{}
	f.replies = func(r request) ([][]byte, error) {
		var msgs [][]byte
		switch r.cmd {
		case cmdGetService:
			for i := range counts {
				msgs = append(msgs, encode(func(w *attrWriter) { serviceAttr(w, &Service{ServiceKey: key(i), Scheduler: RoundRobin}) }))
			}
		case cmdGetDest:
			for i := range counts {
				if string(r.attrs) != string(encode(func(w *attrWriter) { serviceKeyAttr(w, key(i)) })) {
					continue
				}
				for j := range counts[i] {
					msgs = append(msgs, encode(func(w *attrWriter) { destAttr(w, dest(i, j)) }))
				}
			}
		}
		return msgs, nil
	}
	snap, err := newFake(f).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap) != len(counts) {
		t.Fatalf("%d services, want %d", len(snap), len(counts))
	}
	check := func() {
		t.Helper()
		for i, s := range snap {
			if s.ServiceKey != key(i) || len(s.Destinations) != counts[i] {
				t.Fatalf("service %d: %v with %d destinations, want %v with %d", i, s.ServiceKey, len(s.Destinations), key(i), counts[i])
			}
			for j, d := range s.Destinations {
				if d.Destination != dest(i, j) {
					t.Fatalf("service %d destination %d: %+v, want %+v", i, j, d.Destination, dest(i, j))
				}
			}
		}
	}
	check()
	for i := range snap {
		snap[i].Destinations = append(snap[i].Destinations, DestinationInfo{Destination: dest(99, 99)})
		snap[i].Destinations = snap[i].Destinations[:counts[i]]
	}
	check()
}
