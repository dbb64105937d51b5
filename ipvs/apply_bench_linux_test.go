package ipvs

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTime is the process's user CPU time so far, GC workers included:
// under a loaded host it moves far less than the wall time.
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano())
}

// loop runs f b.N times and reports user CPU per op beside ns/op.
func loop(b *testing.B, f func()) {
	b.ReportAllocs()
	u0 := cpuTime()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(cpuTime()-u0)/float64(b.N), "user-ns/op")
}

// frameTransport reads an empty table and frames every batch as the Linux
// transport does, into one reusable send buffer, without a socket: what is
// left to time is the SDK's own user-space work.
type frameTransport struct {
	buf      []byte
	seq      uint32
	messages int
}

func (*frameTransport) do(context.Context, request, func(uint8, []byte) error) error { return nil }
func (*frameTransport) batch(_ context.Context, reqs []request) ([]error, error) {
	panic("Apply should encode through batchEncode")
}
func (f *frameTransport) batchEncode(_ context.Context, n int, enc encodeFunc, _ func(int, error)) error {
	for start := 0; start < n; {
		bytes, reqs := batchLimits(8<<20, 8<<20) // as granted to root
		b, end := frameBatch(f.buf[:0], 0x20, 1, f.seq+1, start, min(n, start+reqs), bytes, enc)
		f.buf = b
		f.seq += uint32(end - start)
		f.messages += end - start
		start = end
	}
	return nil
}
func (*frameTransport) close() error { return nil }

func benchState(n, d int) State {
	st := State{Services: make([]ServiceState, n)}
	for i := range st.Services {
		s := &st.Services[i]
		s.Service = Service{ServiceKey: ServiceKey{Protocol: TCP, Address: netip.AddrFrom4([4]byte{10, 100, byte(i / 250), byte(i%250 + 1)}), Port: 80}, Scheduler: RoundRobin}
		for j := 0; j < d; j++ {
			s.Destinations = append(s.Destinations, Destination{Address: netip.AddrFrom4([4]byte{172, byte(16 + j), byte(i / 250), byte(i%250 + 1)}), Port: 8080, Forward: Masquerade, Weight: 1})
		}
	}
	return st
}

// BenchmarkApplyCreate is the user-space cost of a bulk create through
// Apply: validation, planning, and encoding every request into the send
// buffer (ipvsbench's create, less the system calls).
func BenchmarkApplyCreate(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("%dx4", n), func(b *testing.B) {
			f := &frameTransport{}
			c := &Client{t: f}
			st := benchState(n, 4)
			loop(b, func() {
				if _, err := c.Apply(context.Background(), st, nil); err != nil {
					b.Fatal(err)
				}
			})
			if f.messages%(n*5) != 0 {
				b.Fatalf("%d messages framed, not a multiple of %d", f.messages, n*5)
			}
		})
	}
}

// BenchmarkApplyPlanNoop is the diff of a no-op Apply against a kernel
// snapshot (the dump itself not included).
func BenchmarkApplyPlanNoop(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("%dx4", n), func(b *testing.B) {
			st := benchState(n, 4)
			snap := make([]ServiceSnapshot, n)
			for i, s := range st.Services {
				snap[i].Service = normalService(s.Service)
				for _, d := range s.Destinations {
					snap[i].Destinations = append(snap[i].Destinations, DestinationInfo{Destination: d})
				}
			}
			loop(b, func() {
				ix, err := indexState(st)
				if err != nil {
					b.Fatal(err)
				}
				p := planner{ix: ix}
				if pl := p.plan(snap); pl.len() != 0 {
					b.Fatalf("%d writes", pl.len())
				}
			})
		})
	}
}
