package ipvs

import (
	"context"
	"net/netip"
	"testing"
)

// nopTransport acknowledges everything and reads an empty table: what is
// left to time is the SDK's own user-space work.
type nopTransport struct{}

func (nopTransport) do(context.Context, request, func(uint8, []byte) error) error { return nil }
func (nopTransport) batch(_ context.Context, reqs []request) ([]error, error) {
	return make([]error, len(reqs)), nil
}
func (nopTransport) close() error { return nil }

func benchState(n, d int) State {
	st := State{Services: make([]ServiceState, n)}
	for i := range st.Services {
		s := &st.Services[i]
		s.Service = Service{ServiceKey: ServiceKey{Protocol: TCP, Address: netip.AddrFrom4([4]byte{10, 100, byte(i / 250), byte(i%250 + 1)}), Port: 80}, Scheduler: RoundRobin}
		for j := 0; j < d; j++ {
			s.Destinations = append(s.Destinations, Destination{Address: netip.AddrFrom4([4]byte{172, byte(16 + j), byte(i / 250), byte(i%250 + 1)}), Port: 8080, Weight: 1})
		}
	}
	return st
}

// BenchmarkApplyCreateCPU is the user-space cost of planning and encoding
// the creation of 1000 services × 4 destinations.
func BenchmarkApplyCreateCPU(b *testing.B) {
	c := &Client{t: nopTransport{}}
	st := benchState(1000, 4)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Apply(context.Background(), st, nil); err != nil {
			b.Fatal(err)
		}
	}
}
