package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/ipvs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// synthetic is a table of n TCP services with four destinations each,
// plus the awkward cases: an IPv4 and an IPv6 fwmark service with the same
// mark and destination (the node exporter sums them), SCTP, counters past
// 2^53, and a sync daemon on an interface whose name needs escaping.
func synthetic(n int) reading {
	var r reading
	v := uint64(1)
	stats := func() ipvs.Stats {
		v += 7
		return ipvs.Stats{Connections: v, PacketsIn: v * 3, PacketsOut: v * 2, BytesIn: v << 40, BytesOut: v<<54 + 1, CPS: v % 5, PPSIn: v % 7, PPSOut: v % 3, BPSIn: v * 11, BPSOut: v * 13}
	}
	dest := func(a netip.Addr, port uint16, w uint32) ipvs.DestinationInfo {
		d := ipvs.DestinationInfo{Stats: stats()}
		d.Address, d.Port, d.Weight, d.Forward = a, port, w, ipvs.Masquerade
		d.ActiveConns, d.InactiveConns, d.PersistentConns = uint32(v%17), uint32(v%19), uint32(v%3)
		d.UpperThreshold, d.LowerThreshold = uint32(v%100), uint32(v%10)
		return d
	}
	for i := range n {
		var s ipvs.ServiceSnapshot
		s.ServiceKey = ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 80}
		s.Stats = stats()
		for j := range 4 {
			s.Destinations = append(s.Destinations, dest(netip.AddrFrom4([4]byte{10, 2, byte(j), 1}), 8080, uint32(j)))
		}
		r.svcs = append(r.svcs, s)
	}
	odd := []ipvs.ServiceSnapshot{
		{ServiceInfo: ipvs.ServiceInfo{Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Family: ipvs.IPv4, Fwmark: 10}}}},
		{ServiceInfo: ipvs.ServiceInfo{Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Family: ipvs.IPv6, Fwmark: 10}}}},
		{ServiceInfo: ipvs.ServiceInfo{Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Protocol: ipvs.SCTP, Address: netip.MustParseAddr("2001:db8::1"), Port: 9000}}}},
		{ServiceInfo: ipvs.ServiceInfo{Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Protocol: ipvs.UDP, Address: netip.MustParseAddr("10.9.9.9"), Port: 53}}}},
	}
	odd[0].Destinations = []ipvs.DestinationInfo{dest(netip.MustParseAddr("10.3.0.1"), 0, 5)}
	odd[1].Destinations = []ipvs.DestinationInfo{dest(netip.MustParseAddr("10.3.0.1"), 0, 6)}
	odd[2].Destinations = []ipvs.DestinationInfo{dest(netip.MustParseAddr("2001:db8::2"), 9000, 1)}
	r.svcs = append(r.svcs, odd...)
	r.global = stats()
	r.daemons = []ipvs.Daemon{{State: ipvs.DaemonMaster, Interface: `we"ird\0`, SyncID: 5}}
	return r
}

func fakeCollector(t testing.TB, r reading, opts *Options) *Collector {
	c, err := New(&ipvs.Client{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.readTable = func(context.Context) reading { return r }
	return c
}

type okSource struct{}

var okDesc = prometheus.NewDesc("test_pool_up", "A test source's metric.", []string{"pool"}, nil)

func (okSource) Name() string                        { return "ok" }
func (okSource) Describe(ch chan<- *prometheus.Desc) { ch <- okDesc }
func (okSource) Collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	ch <- prometheus.MustNewConstMetric(okDesc, prometheus.GaugeValue, 1, "web")
	return nil
}

// flat renders families as sorted "name TYPE {labels} value" lines (help
// per family), leaving out the scrape duration's value.
func flat(fams []*dto.MetricFamily) []string {
	var out []string
	for _, f := range fams {
		out = append(out, fmt.Sprintf("%s %s HELP %q", f.GetName(), f.GetType(), f.GetHelp()))
		for _, m := range f.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			var v float64
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Untyped != nil:
				v = m.Untyped.GetValue()
			}
			if f.GetName() == "lvs_scrape_duration_seconds" {
				v = -1
			}
			out = append(out, fmt.Sprintf("%s %s {%s} %v", f.GetName(), f.GetType(), strings.Join(ls, ","), v))
		}
	}
	sort.Strings(out)
	return out
}

func parseText(t *testing.T, body []byte) []*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not the text format: %v\n%s", err, body)
	}
	var out []*dto.MetricFamily
	for _, f := range fams {
		out = append(out, f)
	}
	return out
}

func get(t *testing.T, h http.Handler, gz bool) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip, deflate")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	resp := w.Result()
	body := w.Body.Bytes()
	if gz {
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("asked for gzip, got Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return resp, body
}

// The text path (ServeHTTP, our own encoder) and the registry path
// (client_golang's const metrics, gathered) give the same families, types,
// help, label sets and values, for every group selection; the text parses
// with expfmt's parser.
func TestTextSameAsRegistry(t *testing.T) {
	r := synthetic(3)
	for _, g := range []Groups{0, NodeExporter, Global, Services, Destinations, Services | Destinations} {
		t.Run(fmt.Sprintf("groups=%d", g), func(t *testing.T) {
			c := fakeCollector(t, r, &Options{Groups: g, Sources: []Source{okSource{}}})
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(c)
			want, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, gz := range []bool{false, true} {
				resp, body := get(t, c, gz)
				if ct := resp.Header.Get("Content-Type"); expfmt.ResponseFormat(resp.Header).FormatType() != expfmt.TypeTextPlain {
					t.Errorf("Content-Type %q", ct)
				}
				got := flat(parseText(t, body))
				w := flat(want)
				if strings.Join(got, "\n") != strings.Join(w, "\n") {
					t.Errorf("gzip %v: text path differs from the registry's:\n%s", gz, diff(w, got))
				}
				if len(w) < 10 {
					t.Errorf("only %d lines", len(w))
				}
			}
		})
	}
}

// diff lists lines only in a (-) or only in b (+).
func diff(a, b []string) string {
	in := func(s []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range s {
			m[x] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, x := range a {
		if !mb[x] {
			out = append(out, "- "+x)
		}
	}
	for _, x := range b {
		if !ma[x] {
			out = append(out, "+ "+x)
		}
	}
	return strings.Join(out, "\n")
}

// Spot checks against values worked out by hand, so that both paths
// agreeing on a wrong value would still fail.
func TestTextValues(t *testing.T) {
	c := fakeCollector(t, synthetic(1), nil)
	_, body := get(t, c, false)
	for _, want := range []string{
		"lvs_up 1\n",
		// The two fwmark-10 services' destinations, weights 5 and 6, summed.
		`node_ipvs_backend_weight{local_address="",local_mark="0000000A",local_port="0",proto="FWM",remote_address="10.3.0.1",remote_port="0"} 11` + "\n",
		`node_ipvs_backend_weight{local_address="10.0.0.0",local_mark="",local_port="80",proto="TCP",remote_address="10.2.3.1",remote_port="8080"} 3` + "\n",
		`lvs_sync_daemon{interface="we\"ird\\0",state="master",syncid="5"} 1` + "\n",
		`lvs_service_destinations{address="2001:db8::1",family="ipv6",fwmark="",port="9000",proto="SCTP"} 1` + "\n",
		`lvs_service_destinations{address="10.9.9.9",family="ipv4",fwmark="",port="53",proto="UDP"} 0` + "\n",
		"# TYPE node_ipvs_connections_total counter\n",
		"# TYPE lvs_destination_weight gauge\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("missing %q", want)
		}
	}
	// The first service's first destination: v = 1+7*2 = 15 (the
	// service's stats took 8), BytesOut = 15<<54+1, exact in the text.
	if want := fmt.Sprintf(`lvs_destination_outgoing_bytes_total{address="10.0.0.0",family="ipv4",fwmark="",port="80",proto="TCP",server_address="10.2.0.1",server_port="8080"} %d`, uint64(15)<<54+1); !strings.Contains(string(body), want) {
		t.Errorf("missing %q", want)
	}
}

// A failed or late read: lvs_up 0, no table series, and the answer comes
// by the timeout even when the read never returns.
func TestServeHTTPUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		read func(ctx context.Context) reading
	}{
		{"error", func(context.Context) reading { return reading{err: errors.New("no IPVS")} }},
		{"stuck", func(context.Context) reading { select {} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeCollector(t, reading{}, &Options{Timeout: 200 * time.Millisecond})
			c.readTable = tc.read
			start := time.Now()
			resp, body := get(t, c, true)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("answered after %v with a 200ms timeout", d)
			}
			if resp.StatusCode != 200 || !strings.Contains(string(body), "lvs_up 0\n") {
				t.Errorf("status %d, body:\n%s", resp.StatusCode, body)
			}
			for _, f := range parseText(t, body) {
				if n := f.GetName(); n != "lvs_up" && n != "lvs_scrape_duration_seconds" {
					t.Errorf("unexpected %s", n)
				}
			}
			// The registry path too.
			reg := prometheus.NewRegistry()
			reg.MustRegister(c)
			start = time.Now()
			fams, err := reg.Gather()
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Gather took %v with a 200ms timeout", d)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fams {
				if n := f.GetName(); n == "lvs_up" && f.Metric[0].GetGauge().GetValue() != 0 || n != "lvs_up" && n != "lvs_scrape_duration_seconds" {
					t.Errorf("registry path: %s %v", n, f.Metric)
				}
			}
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip": true, "gzip;q=0": false, "gzip; q=0.5": true,
		"identity": false, "x-gzip": false, "gzip;q=0.0": false, "br;q=1, gzip;q=1.0": true,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestGroupsBadInput(t *testing.T) {
	if _, err := New(&ipvs.Client{}, &Options{Groups: AllGroups + 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown group: %v, want ErrInvalid", err)
	}
}

// BenchmarkEncode is one scrape's encoding on the host, without the
// kernel: the text path against the registry path, all groups and the
// node exporter's set, for profiling (-cpuprofile). The comparison with
// the node exporter itself is BenchmarkScrape, in the VM.
func BenchmarkEncode(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		r := synthetic(n)
		for _, g := range []struct {
			name string
			g    Groups
		}{{"all", AllGroups}, {"node", NodeExporter}} {
			c := fakeCollector(b, r, &Options{Groups: g.g})
			b.Run(fmt.Sprintf("services=%d/%s/text", n, g.name), func(b *testing.B) {
				b.ReportAllocs()
				req := httptest.NewRequest("GET", "/metrics", nil)
				req.Header.Set("Accept-Encoding", "gzip")
				for range b.N {
					w := &discard{h: http.Header{}}
					c.ServeHTTP(w, req)
					b.SetBytes(w.n)
				}
			})
			reg := prometheus.NewRegistry()
			reg.MustRegister(c)
			b.Run(fmt.Sprintf("services=%d/%s/registry", n, g.name), func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if _, err := reg.Gather(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

type discard struct {
	h http.Header
	n int64
}

func (d *discard) Header() http.Header { return d.h }
func (d *discard) WriteHeader(int)     {}
func (d *discard) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	return len(p), nil
}
