package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/internal/peers"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkScrape times one whole scrape (an HTTP GET on loopback inside
// the namespace, body read) of ours and of the node exporter's ipvs
// collector (which parses /proc/net/ip_vs*), over the same table of N
// services x 4 destinations, built once per size; and, for allocations
// per scrape, one Gather of our registry without HTTP. The test binary
// runs it in the VM:
//
//	go test -c -o /tmp/metrics.test ./metrics
//	go run ./internal/cmd/vmrun -kernel 6.1 -- /tmp/metrics.test -test.run '^$' -test.bench Scrape -test.benchmem
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		ns := nstest.New(b)
		c, err := ipvs.New(&ipvs.Config{NetNSPath: ns.Path})
		if err != nil {
			b.Fatal(err)
		}
		// Started on the empty table: its readiness probe has a short timeout.
		_, neURL := peers.NodeExporter(b, ns, "127.0.0.1:9100")
		ctx := context.Background()
		for i := range n {
			k := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 80}
			if err := c.CreateService(ctx, ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin}); err != nil {
				b.Fatal(err)
			}
			for j := range 4 {
				d := ipvs.Destination{Address: netip.AddrFrom4([4]byte{10, 2, byte(j), 1}), Port: 8080, Forward: ipvs.Masquerade, Weight: 1}
				if err := c.CreateDestination(ctx, k, d); err != nil {
					b.Fatal(err)
				}
			}
		}
		col, err := metrics.New(c, &metrics.Options{Timeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(col)
		_, ourURL := serveReg(b, ns, "127.0.0.1:9101", reg)
		hc := ns.HTTPClient()
		hc.Timeout = 2 * time.Minute
		get := func(b *testing.B, url string) {
			resp, err := hc.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			nb, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("GET %s: %v %v", url, resp.Status, err)
			}
			b.SetBytes(nb)
		}
		b.Run(fmt.Sprintf("services=%d/ours", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				get(b, ourURL)
			}
		})
		b.Run(fmt.Sprintf("services=%d/node_exporter", n), func(b *testing.B) {
			for range b.N {
				get(b, neURL)
			}
		})
		b.Run(fmt.Sprintf("services=%d/ours_gather", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
		c.Close()
	}
}
