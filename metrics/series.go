package metrics

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/golvs/lvs/ipvs"
	"github.com/prometheus/client_golang/prometheus"
)

// Groups selects the series a Collector emits beyond lvs_up and
// lvs_scrape_duration_seconds (and the Sources'). The zero value means all.
type Groups uint

const (
	// NodeExporter: the node exporter's ipvs collector's node_ipvs_* series.
	NodeExporter Groups = 1 << iota
	// Global: lvs_global_* and lvs_sync_daemon.
	Global
	// Services: lvs_service_* (eleven series per service).
	Services
	// Destinations: lvs_destination_* (sixteen series per destination, the
	// bulk of a large table's series).
	Destinations

	// AllGroups is every group, the default.
	AllGroups = NodeExporter | Global | Services | Destinations
)

// family is one metric family: its descriptor for the registry path and
// its HELP and TYPE lines for the text path.
type family struct {
	name    string
	counter bool
	desc    *prometheus.Desc
	head    string
}

// fam describes a family; labels must be sorted, as the exposition writes
// them in that order (and client_golang sorts its own).
func fam(name, help string, counter bool, labels ...string) *family {
	typ := "gauge"
	if counter {
		typ = "counter"
	}
	help = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)
	return &family{
		name:    name,
		counter: counter,
		desc:    prometheus.NewDesc(name, help, labels, nil),
		head:    "# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n",
	}
}

// labelSet is one series' label values (in the family's label order) and
// their exposition text, {name="value",...}, built once per scrape and
// shared by every family of that service or destination. The values are
// kept only for the registry path (a labeler's values); the text path
// needs the text alone.
type labelSet struct {
	values []string
	text   []byte
}

// labeler builds one scrape's label sets: their texts appended to one
// arena (a few allocations for the whole scrape, none per series), their
// values only when values is set.
type labeler struct {
	arena  []byte
	values bool
}

// reserve makes room in the arena for about n more bytes.
func (l *labeler) reserve(n int) {
	if cap(l.arena)-len(l.arena) < n {
		l.arena = make([]byte, 0, n)
	}
}

// set returns the label set of names and values.
func (l *labeler) set(names, values []string) labelSet {
	if len(names) == 0 {
		return labelSet{}
	}
	start := len(l.arena)
	l.arena = l.open(names, values)
	l.arena = append(l.arena[:len(l.arena)-1], '}')
	ls := labelSet{text: l.arena[start:len(l.arena):len(l.arena)]}
	if l.values {
		ls.values = values
	}
	return ls
}

// open appends the text of names and values to the arena as a label set
// left open for more labels: {name="value",...,name="value", (with the
// trailing comma), and returns the arena.
func (l *labeler) open(names, values []string) []byte {
	b := append(l.arena, '{')
	for i, n := range names {
		b = append(append(b, n...), `="`...)
		b = appendEscaped(b, values[i])
		b = append(b, `",`...)
	}
	return b
}

// prefix is open's text kept in the arena, for dest.
func (l *labeler) prefix(names, values []string) []byte {
	start := len(l.arena)
	l.arena = l.open(names, values)
	return l.arena[start:len(l.arena):len(l.arena)]
}

// dest returns the label set of a destination: its service's labels
// (prefix, as open made it, and their values) followed by the address
// and port labels, in that order.
func (l *labeler) dest(prefix []byte, svc []string, addrName, portName string, a netip.Addr, port uint16) labelSet {
	start := len(l.arena)
	b := append(l.arena, prefix...)
	b = append(append(b, addrName...), `="`...)
	b = a.Unmap().AppendTo(b)
	b = append(append(append(b, `",`...), portName...), `="`...)
	b = strconv.AppendUint(b, uint64(port), 10)
	b = append(b, `"}`...)
	l.arena = b
	ls := labelSet{text: b[start:len(b):len(b)]}
	if l.values {
		v := make([]string, len(svc), len(svc)+2)
		copy(v, svc)
		ls.values = append(v, a.Unmap().String(), strconv.Itoa(int(port)))
	}
	return ls
}

// appendEscaped appends v as the text format quotes a label value.
func appendEscaped(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// sink receives the series of one scrape, family by family: each family's
// samples follow its start, as the text format requires.
type sink interface {
	// values says whether the sink needs the label values (the registry
	// path) or only their text.
	values() bool
	family(f *family)
	sample(ls *labelSet, v uint64)
	float(ls *labelSet, v float64)
}

// The label names, sorted.
var (
	nodeLabels   = []string{"local_address", "local_mark", "local_port", "proto", "remote_address", "remote_port"}
	svcLabels    = []string{"address", "family", "fwmark", "port", "proto"}
	dstLabels    = append(append([]string(nil), svcLabels...), "server_address", "server_port")
	daemonLabels = []string{"interface", "state", "syncid"}
)

// Node exporter compatible metrics: same names, types and labels as its
// ipvs collector, so existing dashboards and alerts keep working.
var (
	nodeGlobal = [5]*family{
		fam("node_ipvs_connections_total", "The total number of connections made.", true),
		fam("node_ipvs_incoming_packets_total", "The total number of incoming packets.", true),
		fam("node_ipvs_outgoing_packets_total", "The total number of outgoing packets.", true),
		fam("node_ipvs_incoming_bytes_total", "The total amount of incoming data.", true),
		fam("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.", true),
	}
	nodeActive   = fam("node_ipvs_backend_connections_active", "The current active connections by local and remote address.", false, nodeLabels...)
	nodeInactive = fam("node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address.", false, nodeLabels...)
	nodeWeight   = fam("node_ipvs_backend_weight", "The current backend weight by local and remote address.", false, nodeLabels...)

	upFam       = fam("lvs_up", "1 if the last scrape read the IPVS table, 0 if it failed (IPVS unavailable, namespace gone, timeout).", false)
	durationFam = fam("lvs_scrape_duration_seconds", "How long the scrape's kernel reads took.", false)
	sourceUpFam = fam("lvs_source_up", "1 if the extra metrics source answered in time, else 0.", false, "source")
	daemonFam   = fam("lvs_sync_daemon", "A running connection-synchronisation daemon (always 1).", false, daemonLabels...)
	svcDestsFam = fam("lvs_service_destinations", "The number of destinations of the service.", false, svcLabels...)

	// The per-destination gauges beyond the stats, with their values.
	dstGauges = []struct {
		f *family
		v func(*ipvs.DestinationInfo) uint64
	}{
		{fam("lvs_destination_connections_active", "The destination's active connections.", false, dstLabels...), func(d *ipvs.DestinationInfo) uint64 { return uint64(d.ActiveConns) }},
		{fam("lvs_destination_connections_inactive", "The destination's inactive connections.", false, dstLabels...), func(d *ipvs.DestinationInfo) uint64 { return uint64(d.InactiveConns) }},
		{fam("lvs_destination_connections_persistent", "The destination's persistence templates.", false, dstLabels...), func(d *ipvs.DestinationInfo) uint64 { return uint64(d.PersistentConns) }},
		{fam("lvs_destination_weight", "The destination's weight (0: quiesced).", false, dstLabels...), func(d *ipvs.DestinationInfo) uint64 { return uint64(d.Weight) }},
		{fam("lvs_destination_upper_threshold", "The destination's upper connection threshold (0: none).", false, dstLabels...), func(d *ipvs.DestinationInfo) uint64 { return uint64(d.UpperThreshold) }},
		{fam("lvs_destination_lower_threshold", "The destination's lower connection threshold (0: none).", false, dstLabels...), func(d *ipvs.DestinationInfo) uint64 { return uint64(d.LowerThreshold) }},
	}
)

// statFams are the ten Stats fields as families of one scope (global,
// service, destination): five 64-bit counters and five per-second rates,
// which the kernel estimates anyway, so they cost nothing.
type statFams [10]*family

func newStatFams(scope, what string, labels ...string) statFams {
	p := "lvs_" + scope + "_"
	return statFams{
		fam(p+"connections_total", "Connections scheduled "+what+".", true, labels...),
		fam(p+"incoming_packets_total", "Packets in "+what+".", true, labels...),
		fam(p+"outgoing_packets_total", "Packets out "+what+".", true, labels...),
		fam(p+"incoming_bytes_total", "Bytes in "+what+".", true, labels...),
		fam(p+"outgoing_bytes_total", "Bytes out "+what+".", true, labels...),
		fam(p+"connections_per_second", "Connection rate "+what+" (kernel estimate).", false, labels...),
		fam(p+"incoming_packets_per_second", "Incoming packet rate "+what+" (kernel estimate).", false, labels...),
		fam(p+"outgoing_packets_per_second", "Outgoing packet rate "+what+" (kernel estimate).", false, labels...),
		fam(p+"incoming_bytes_per_second", "Incoming byte rate "+what+" (kernel estimate).", false, labels...),
		fam(p+"outgoing_bytes_per_second", "Outgoing byte rate "+what+" (kernel estimate).", false, labels...),
	}
}

func statField(s *ipvs.Stats, i int) uint64 {
	return [10]uint64{s.Connections, s.PacketsIn, s.PacketsOut, s.BytesIn, s.BytesOut, s.CPS, s.PPSIn, s.PPSOut, s.BPSIn, s.BPSOut}[i]
}

var (
	globalStats = newStatFams("global", "by every service of the namespace")
	svcStats    = newStatFams("service", "by the service", svcLabels...)
	dstStats    = newStatFams("destination", "to the destination", dstLabels...)
)

// families lists every family the table can produce, for Describe.
func families() []*family {
	out := append([]*family{upFam, durationFam, sourceUpFam, daemonFam, svcDestsFam, nodeActive, nodeInactive, nodeWeight}, nodeGlobal[:]...)
	for _, s := range []*statFams{&globalStats, &svcStats, &dstStats} {
		out = append(out, s[:]...)
	}
	for _, g := range dstGauges {
		out = append(out, g.f)
	}
	return out
}

// emit sends one scrape's series to s: lvs_scrape_duration_seconds and
// lvs_up, then, when the read succeeded, the groups' series. It is the one
// enumeration of the series, for both the registry and the text path.
func emit(s sink, r *reading, took time.Duration, groups Groups) {
	var none labelSet
	s.family(durationFam)
	s.float(&none, took.Seconds())
	s.family(upFam)
	if r.err != nil {
		s.sample(&none, 0)
		return
	}
	s.sample(&none, 1)

	l := &labeler{values: s.values()}
	if groups&NodeExporter != 0 {
		g := &r.global
		for i, f := range nodeGlobal {
			s.family(f)
			s.sample(&none, statField(g, i))
		}
		emitNode(s, l, r)
	}
	if groups&Global != 0 {
		for i, f := range globalStats {
			s.family(f)
			s.sample(&none, statField(&r.global, i))
		}
		if len(r.daemons) > 0 {
			s.family(daemonFam)
			for _, d := range r.daemons {
				ls := l.set(daemonLabels, []string{d.Interface, d.State.String(), strconv.Itoa(int(d.SyncID))})
				s.sample(&ls, 1)
			}
		}
	}
	if groups&(Services|Destinations) == 0 || len(r.svcs) == 0 {
		return
	}
	nd := 0
	for i := range r.svcs {
		nd += len(r.svcs[i].Destinations)
	}
	// A service's labels take up to about 90 bytes, a destination's 150
	// (IPv4; more for IPv6, and the arena grows).
	l.reserve(len(r.svcs)*2*90 + nd*150)
	svcLS := make([]labelSet, len(r.svcs))
	svcVals := make([][]string, len(r.svcs))
	svcOpen := make([][]byte, len(r.svcs))
	for i := range r.svcs {
		svcVals[i] = serviceLabels(&r.svcs[i].ServiceKey)
		svcLS[i] = l.set(svcLabels, svcVals[i])
		svcOpen[i] = l.prefix(svcLabels, svcVals[i])
	}
	if groups&Services != 0 {
		for k, f := range svcStats {
			s.family(f)
			for i := range r.svcs {
				s.sample(&svcLS[i], statField(&r.svcs[i].Stats, k))
			}
		}
		s.family(svcDestsFam)
		for i := range r.svcs {
			s.sample(&svcLS[i], uint64(len(r.svcs[i].Destinations)))
		}
	}
	if groups&Destinations == 0 || nd == 0 {
		return
	}
	dstLS := make([]labelSet, 0, nd)
	dsts := make([]*ipvs.DestinationInfo, 0, nd)
	for i := range r.svcs {
		for j := range r.svcs[i].Destinations {
			d := &r.svcs[i].Destinations[j]
			dstLS = append(dstLS, l.dest(svcOpen[i], svcVals[i], "server_address", "server_port", d.Address, d.Port))
			dsts = append(dsts, d)
		}
	}
	for k, f := range dstStats {
		s.family(f)
		for i, d := range dsts {
			s.sample(&dstLS[i], statField(&d.Stats, k))
		}
	}
	for _, g := range dstGauges {
		s.family(g.f)
		for i, d := range dsts {
			s.sample(&dstLS[i], g.v(d))
		}
	}
}

// nodeKey is the node exporter's label set of a destination, in
// nodeLabels' order.
type nodeKey [6]string

type nodeSum struct{ active, inactive, weight uint64 }

// emitNode emits the node exporter's per-backend series. It sums
// destinations whose label sets coincide, which only fwmark services can
// share (it cannot tell an IPv4 fwmark service from an IPv6 one with the
// same mark); so do we, in first-seen order.
func emitNode(s sink, l *labeler, r *reading) {
	nd := 0
	for i := range r.svcs {
		nd += len(r.svcs[i].Destinations)
	}
	if nd == 0 {
		return
	}
	// A destination's labels take about 140 bytes (IPv4; more for IPv6,
	// and the arena grows); a service's open prefix about 110.
	l.reserve(nd*140 + len(r.svcs)*110)
	ls := make([]labelSet, 0, nd)
	sums := make([]nodeSum, 0, nd)
	var marked map[nodeKey]int
	for i := range r.svcs {
		if len(r.svcs[i].Destinations) == 0 {
			continue
		}
		sk := nodeServiceLabels(&r.svcs[i].ServiceKey)
		open := l.prefix(nodeLabels[:4], sk[:4])
		fwmark := r.svcs[i].Fwmark != 0
		for j := range r.svcs[i].Destinations {
			d := &r.svcs[i].Destinations[j]
			n := len(sums)
			if fwmark {
				k := sk
				k[4], k[5] = d.Address.Unmap().String(), strconv.Itoa(int(d.Port))
				if marked == nil {
					marked = make(map[nodeKey]int)
				}
				if m, seen := marked[k]; seen {
					n = m
				} else {
					marked[k] = n
				}
			}
			if n == len(sums) {
				ls = append(ls, l.dest(open, sk[:4], "remote_address", "remote_port", d.Address, d.Port))
				sums = append(sums, nodeSum{})
			}
			sums[n].active += uint64(d.ActiveConns)
			sums[n].inactive += uint64(d.InactiveConns)
			sums[n].weight += uint64(d.Weight)
		}
	}
	for _, f := range []*family{nodeActive, nodeInactive, nodeWeight} {
		s.family(f)
		for i, sum := range sums {
			v := sum.active
			switch f {
			case nodeInactive:
				v = sum.inactive
			case nodeWeight:
				v = sum.weight
			}
			s.sample(&ls[i], v)
		}
	}
}

// serviceLabels returns our service label values in svcLabels' order:
// address, family, fwmark, port, proto (address, port and proto empty for
// fwmark services).
func serviceLabels(k *ipvs.ServiceKey) []string {
	if k.Fwmark != 0 {
		fam := "ipv4"
		if k.Family == ipvs.IPv6 {
			fam = "ipv6"
		}
		return []string{"", fam, strconv.FormatUint(uint64(k.Fwmark), 10), "", ""}
	}
	fam := "ipv4"
	if ipvs.FamilyOf(k.Address) == ipvs.IPv6 {
		fam = "ipv6"
	}
	return []string{k.Address.Unmap().String(), fam, "", strconv.Itoa(int(k.Port)), k.Protocol.String()}
}

// nodeServiceLabels is the node exporter's view of a service, as it parses
// /proc/net/ip_vs, in nodeLabels' order: local_address (compressed text;
// empty for fwmark), local_mark (the mark as the kernel prints it there: 8
// upper-case hex digits, empty for address services), local_port ("0" for
// fwmark), proto ("TCP", "UDP", "SCTP" or "FWM"); the remote ones are the
// caller's.
func nodeServiceLabels(k *ipvs.ServiceKey) nodeKey {
	if k.Fwmark != 0 {
		return nodeKey{"", fmt.Sprintf("%08X", k.Fwmark), "0", "FWM"}
	}
	return nodeKey{k.Address.Unmap().String(), "", strconv.Itoa(int(k.Port)), k.Protocol.String()}
}
