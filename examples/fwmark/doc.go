// Command fwmark runs a firewall-mark IPVS director until it is stopped: one
// virtual service for several ports of a VIP, forwarding by direct routing.
//
//	fwmark director -vip 192.0.2.10 -ports 80,443 -mark 1 -rs 192.0.2.11,192.0.2.12 -iface eth0 -persist 5m
//
// A packet filter rule gives packets to VIP:PORTS the mark N, and the IPVS
// service for mark N balances them all together. With -persist a client
// keeps going to the same real server for every port (http and https of one
// shopping cart) for that long after its last connection. The real servers
// are set up for direct routing, e.g. with `dr realserver -vip ADDR`, and
// listen on each of the ports. Rules go to nftables (table inet golvs_fwmark) or, with
// -backend iptables, to the mangle table's LVS-FWMARK chain; by default
// whichever already holds them, else nftables. IPv6 works too.
//
// It prints "ready" once configured, runs until SIGINT or SIGTERM, then
// removes what it configured and exits 0. A failed set-up is rolled back and
// exits 1; bad flags exit 2. It needs root (CAP_NET_ADMIN) and acts on its
// own network namespace.
package main
