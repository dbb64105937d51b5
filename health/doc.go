// Package health is keepalived's real-server checking as a library: it
// health-checks the real servers of IPVS virtual services and keeps the
// services' destinations in line with the results, through package ipvs.
//
// A Pool is built with New from a Config (the *ipvs.Client, one or more
// services, each with its real servers and their Checkers) and driven by
// Run(ctx). Snapshot and Snapshots return its state at any time;
// Config.Notify receives events (server up or down, quorum lost or
// regained, IPVS errors). The package never logs.
//
// # Checkers
//
// TCP (connect), HTTP (GET over HTTP or HTTPS: expected status codes or
// ranges, a body pattern, keepalived's MD5 digest of the body, a virtual
// host that is also the TLS server name, certificate verification when a
// TLSConfig with RootCAs is given), TLS (a handshake, the certificate's
// chain, name and remaining validity), SMTP (the 220 greeting and a 250
// answer to HELO), UDP (send a payload; an ICMP error, or with
// RequireReply a missing or non-matching reply, fails), DNS (one query
// with a random ID; the reply must carry that ID and the question asked;
// NOERROR and optionally a minimum number of answers actually present;
// the wire format is encoded here, no DNS dependency), ICMP (echo over
// ICMP or ICMPv6, through an unprivileged ping socket where
// net.ipv4.ping_group_range allows, a raw socket otherwise), File (an
// operator's file whose number takes a server down or sets its weight,
// keepalived's FILE_CHECK) and Command (a program run without a shell in
// a process group of its own, killed with everything it forked at the
// timeout and when it exits; its exit status decides and, with
// DynamicWeight, sets the weight). Users' own checkers implement Checker
// (or use CheckFunc) and open sockets with Target.DialContext so that the
// pool's namespace, mark and source address apply. Every check works over
// IPv4 and IPv6.
//
// # One check per target
//
// A check is keyed by what it checks: the checker's kind and parameters,
// the address and port, mark and source, and the timing of its attempts.
// The same backend behind several services (VIP:80 and VIP:443, or 50
// VIPs) is probed once per interval, and each result feeds every server
// using it; Rise and Fall are counted per server.
//
// # Timing
//
// Each server has an interval, a timeout per attempt (no longer than the
// interval), Rise and Fall counts, retries with a delay, and a random
// warm-up before its first check. One goroutine schedules every check from
// a timer heap on a fixed grid (start + n×Interval), so checks do not
// drift however many servers there are; each check runs on a goroutine of
// its own while it lasts. A server is taken out at most
// Fall×Interval+Timeout (plus retries and Config.WriteDelay) after it
// fails. The verdicts of one moment are written together, in one batch
// (one write per tick, however many servers changed), and nothing is
// written while nothing changes.
//
// # Restarts and live changes
//
// Run adopts the kernel's state (Config.Start, StartAdopt by default): a
// server that IPVS serves with its configured weight is presumed up until
// its checks say otherwise, so restarting the agent writes nothing and
// takes nothing out; a server IPVS does not serve so starts down and needs
// Rise successes (StartDown and StartUp start every server down or up).
// While Run runs, AddService, RemoveService, AddServer, RemoveServer,
// UpdateServer and SetMaintenance change the pool without touching the
// other servers' checks or destinations. A removed server is drained
// (weight 0, deleted once IPVS counts none of its connections), since
// deleting a destination makes IPVS drop its connections' packets; a
// server in maintenance stays at weight 0 and is still checked.
//
// # Failure and recovery
//
// A failed server is kept with weight 0 (Inhibit, the default: connections
// in progress finish, and it is safe with persistence, although persistence
// templates keep pointing at a weight-0 server unless the director sets
// net.ipv4.vs.expire_quiescent_template=1), or removed (Remove). With
// Drain, Remove drains first: the server goes to weight 0 and is deleted
// once IPVS counts none of its connections (polled every DrainPoll, one
// dump per service for all its draining servers) or Drain has passed, as
// ipvs.Apply drains; UDP and SCTP services delete at once. On recovery its
// configured weight (or the weight its checker reports) is restored.
//
// Quorum is the total weight of up servers the service needs. It is lost
// below Quorum−Hysteresis and regained at Quorum+Hysteresis; while it is
// lost the sorry server is in the service.
//
// # One reconcile path
//
// A pool writes IPVS itself, or, with Config.Passive, writes nothing:
// Pool.Desired puts its verdicts into the ipvs.State an agent applies with
// ipvs.Client.Apply, so the pool and Apply never fight over weights.
//
// # Checking through the forwarding path
//
// A DR or TUN real server whose VIP is missing (or whose ARP set-up is
// wrong) answers on its own address but drops clients' packets. With
// Server.ViaVIP the check goes where clients go: to the VIP and port, with
// socket mark Server.Mark. Run creates a firewall-mark IPVS service for each
// such mark whose only destination is that real server (same forwarding
// method), and deletes it when Run returns. IPVS looks firewall-mark
// services up before address services and schedules locally generated
// packets too, so the check reaches exactly that server by the real
// forwarding path. The check's source address is the one the director uses
// to reach the real server (Server.Source overrides it): a connection to
// the VIP, a local address, would otherwise come from the VIP itself.
//
// The director needs one setting: the real server answers from the VIP,
// which is also a local address of the director, and Linux drops such
// packets as martians unless accept_local is set on the interface they
// arrive on:
//
//	sysctl -w net.ipv4.conf.eth0.accept_local=1
//
// (and rp_filter 0 or 2 there). Marks must not be used otherwise on the
// director. A policy route alone (ip rule fwmark M lookup T; ip route add
// VIP via RIP table T), which works when the checker runs where IPVS does
// not, is not enough on the director itself: IPVS catches the marked packet
// to the VIP in LOCAL_OUT and schedules it to any server, or refuses it
// when none has weight. The kernel tests show both the catch and the
// difference from plain checks.
//
// # Stopping
//
// When Run's context ends, checks in flight are cancelled and Run returns.
// IPVS is left as last written, which matches the last results: up servers
// at their weight, down servers at weight 0 or absent (a server still
// draining stays at weight 0), the sorry server present exactly while
// quorum is lost. Nothing is restored; the probe services are removed. The
// next Run adopts that state.
//
// # Network namespaces and privileges
//
// Config.NetNSPath runs the checks (sockets and commands) in another
// network namespace; the ipvs.Client names its own. Sockets are created in
// the namespace on a locked thread and then used from any goroutine, so no
// thread is held while a check waits. Changing IPVS needs CAP_NET_ADMIN;
// socket marks need CAP_NET_ADMIN too; entering a namespace needs
// CAP_SYS_ADMIN.
//
// # Errors
//
// Errors are *Error values (the SDK's one error type, internal/errs) whose
// Kind is one of the SDK's sentinels, re-exported here: ErrInvalid (bad
// configuration, found by New or a live change before anything changes,
// naming the field), ErrNotSupported (marks, namespaces, ICMP and process
// groups on other operating systems), ErrCheckFailed (a check's verdict,
// in ServerState.LastError), ErrExist and ErrNotExist (a live change
// adding what the pool has, or naming what it has not), ErrBusy (Run on a
// pool that is already running) or ErrCanceled (Run's context ended);
// IPVS failures keep the ipvs package's error as their cause, so
// errors.Is(err, ipvs.ErrNotExist) works.
package health
