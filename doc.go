// Package lvs is the root of golvs/lvs, a pure-Go SDK for Linux Virtual
// Server (LVS): the kernel's IPVS layer-4 load balancer and the host set-up
// around it. It replaces ipvsadm plus hand-written shell with Go that is
// idempotent, reversible and tested against real kernels, and needs neither
// cgo, libnl nor shell scripts.
//
// # Forwarding modes
//
// A director owns a virtual IP (VIP) and IPVS forwards each new connection
// to one of its real servers in one of three ways:
//
//   - NAT (masquerading): the director rewrites the destination address
//     (and port: NAT is the only mode that maps ports) and the replies must
//     come back through it, so the real servers' default route points at
//     the director, or the director also rewrites the source (one-arm NAT).
//   - Direct routing (DR): the director only rewrites the destination MAC;
//     real servers on the same L2 segment hold the VIP on lo and answer the
//     client directly, and must neither answer nor announce ARP for it.
//   - Tunnelling (TUN): the director encapsulates the packet (IPIP, GUE or
//     GRE) to real servers anywhere; they decapsulate, hold the VIP on the
//     tunnel device, and answer directly.
//
// Firewall-mark services group several ports or addresses into one virtual
// service: packets are marked before IPVS sees them and the service is
// keyed by the mark.
//
// # Packages
//
//   - ipvs: the complete generic-netlink IPVS API (services, destinations,
//     sync daemon, timeouts, counters), the connection table and sysctls.
//   - ipvs/ipvsadm: ipvsadm's rules format and listings.
//   - director: VIPs, gratuitous ARP, forwarding, NAT gateway and one-arm
//     NAT, sysctl presets.
//   - realserver: DR and TUN real-server set-up with ARP suppression.
//   - fwmark: firewall-mark rules over nftables, with an iptables fallback.
//   - health: keepalived-style health-checked pools driving ipvs.
//
// Every set-up call is idempotent and returns an undo that restores exactly
// what it changed; every package can act on another network namespace.
package lvs

//go:generate go run ./internal/cmd/gensentinels
