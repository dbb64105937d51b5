package metrics

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
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
}

// Collector is a prometheus.Collector over one namespace's IPVS table: each
// scrape reads it with one Snapshot, plus the global counters
// (/proc/net/ip_vs_stats) and the sync daemons.
type Collector struct {
	client  *ipvs.Client
	timeout time.Duration
	sources []Source
}

// New returns a collector reading through client, which stays the
// caller's to close (after the collector is unregistered).
func New(client *ipvs.Client, opts *Options) (*Collector, error) {
	if client == nil {
		return nil, &Error{Pkg: "metrics", Op: "new collector", Field: "client", Kind: ErrInvalid, Err: fmt.Errorf("nil *ipvs.Client")}
	}
	c := &Collector{client: client, timeout: 5 * time.Second}
	if opts != nil {
		if opts.Timeout < 0 {
			return nil, &Error{Pkg: "metrics", Op: "new collector", Field: "Options.Timeout", Kind: ErrInvalid, Err: fmt.Errorf("negative timeout %v", opts.Timeout)}
		}
		if opts.Timeout > 0 {
			c.timeout = opts.Timeout
		}
		c.sources = append(c.sources, opts.Sources...)
	}
	return c, nil
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The label sets.
var (
	nodeLabels = []string{"local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"}
	svcLabels  = []string{"family", "proto", "address", "port", "fwmark"}
	dstLabels  = append(append([]string(nil), svcLabels...), "server_address", "server_port")
)

// Node exporter compatible metrics: same names, types and labels as its
// ipvs collector, so existing dashboards and alerts keep working.
var (
	nodeConns      = desc("node_ipvs_connections_total", "The total number of connections made.")
	nodePktsIn     = desc("node_ipvs_incoming_packets_total", "The total number of incoming packets.")
	nodePktsOut    = desc("node_ipvs_outgoing_packets_total", "The total number of outgoing packets.")
	nodeBytesIn    = desc("node_ipvs_incoming_bytes_total", "The total amount of incoming data.")
	nodeBytesOut   = desc("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.")
	nodeActive     = desc("node_ipvs_backend_connections_active", "The current active connections by local and remote address.", nodeLabels...)
	nodeInactive   = desc("node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address.", nodeLabels...)
	nodeWeight     = desc("node_ipvs_backend_weight", "The current backend weight by local and remote address.", nodeLabels...)
	upDesc         = desc("lvs_up", "1 if the last scrape read the IPVS table, 0 if it failed (IPVS unavailable, namespace gone, timeout).")
	durationDesc   = desc("lvs_scrape_duration_seconds", "How long the scrape's kernel reads took.")
	sourceUpDesc   = desc("lvs_source_up", "1 if the extra metrics source answered in time, else 0.", "source")
	daemonDesc     = desc("lvs_sync_daemon", "A running connection-synchronisation daemon (always 1).", "state", "interface", "syncid")
	svcDestsDesc   = desc("lvs_service_destinations", "The number of destinations of the service.", svcLabels...)
	dstActiveDesc  = desc("lvs_destination_connections_active", "The destination's active connections.", dstLabels...)
	dstInactDesc   = desc("lvs_destination_connections_inactive", "The destination's inactive connections.", dstLabels...)
	dstPersistDesc = desc("lvs_destination_connections_persistent", "The destination's persistence templates.", dstLabels...)
	dstWeightDesc  = desc("lvs_destination_weight", "The destination's weight (0: quiesced).", dstLabels...)
	dstUpperDesc   = desc("lvs_destination_upper_threshold", "The destination's upper connection threshold (0: none).", dstLabels...)
	dstLowerDesc   = desc("lvs_destination_lower_threshold", "The destination's lower connection threshold (0: none).", dstLabels...)
)

// statDescs are the ten Stats fields as metrics of one scope (global,
// service, destination): five 64-bit counters and five per-second rates,
// which the kernel estimates anyway, so they cost nothing.
type statDescs [10]*prometheus.Desc

func newStatDescs(scope, what string, labels ...string) statDescs {
	p := "lvs_" + scope + "_"
	return statDescs{
		desc(p+"connections_total", "Connections scheduled "+what+".", labels...),
		desc(p+"incoming_packets_total", "Packets in "+what+".", labels...),
		desc(p+"outgoing_packets_total", "Packets out "+what+".", labels...),
		desc(p+"incoming_bytes_total", "Bytes in "+what+".", labels...),
		desc(p+"outgoing_bytes_total", "Bytes out "+what+".", labels...),
		desc(p+"connections_per_second", "Connection rate "+what+" (kernel estimate).", labels...),
		desc(p+"incoming_packets_per_second", "Incoming packet rate "+what+" (kernel estimate).", labels...),
		desc(p+"outgoing_packets_per_second", "Outgoing packet rate "+what+" (kernel estimate).", labels...),
		desc(p+"incoming_bytes_per_second", "Incoming byte rate "+what+" (kernel estimate).", labels...),
		desc(p+"outgoing_bytes_per_second", "Outgoing byte rate "+what+" (kernel estimate).", labels...),
	}
}

var (
	globalStats = newStatDescs("global", "by every service of the namespace")
	svcStats    = newStatDescs("service", "by the service", svcLabels...)
	dstStats    = newStatDescs("destination", "to the destination", dstLabels...)
)

func (d *statDescs) emit(ch chan<- prometheus.Metric, s *ipvs.Stats, lv ...string) {
	for i, v := range [10]uint64{s.Connections, s.PacketsIn, s.PacketsOut, s.BytesIn, s.BytesOut, s.CPS, s.PPSIn, s.PPSOut, s.BPSIn, s.BPSOut} {
		t := prometheus.CounterValue
		if i >= 5 {
			t = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(d[i], t, float64(v), lv...)
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeConns, nodePktsIn, nodePktsOut, nodeBytesIn, nodeBytesOut,
		nodeActive, nodeInactive, nodeWeight, upDesc, durationDesc, sourceUpDesc, daemonDesc, svcDestsDesc,
		dstActiveDesc, dstInactDesc, dstPersistDesc, dstWeightDesc, dstUpperDesc, dstLowerDesc} {
		ch <- d
	}
	for _, s := range []*statDescs{&globalStats, &svcStats, &dstStats} {
		for _, d := range s {
			ch <- d
		}
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
	go func() {
		var r reading
		if r.svcs, r.err = c.client.Snapshot(ctx); r.err == nil {
			if r.global, r.err = c.client.GlobalStats(ctx); r.err == nil {
				r.daemons, r.err = c.client.Daemons(ctx)
			}
		}
		done <- r
	}()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		return reading{err: ctx.Err()}
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	start := time.Now()
	r := c.read(ctx)
	ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, time.Since(start).Seconds())
	if r.err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
	} else {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
		emitReading(ch, &r)
	}
	for _, s := range c.sources {
		c.collectSource(ctx, ch, s)
	}
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
	ch <- prometheus.MustNewConstMetric(sourceUpDesc, prometheus.GaugeValue, up, s.Name())
}

// nodeKey is the node exporter's label set of a destination.
type nodeKey [6]string

type nodeSum struct{ active, inactive, weight uint64 }

func emitReading(ch chan<- prometheus.Metric, r *reading) {
	g := &r.global
	ch <- prometheus.MustNewConstMetric(nodeConns, prometheus.CounterValue, float64(g.Connections))
	ch <- prometheus.MustNewConstMetric(nodePktsIn, prometheus.CounterValue, float64(g.PacketsIn))
	ch <- prometheus.MustNewConstMetric(nodePktsOut, prometheus.CounterValue, float64(g.PacketsOut))
	ch <- prometheus.MustNewConstMetric(nodeBytesIn, prometheus.CounterValue, float64(g.BytesIn))
	ch <- prometheus.MustNewConstMetric(nodeBytesOut, prometheus.CounterValue, float64(g.BytesOut))
	globalStats.emit(ch, g)

	for _, d := range r.daemons {
		ch <- prometheus.MustNewConstMetric(daemonDesc, prometheus.GaugeValue, 1, d.State.String(), d.Interface, strconv.Itoa(int(d.SyncID)))
	}

	// The node exporter sums destinations whose label sets coincide (it
	// cannot tell an IPv4 fwmark service from an IPv6 one with the same
	// mark); so do we, keeping its first-seen order irrelevant.
	sums := make(map[nodeKey]nodeSum)
	var order []nodeKey
	var svcLV [5]string
	for i := range r.svcs {
		s := &r.svcs[i]
		serviceLabels(&svcLV, &s.ServiceKey)
		svcStats.emit(ch, &s.Stats, svcLV[:]...)
		ch <- prometheus.MustNewConstMetric(svcDestsDesc, prometheus.GaugeValue, float64(len(s.Destinations)), svcLV[:]...)
		nk := nodeServiceLabels(&s.ServiceKey)
		for j := range s.Destinations {
			d := &s.Destinations[j]
			addr, port := d.Address.Unmap().String(), strconv.Itoa(int(d.Port))
			lv := append(svcLV[:], addr, port)
			dstStats.emit(ch, &d.Stats, lv...)
			ch <- prometheus.MustNewConstMetric(dstActiveDesc, prometheus.GaugeValue, float64(d.ActiveConns), lv...)
			ch <- prometheus.MustNewConstMetric(dstInactDesc, prometheus.GaugeValue, float64(d.InactiveConns), lv...)
			ch <- prometheus.MustNewConstMetric(dstPersistDesc, prometheus.GaugeValue, float64(d.PersistentConns), lv...)
			ch <- prometheus.MustNewConstMetric(dstWeightDesc, prometheus.GaugeValue, float64(d.Weight), lv...)
			ch <- prometheus.MustNewConstMetric(dstUpperDesc, prometheus.GaugeValue, float64(d.UpperThreshold), lv...)
			ch <- prometheus.MustNewConstMetric(dstLowerDesc, prometheus.GaugeValue, float64(d.LowerThreshold), lv...)

			k := nk
			k[2], k[3] = addr, port
			sum, seen := sums[k]
			if !seen {
				order = append(order, k)
			}
			sum.active += uint64(d.ActiveConns)
			sum.inactive += uint64(d.InactiveConns)
			sum.weight += uint64(d.Weight)
			sums[k] = sum
		}
	}
	for _, k := range order {
		s := sums[k]
		ch <- prometheus.MustNewConstMetric(nodeActive, prometheus.GaugeValue, float64(s.active), k[:]...)
		ch <- prometheus.MustNewConstMetric(nodeInactive, prometheus.GaugeValue, float64(s.inactive), k[:]...)
		ch <- prometheus.MustNewConstMetric(nodeWeight, prometheus.GaugeValue, float64(s.weight), k[:]...)
	}
}

// serviceLabels fills our service label values: family, proto, address,
// port, fwmark (address, port and proto empty for fwmark services).
func serviceLabels(lv *[5]string, k *ipvs.ServiceKey) {
	if k.Fwmark != 0 {
		fam := "ipv4"
		if k.Family == ipvs.IPv6 {
			fam = "ipv6"
		}
		*lv = [5]string{fam, "", "", "", strconv.FormatUint(uint64(k.Fwmark), 10)}
		return
	}
	fam := "ipv4"
	if ipvs.FamilyOf(k.Address) == ipvs.IPv6 {
		fam = "ipv6"
	}
	*lv = [5]string{fam, k.Protocol.String(), k.Address.Unmap().String(), strconv.Itoa(int(k.Port)), ""}
}

// nodeServiceLabels is the node exporter's view of a service, as it parses
// /proc/net/ip_vs: local_address (compressed text; empty for fwmark),
// local_port ("0" for fwmark), proto ("TCP", "UDP", "SCTP" or "FWM") and
// local_mark (the mark as the kernel prints it there: 8 upper-case hex
// digits, empty for address services).
func nodeServiceLabels(k *ipvs.ServiceKey) nodeKey {
	if k.Fwmark != 0 {
		return nodeKey{"", "0", "", "", "FWM", fmt.Sprintf("%08X", k.Fwmark)}
	}
	return nodeKey{k.Address.Unmap().String(), strconv.Itoa(int(k.Port)), "", "", k.Protocol.String(), ""}
}

var _ = netip.Addr{}
