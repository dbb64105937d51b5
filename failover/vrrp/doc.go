// Package vrrp is a VRRP speaker: VRRPv2 (RFC 3768) and VRRPv3 (RFC
// 5798), IPv4 and IPv6, multicast or unicast, written to interoperate with
// keepalived.
//
// A Node is one router of one virtual router on one interface. It elects
// and reports its role; it never adds or removes the virtual addresses: the
// caller does that on the transitions it is told about (package failover
// adds the VIPs through director, sends gratuitous ARP and switches the
// sync daemons).
//
//	n, err := vrrp.New(&vrrp.Config{
//		Interface: "eth0", VRID: 51, Priority: 150,
//		AdvertInterval: vrrp.DefaultAdvertInterval,
//		VIPs: []netip.Addr{vip},
//		OnEvent: func(e vrrp.Event) { ... e.To == vrrp.Master ... },
//	})
//	defer n.Close()
//	err = n.Run(ctx) // until ctx ends; then a master sends priority 0
//
// # Protocol
//
// The state machine is RFC 5798 §6.4 (Initialize, Backup, Master); VRRPv2
// differs only in its skew time ((256 − priority)/256 s, against VRRPv3's
// (256 − priority) × the master's interval / 256) and in rejecting a
// different advertisement interval instead of adopting the master's. A
// backup becomes master when it has heard no advert for the master-down
// interval, 3 × interval + skew (3.61 s at keepalived's defaults), or
// after its skew time when the master announced its stop with priority 0.
// A master yields to a higher priority, or to an equal one from a higher
// primary address (the tie-break; Config.Source is the primary address).
// Priority 255 means the node owns the addresses and is master at once
// (Config.OwnerWaits makes it wait as any other, keepalived's state BACKUP).
// Preemption is on by default (NoPreempt turns it off); PreemptDelay holds
// a returning higher-priority node in Backup for that long after it first
// hears the lower-priority master, so that it can learn the live
// connections before failing back. For routers that change state as a
// group (keepalived's vrrp_sync_group), Config.Hold keeps a Backup whose
// timer expired from taking over until the group agrees, and Node.Sync
// moves a running node to Master or Backup at once.
//
// Received packets are checked strictly: TTL or hop limit 255 (multicast;
// unicast adverts may be routed and only come from the listed peers, as
// with keepalived's check_unicast_src), version 2
// (IPv4 only) or 3, type advertisement, at least one address, a length that
// matches the address count exactly, a non-zero interval, the checksum
// (VRRPv2's over the VRRP packet, VRRPv3's with the IP pseudo-header). A
// malformed packet is dropped and counted in Stats; nothing in a packet
// can make the node panic (the parser is fuzzed). Adverts of other VRIDs
// are ignored and counted. An advert of this VRID with another version,
// authentication or (VRRPv2) interval is rejected and reported once as an
// EventMismatch with the reason; with the RFCs, such peers then each act
// as master, which is what keepalived does too. A VRRPv3 backup adopts a
// master's other interval and reports it.
//
// # Events
//
// Config.OnEvent receives, in order and on the node's goroutine, every
// transition (From, To, Reason, the peer that caused it) and every
// mismatch report. A transition to Master is reported right after the
// first advert is sent: the caller should add the addresses then. It
// must return quickly: while it runs, the node neither sends nor times.
//
// # Interoperability with keepalived
//
// keepalived (2.2.x) defaults to VRRPv2 for IPv4 (vrrp_version 3 for v3;
// IPv6 is always v3), advert_int 1, priority 100, preemption on. Its
// `auth_type PASS` is Config.AuthPass (VRRPv2 only; RFC 3768 removed
// authentication; it is sent in clear); `auth_type AH` is not supported.
// Its unicast_peer is Config.UnicastPeers and unicast_src_ip is
// Config.Source. In unicast mode only the listed peers' adverts are
// accepted. keepalived before 1.3.6 computed the VRRPv3 unicast checksum
// with the multicast group as the pseudo-header's destination; such adverts
// are accepted and counted (Stats.OldChecksum), and OldUnicastChecksum
// sends them that way (keepalived's old_unicast_checksum). The kernel
// tests run this package against keepalived in both roles.
//
// # Privileges and network namespaces
//
// New opens a raw IP socket of protocol 112, which needs CAP_NET_RAW
// (CAP_SYS_ADMIN as well to enter another namespace). The socket is bound
// to the interface (SO_BINDTODEVICE), sends with TTL/hop limit 255 and
// multicast loop off, and joins 224.0.0.18 or ff02::12 on the interface
// unless unicast peers are given. Config.NetNSPath (/run/netns/NAME or
// /proc/PID/ns/net) opens it in another network namespace; the node then
// works there from any goroutine. The source address must be on the
// interface; for IPv6 the RFC wants a link-local one, which is the
// default.
//
// # Limits
//
// One virtual router per Node (run several for several VRIDs; each
// socket receives every VRRP packet of the interface and ignores other
// VRIDs). No IPsec AH authentication, no virtual MAC (the VIPs keep the
// interface's own MAC, as keepalived does without use_vmac; gratuitous ARP
// moves them). VRRPv3's Accept_Mode is the caller's business (whether the
// master accepts packets for addresses it does not own).
//
// # Errors
//
// Every error is an *Error (the SDK's one error type) of Pkg "vrrp" whose
// Kind is one of the sentinels re-exported here: ErrInvalid with the Config
// field named for bad input (checked before anything is opened; an
// interface missing from the namespace is ErrInvalid too), ErrPermission,
// ErrNotExist for a missing namespace, ErrBusy for a second Run, ErrClosed,
// ErrNotSupported outside Linux.
package vrrp
