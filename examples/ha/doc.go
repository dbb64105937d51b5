// Command ha runs one director of a highly available IPVS direct-routing
// (DR) pair, electing the VIP's holder with VRRP like keepalived (and able
// to pair with a keepalived node).
//
//	ha director -vip ADDR:PORT -rs ADDR[,ADDR...] -iface IFACE -vrid N -priority P
//	   [-sched NAME] [-advert DURATION] [-version 2|3] [-unicast-peer ADDR[,ADDR...]] [-source ADDR]
//	   [-nopreempt] [-preempt-delay DURATION] [-sync IFACE]
//
// Both nodes forward VIP:PORT (TCP) to the real servers on the same port
// by direct routing, whatever their role; the VIP itself (a /32 or /128 on
// IFACE, announced by gratuitous ARP or unsolicited neighbour
// advertisements: 5 at once, 5 more after 5 s) is held by the MASTER only.
// Defaults are keepalived's: VRRP version 2 (3 for an IPv6 VIP), advert
// 1s, preemption on. -sync IFACE runs the IPVS connection-synchronisation
// daemon with sync ID = VRID, the master daemon while MASTER and the
// backup daemon otherwise, as keepalived's `lvs_sync_daemon IFACE VI_1 id
// N` does, so established connections survive a failover. The real
// servers are set up as for dr (dr realserver).
//
// It prints "ready" once running, then "state MASTER", "state BACKUP" or
// "state FAULT" on a line of its own at each transition (FAULT: IFACE is
// down). On SIGINT or SIGTERM a MASTER sends a priority-0 advertisement so
// that its peer takes over at once; the VIP, the service and the sync
// daemons are removed and it exits 0. Bad flags exit 2 with a message,
// before anything changes; a failed set-up is rolled back and exits 1.
// Killed with SIGKILL, it is restarted with the same identity (-id,
// default ha-director@VIP) and first removes what it left.
package main
