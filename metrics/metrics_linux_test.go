package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/internal/peers"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// serve registers a collector over ns's table and serves it inside ns.
func serve(t *testing.T, ns *nstest.NS, addr string, opts *metrics.Options) (*ipvs.Client, string) {
	t.Helper()
	c, err := ipvs.New(&ipvs.Config{NetNSPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	col, err := metrics.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	_, url := serveReg(t, ns, addr, reg)
	return c, url
}

// serveReg serves reg inside ns on a loopback port.
func serveReg(t testing.TB, ns *nstest.NS, addr string, reg *prometheus.Registry) (string, string) {
	base := ns.ServeHTTP(t, addr, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return base, base + "/metrics"
}

// scrape fetches url from inside ns and returns its series as
// "name{label="value",...}" -> value, for the names with prefix.
func scrape(t *testing.T, ns *nstest.NS, url, prefix string) map[string]float64 {
	t.Helper()
	resp, err := ns.HTTPClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %v\n%s", url, resp.Status, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing %s: %v\n%s", url, err, body)
	}
	out := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		for _, m := range f.Metric {
			out[seriesKey(name, f.GetType(), m)] = value(f.GetType(), m)
		}
	}
	return out
}

func seriesKey(name string, typ dto.MetricType, m *dto.Metric) string {
	var ls []string
	for _, l := range m.Label {
		ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(ls)
	return fmt.Sprintf("%s(%s){%s}", name, typ, strings.Join(ls, ","))
}

func value(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.Counter.GetValue()
	case dto.MetricType_GAUGE:
		return m.Gauge.GetValue()
	}
	return m.Untyped.GetValue()
}

// lab builds a client namespace and a director whose IPVS table has IPv4
// and IPv6 services, TCP, UDP and fwmark ones, with several destinations;
// the destinations are the director's own addresses (local delivery), where
// an HTTP server answers, so TCP traffic makes the counters move.
func lab(t *testing.T) (client, dir *nstest.NS) {
	client, dir = nstest.New(t), nstest.New(t)
	nstest.Veth(t, client, "eth0", dir, "eth0")
	client.AddAddr(t, "eth0", netip.MustParsePrefix("10.1.0.2/24"), netip.MustParsePrefix("fd01::2/64"))
	dir.AddAddr(t, "eth0", netip.MustParsePrefix("10.1.0.1/24"), netip.MustParsePrefix("fd01::1/64"))
	dir.AddAddr(t, "lo", netip.MustParsePrefix("10.0.0.100/32"), netip.MustParsePrefix("fd00::100/128"),
		netip.MustParsePrefix("10.2.0.1/32"), netip.MustParsePrefix("10.2.0.2/32"), netip.MustParsePrefix("10.2.0.3/32"),
		netip.MustParsePrefix("fd02::1/128"), netip.MustParsePrefix("fd02::2/128"))
	client.Exec(t, "ip", "route", "add", "10.0.0.0/24", "via", "10.1.0.1")
	client.Exec(t, "ip", "-6", "route", "add", "fd00::/64", "via", "fd01::1")
	dir.ServeHTTP(t, ":80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Host)
	}))
	for _, cmd := range [][]string{
		{"-A", "-t", "10.0.0.100:80", "-s", "rr"},
		{"-a", "-t", "10.0.0.100:80", "-r", "10.2.0.1:80", "-m", "-w", "1"},
		{"-a", "-t", "10.0.0.100:80", "-r", "10.2.0.2:80", "-m", "-w", "2"},
		{"-a", "-t", "10.0.0.100:80", "-r", "10.2.0.3:80", "-m", "-w", "3", "-x", "100", "-y", "10"},
		{"-A", "-t", "[fd00::100]:80", "-s", "rr"},
		{"-a", "-t", "[fd00::100]:80", "-r", "[fd02::1]:80", "-m", "-w", "4"},
		{"-a", "-t", "[fd00::100]:80", "-r", "[fd02::2]:80", "-m", "-w", "5"},
		{"-A", "-u", "10.0.0.100:53", "-s", "rr"},
		{"-a", "-u", "10.0.0.100:53", "-r", "10.2.0.1:53", "-m", "-w", "6"},
		{"-a", "-u", "10.0.0.100:53", "-r", "10.2.0.2:5353", "-m", "-w", "0"},
		{"-A", "-u", "[fd00::100]:53", "-s", "rr"},
		{"-a", "-u", "[fd00::100]:53", "-r", "[fd02::1]:53", "-m", "-w", "7"},
		{"-A", "-f", "10", "-s", "rr"},
		{"-a", "-f", "10", "-r", "10.2.0.1", "-g", "-w", "8"},
		{"-a", "-f", "10", "-r", "10.2.0.3", "-g", "-w", "9"},
		{"-A", "-f", "305419896", "-6", "-s", "rr"},
		{"-a", "-f", "305419896", "-6", "-r", "[fd02::2]:0", "-g", "-w", "10"},
		{"-A", "-t", "10.0.0.100:8080", "-s", "rr"}, // no destinations: no node_ipvs_backend series
	} {
		dir.Exec(t, "ipvsadm", cmd...)
	}
	// Real traffic through both TCP services, then let it settle.
	for _, url := range []string{"http://10.0.0.100/", "http://[fd00::100]/"} {
		got := client.Tally(url, 12, 10*time.Second)
		for body, n := range got {
			if strings.HasPrefix(body, "error: ") {
				t.Fatalf("%s: %d requests failed: %s (all: %v)", url, n, body, got)
			}
		}
	}
	return client, dir
}

// TestNodeExporterCompatible scrapes the real node exporter (ipvs collector
// only) and ours in the same namespace and requires every node_ipvs_*
// series it emits from ours, same type, labels and value.
func TestNodeExporterCompatible(t *testing.T) {
	_, dir := lab(t)
	_, neURL := peers.NodeExporter(t, dir, "127.0.0.1:9100")
	c, ourURL := serve(t, dir, "127.0.0.1:9101", nil)
	// And the Collector serving itself, the node exporter's set only.
	col, err := metrics.New(c, &metrics.Options{Groups: metrics.NodeExporter})
	if err != nil {
		t.Fatal(err)
	}
	directURL := dir.ServeHTTP(t, "127.0.0.1:9102", col) + "/metrics"

	// Counters lag traffic by up to 2s and connections change state, so
	// compare only when two scrapes of ours around the node exporter's
	// agree: then nothing moved in between. Bounded in time.
	deadline := time.Now().Add(60 * time.Second)
	for {
		a := scrape(t, dir, ourURL, "node_ipvs_")
		ne := scrape(t, dir, neURL, "node_ipvs_")
		direct := scrape(t, dir, directURL, "")
		b := scrape(t, dir, ourURL, "node_ipvs_")
		if fmt.Sprint(a) == fmt.Sprint(b) {
			// The direct path: the same node_ipvs series and nothing
			// beyond them but lvs_up and the scrape duration.
			if direct[`lvs_up(GAUGE){}`] != 1 {
				t.Fatalf("direct path: lvs_up %v", direct[`lvs_up(GAUGE){}`])
			}
			delete(direct, `lvs_up(GAUGE){}`)
			delete(direct, `lvs_scrape_duration_seconds(GAUGE){}`)
			if fmt.Sprint(direct) != fmt.Sprint(a) {
				if time.Now().After(deadline) {
					t.Fatalf("ServeHTTP with Groups NodeExporter differs from the registry's node_ipvs series:\n%v\n%v", direct, a)
				}
				time.Sleep(500 * time.Millisecond)
				continue
			}
			if len(ne) < 5+3*10 {
				t.Fatalf("node exporter emitted only %d node_ipvs series: %v", len(ne), ne)
			}
			var bad []string
			for k, v := range ne {
				if got, ok := a[k]; !ok {
					bad = append(bad, fmt.Sprintf("missing %s (node exporter: %v)", k, v))
				} else if got != v {
					bad = append(bad, fmt.Sprintf("%s = %v, node exporter %v", k, got, v))
				}
			}
			for k := range a {
				if _, ok := ne[k]; !ok {
					bad = append(bad, "extra "+k)
				}
			}
			if len(bad) == 0 {
				nonZero := 0
				for k, v := range ne {
					if strings.HasPrefix(k, "node_ipvs_incoming_bytes_total") || strings.HasPrefix(k, "node_ipvs_connections_total") {
						if v > 0 {
							nonZero++
						}
					}
				}
				if nonZero == 2 {
					t.Logf("%d node_ipvs series identical", len(ne))
					return
				}
				// The kernel folds the global counters in its estimator,
				// every 2 s (on 6.12 after its estimator threads have
				// started and calibrated, slow under TCG): identical
				// zeros there mean not yet, until the deadline.
				if time.Now().After(deadline) {
					t.Fatalf("traffic did not show in the global counters: %v", ne)
				}
				time.Sleep(500 * time.Millisecond)
				continue
			}
			if time.Now().After(deadline) {
				sort.Strings(bad)
				t.Fatalf("ours differs from the node exporter:\n%s", strings.Join(bad, "\n"))
			}
		} else if time.Now().After(deadline) {
			t.Fatal("the table never held still for two scrapes")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestRicherMetrics checks the lvs_ series against the table ipvsadm
// built: counters moved by traffic, weights, thresholds, fwmark labels,
// SCTP (which the node exporter 1.5.0 cannot parse) and the sync daemon.
func TestRicherMetrics(t *testing.T) {
	_, dir := lab(t)
	dir.Exec(t, "ipvsadm", "-A", "--sctp-service", "10.0.0.100:9000", "-s", "rr")
	dir.Exec(t, "ipvsadm", "-a", "--sctp-service", "10.0.0.100:9000", "-r", "10.2.0.2:9000", "-m", "-w", "11")
	dir.Exec(t, "ipvsadm", "--start-daemon", "master", "--mcast-interface", "eth0", "--syncid", "5")
	_, url := serve(t, dir, "127.0.0.1:9101", nil)
	var m map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		m = scrape(t, dir, url, "")
		// The kernel folds per-CPU counters into the totals every 2s, each
		// service on its own estimator's schedule: wait for both.
		if (m[`lvs_service_connections_total(COUNTER){address="10.0.0.100",family="ipv4",fwmark="",port="80",proto="TCP"}`] >= 12 &&
			m[`lvs_service_connections_total(COUNTER){address="fd00::100",family="ipv6",fwmark="",port="80",proto="TCP"}`] >= 12) ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	want := map[string]float64{
		`lvs_up(GAUGE){}`: 1,
		`lvs_service_connections_total(COUNTER){address="10.0.0.100",family="ipv4",fwmark="",port="80",proto="TCP"}`:                                                12,
		`lvs_destination_connections_total(COUNTER){address="10.0.0.100",family="ipv4",fwmark="",port="80",proto="TCP",server_address="10.2.0.3",server_port="80"}`: 4,
		`lvs_destination_weight(GAUGE){address="10.0.0.100",family="ipv4",fwmark="",port="80",proto="TCP",server_address="10.2.0.3",server_port="80"}`:              3,
		`lvs_destination_upper_threshold(GAUGE){address="10.0.0.100",family="ipv4",fwmark="",port="80",proto="TCP",server_address="10.2.0.3",server_port="80"}`:     100,
		`lvs_destination_lower_threshold(GAUGE){address="10.0.0.100",family="ipv4",fwmark="",port="80",proto="TCP",server_address="10.2.0.3",server_port="80"}`:     10,
		`lvs_destination_weight(GAUGE){address="",family="ipv6",fwmark="305419896",port="",proto="",server_address="fd02::2",server_port="0"}`:                      10,
		`lvs_service_destinations(GAUGE){address="10.0.0.100",family="ipv4",fwmark="",port="8080",proto="TCP"}`:                                                     0,
		`lvs_destination_weight(GAUGE){address="10.0.0.100",family="ipv4",fwmark="",port="9000",proto="SCTP",server_address="10.2.0.2",server_port="9000"}`:         11,
		`node_ipvs_backend_weight(GAUGE){local_address="10.0.0.100",local_mark="",local_port="9000",proto="SCTP",remote_address="10.2.0.2",remote_port="9000"}`:     11,
		`node_ipvs_backend_weight(GAUGE){local_address="",local_mark="12345678",local_port="0",proto="FWM",remote_address="fd02::2",remote_port="0"}`:               10,
		`lvs_sync_daemon(GAUGE){interface="eth0",state="master",syncid="5"}`:                                                                                        1,
		`lvs_service_connections_total(COUNTER){address="fd00::100",family="ipv6",fwmark="",port="80",proto="TCP"}`:                                                 12,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	for _, k := range []string{
		`lvs_global_incoming_bytes_total(COUNTER){}`,
		`lvs_destination_outgoing_bytes_total(COUNTER){address="fd00::100",family="ipv6",fwmark="",port="80",proto="TCP",server_address="fd02::1",server_port="80"}`,
	} {
		if m[k] <= 0 {
			t.Errorf("%s = %v, want > 0 after traffic", k, m[k])
		}
	}
	if t.Failed() {
		var all []string
		for k, v := range m {
			all = append(all, fmt.Sprintf("%s %v", k, v))
		}
		sort.Strings(all)
		t.Log(strings.Join(all, "\n"))
	}
}

// withoutDuration is m with the scrape duration's value taken from ref
// (the one series two scrapes of the same table may differ in).
func withoutDuration(m, ref map[string]float64) map[string]float64 {
	const d = `lvs_scrape_duration_seconds(GAUGE){}`
	if _, ok := m[d]; ok {
		m[d] = ref[d]
	}
	return m
}

type stuckSource struct{}

func (stuckSource) Name() string                        { return "stuck" }
func (stuckSource) Describe(ch chan<- *prometheus.Desc) {}
func (stuckSource) Collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestUnavailable: a scrape through a client that can no longer read the
// table reports lvs_up 0 and no table series, and a stuck source does not
// hold the scrape past the timeout.
func TestUnavailable(t *testing.T) {
	ns := nstest.New(t)
	ns.Exec(t, "ipvsadm", "-A", "-t", "10.0.0.100:80", "-s", "rr")
	ns.Exec(t, "ipvsadm", "-a", "-t", "10.0.0.100:80", "-r", "10.0.0.2:80", "-m")
	c, url := serve(t, ns, "127.0.0.1:9101", &metrics.Options{Timeout: 2 * time.Second, Sources: []metrics.Source{stuckSource{}}})
	// The same client's table served by the Collector itself (ServeHTTP).
	col, err := metrics.New(c, &metrics.Options{Timeout: 2 * time.Second, Sources: []metrics.Source{stuckSource{}}})
	if err != nil {
		t.Fatal(err)
	}
	direct := ns.ServeHTTP(t, "127.0.0.1:9102", col) + "/metrics"
	m := scrape(t, ns, url, "")
	if m[`lvs_up(GAUGE){}`] != 1 || m[`node_ipvs_backend_weight(GAUGE){local_address="10.0.0.100",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.2",remote_port="80"}`] != 1 {
		t.Fatalf("healthy scrape: %v", m)
	}
	if v, ok := m[`lvs_source_up(GAUGE){source="stuck"}`]; !ok || v != 0 {
		t.Errorf("stuck source: lvs_source_up = %v (present %v), want 0", v, ok)
	}
	if m := scrape(t, ns, direct, ""); fmt.Sprint(m) != fmt.Sprint(withoutDuration(scrape(t, ns, url, ""), m)) {
		t.Errorf("ServeHTTP and the registry differ:\n%v\n%v", m, scrape(t, ns, url, ""))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{url, direct} {
		start := time.Now()
		m = scrape(t, ns, u, "")
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("%s: scrape took %v with a 2s timeout", u, d)
		}
		if v, ok := m[`lvs_up(GAUGE){}`]; !ok || v != 0 {
			t.Errorf("%s: closed client: lvs_up = %v (present %v), want 0", u, v, ok)
		}
		for k := range m {
			if strings.HasPrefix(k, "node_ipvs_") || strings.HasPrefix(k, "lvs_service_") || strings.HasPrefix(k, "lvs_destination_") || strings.HasPrefix(k, "lvs_global_") {
				t.Errorf("%s: closed client, yet %s", u, k)
			}
		}
	}
	// Bad options are refused before anything is read.
	if _, err := metrics.New(nil, nil); !errors.Is(err, metrics.ErrInvalid) {
		t.Errorf("New(nil) = %v", err)
	}
}
