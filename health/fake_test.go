package health_test

import (
	"context"
	"net/netip"
	"sync"

	"github.com/golvs/lvs/ipvs"
)

// fakeIPVS is an in-memory IPVS table for unit tests and the benchmark.
type fakeIPVS struct {
	mu     sync.Mutex
	svcs   map[ipvs.ServiceKey]map[netip.AddrPort]ipvs.Destination
	conns  map[netip.AddrPort]uint32 // active+inactive, reported as active
	writes int
}

func newFake(keys ...ipvs.ServiceKey) *fakeIPVS {
	f := &fakeIPVS{svcs: map[ipvs.ServiceKey]map[netip.AddrPort]ipvs.Destination{}, conns: map[netip.AddrPort]uint32{}}
	for _, k := range keys {
		f.svcs[k] = map[netip.AddrPort]ipvs.Destination{}
	}
	return f
}

func notExist() error { return &ipvs.Error{Op: "fake", Err: ipvs.ErrNotExist} }

func (f *fakeIPVS) Destinations(_ context.Context, k ipvs.ServiceKey) ([]ipvs.DestinationInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.svcs[k]
	if !ok {
		return nil, notExist()
	}
	var out []ipvs.DestinationInfo
	for _, d := range s {
		out = append(out, ipvs.DestinationInfo{Destination: d, ActiveConns: f.conns[netip.AddrPortFrom(d.Address, d.Port)]})
	}
	return out, nil
}

func (f *fakeIPVS) CreateDestination(_ context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	s, ok := f.svcs[k]
	if !ok {
		return notExist()
	}
	s[netip.AddrPortFrom(d.Address, d.Port)] = d
	return nil
}

func (f *fakeIPVS) UpdateDestination(_ context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	s, ok := f.svcs[k]
	if !ok {
		return notExist()
	}
	if _, ok := s[netip.AddrPortFrom(d.Address, d.Port)]; !ok {
		return notExist()
	}
	s[netip.AddrPortFrom(d.Address, d.Port)] = d
	return nil
}

func (f *fakeIPVS) DeleteDestination(_ context.Context, k ipvs.ServiceKey, a netip.AddrPort) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	s, ok := f.svcs[k]
	if !ok {
		return notExist()
	}
	if _, ok := s[a]; !ok {
		return notExist()
	}
	delete(s, a)
	return nil
}

func (f *fakeIPVS) CreateService(_ context.Context, s ipvs.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.svcs[s.ServiceKey]; ok {
		return &ipvs.Error{Op: "fake", Err: ipvs.ErrExist}
	}
	f.svcs[s.ServiceKey] = map[netip.AddrPort]ipvs.Destination{}
	return nil
}

func (f *fakeIPVS) DeleteService(_ context.Context, k ipvs.ServiceKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.svcs, k)
	return nil
}

// weight returns a destination's weight and whether it is listed.
func (f *fakeIPVS) weight(k ipvs.ServiceKey, a netip.AddrPort) (uint32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.svcs[k][a]
	return d.Weight, ok
}

// setConns sets the connections reported for a destination.
func (f *fakeIPVS) setConns(a netip.AddrPort, n uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns[a] = n
}
