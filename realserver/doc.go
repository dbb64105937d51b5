// Package realserver configures a Linux host (or a network namespace) as an
// LVS real server for direct routing (DR) or tunnelling (TUN), correctly,
// idempotently and reversibly, and diagnoses hosts where DR or TUN would
// break.
//
// # Direct routing
//
// The director rewrites only the destination MAC, so the real server must
// accept packets for the VIP: SetupDR puts each VIP (a netip.Addr, as
// director.VIP.Address) as a /32 (or /128) on lo or a dummy device, never a
// wider prefix, which on lo would make the whole prefix local. The real server must also neither answer ARP for the VIP
// nor announce it, or clients and routers learn its MAC for the VIP and
// bypass the director. The kernel uses max(conf/all, conf/IFACE) for
// arp_ignore and arp_announce, so setting them on lo alone (as many scripts
// do) changes nothing; the sysctl backend raises conf/all to arp_ignore=1
// and arp_announce=2, which covers every interface, including ones created
// later, and never lowers a stricter value. The arptables and nftables
// backends instead drop ARP requests for the VIP and rewrite a VIP sender
// address to the real server's own (ARP.RIP). Set-up order is ARP
// suppression first, then the VIPs; teardown reverses it.
//
// IPv6 VIPs need no suppression: Linux answers a neighbour solicitation
// only for an address of the interface it arrived on, and solicits from the
// outgoing interface's own addresses, so a VIP on lo or a dummy device is
// neither answered nor announced on the NIC.
//
// # Tunnelling
//
// SetupTUN makes the tunnel device for the director's tunnel type ready:
// tunl0 for IPIP, a GUE fou receive port plus tunl0 for GUE, gre0 for GRE;
// brings it up, puts the VIPs on it and, only if reverse-path filtering
// would be strict there, sets it to loose (2) on the tunnel device alone.
// Decapsulated packets carry the client's source but arrive on the tunnel
// device while the route back leaves by another, so strict mode drops them;
// loose mode with an IPv4 address on the device passes them, and the rest
// of the host keeps its filter. ARP suppression applies as in DR when the
// real server shares a segment with the VIP's network (set ARP.Backend to
// ARPNone when it does not). TUN.MSS optionally clamps the TCP MSS the
// real server advertises from its VIPs, for the encapsulation overhead.
//
// TUN is IPv4 only: IPv4 VIPs in IPv4 packets, as tunl0, gre0 and fou's
// IPv4 ports carry them. IPVS can also tunnel IPv6 services (IPv6 in IPv6,
// which needs ip6tnl0 from the ip6_tunnel module on the real server); this
// package does not configure that, and SetupTUN and CheckTUN reject IPv6
// VIPs with an error matching ErrNotSupported before changing anything.
//
// # Undo
//
// Every set-up returns a *Setup whose Teardown undoes exactly what that
// call changed: sysctls go back to the values they had (not to defaults),
// and only addresses, devices, fou ports and rules the call created are
// removed. What was already in place is left alone and not recorded, so a
// second identical set-up changes nothing and its Teardown does nothing. A
// failure midway rolls back what was done, and validation and the checks
// against the host (conflicting addresses, device types, a missing tool,
// missing kernel support) happen before the first change. *Setup is the
// SDK's one undo type (director.Setup and fwmark.Setup are the same type).
//
// # Shared hosts and crashes
//
// Two real-server agents on one host rely on the same arp_ignore and
// arp_announce, maybe the same VIP, dummy device or arptables rules. Every
// process using the SDK records such shared changes on the host (under
// /run/golvs, per network namespace, owner-only, under a host-wide flock):
// who relies on each and its value before. Teardown releases this
// set-up's share; the change is undone only when its last owner is gone
// and only if it still holds the value written, so stopping one agent
// never makes the other's VIP answer ARP. With Config.Identity the undo
// record is also written to the host before each change (fsync'd), and a
// restarted agent with the same Identity calls Recover to undo what its
// killed predecessor left before setting up again. TUN.MSS's clamp rules
// are not yet in these records.
//
// # Diagnosis
//
// CheckDR and CheckTUN read the host and return Findings, the SDK's one
// diagnostics shape (as director.CheckVIP and fwmark.Conflicts): what
// breaks the mode is SeverityBroken, with a Subject and a Fix; what is
// worth knowing SeverityNote; Findings.OK reports nothing is broken. They
// report interfaces whose effective arp_ignore or
// arp_announce would let them answer or announce the VIP (with the
// all/IFACE values that produce it), VIPs missing or on the wrong device,
// wider prefixes on lo, missing tunnel devices (naming the module to load),
// closed GUE ports and reverse-path filtering that drops decapsulated
// packets. CheckRoutes reports what sends the replies (which leave a DR or
// TUN real server straight for the client) the wrong way or drops the
// requests: several default gateways, static routes through another
// gateway, strict rp_filter on an interface other than the default
// route's.
//
// # Namespaces
//
// Config.NetNS (an open descriptor, duplicated) or Config.NetNSPath
// (/run/netns/NAME or /proc/PID/ns/net) names the namespace to configure,
// as in every package of the SDK, so an agent can set up a container's namespace without
// entering it. Netlink sockets are opened in it, sysctls are read and
// written from a thread that joined it, and the arptables command runs in
// it.
//
// # Privileges and modules
//
// Changes need CAP_NET_ADMIN in the namespace (and CAP_SYS_ADMIN to join one
// by path). The package never runs modprobe: when a device type or the fou
// family is missing the error (ErrUnavailable) names the module to load. The
// kernel may still autoload modules on its own when a device is created.
//
// # nftables
//
// The nftables ARP backend and TUN.MSS keep their rules in tables of the
// package's own, "arp golvs_realserver" and "ip golvs_realserver", marked
// as ours (a chain "golvs_owner"); a table of that name without the marker
// is refused with ErrConflict and left alone, and a user's objects inside
// ours are never deleted. Each change is one nftables transaction under
// the SDK's host-wide lock (/run/golvs/nft.lock), so that two agents
// sharing a host never delete the table the other just added to.
//
// # Errors
//
// Every error is an *Error, the SDK's one error type, whose Kind is one of
// the sentinels every package shares (realserver.ErrConflict ==
// director.ErrConflict): ErrInvalid (bad configuration; names the field),
// ErrNotExist (a device is missing), ErrConflict, ErrUnavailable (a module
// or the arptables command is missing; the message names it),
// ErrPermission, ErrNotSupported (including other operating systems),
// ErrCanceled, ErrClosed (the Client was closed) or ErrKernel (refused for
// another reason). The cause (an errno, a tool's output) stays reachable
// with errors.Is and errors.As.
package realserver
