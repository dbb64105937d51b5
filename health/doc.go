// Package health is keepalived's real-server checking as a library: it
// health-checks the real servers of one IPVS virtual service and keeps the
// service's destinations in line with the results, through package ipvs.
//
// A Pool is built with New from a Config (the *ipvs.Client, the service,
// the real servers each with a Checker) and driven by Run(ctx). Snapshot
// returns its state at any time; Config.Notify receives events (server up
// or down, quorum lost or regained, IPVS errors). The package never logs.
//
// # Checkers
//
// TCP (connect), HTTP (GET over HTTP or HTTPS: expected status codes or
// ranges, a body pattern, a virtual host that is also the TLS server name,
// certificate verification when a TLSConfig with RootCAs is given), UDP
// (send a payload; an ICMP error, or with RequireReply a missing or
// non-matching reply, fails), DNS (one query; NOERROR and optionally a
// minimum number of answers; the wire format is encoded here, no DNS
// dependency) and Command (a program run without a shell and killed at the
// timeout; its exit status decides and, with DynamicWeight, sets the
// weight). Users' own checkers implement Checker (or use CheckFunc) and
// open sockets with Target.DialContext so that the pool's namespace, mark
// and source address apply.
//
// # Timing
//
// Each server has an interval, a timeout per attempt, Rise and Fall counts,
// retries with a delay, and a random warm-up before its first check. One
// goroutine schedules every check from a timer heap on a fixed grid
// (start + n×Interval), so checks do not drift however many servers there
// are; each check runs on a goroutine of its own while it lasts. A server
// is taken out at most Fall×Interval+Timeout after it fails (plus retries).
//
// # Failure and recovery
//
// A failed server is kept with weight 0 (Inhibit, the default: connections
// in progress finish, and it is safe with persistence, although persistence
// templates keep pointing at a weight-0 server unless the director sets
// net.ipv4.vs.expire_quiescent_template=1), or removed (Remove). With
// Drain, Remove drains first: the server goes to weight 0 and is deleted
// once IPVS counts none of its connections (polled every DrainPoll, one
// dump for all draining servers) or Drain has passed, as ipvs.Apply
// drains; UDP and SCTP services delete at once. On recovery its
// configured weight (or the weight its checker reports) is restored.
// Servers start down and need Rise successes (keepalived's alpha) unless
// Config.StartUp is set.
//
// Quorum is the total weight of up servers the service needs. It is lost
// below Quorum−Hysteresis and regained at Quorum+Hysteresis; while it is
// lost the sorry server is in the service.
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
// quorum is lost. Nothing is restored; the probe services are removed.
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
// configuration, found by New before anything changes), ErrNotSupported
// (marks and namespaces on other operating systems), ErrCheckFailed (a
// check's verdict, in ServerState.LastError), ErrBusy (Run on a pool that
// is already running) or ErrCanceled (Run's context ended); IPVS failures
// keep the ipvs package's error as their cause, so errors.Is(err,
// ipvs.ErrNotExist) works.
package health
