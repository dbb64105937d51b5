// Command healthbench compares the health package with keepalived's
// checker on a real kernel: N real servers of one virtual service, each
// checked by a TCP connect every second (keepalived's TCP_CHECK with
// delay_loop 1 and connect_timeout 1; a health.Pool with Interval and
// Timeout 1 s), against one TCP listener per server. For each N it runs
// keepalived, then a pool, one after the other on the same listeners and
// the same service, and measures:
//
//   - CPU per second (utime+stime from /proc/PID/stat) and resident
//     memory (VmRSS) of the checking process over a steady window: the
//     pool's own process against keepalived's checker child (its -c pid
//     file);
//   - detection latency: a batch of servers' listeners is closed at a
//     known instant, and the service's destinations are read every
//     -poll until each server's weight is 0;
//   - writes to IPVS while nothing changes: the pool's IPVS calls are
//     counted exactly (a counting wrapper), keepalived's are seen as any
//     difference between two reads of the service around the window.
//
// The listeners live in a namespace of their own ("hbpeer", one process
// holding every listener: the namespace routes 10.4.0.0/16 to itself, so
// each server has its own address without N addresses on a device); the
// checkers run in "hbdir", connected by a veth. The program re-executes
// itself as the listener process (-listen) and as the pool (-pool), so
// each is measured alone. It needs root, IPVS and keepalived, as in the
// project's VM:
//
//	go run ./internal/cmd/vmrun -kernel 6.12 -timeout 60m -build ./internal/cmd/healthbench -- healthbench -sizes 1000,10000
//
// It is a program run on demand, not part of the test suite.
package main
