// Command doctor answers "why does LVS not forward here?": it runs the
// SDK's checks on this host or a network namespace and prints what it
// finds, most serious first, each with a fix.
//
//	doctor                                  # a director: checks derived from its IPVS table
//	doctor -netns /run/netns/lb -rs-gateway 10.0.1.2=10.0.1.1
//	doctor -dr 10.0.0.100 -client 198.51.100.7   # a direct-routing real server
//	doctor -tun 10.0.0.100 -tun-type gue -tun-port 6080
//
// Checks:
//   - IPVS (ipvs.Client.Check): services without destinations or with every
//     weight 0, services on an address that is not local, sync daemons on
//     a missing or down interface, conn_reuse_mode/expire_nodest_conn/
//     conntrack pitfalls;
//   - each VIP of the table (director.CheckVIP): routed mode when the VIP is
//     on a dummy device, ARP mode on the device carrying it otherwise;
//   - NAT return path (director.CheckReturnPath) of each masquerading real
//     server whose gateway -rs-gateway gives: forwarding, the director
//     reaching it directly, its gateway being the director, clients
//     (-client) on its own segment;
//   - fwmark (fwmark.Conflicts), when the table has fwmark services: other
//     owners' rules that set the packet mark;
//   - a real server's set-up, with -dr (realserver.CheckDR) or -tun
//     (realserver.CheckTUN);
//   - routes (realserver.CheckRoutes): several default gateways, static
//     routes through another gateway (warnings for -client addresses they
//     cover), strict rp_filter on an interface other than the default
//     route's.
//
// Exit status: 0 nothing broken (warnings and notes may be printed), 1 a
// finding is broken (traffic will not flow as the mode needs), 2 bad
// flags, 3 a check could not run (no such namespace, no privileges). A
// host without IPVS (a real server needs none) gets a note instead of the
// IPVS and director checks. It changes nothing on the host; it needs CAP_NET_ADMIN for
// the IPVS and netfilter reads.
package main
