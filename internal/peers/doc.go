// Package peers starts the reference daemons the SDK must interoperate with
// (keepalived, BIRD, the Prometheus node exporter) inside a test's network
// namespace, for kernel tests.
//
// Why: a test that only compares our encoder with fixtures we wrote proves
// nothing; the VRRP speaker, the BGP announcements and the metrics are proven
// against the real programs, which the test VM carries from Debian's packages
// (see internal/vm). Each helper writes the program's configuration and run
// files (pid files, control socket) under t.TempDir(), starts it in the
// namespace in the foreground with its log captured, and stops it at the
// test's cleanup (SIGTERM, then SIGKILL after a bounded wait):
//
//	k := peers.Keepalived(t, ns, conf)     // keepalived -n -l -D -f conf, own pid files
//	b := peers.Bird(t, ns, conf)           // bird -f -c conf -s SOCKET -P PIDFILE
//	out := b.Birdc(t, "show", "status")    // birdc -s SOCKET show status
//	_, url := peers.NodeExporter(t, ns, "127.0.0.1:9100") // ipvs collector only
//
// Process.Kill (SIGKILL) and Process.Stop (SIGTERM, wait) let failover tests
// crash or stop a peer on purpose; Process.Log returns what it printed.
package peers
