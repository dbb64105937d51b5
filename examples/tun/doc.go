// Command tun runs either side of an IPVS tunnelling (TUN) service until it
// is stopped.
//
//	tun director -vip 192.0.2.10:80 -rs 10.1.0.11,10.2.0.12 -iface eth0 [-type ipip|gue|gre] [-port 6080]
//	tun realserver -vip 192.0.2.10 [-type ipip|gue|gre] [-port 6080] [-mss 1400]
//
// In tunnelling mode the director wraps each request in an outer IP header
// (IPIP, GUE over UDP, or GRE) addressed to a real server, which may be
// anywhere the director can route to; the real server unwraps it and
// answers the client directly, from the VIP. The director side puts the VIP
// on IFACE and creates the service with tunnelling destinations (IPVS
// encapsulates by itself: no tunnel device is needed there). The realserver
// side brings up the tunnel device (tunl0 or gre0; for GUE also the fou
// receive port), puts the VIP on it, suppresses ARP for the VIP, and relaxes
// reverse-path filtering on the tunnel device only if strict filtering
// would drop the unwrapped packets. With -mss it clamps the TCP MSS the real
// server advertises from the VIP, so that clients' segments still fit after
// encapsulation (nftables table ip golvs_realserver). Both sides must agree on -type (and
// -port for GUE, default 6080). Ports cannot be mapped. The real-server side
// handles IPv4 VIPs (IPv4 in IPv4).
//
// Each side prints "ready" once configured, runs until SIGINT or SIGTERM,
// then removes what it configured and exits 0. A failed set-up is rolled
// back and exits 1; bad flags exit 2. It needs root (CAP_NET_ADMIN) and acts
// on its own network namespace. The kernel modules ipip (or ip_gre, and fou
// for GUE) must be loaded on real servers; nothing here runs modprobe.
package main
