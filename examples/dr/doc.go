// Command dr runs either side of an IPVS direct-routing (DR) service until it
// is stopped.
//
//	dr director -vip 192.0.2.10:80 -rs 192.0.2.11,192.0.2.12 -iface eth0
//	dr realserver -vip 192.0.2.10 [-arp sysctl|arptables|nft]
//
// In direct routing the director only rewrites the destination MAC address
// of each request and hands it to a real server on the same L2 segment; the
// real server answers the client directly. So every real server must hold
// the VIP too (on lo, where it accepts packets for it) without answering
// ARP for it, or clients would bypass the director. The director side puts
// the VIP on IFACE and creates the service; the realserver side puts the VIP
// on lo and suppresses ARP for it (net.ipv4.conf.all.arp_ignore=1 and
// arp_announce=2 by default, or arptables or nftables rules). Ports cannot
// be mapped: real servers listen on the VIP's port. IPv6 works on both sides
// (an IPv6 VIP on lo is never advertised, so no ARP suppression is needed).
//
// Each side prints "ready" once configured, runs until SIGINT or SIGTERM,
// then removes what it configured and exits 0. A failed set-up is rolled
// back and exits 1; bad flags exit 2. It needs root (CAP_NET_ADMIN) and acts
// on its own network namespace.
package main
