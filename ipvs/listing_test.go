package ipvs

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func portKey(port uint16) ServiceKey {
	return ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: port}
}

func svcMsg(k ServiceKey) []byte {
	return encode(func(w *attrWriter) { serviceAttr(w, &Service{ServiceKey: k, Scheduler: RoundRobin}) })
}

// TestApplyNeverActsOnAWrongListing: Apply against the model, with a
// neighbour deleting services ahead of every datagram: it either fails
// with ErrBusy or, from a proven listing, writes nothing (every desired
// service exists).
func TestApplyNeverActsOnAWrongListing(t *testing.T) {
	for seed := range modelSeeds(3) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		k := newModel(rnd, 300, 300)
		k.between = func(k *modelKernel, pos int) {
			k.deleteNeighbours(rnd.IntN(10), pos)
			for range 10 {
				k.insertNeighbour(rnd.IntN(len(k.table) + 1))
			}
		}
		var desired State
		for _, key := range k.truth() {
			desired.Services = append(desired.Services, ServiceState{Service: Service{ServiceKey: key, Scheduler: RoundRobin}})
		}
		res, err := (&Client{t: k}).Apply(context.Background(), desired, nil)
		if err != nil && !errors.Is(err, ErrBusy) || err == nil && res.Writes() != 0 || k.writes != 0 {
			t.Fatalf("seed %d: no-op Apply: %v, %v, %d writes sent", seed, res, err, k.writes)
		}
	}
}
