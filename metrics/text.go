package metrics

import (
	"bufio"
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

	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	t := &textSink{w: w}
	if acceptsGzip(req.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		z, _ := c.gzip.Get().(*gzipper)
		if z == nil {
			z = newGzipper()
		}
		defer c.gzip.Put(z)
		t.compressWith(z, w)
	} else {
		t.buf = make([]byte, 0, textChunk+4<<10)
	}
	emit(t, &r, took, c.groups)
	if len(c.sources) > 0 {
		reg := prometheus.NewRegistry()
		err := reg.Register(sourceScrape{c, ctx})
		if err == nil {
			var fams []*dto.MetricFamily
			fams, err = reg.Gather()
			for _, f := range fams {
				if t.err == nil {
					_, t.err = expfmt.MetricFamilyToText(t, f)
				}
			}
		}
		if err != nil {
			// A source whose metrics contradict their descriptors: a
			// programming error, shown where its metrics would be.
			t.buf = append(t.buf, "# lvs sources: "+strings.ReplaceAll(err.Error(), "\n", " ")+"\n"...)
		}
	}
	t.close()
}

// gzipper is ServeHTTP's compression: a gzip writer (fastest level: a
// scrape's text is repetitive, and the scrape's CPU is what this path
// saves) writing through a buffer large enough that the compressed answer
// goes out in a few system calls, and the text sink's two buffers.
type gzipper struct {
	gz   *gzip.Writer
	bw   *bufio.Writer
	bufs [2][]byte
}

// textChunk is how much text the sink collects before handing it on.
const textChunk = 60 << 10

func newGzipper() *gzipper {
	z := &gzipper{bw: bufio.NewWriterSize(io.Discard, 64<<10)}
	z.gz, _ = gzip.NewWriterLevel(z.bw, gzip.BestSpeed)
	for i := range z.bufs {
		z.bufs[i] = make([]byte, 0, textChunk+4<<10)
	}
	return z
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

// textSink writes the series in the text format, buffered. With a
// gzipper, a goroutine of its own compresses each full buffer while the
// sink fills the other.
type textSink struct {
	w   io.Writer
	buf []byte
	err error
	f   *family
	// full takes the buffers to compress, free gives them back, and
	// done has the compression's error once full is closed (nil full:
	// no compression).
	full, free chan []byte
	done       chan error
}

// compressWith starts compressing the sink's text with z to w.
func (t *textSink) compressWith(z *gzipper, w io.Writer) {
	z.bw.Reset(w)
	z.gz.Reset(z.bw)
	t.full, t.free, t.done = make(chan []byte, 1), make(chan []byte, len(z.bufs)), make(chan error, 1)
	for _, b := range z.bufs {
		t.free <- b[:0]
	}
	t.buf = <-t.free
	go func() {
		var err error
		for b := range t.full {
			if err == nil {
				_, err = z.gz.Write(b)
			}
			t.free <- b[:0]
		}
		if err == nil {
			err = z.gz.Close()
		}
		if err == nil {
			err = z.bw.Flush()
		}
		t.done <- err
	}()
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

// Write appends p, for the Sources' families (expfmt writes them).
func (t *textSink) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) >= textChunk {
		t.flush()
	}
	return len(p), nil
}

func (t *textSink) end() {
	t.buf = append(t.buf, '\n')
	if len(t.buf) >= textChunk {
		t.flush()
	}
}

// flush hands the buffer on: to the compression, which gives a free one
// back, or straight to w.
func (t *textSink) flush() {
	if len(t.buf) == 0 {
		return
	}
	if t.full != nil {
		t.full <- t.buf
		t.buf = <-t.free
		return
	}
	if t.err == nil {
		_, t.err = t.w.Write(t.buf)
	}
	t.buf = t.buf[:0]
}

// close flushes the rest and waits for the compression to finish.
func (t *textSink) close() {
	t.flush()
	if t.full != nil {
		close(t.full)
		if err := <-t.done; t.err == nil {
			t.err = err
		}
		t.full = nil
	}
}
