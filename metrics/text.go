package metrics

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// ServeHTTP answers one scrape in the Prometheus text format (0.0.4),
// written straight from the reading: the same series as a registry
// gathering the Collector (Collect), without a const metric per series,
// which for a table of thousands of services is most of a scrape's cost.
// It reads the table under Options.Timeout (and the request's context),
// answers lvs_up 0 when the read fails or runs late, and compresses with
// gzip when the client accepts it. The Sources are gathered through a
// registry of their own, under the same deadline. Serve a Collector
// either way, not both: Collect for a registry shared with other
// collectors, ServeHTTP for a large table.
func (c *Collector) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), c.timeout)
	defer cancel()
	start := time.Now()
	r := c.read(ctx)
	took := time.Since(start)

	var out io.Writer = w
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if acceptsGzip(req.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		gz, _ := c.gzip.Get().(*gzip.Writer)
		if gz == nil {
			// Fastest level: a scrape's text is repetitive, and the
			// scrape's CPU is what this path saves.
			gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		} else {
			gz.Reset(w)
		}
		defer func() {
			gz.Close()
			c.gzip.Put(gz)
		}()
		out = gz
	}
	t := &textSink{w: out, buf: make([]byte, 0, 64<<10)}
	emit(t, &r, took, c.groups)
	if len(c.sources) > 0 {
		reg := prometheus.NewRegistry()
		err := reg.Register(sourceScrape{c, ctx})
		if err == nil {
			var fams []*dto.MetricFamily
			fams, err = reg.Gather()
			t.flush()
			for _, f := range fams {
				if t.err == nil {
					_, t.err = expfmt.MetricFamilyToText(out, f)
				}
			}
		}
		if err != nil {
			// A source whose metrics contradict their descriptors: a
			// programming error, shown where its metrics would be.
			t.buf = append(t.buf, "# lvs sources: "+strings.ReplaceAll(err.Error(), "\n", " ")+"\n"...)
		}
	}
	t.flush()
}

// sourceScrape is one scrape's Sources as a collector, for the registry
// that encodes them on the text path.
type sourceScrape struct {
	c   *Collector
	ctx context.Context
}

func (s sourceScrape) Describe(ch chan<- *prometheus.Desc) {
	ch <- sourceUpFam.desc
	for _, src := range s.c.sources {
		src.Describe(ch)
	}
}

func (s sourceScrape) Collect(ch chan<- prometheus.Metric) {
	for _, src := range s.c.sources {
		s.c.collectSource(s.ctx, ch, src)
	}
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip
// (listed without q=0).
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(name) != "gzip" {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(p, "=")
			if strings.TrimSpace(k) == "q" {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				return err == nil && q > 0
			}
		}
		return true
	}
	return false
}

// textSink writes the series in the text format, buffered.
type textSink struct {
	w   io.Writer
	buf []byte
	err error
	f   *family
}

func (t *textSink) values() bool { return false }

func (t *textSink) family(f *family) {
	t.f = f
	t.buf = append(t.buf, f.head...)
}

func (t *textSink) sample(ls *labelSet, v uint64) {
	t.buf = append(append(t.buf, t.f.name...), ls.text...)
	t.buf = strconv.AppendUint(append(t.buf, ' '), v, 10)
	t.end()
}

func (t *textSink) float(ls *labelSet, v float64) {
	t.buf = append(append(t.buf, t.f.name...), ls.text...)
	t.buf = strconv.AppendFloat(append(t.buf, ' '), v, 'g', -1, 64)
	t.end()
}

func (t *textSink) end() {
	t.buf = append(t.buf, '\n')
	if len(t.buf) >= 60<<10 {
		t.flush()
	}
}

func (t *textSink) flush() {
	if t.err == nil && len(t.buf) > 0 {
		_, t.err = t.w.Write(t.buf)
	}
	t.buf = t.buf[:0]
}
