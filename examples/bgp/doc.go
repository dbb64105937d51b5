// Command bgp runs an IPVS director that announces its VIP over BGP, one
// of several serving the VIP at once behind a router's ECMP.
//
//	bgp director -vip ADDR:PORT -rs ADDR[,ADDR...] -asn N -router-id ADDR -peer ADDR -peer-asn N [-bfd] [-hold DURATION] [-password SECRET]
//
// It sets net.ipv4.vs.sloppy_tcp=1, creates the TCP service with the mh
// scheduler and the real servers sorted by address (so every director
// hashes a flow to the same real server), puts the VIP on the dummy device
// lvs0 (routed to the director, never ARPed), and connects to the BGP peer
// (the router; it must accept the session). Once the session is
// established it prints "ready", then "announced" each time the VIP is
// announced and "withdrawn" each time it is withdrawn: it is announced
// while the IPVS service exists with at least one real server of non-zero
// weight, and withdrawn otherwise. Real servers are reached by direct
// routing (-forward tun for IP-in-IP tunnels); they hold the VIP as the dr
// and tun examples' realserver sides set up.
//
// On SIGINT or SIGTERM it withdraws the VIP and waits until the withdrawal
// is written to the session, keeps serving for -drain (2 s) while the
// router converges, then removes what it configured and exits 0: the
// router stops sending flows here before the service goes. A failed
// set-up (a peer refusing the session within -wait, too) is rolled back
// and exits 1; bad flags exit 2. Session changes go to standard error. It
// needs root (CAP_NET_ADMIN) and acts on its own network namespace.
package main
