// Command nat runs a NAT (masquerading) IPVS director until it is stopped.
//
//	nat -vip 192.0.2.10:80 -rs 10.0.0.11:8080,10.0.0.12:8080 -iface eth0
//	nat -vip [2001:db8::10]:80 -rs [fd00::11]:8080,[fd00::12]:8080 -iface eth0
//	nat -vip 10.0.0.100:80 -rs 10.0.0.11:8080,10.0.0.12:8080 -iface eth0 -snat
//
// It puts the VIP on IFACE (announced by gratuitous ARP or neighbour
// advertisement), turns on forwarding, and creates the virtual service with
// masquerading destinations; real servers may listen on other ports than the
// VIP's. Replies must come back through the director: either the real
// servers' default route points at it (two-arm NAT), or -snat source-NATs
// what IPVS forwards, so that they answer the director (one-arm NAT, for real
// servers on the clients' own subnet).
//
// It prints "ready" once everything is configured, runs until SIGINT or
// SIGTERM, then removes what it configured and exits 0. A failed set-up is
// rolled back and exits 1; bad flags exit 2. It needs root (CAP_NET_ADMIN)
// and acts on its own network namespace (start it with ip netns exec to
// target another).
package main
