package metrics

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/golvs/lvs/ipvs"
	"github.com/prometheus/client_golang/prometheus"
)

// Source is an optional producer of more metrics, collected with every
// scrape under the same deadline: the extension point for health pools,
// drains and failover roles, which live in packages this one does not
// import. A Source describes its metrics once and emits them on each scrape;
// a Source that fails or runs past the deadline is reported as
// lvs_source_up{source=Name()} 0 and its metrics of that scrape are dropped.
type Source interface {
	// Name labels the source's lvs_source_up series.
	Name() string
	// Describe sends the descriptors of every metric Collect may send.
	Describe(ch chan<- *prometheus.Desc)
	// Collect sends the current metrics; it must return once ctx is done.
	Collect(ctx context.Context, ch chan<- prometheus.Metric) error
}

// Options tune a Collector. The zero value is usable.
type Options struct {
	// Timeout bounds one scrape's kernel reads (and the Sources); default
	// 5s. A scrape that runs out of time reports lvs_up 0.
	Timeout time.Duration
	// Sources add metrics to every scrape (see Source).
	Sources []Source
	// Groups selects the series beyond lvs_up and
	// lvs_scrape_duration_seconds; zero means AllGroups. NodeExporter alone
	// is the node exporter's set, about a seventh of all for a table of
	// services with four destinations each.
	Groups Groups
}

// Collector is a prometheus.Collector over one namespace's IPVS table: each
// scrape reads it with one Snapshot, plus the global counters
// (/proc/net/ip_vs_stats) and the sync daemons.
type Collector struct {
	client  *ipvs.Client
	timeout time.Duration
	sources []Source
	groups  Groups
	gzip    sync.Pool // *gzipper, reused across ServeHTTP's scrapes
	// readTable reads the table (readKernel; a synthetic table in tests).
	readTable func(context.Context) reading
}

// New returns a collector reading through client, which stays the
// caller's to close (after the collector is unregistered).
func New(client *ipvs.Client, opts *Options) (*Collector, error) {
	if client == nil {
		return nil, &Error{Pkg: "metrics", Op: "new collector", Field: "client", Kind: ErrInvalid, Err: fmt.Errorf("nil *ipvs.Client")}
	}
	c := &Collector{client: client, timeout: 5 * time.Second, groups: AllGroups}
	c.readTable = c.readKernel
	if opts != nil {
		if opts.Timeout < 0 {
			return nil, &Error{Pkg: "metrics", Op: "new collector", Field: "Options.Timeout", Kind: ErrInvalid, Err: fmt.Errorf("negative timeout %v", opts.Timeout)}
		}
		if opts.Timeout > 0 {
			c.timeout = opts.Timeout
		}
		if opts.Groups&^AllGroups != 0 {
			return nil, &Error{Pkg: "metrics", Op: "new collector", Field: "Options.Groups", Kind: ErrInvalid, Err: fmt.Errorf("unknown groups %#x", uint(opts.Groups&^AllGroups))}
		}
		if opts.Groups != 0 {
			c.groups = opts.Groups
		}
		c.sources = append(c.sources, opts.Sources...)
	}
	return c, nil
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range families() {
		ch <- f.desc
	}
	for _, s := range c.sources {
		s.Describe(ch)
	}
}

// reading is what one scrape read from the kernel.
type reading struct {
	svcs    []ipvs.ServiceSnapshot
	global  ipvs.Stats
	daemons []ipvs.Daemon
	err     error
}

// read runs the kernel reads in their own goroutine so that a read stuck
// past the deadline cannot hold the scrape: the scrape reports lvs_up 0 at
// the deadline and the late answer is dropped.
func (c *Collector) read(ctx context.Context) reading {
	done := make(chan reading, 1)
	go func() { done <- c.readTable(ctx) }()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		return reading{err: ctx.Err()}
	}
}

// readKernel is readTable's default: the client's Snapshot, and beside
// it, on another socket and thread, the global counters and daemons (a
// Snapshot is one system call after another, waiting on the kernel; the
// two small reads need not wait for it).
func (c *Collector) readKernel(ctx context.Context) reading {
	var r reading
	var side struct {
		global  ipvs.Stats
		daemons []ipvs.Daemon
		err     error
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if side.global, side.err = c.client.GlobalStats(ctx); side.err == nil {
			side.daemons, side.err = c.client.Daemons(ctx)
		}
	}()
	r.svcs, r.err = c.client.Snapshot(ctx)
	<-done
	if r.err == nil {
		r.global, r.daemons, r.err = side.global, side.daemons, side.err
	}
	if r.err != nil {
		r.svcs = nil
	}
	return r
}

// Collect implements prometheus.Collector. Serving the Collector itself
// (ServeHTTP) is much cheaper for a large table: this path makes a const
// metric of every series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	start := time.Now()
	r := c.read(ctx)
	emit(&constSink{ch: ch}, &r, time.Since(start), c.groups)
	for _, s := range c.sources {
		c.collectSource(ctx, ch, s)
	}
}

// constSink turns the series into const metrics for a registry.
type constSink struct {
	ch chan<- prometheus.Metric
	f  *family
}

func (s *constSink) values() bool { return true }

func (s *constSink) family(f *family) { s.f = f }

func (s *constSink) sample(ls *labelSet, v uint64) { s.float(ls, float64(v)) }

func (s *constSink) float(ls *labelSet, v float64) {
	t := prometheus.GaugeValue
	if s.f.counter {
		t = prometheus.CounterValue
	}
	s.ch <- prometheus.MustNewConstMetric(s.f.desc, t, v, ls.values...)
}

// collectSource buffers a source's metrics so that a failed or late source
// contributes only its lvs_source_up 0.
func (c *Collector) collectSource(ctx context.Context, ch chan<- prometheus.Metric, s Source) {
	buf := make(chan prometheus.Metric, 64)
	var got []prometheus.Metric
	errc := make(chan error, 1)
	go func() {
		errc <- s.Collect(ctx, buf)
		close(buf)
	}()
	up := 0.0
	for {
		select {
		case m, ok := <-buf:
			if ok {
				got = append(got, m)
				continue
			}
			if err := <-errc; err == nil {
				up = 1
				for _, m := range got {
					ch <- m
				}
			}
		case <-ctx.Done():
			// Drain in the background so the source's sends never block.
			go func() {
				for range buf {
				}
			}()
		}
		break
	}
	ch <- prometheus.MustNewConstMetric(sourceUpFam.desc, prometheus.GaugeValue, up, s.Name())
}
