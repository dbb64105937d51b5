package health_test

import (
	"context"
	"net/netip"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvstest"
)

// table is ipvstest's in-memory IPVS (the project's one, checked against
// the kernel) with the services the unit tests use, and two shortcuts.
type table struct {
	*ipvstest.Client
	keys []ipvs.ServiceKey
}

// newTable returns a table with these round-robin services.
func newTable(keys ...ipvs.ServiceKey) *table {
	t := &table{Client: ipvstest.New(), keys: keys}
	for _, k := range keys {
		if err := t.CreateService(context.Background(), ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin}); err != nil {
			panic(err) // a test's own services: a bad one is the test's bug
		}
	}
	return t
}

// weight returns a destination's weight and whether it is listed.
func (t *table) weight(k ipvs.ServiceKey, a netip.AddrPort) (uint32, bool) {
	ds, _ := t.Destinations(context.Background(), k)
	for _, d := range ds {
		if netip.AddrPortFrom(d.Address, d.Port) == a {
			return d.Weight, true
		}
	}
	return 0, false
}

// setConns sets the active connections a destination reports in every
// service of the table that has it.
func (t *table) setConns(a netip.AddrPort, n uint32) {
	for _, k := range t.keys {
		t.SetConnections(k, a, n, 0, 0)
	}
}
