// Command exporter serves Prometheus metrics of an IPVS table: the node
// exporter's node_ipvs_* series (same names and labels, so existing
// dashboards and alerts keep working) and the richer lvs_* ones of package
// metrics.
//
//	exporter -listen 127.0.0.1:9101
//	exporter -listen :9101 -netns /run/netns/blue -path /metrics
//
// It prints "ready" once listening, serves until SIGINT or SIGTERM, then
// exits 0. Bad flags exit 2 with the reason; a failed start (no IPVS in the
// kernel, no such namespace, address in use) exits 1. It needs
// CAP_NET_ADMIN: IPVS reads are privileged.
package main
