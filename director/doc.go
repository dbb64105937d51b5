// Package director configures the director side of an IPVS load balancer:
// the host set-up around the virtual services that package ipvs creates.
//
// One call per concern, each idempotent and reversible:
//
//   - AddVIP: a virtual IP (IPv4 or IPv6) as a local address, in one of two
//     announce modes. AnnounceARP puts it on the client-facing interface
//     as a secondary /32 (/128) and sends gratuitous ARP (IPv4) or
//     unsolicited neighbour advertisements (IPv6), so neighbours that knew
//     another director for the VIP switch at once. AnnounceRouted puts it
//     on a dummy device (lvs0 by default, as kube-proxy's kube-ipvs0) for
//     VIPs routed to the director by static routes, ECMP or BGP. IPVS
//     schedules at LOCAL_IN: the VIP must be local, or traffic never
//     reaches it.
//   - EnableForwarding: net.ipv4.ip_forward, net.ipv6.conf.all.forwarding.
//   - NATGateway: a two-arm NAT director (forwarding on, send_redirects off
//     on conf/all and the real-server-facing interfaces: the kernel ORs
//     the two). CheckReturnPath reports real servers whose replies would
//     not come back through the director.
//   - OneArmNAT: source NAT of the traffic IPVS forwards to the real
//     servers, with net.ipv4.vs.conntrack=1, over nftables (netlink, no
//     binary) or iptables (xt_ipvs), for clients on the real servers' own
//     subnet and real servers whose gateway is not the director.
//   - ApplySysctls with the presets (PresetFailover, PresetConntrack,
//     PresetKubeProxy); Sysctls documents every setting it accepts.
//
// # Lifecycle
//
// Each set-up call validates its input and checks it against the
// configuration in effect before changing anything; a bad request returns
// an error and changes nothing. What is already in place (an existing VIP,
// a sysctl at the wanted value, an identical rule) is left alone and not
// recorded, so calling again is harmless. A failure midway rolls back what
// the call had done. On success the call returns a *Setup (the SDK's one
// undo type: realserver.Setup and fwmark.Setup are the same type) whose
// Teardown restores every sysctl it changed to the exact previous value
// and removes only the addresses, devices and rules it created. Writing
// ip_forward also rewrites every interface's forwarding and
// conf/all/accept_redirects; Teardown puts those back too. A second
// identical call reports no changes (Setup.Changes is empty). Turning IPv6
// forwarding on first sets accept_ra=2 where it was 1 (interfaces and
// conf/default), so router advertisements keep being accepted; Teardown
// puts 1 back.
//
// # Shared hosts and crashes
//
// Hosts are shared: two directors in one namespace, or a director and a
// real-server agent, may rely on the same ip_forward, send_redirects,
// address or dummy device. Every process using the SDK keeps a record of
// such shared changes on the host (under /run/golvs, per network
// namespace, owner-only, under a host-wide flock): who relies on each and
// what it was before. Teardown releases this set-up's share; the change is
// undone only when its last owner is gone, and only if it still holds the
// value the owners wrote (otherwise someone else changed it since and it
// is theirs). An owner whose process died without an identity stops
// counting. A program that does not use the SDK is no owner: if Docker or
// kube-proxy (or a sysctl.d file applied later) turns ip_forward on after
// a set-up of ours did, it writes the value we wrote, nothing on the host
// tells the two apart, and the last SDK owner out puts the old 0 back under
// it. On such hosts turn forwarding on before the first agent starts (a
// value already in place is not ours and is never reset).
//
// With Config.Identity, each set-up's undo record is also written to the
// host before the change it describes (write-ahead, fsync'd). A process
// killed with SIGKILL leaves its changes in place and its records behind;
// a later Client with the same Identity calls Recover to undo them (other
// owners' shares stay), then sets up afresh, so an agent restarted by a
// service manager converges instead of refusing to start.
//
// Rules live in containers of this package's own and nothing else is
// touched: the nftables table "golvs_director" (one per family, base chain
// "snat" jumping to one chain per service), or the iptables chain
// GOLVS-SNAT in the nat table, reached by one jump from POSTROUTING. Each
// is removed once the last rule of ours in it is. The nftables table
// carries an ownership marker (a chain "golvs_owner"): a table of that name
// without it was made by someone else and is refused with ErrConflict,
// untouched; a user's chain, rule or set put into ours is never deleted.
// Each change is one transaction (one nftables batch, or one
// iptables-save and one iptables-restore --noflush) under the SDK's
// host-wide lock (/run/golvs/nft.lock), so that agents sharing a host
// never remove each other's rules.
//
// # VIP checks
//
// The value of arp_ignore in effect on an interface is the maximum of
// conf/all and conf/IFACE. With arp_ignore ≥ 1 a VIP on a dummy device is
// never answered by ARP (only addresses on the receiving interface are), so
// AddVIP refuses ARP mode on a dummy, loopback or NOARP device with
// ErrIneffective and says so; arp_ignore=2 never answers for a /32 VIP
// either. A routed VIP with arp_ignore=0 on some interface works but is
// answered by ARP there too; CheckVIP warns about it.
//
// # Network namespaces
//
// Config.NetNS (an open descriptor, duplicated) or Config.NetNSPath
// (/run/netns/NAME, /proc/PID/ns/net) points a Client at another network
// namespace, as in every package of the SDK. Netlink and nftables sockets are
// opened in it, sysctl files are opened and iptables is run from a thread
// that has joined it, and announcements leave from an AF_PACKET socket
// created inside it. The caller's threads never change namespace.
//
// # Privileges
//
// Changing anything needs CAP_NET_ADMIN in the namespace's user namespace
// (raw packet sockets need CAP_NET_RAW); entering a namespace by path
// needs CAP_SYS_ADMIN. Nothing here loads modules: IPVS sysctls exist once
// ip_vs is loaded (creating the first service with package ipvs does it),
// and nftables NAT needs nft_chain_nat, nft_ct and nft_masq, the iptables
// backend xt_ipvs and the iptables binary.
//
// # Errors
//
// Every error is an *Error, the SDK's one error type, whose Kind is one of
// the sentinels every package shares (director.ErrPermission ==
// ipvs.ErrPermission): ErrInvalid (bad input, with the field named),
// ErrNotExist (a device is missing), ErrConflict (existing configuration,
// or an object another owner made, contradicts the request), ErrIneffective
// (well-formed but would not work with the configuration in effect),
// ErrPermission, ErrUnavailable (a module such as ip_vs or nft_masq, or
// the iptables tools, missing), ErrNotSupported (not Linux, or a kernel
// without the facility), ErrCanceled (ctx done; the cause matches
// context.Canceled or context.DeadlineExceeded), ErrClosed (the Client was
// closed), ErrRollback (a failure whose rollback failed too), ErrKernel
// (refused for another reason). The cause stays reachable (an errno).
//
// # Diagnostics
//
// CheckVIP and CheckReturnPath return Findings (Severity, Subject,
// Problem, Fix), the shape realserver.CheckDR and fwmark.Conflicts return
// too; Findings.OK reports that none is SeverityBroken.
//
// # Kernel compatibility
//
// Tested on Debian's 6.1 and 6.12 kernels: real traffic through two-arm and
// one-arm NAT directors, gratuitous ARP and NA observed by another
// namespace, and teardown compared against a before/after snapshot.
// Nothing used is newer than 4.x, except run_estimation (5.19).
package director
