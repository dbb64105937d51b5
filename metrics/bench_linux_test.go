package metrics_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/internal/peers"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/metrics"
)

// BenchmarkScrape times one whole scrape (an HTTP GET on loopback inside
// the namespace, gzip accepted as Prometheus does, body read) of ours and
// of the node exporter 1.5.0 with only its ipvs collector (which parses
// /proc/net/ip_vs*), over the same table of N services x 4 destinations,
// built once per size, side by side in one run:
//
//   - ours_node: the Collector served by its ServeHTTP with
//     Groups NodeExporter: the node exporter's node_ipvs_* series (same
//     names, labels, values) plus lvs_up and lvs_scrape_duration_seconds.
//     Like for like with node_exporter.
//   - ours_all: the same with every group (the richer lvs_* series too,
//     about seven times as many).
//   - node_exporter: its node_ipvs_* series plus its own go_*, process_*,
//     promhttp_* and node_scrape_collector_* ones.
//
// The sides take turns in every round. Reported per side (numbered 0
// ours_node, 1 node_exporter, 2 ours_all): series (sample lines), seconds
// per scrape, allocations and bytes allocated per scrape (ours: this
// process's runtime.MemStats around its own GETs, so the HTTP client's
// share too, an over-estimate; the node exporter's: its own
// go_memstats_mallocs_total and go_memstats_alloc_bytes_total over the
// rounds); and the time ratios node exporter / ours. The test binary runs
// it in the VM:
//
//	go run ./internal/cmd/vmtest -kernel 6.1 -pkg ./metrics -race=false -unit=false -run '^$' -bench Scrape -benchtime 5x -out /tmp/scrape
//
// (with -out, /tmp/scrape/6.1/scrape-N.pprof is a CPU profile of two of
// ours_node's scrapes after the timed ones).
func BenchmarkScrape(b *testing.B) {
	ctx := context.Background()
	var prev *ipvs.Client // the previous size's table, flushed once the next is built
	for _, n := range []int{1000, 5000} {
		ns := nstest.New(b)
		c, err := ipvs.New(&ipvs.Config{NetNSPath: ns.Path})
		if err != nil {
			b.Fatal(err)
		}
		// Started on the empty table: its readiness probe has a short timeout.
		_, neURL := peers.NodeExporter(b, ns, "127.0.0.1:9100")
		for i := range n {
			k := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 80}
			batch := c.Batch().CreateService(ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin})
			for j := range 4 {
				batch.CreateDestination(k, ipvs.Destination{Address: netip.AddrFrom4([4]byte{10, 2, byte(j), 1}), Port: 8080, Forward: ipvs.Masquerade, Weight: 1})
			}
			if _, err := batch.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
		hc := ns.HTTPClient()
		hc.Timeout = 2 * time.Minute
		urls := map[string]string{"node_exporter": neURL}
		for i, g := range []struct {
			name   string
			groups metrics.Groups
		}{{"ours_node", metrics.NodeExporter}, {"ours_all", metrics.AllGroups}} {
			col, err := metrics.New(c, &metrics.Options{Timeout: time.Minute, Groups: g.groups})
			if err != nil {
				b.Fatal(err)
			}
			urls[g.name] = ns.ServeHTTP(b, fmt.Sprintf("127.0.0.1:%d", 9101+i), col) + "/metrics"
		}
		get := func(b *testing.B, url string) []byte {
			resp, err := hc.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("GET %s: %v %v", url, resp.Status, err)
			}
			return body
		}
		// The node exporter reads /proc/net/ip_vs, whose reads resume by a
		// position counted differently from how the kernel advances it
		// (see BENCHMARKS.md): while another namespace has services, it
		// loses some of ours at each read(2) after the first. Shown here
		// while the previous size's table still exists, then that table
		// is flushed, so the timed scrapes read a clean kernel.
		beside := -1
		if prev != nil {
			beside = backends(get(b, neURL))
			if err := prev.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			prev.Close()
		}
		prev = c
		sides := []string{"ours_node", "node_exporter", "ours_all"}
		// The sides take turns within each round, so that a change in the
		// host's load (the VM runs under TCG on a shared machine) hits them
		// alike.
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			var took [3]time.Duration
			var mallocs, bytesAlloc [2]uint64 // ours_node, ours_all
			for i, side := range sides {
				body := get(b, urls[side])
				series := 0
				for _, l := range bytes.Split(body, []byte("\n")) {
					if len(l) > 0 && l[0] != '#' {
						series++
					}
				}
				if !bytes.Contains(body, []byte(`node_ipvs_backend_weight{local_address="10.0.0.0",local_mark="",local_port="80",proto="TCP",remote_address="10.2.3.1",remote_port="8080"} 1`)) {
					b.Fatalf("%s lacks the first service's last destination", side)
				}
				// Every side must have read the whole table, or the
				// comparison is not like for like.
				if got := backends(body); got != 4*n {
					b.Fatalf("%s emitted %d node_ipvs_backend_weight series, want %d", side, got, 4*n)
				}
				b.ReportMetric(float64(series), fmt.Sprintf("%d_%s_series", i, side))
			}
			if beside >= 0 {
				b.ReportMetric(float64(beside), "ne_backends_beside_other_ns")
			}
			m0 := memstats(b, get(b, neURL))
			var ms0, ms1 runtime.MemStats
			for range b.N {
				for i, side := range sides {
					if side != "node_exporter" {
						runtime.ReadMemStats(&ms0)
					}
					start := time.Now()
					get(b, urls[side])
					took[i] += time.Since(start)
					if side != "node_exporter" {
						runtime.ReadMemStats(&ms1)
						j := min(i, 1)
						mallocs[j] += ms1.Mallocs - ms0.Mallocs
						bytesAlloc[j] += ms1.TotalAlloc - ms0.TotalAlloc
					}
				}
			}
			// Read during the scrapes before and after the timed ones: b.N
			// of the node exporter's scrapes apart.
			m1 := memstats(b, get(b, neURL))
			nb := float64(b.N)
			for i, side := range sides {
				b.ReportMetric(took[i].Seconds()/nb, fmt.Sprintf("%d_%s_s/scrape", i, side))
			}
			b.ReportMetric(float64(took[1])/float64(took[0]), "ne/ours_node_time")
			b.ReportMetric(float64(took[1])/float64(took[2]), "ne/ours_all_time")
			b.ReportMetric(float64(mallocs[0])/nb, "0_ours_node_allocs/scrape")
			b.ReportMetric(float64(bytesAlloc[0])/nb, "0_ours_node_B/scrape")
			b.ReportMetric((m1[0]-m0[0])/nb, "1_node_exporter_allocs/scrape")
			b.ReportMetric((m1[1]-m0[1])/nb, "1_node_exporter_B/scrape")
			b.ReportMetric(float64(mallocs[1])/nb, "2_ours_all_allocs/scrape")
			b.ReportMetric(float64(bytesAlloc[1])/nb, "2_ours_all_B/scrape")
			if b.N > 1 {
				breakdown(b, c, func() { get(b, urls["ours_node"]) }, n)
			}
		})
	}
	if prev != nil {
		prev.Close()
	}
}

// breakdown splits ours_node's scrape: the client's Services (the
// confirmed listing) and Snapshot (that plus a destination dump per
// service) timed alone, and, in the VM with -out, a CPU profile of two
// scrapes (this process serves and reads them) in
// $LVS_VM_OUT/scrape-N.pprof.
func breakdown(b *testing.B, c *ipvs.Client, scrape func(), n int) {
	ctx := context.Background()
	start := time.Now()
	if _, err := c.Services(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "0_ours_services_s")
	start = time.Now()
	if _, err := c.Snapshot(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "0_ours_snapshot_s")
	dir := os.Getenv("LVS_VM_OUT")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("scrape-%d.pprof", n)))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Logf("no CPU profile: %v", err)
		return
	}
	scrape()
	scrape()
	pprof.StopCPUProfile()
}

// backends counts the node_ipvs_backend_weight series of a scrape.
func backends(body []byte) int {
	return bytes.Count(body, []byte("\nnode_ipvs_backend_weight{"))
}

// memstats reads the node exporter's go_memstats_mallocs_total and
// go_memstats_alloc_bytes_total from its scrape.
func memstats(b *testing.B, body []byte) (m [2]float64) {
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		for i, name := range []string{"go_memstats_mallocs_total ", "go_memstats_alloc_bytes_total "} {
			if v, ok := strings.CutPrefix(sc.Text(), name); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("%s%s: %v", name, v, err)
				}
				m[i] = f
				found++
			}
		}
	}
	if found != 2 {
		b.Fatalf("the node exporter's scrape lacks go_memstats_mallocs_total or go_memstats_alloc_bytes_total")
	}
	return m
}

var _ http.Handler = (*metrics.Collector)(nil)
