// Package metrics exports an IPVS table as Prometheus metrics.
//
// A Collector reads the table of one namespace on every scrape with one
// ipvs.Client.Snapshot (one dump of the services and one of each service's
// destinations, on one socket: never a request per metric), the global
// counters (/proc/net/ip_vs_stats) and the sync daemons, all bounded by
// Options.Timeout.
//
// Compatibility first: it emits exactly the series of the Prometheus node
// exporter's ipvs collector, same names, types, label names and label
// values, so dashboards and alerts built on it keep working:
//
//	node_ipvs_connections_total, node_ipvs_{incoming,outgoing}_{packets,bytes}_total
//	node_ipvs_backend_connections_active, node_ipvs_backend_connections_inactive,
//	node_ipvs_backend_weight{local_address, local_port, remote_address, remote_port, proto, local_mark}
//
// with the node exporter's label values: addresses in their shortest text
// (2001:db8::1), fwmark services as proto="FWM", local_address="",
// local_port="0" and local_mark the mark in eight upper-case hex digits as
// /proc/net/ip_vs prints it ("0000000A"), address services with
// local_mark=""; destinations with the same label set are summed. One
// deliberate difference: the node exporter (1.5.0, procfs 0.8) does not
// parse SCTP services and credits their destinations to the service listed
// before them; here they are proto="SCTP". Another: the node exporter
// reads /proc/net/ip_vs, whose reads resume by a position the kernel
// (6.1, 6.12) counts over every namespace's services but looks up over the
// reader's alone, so while other namespaces have IPVS services it silently
// misses some of this one's (a fifth of 5000 beside 1000 others, in
// BENCHMARKS.md); the dumps read here do not lose services that way.
//
// The richer metrics live under lvs_: per service (labels family, proto,
// address, port, fwmark) and per destination (plus server_address,
// server_port) the 64-bit counters lvs_{service,destination}_{connections,
// incoming_packets,outgoing_packets,incoming_bytes,outgoing_bytes}_total and
// the kernel's rate estimates ..._per_second; lvs_destination_connections_
// {active,inactive,persistent}, lvs_destination_weight,
// lvs_destination_{upper,lower}_threshold, lvs_service_destinations; the
// same counters and rates for the whole namespace as lvs_global_*;
// lvs_sync_daemon{state,interface,syncid} 1 per running daemon; lvs_up and
// lvs_scrape_duration_seconds.
//
// Two ways to serve it, the same series either way. A Collector is a
// prometheus.Collector (register it, serve the registry with promhttp),
// which makes a const metric of every series: fine for small tables or a
// registry shared with other collectors. It is also an http.Handler
// (ServeHTTP) that writes the text format straight from the reading, several
// times cheaper in CPU and allocations; use it for large tables.
// Options.Groups trims the series: NodeExporter alone is the node
// exporter's set, the richer per-destination series being most of the
// rest (BENCHMARKS.md has both beside the node exporter).
//
// A scrape that cannot read the table (IPVS unloaded, client closed,
// deadline passed) reports lvs_up 0 and omits every table
// series (node_ipvs_* included) rather than stale or partial ones; the
// scrape still answers, within the timeout, because the reads run in their
// own goroutine and a late answer is dropped. A namespace cannot vanish
// under a collector: its client holds the namespace open, so one deleted
// (ip netns del) stays readable through it until the client is closed.
//
// Health pools, drains and failover roles plug in through Options.Sources:
// a Source is a small interface (Name, Describe, Collect with a context)
// that the health and failover packages, or the program wiring them, can
// implement without this package importing them. Each source runs under the
// scrape's deadline and reports lvs_source_up{source} 0 when it fails or is
// late, its metrics of that scrape dropped.
package metrics
