// Package fwmark installs the firewall-mark rules that feed IPVS
// firewall-mark services, natively over nftables netlink or with the
// iptables binaries as a fallback.
//
// A fwmark service (ipvs.ServiceKey{Fwmark: N}) groups traffic that one
// address service cannot: http and https of one VIP with persistence across
// both, or whole address ranges. The kernel only sees the mark, so
// something must set it before IPVS looks: a Rule says "packets to these
// destinations (and ports) get mark N", set in the prerouting hook at
// mangle priority (−150), well before IPVS schedules at LOCAL_IN
// (priority 98). Config.Output adds the output hook, so that the director
// can reach its own fwmark services.
//
//	fw, err := fwmark.New(ctx, nil) // this namespace, backend chosen automatically
//	err = fw.Sync(ctx, []fwmark.Rule{{Mark: 1, Protocol: fwmark.TCP,
//		Destinations: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")},
//		Ports: []fwmark.PortRange{fwmark.Port(80), fwmark.Port(443)}}})
//
// # Whole-mark comparison
//
// IPVS compares the whole 32-bit packet mark with a service's fwmark
// (svc->fwmark == skb->mark), and it looks fwmark services up before
// address services. A rule of another owner that sets or clears any mark
// bit in the same hooks (kube-proxy, Calico, policy routing) silently
// breaks fwmark services, or sends unrelated packets into them. Our rules
// set the whole mark. Conflicts lists the other owners' mark-writing rules
// in prerouting, input (before IPVS) and, with Output, output, and whether
// they run before or after ours, as Findings (the SDK's one diagnostics
// shape, as director.CheckVIP and realserver.CheckDR): warnings whose
// Subject is "FAMILY TABLE/CHAIN" and whose Problem names the rule, its
// hook and priority and its order relative to ours.
//
// # Backends
//
// BackendNFTables keeps everything in one table, "inet golvs_fwmark"
// (TableName), with a base chain "prerouting" (type filter, priority
// mangle) and, with Output, "output" (type route, so that a changed mark
// re-routes). One inet table serves IPv4 and IPv6, so every change,
// whichever families it touches, is one netlink transaction: the table is
// rebuilt in a single batch, and packets see either the old rules or the
// new. Several ports or addresses use anonymous interval sets. No binary
// is needed. The table carries an ownership marker (a chain "golvs_owner");
// a table of that name without it (or the "inet lvs" of earlier versions,
// a name users may have) is someone else's and is never touched: writes
// fail with ErrConflict. A user's chain or set put into ours is never
// deleted.
//
// Add, Delete and Sync are each one read-modify-write under the SDK's
// host-wide lock (/run/golvs/nft.lock), with either backend, so agents in
// other processes adding and removing rules at the same time never lose
// each other's.
//
// BackendIPTables runs iptables-save and iptables-restore -w --noflush (and the
// ip6tables ones), with a chain LVS-FWMARK (ChainName) in the mangle table
// jumped to from PREROUTING (and OUTPUT). Each family changes atomically;
// when the second family fails the first is put back. A family without a
// mangle table (in legacy iptables or in nf_tables) is not read at all:
// nothing to read, and naming a legacy table would create it.
// Config.IPTables selects the variant ("iptables-legacy", "iptables-nft", a
// path).
//
// BackendAuto keeps using the backend that already holds this package's rules,
// else prefers nftables, else iptables. The backends refuse to mix: New,
// and every write that leaves rules installed (Sync, Add, Delete), fail
// with ErrConflict when the other one holds this package's rules (an
// nftables table inet golvs_fwmark, or an iptables chain LVS-FWMARK), so that two
// agents with different backends cannot both mark the same packets.
// Legacy iptables is detected only when its mangle table exists and
// iptables-legacy-save is installed.
//
// Unlike the other packages' New, fwmark.New takes a context: choosing
// and checking the backend is kernel work that can block. It dumps
// nf_tables over netlink and, when a legacy mangle table exists, runs
// iptables-legacy-save (or the configured iptables-save) to see which
// backend holds this package's rules; the context bounds those.
//
// With the nftables backend, Conflicts also reads legacy iptables' mangle
// tables (x_tables hooks run beside nftables' at the same priority, and
// nft cannot list them) with iptables-legacy-save and
// ip6tables-legacy-save, for each family whose legacy mangle table
// exists. Without those tools nothing is scanned and there is no error
// (rules that another copy of the tools put there, e.g. from a container
// sharing the namespace, then go unreported). The rules found look like
// the iptables backend's (Subject "ipv4 mangle/CHAIN" or "ipv6 …", the
// iptables-save line in Problem), running "in no defined order with ours"
// in prerouting and output: the kernel orders an x_tables hook and an nft
// chain of the same priority by registration alone.
//
// Every kernel rule carries a comment with its Rule's canonical text
// ("lvs-fwmark mark=0x1 proto=tcp dst=192.0.2.10/32 ports=80,443"), which
// is how Rules reads them back. It limits one Rule to 240 bytes of text:
// split larger sets of destinations into several Rules with the same mark.
//
// # Idempotence and teardown
//
// Sync makes the installed rules exactly the desired ones and does nothing
// when they already are; Add installs rules next to the installed ones and
// returns a *Setup (the SDK's one undo type, as director's and
// realserver's) whose Teardown removes exactly those it added, once no
// other Add relies on them: rules Add installed are counted per owner in a
// record on the host (/run/golvs, per network namespace), so two agents
// adding the same rule share it and the last one out removes it. These are
// the same records as director's and realserver's (internal/netcfg): with
// Config.Identity each Add's undo is written there before its rules, so an
// agent killed with SIGKILL and started again with the same Identity calls
// Recover first to undo what its predecessor added (a rule another owner
// still relies on stays), then adds afresh. RemoveAll
// deletes the table or chain and jumps, and nothing else. Every change
// (Add, Delete, Sync, RemoveAll) reads and writes the rules under a
// host-wide lock shared by every process using the SDK in the namespace. Rules are validated
// (non-zero mark, one address family per rule, ports for TCP/UDP/SCTP, no
// two overlapping rules with different marks) before anything changes.
//
// # Privileges and namespaces
//
// Changing netfilter needs CAP_NET_ADMIN. Config.NetNS (an open
// descriptor, duplicated) or Config.NetNSPath (e.g. /run/netns/NAME)
// targets another network namespace, as in every package of the SDK: the nftables socket
// is opened in it, and the iptables binaries are started from a thread
// inside it.
//
// # Errors
//
// Every error is an *Error, the SDK's one error type, whose Kind is one of
// the sentinels every package shares (fwmark.ErrConflict ==
// director.ErrConflict): ErrInvalid (bad rule or configuration; the field
// is named), ErrUnavailable (no nf_tables, no iptables binary),
// ErrConflict (the other backend's rules, a table of our name we did not
// make, or foreign rules in our chain), ErrPermission, ErrCanceled,
// ErrKernel (netfilter refused) or ErrNotSupported (not Linux).
package fwmark
