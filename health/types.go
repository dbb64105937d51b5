package health

import (
	"cmp"
	"context"
	"net/netip"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// IPVS is the part of *ipvs.Client a Pool uses; tests may fake it. When
// the value also has the client's Batch method (an *ipvs.Client does), the
// writes a pool makes at one moment (many servers going down together)
// are sent as one batch, one round trip to the kernel; otherwise one call
// each.
type IPVS interface {
	Destinations(ctx context.Context, k ipvs.ServiceKey) ([]ipvs.DestinationInfo, error)
	CreateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error
	UpdateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error
	DeleteDestination(ctx context.Context, k ipvs.ServiceKey, dest netip.AddrPort) error
	CreateService(ctx context.Context, s ipvs.Service) error
	DeleteService(ctx context.Context, k ipvs.ServiceKey) error
}

var _ IPVS = (*ipvs.Client)(nil)

// FailureAction is what happens to a real server that fails its checks.
type FailureAction int

const (
	// Inhibit keeps a failed server in the service with weight 0
	// (keepalived's inhibit_on_failure): established connections finish,
	// no new ones are scheduled, and its counters survive. The default,
	// and the safe choice with persistence. Note that persistence
	// templates keep sending their clients to a weight-0 server unless the
	// director sets net.ipv4.vs.expire_quiescent_template=1.
	Inhibit FailureAction = iota
	// Remove deletes a failed server from the service, after Config.Drain
	// at weight 0 if that is set.
	Remove
)

// Timing is how and how often one real server is checked. Zero fields take
// the pool's Config.Timing, then the defaults.
type Timing struct {
	// Interval between the starts of two checks; default 5 s. Checks are
	// scheduled on a fixed grid (start + n×Interval), so they do not drift;
	// a check still running at its next slot skips that slot.
	Interval time.Duration
	// Timeout of one attempt; default 3 s or Interval if shorter.
	Timeout time.Duration
	// Rise consecutive successes bring a server up; default 2.
	Rise int
	// Fall consecutive failures take it down; default 3.
	Fall int
	// Retries is how many more attempts one check makes before it counts
	// as failed, RetryDelay apart (keepalived's retry and
	// delay_before_retry). Default 0: one attempt.
	Retries    int
	RetryDelay time.Duration
	// Warmup delays each server's first check by a random time in
	// [0, Warmup) (keepalived's warmup), which also spreads many servers'
	// checks over the interval. Default 0: check at once.
	Warmup time.Duration
}

const (
	defaultInterval = 5 * time.Second
	defaultTimeout  = 3 * time.Second
	defaultRise     = 2
	defaultFall     = 3

	defaultDrainPoll = time.Second
)

func (t Timing) or(d Timing) Timing {
	t.Interval = cmp.Or(t.Interval, d.Interval)
	t.Timeout = cmp.Or(t.Timeout, d.Timeout)
	t.Rise = cmp.Or(t.Rise, d.Rise)
	t.Fall = cmp.Or(t.Fall, d.Fall)
	t.Retries = cmp.Or(t.Retries, d.Retries)
	t.RetryDelay = cmp.Or(t.RetryDelay, d.RetryDelay)
	t.Warmup = cmp.Or(t.Warmup, d.Warmup)
	return t
}

func (t Timing) withDefaults() Timing {
	t = t.or(Timing{Interval: defaultInterval, Rise: defaultRise, Fall: defaultFall})
	if t.Timeout == 0 {
		t.Timeout = min(defaultTimeout, t.Interval)
	}
	return t
}

// Server is one real server of the pool and how it is checked.
type Server struct {
	// Destination is the real server as it is written to IPVS when up;
	// its Weight is the configured weight, restored on recovery.
	Destination ipvs.Destination
	// Checker decides its health.
	Checker Checker
	// Timing overrides the pool's timing field by field.
	Timing Timing
	// Connect is the address and port checked, when not the
	// destination's own (keepalived's connect_ip and connect_port). With
	// ViaVIP only its port is used, if set.
	Connect netip.AddrPort
	// Mark is set as SO_MARK on every socket of this server's checks.
	Mark uint32
	// Source is the local address checks are sent from. With ViaVIP it
	// defaults to the address the director would use to reach the real
	// server (a check to the VIP, a local address, would otherwise leave
	// from the VIP itself, which the real server drops as a martian).
	Source netip.Addr
	// ViaVIP checks through the real forwarding path, as google/seesaw
	// does: checks connect to the virtual service's address and port with
	// socket mark Mark, and IPVS forwards the marked packets to this real
	// server only, with the server's own forwarding method. A real server
	// whose VIP or ARP set-up is broken then fails, although its own
	// address answers. Needs an address service and a Mark unique to this
	// server; Run creates a firewall-mark service for Mark holding only
	// this server while it runs (see the package documentation for the
	// director's side).
	ViaVIP bool
}

// ServiceConfig is one virtual service of a pool: its real servers and
// what happens to those that fail.
type ServiceConfig struct {
	// Service is the virtual service whose destinations the pool
	// manages. It must exist when Run starts (or when the service is
	// added to a running pool).
	Service ipvs.ServiceKey
	// Servers are the real servers, each with its checker. It may be
	// empty: servers can be added while the pool runs.
	Servers []Server
	// OnFailure: Inhibit (default) or Remove.
	OnFailure FailureAction
	// Drain, with Remove, drains a failed server gracefully: it first
	// goes to weight 0, so it gets no new connections while established
	// ones finish, and is deleted once IPVS counts none of its
	// connections (active plus inactive, polled every DrainPoll) or Drain
	// has passed, unless it recovered meanwhile. A closed TCP connection
	// stays counted as inactive until IPVS expires it (the FIN_WAIT and
	// TIME_WAIT timeouts, 2 min by default; see ipvs.Client.SetTimeouts).
	// Destinations of UDP and SCTP services are deleted at once, as
	// ipvs.ApplyOptions.DrainTimeout explains: IPVS keeps sending a UDP
	// flow to its old server while the flow's entry lives, so waiting
	// only prolongs the black hole.
	//
	// A server removed with RemoveServer is drained the same way, with
	// any OnFailure, for at most Drain or, when Drain is 0,
	// DefaultRemoveDrain: deleting a destination at once makes IPVS drop
	// the packets of its established connections.
	Drain time.Duration
	// Quorum is the total weight of up servers the service needs; below
	// it the Sorry server (if any) is added. Default 1 (one server of
	// weight ≥1). Hysteresis widens the band: quorum is lost when the
	// weight drops below Quorum−Hysteresis and regained when it reaches
	// Quorum+Hysteresis (as keepalived's quorum and hysteresis).
	Quorum     int
	Hysteresis int
	// Sorry is added to the service while quorum is lost and removed when
	// it is regained (keepalived's sorry_server). A zero Weight means 1.
	Sorry *ipvs.Destination
}

// DefaultRemoveDrain bounds the drain of a server removed from a running
// pool when its service sets no Drain: the default FIN_WAIT and TIME_WAIT
// timeouts of IPVS, after which a closed connection is no longer counted.
const DefaultRemoveDrain = 2 * time.Minute

// StartMode is the state servers start in when Run begins.
type StartMode int

const (
	// StartAdopt, the default, adopts the kernel's state: a server that
	// IPVS serves with its configured weight is presumed up until its
	// checks say otherwise (Fall failures), so restarting the agent
	// changes nothing; any other server starts down and needs Rise
	// successes.
	StartAdopt StartMode = iota
	// StartDown starts every server down, whatever IPVS holds
	// (keepalived's alpha): each needs Rise successes first.
	StartDown
	// StartUp starts every server up, written with its configured weight,
	// until checks say otherwise (keepalived's default without alpha).
	StartUp
)

// Config configures a Pool: pool-wide settings and its services. The
// fields from Service to Sorry are the pool's first service (as in
// ServiceConfig, which documents them); Services lists more. A check is
// shared by every server and service it is the same for (see Pool).
type Config struct {
	// IPVS manages the table; an *ipvs.Client. Required.
	IPVS IPVS

	Service    ipvs.ServiceKey
	Servers    []Server
	OnFailure  FailureAction
	Drain      time.Duration
	Quorum     int
	Hysteresis int
	Sorry      *ipvs.Destination

	// Services are the pool's other services.
	Services []ServiceConfig

	// Timing is the default timing of every server.
	Timing Timing
	// NetNSPath is the network namespace checks run in (sockets and
	// commands), e.g. /run/netns/NAME; "" is the caller's. The IPVS client
	// picks its own namespace.
	NetNSPath string
	// DrainPoll is how often a draining server's connections are read;
	// default 1 s. One read per service covers every server draining at
	// that moment.
	DrainPoll time.Duration
	// WriteDelay is how long verdicts are gathered before they are
	// written, so that servers failing together (a switch port, a rack)
	// reach the kernel in one batch: one write per tick, not one per
	// server. Default 10 ms, small beside any interval; it adds to the
	// time a failed server takes to leave.
	WriteDelay time.Duration
	// Passive makes the pool write nothing to IPVS: it reads the
	// services' destinations (to adopt them when it starts, to poll
	// drains) and keeps its verdicts, which Desired puts into the state
	// the caller applies with ipvs.Client.Apply. One reconcile path then
	// writes IPVS, and a pool and Apply cannot fight over weights.
	// ViaVIP servers need the pool to write their probe services, so
	// they cannot be passive. A passive pool's ServerState.InIPVS and
	// Weight are what Desired asks for.
	Passive bool
	// Start is the servers' state when Run begins; see StartMode.
	Start StartMode
	// Notify, when set, is called for every Event, from the pool's own
	// goroutine, in order. It must not block for long: checks are not
	// scheduled while it runs.
	Notify func(Event)
}

// first is the service the Config's own fields describe, if any.
func (c *Config) first() (ServiceConfig, bool) {
	sc := ServiceConfig{Service: c.Service, Servers: c.Servers, OnFailure: c.OnFailure, Drain: c.Drain,
		Quorum: c.Quorum, Hysteresis: c.Hysteresis, Sorry: c.Sorry}
	return sc, c.Service != (ipvs.ServiceKey{}) || len(c.Servers) > 0 || c.Sorry != nil
}

// EventKind says what happened.
type EventKind int

// Events.
const (
	ServerUp EventKind = iota + 1
	ServerDown
	QuorumLost
	QuorumRegained
	// IPVSError: a change to IPVS failed; it is retried after the server's
	// next check.
	IPVSError
)

func (k EventKind) String() string {
	switch k {
	case ServerUp:
		return "up"
	case ServerDown:
		return "down"
	case QuorumLost:
		return "quorum lost"
	case QuorumRegained:
		return "quorum regained"
	case IPVSError:
		return "IPVS error"
	}
	return "event?"
}

// Event is passed to Config.Notify.
type Event struct {
	Kind EventKind
	// Service is the virtual service the event is about.
	Service ipvs.ServiceKey
	// Time is when the pool saw the change (a drain's Drain counts from
	// a ServerDown's Time).
	Time   time.Time
	Server netip.AddrPort // the real server (or sorry server), if any
	// Err is the last check's error for ServerDown, the failure for
	// IPVSError.
	Err error
	// UpWeight is the total weight of up servers after the event.
	UpWeight int
}

// State is a snapshot of one service of a pool.
type State struct {
	Service  ipvs.ServiceKey
	Running  bool
	Quorum   bool // quorum held
	UpWeight int  // total weight of up servers
	// SorryActive: the sorry server is (meant to be) in the service.
	SorryActive bool
	Servers     []ServerState
}

// ServerState is a snapshot of one real server.
type ServerState struct {
	Server netip.AddrPort
	Up     bool
	// InIPVS and Weight are the destination as the pool last wrote it,
	// or found it when Run began (Weight 0 when inhibited or draining).
	InIPVS   bool
	Weight   uint32
	Draining bool
	// Maintenance: the server was put in maintenance (SetMaintenance):
	// weight 0, still checked.
	Maintenance bool
	// Leaving: the server was removed (RemoveServer) and is drained
	// before its deletion.
	Leaving bool
	// DrainConns is the draining server's active plus inactive
	// connections at the last poll.
	DrainConns uint32
	// Successes and Failures are the current runs of consecutive results.
	Successes, Failures int
	Checks              uint64
	LastCheck           time.Time
	LastDuration        time.Duration
	// LastError is the last check's error, nil after a success.
	LastError error
	// IPVSError is the last failed IPVS change for this server, nil once
	// one succeeds.
	IPVSError error
}
