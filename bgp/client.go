package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/golvs/lvs/internal/enum"
)

// EventKind says what an Event reports.
type EventKind int

const (
	// EventPeerUp: a session reached Established.
	EventPeerUp EventKind = iota + 1
	// EventPeerDown: an established session went down (Reason says why).
	EventPeerDown
	// EventAnnounced: a route was handed to the speaker for every
	// established session (and future ones).
	EventAnnounced
	// EventWithdrawn: a route was withdrawn (Reason says why).
	EventWithdrawn
	// EventGateClosed: Follow found the director unable to serve
	// (Reason says why) and withdraws the route.
	EventGateClosed
)

func (k EventKind) String() string {
	return enum.Name(k, "EventKind", []EventKind{EventPeerUp, EventPeerDown, EventAnnounced, EventWithdrawn, EventGateClosed}, "peer up", "peer down", "announced", "withdrawn", "gate closed")
}

// Event is a session change or a route announced or withdrawn.
type Event struct {
	Time time.Time
	Kind EventKind
	// Peer is set for peer events.
	Peer netip.Addr
	// VIP is set for route events.
	VIP netip.Prefix
	// Reason explains a peer going down, a withdrawal or a closed gate.
	Reason string
}

// Client is an embedded BGP speaker (GoBGP) announcing VIP routes to its
// peers. Its methods are safe for concurrent use.
type Client struct {
	cfg Config
	s   *server.BgpServer

	mu     sync.Mutex
	routes map[netip.Prefix]Route
	closed bool

	evMu      sync.Mutex
	up        map[netip.Addr]bool
	lastErr   map[netip.Addr]string // the last reason a session failed
	stopWatch context.CancelFunc
}

// New validates cfg and starts the speaker, which connects to each peer
// (retrying every Peer.ConnectRetry). Nothing starts when cfg is invalid.
// It announces nothing until Announce or Follow.
func New(cfg *Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: *cfg, routes: map[netip.Prefix]Route{}, up: map[netip.Addr]bool{}, lastErr: map[netip.Addr]string{}}
	c.cfg.Peers = append([]Peer(nil), cfg.Peers...)
	c.s = server.NewBgpServer()
	go c.s.Serve()
	ctx := context.Background()
	err := c.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:        cfg.ASN,
		RouterId:   cfg.RouterID.String(),
		ListenPort: -1, // connect out only: no port 179 to own on a shared host
	}})
	if err != nil {
		c.s.Stop()
		return nil, pkg.New("start speaker", "", ErrKernel, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	c.stopWatch = cancel
	err = c.s.WatchEvent(wctx, server.WatchEventMessageCallbacks{OnPeerUpdate: c.peerEvent}, server.WatchPeer())
	for _, p := range c.cfg.Peers {
		if err != nil {
			break
		}
		if err = c.s.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(cfg.ASN, p)}); err != nil {
			err = pkg.New("add peer", p.Address.String(), ErrKernel, err)
		}
	}
	if err != nil {
		cancel()
		c.s.Stop()
		return nil, wrap("start speaker", "", err)
	}
	return c, nil
}

func apiPeer(asn uint32, p Peer) *api.Peer {
	hold := p.HoldTime
	if hold == 0 {
		hold = 9 * time.Second
	}
	keep := p.Keepalive
	if keep == 0 {
		keep = hold / 3
	}
	retry := p.ConnectRetry
	if retry == 0 {
		retry = 3 * time.Second
	}
	afi := api.Family_AFI_IP
	if p.Address.Is6() {
		afi = api.Family_AFI_IP6
	}
	ap := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(),
			PeerAsn:         p.ASN,
			LocalAsn:        asn,
			AuthPassword:    p.Password,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          uint64(hold / time.Second),
			KeepaliveInterval: uint64(keep / time.Second),
			ConnectRetry:      uint64(retry / time.Second),
			// Retry soon after a reset too (GoBGP's default is 30 s).
			IdleHoldTimeAfterReset: uint64(retry / time.Second),
		}},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{
			Family:  &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST},
			Enabled: true,
		}}},
	}
	if p.Port != 0 {
		ap.Transport = &api.Transport{RemotePort: uint32(p.Port)}
	}
	if p.Multihop > 0 {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.Multihop)}
	}
	if b := p.BFD; b != nil {
		tx, rx, mult := b.MinTx, b.MinRx, b.Multiplier
		if tx == 0 {
			tx = 300 * time.Millisecond
		}
		if rx == 0 {
			rx = 300 * time.Millisecond
		}
		if mult == 0 {
			mult = 3
		}
		ap.Bfd = &api.BfdPeerConfig{
			Enabled:                  true,
			DesiredMinimumTxInterval: uint32(tx / time.Microsecond),
			RequiredMinimumReceive:   uint32(rx / time.Microsecond),
			DetectionMultiplier:      uint32(mult),
		}
	}
	return ap
}

// peerEvent turns GoBGP's peer state changes into PeerUp/PeerDown.
func (c *Client) peerEvent(ev *apiutil.WatchEventMessage_PeerEvent, t time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	addr := ev.Peer.State.NeighborAddress
	if !addr.IsValid() {
		addr = ev.Peer.Conf.NeighborAddress
	}
	up := ev.Peer.State.SessionState == gobgp.BGP_FSM_ESTABLISHED
	reason := ev.Peer.State.DisconnectMessage
	if reason == "" && ev.Peer.State.DisconnectReason != api.PeerState_DISCONNECT_REASON_UNSPECIFIED {
		reason = strings.ToLower(strings.TrimPrefix(ev.Peer.State.DisconnectReason.String(), "DISCONNECT_REASON_"))
	}
	c.evMu.Lock()
	was := c.up[addr]
	c.up[addr] = up
	// The idle timer's expiry is the retry, not the cause: keep the cause.
	if reason != "" && ev.Peer.State.DisconnectReason != api.PeerState_DISCONNECT_REASON_IDLE_TIMER_EXPIRED {
		c.lastErr[addr] = reason
	}
	c.evMu.Unlock()
	switch {
	case up && !was:
		c.emit(Event{Time: t, Kind: EventPeerUp, Peer: addr})
	case !up && was:
		c.emit(Event{Time: t, Kind: EventPeerDown, Peer: addr, Reason: reason})
	}
}

func (c *Client) emit(e Event) {
	if c.cfg.OnEvent == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	c.evMu.Lock()
	defer c.evMu.Unlock()
	c.cfg.OnEvent(e)
}

func family(a netip.Addr) gobgp.Family {
	if a.Is4() {
		return gobgp.RF_IPv4_UC
	}
	return gobgp.RF_IPv6_UC
}

// path builds GoBGP's path for r; r is valid.
func path(r Route) (*apiutil.Path, error) {
	nlri, err := gobgp.NewIPAddrPrefix(r.VIP)
	if err != nil {
		return nil, err
	}
	nh := r.NextHop
	if !nh.IsValid() {
		// GoBGP's "self": each session's local address.
		nh = netip.IPv4Unspecified()
		if r.VIP.Addr().Is6() {
			nh = netip.IPv6Unspecified()
		}
	}
	attrs := []gobgp.PathAttributeInterface{gobgp.NewPathAttributeOrigin(gobgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	if nh.Is4() {
		a, err := gobgp.NewPathAttributeNextHop(nh)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, a)
	} else {
		a, err := gobgp.NewPathAttributeMpReachNLRI(gobgp.RF_IPv6_UC, []gobgp.PathNLRI{{NLRI: nlri}}, nh)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, a)
	}
	if len(r.Communities) > 0 {
		var cs []uint32
		for _, s := range r.Communities {
			v, err := parseCommunity(s)
			if err != nil {
				return nil, err
			}
			cs = append(cs, v)
		}
		attrs = append(attrs, gobgp.NewPathAttributeCommunities(cs))
	}
	if r.LocalPref != nil {
		attrs = append(attrs, gobgp.NewPathAttributeLocalPref(*r.LocalPref))
	}
	if r.MED != nil {
		attrs = append(attrs, gobgp.NewPathAttributeMultiExitDisc(*r.MED))
	}
	return &apiutil.Path{Family: family(r.VIP.Addr()), Nlri: nlri, Attrs: attrs}, nil
}

func (c *Client) check(ctx context.Context, op, obj string) error {
	if err := ctx.Err(); err != nil {
		return pkg.New(op, obj, ErrCanceled, err)
	}
	if c.closed {
		return pkg.New(op, obj, ErrClosed, errors.New("client closed"))
	}
	return nil
}

// Announce announces r to every peer of its family, now and on every
// session established later. Announcing a VIP again replaces its
// attributes. Prefer Follow, which announces only while the director can
// serve.
func (c *Client) Announce(ctx context.Context, r Route) error {
	obj := r.VIP.String()
	if err := r.Validate(); err != nil {
		return err
	}
	if err := c.cfg.checkFamily(r); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(ctx, "announce", obj); err != nil {
		return err
	}
	p, err := path(r)
	if err != nil {
		return pkg.New("announce", obj, ErrInvalid, err)
	}
	if _, err := c.s.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		return pkg.New("announce", obj, ErrKernel, err)
	}
	c.routes[r.VIP] = r
	c.emit(Event{Kind: EventAnnounced, VIP: r.VIP})
	return nil
}

// Withdraw withdraws the VIP's route and waits (until ctx ends) for the
// withdrawal to be written to every established session of its family, so
// that a caller removing the IPVS service afterwards never drops traffic
// the routers still send here. An unconfirmed withdrawal returns an error
// matching ErrUnavailable; the route is withdrawn from the speaker anyway.
func (c *Client) Withdraw(ctx context.Context, vip netip.Prefix) error {
	return c.withdraw(ctx, vip, "withdrawn by the caller")
}

func (c *Client) withdraw(ctx context.Context, vip netip.Prefix, reason string) error {
	obj := vip.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return pkg.New("withdraw", obj, ErrClosed, errors.New("client closed"))
	}
	return c.withdrawLocked(ctx, vip, reason)
}

func (c *Client) withdrawLocked(ctx context.Context, vip netip.Prefix, reason string) error {
	obj := vip.String()
	r, ok := c.routes[vip]
	if !ok {
		return pkg.New("withdraw", obj, ErrNotExist, errors.New("not announced"))
	}
	p, err := path(r)
	if err != nil {
		return pkg.New("withdraw", obj, ErrInvalid, err)
	}
	before, err := c.sentUpdates(ctx, vip.Addr().Is4())
	if err != nil {
		return wrap("withdraw", obj, err)
	}
	if err := c.s.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		return pkg.New("withdraw", obj, ErrKernel, err)
	}
	delete(c.routes, vip)
	err = c.waitSent(ctx, before)
	c.emit(Event{Kind: EventWithdrawn, VIP: vip, Reason: reason})
	if err != nil {
		return wrap("withdraw", obj, err)
	}
	return nil
}

// sentUpdates returns the UPDATE messages sent so far on each established
// session of the family.
func (c *Client) sentUpdates(ctx context.Context, v4 bool) (map[string]uint64, error) {
	out := map[string]uint64{}
	err := c.s.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		st := p.GetState()
		a, err := netip.ParseAddr(st.GetNeighborAddress())
		if err != nil || a.Is4() != v4 || st.GetSessionState() != api.PeerState_SESSION_STATE_ESTABLISHED {
			return
		}
		out[a.String()] = st.GetMessages().GetSent().GetUpdate()
	})
	return out, err
}

// waitSent waits until every session in before has sent another UPDATE
// (GoBGP counts a message once written to the socket) or is no longer
// established (nothing left to withdraw from).
func (c *Client) waitSent(ctx context.Context, before map[string]uint64) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []string
		seen := map[string]bool{}
		err := c.s.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			st := p.GetState()
			a := st.GetNeighborAddress()
			n, ok := before[a]
			if !ok {
				return
			}
			seen[a] = true
			if st.GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED && st.GetMessages().GetSent().GetUpdate() <= n {
				left = append(left, a)
			}
		})
		if err != nil {
			return err
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(left)
			return pkg.New("withdraw", "", ErrUnavailable, fmt.Errorf("not confirmed sent to %s: %w", strings.Join(left, ", "), ctx.Err()))
		case <-tick.C:
		}
	}
}

// PeerStatus is a peer's session as the speaker sees it.
type PeerStatus struct {
	Address     netip.Addr
	Established bool
	// State is the BGP FSM state ("established", "active", ...).
	State string
	// LastError is the last reason the session went down or was refused,
	// e.g. a NOTIFICATION from the peer.
	LastError string
}

// Peers returns the state of every peer's session.
func (c *Client) Peers(ctx context.Context) ([]PeerStatus, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, pkg.New("list peers", "", ErrClosed, errors.New("client closed"))
	}
	var out []PeerStatus
	err := c.s.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		st := p.GetState()
		a, _ := netip.ParseAddr(st.GetNeighborAddress())
		ps := PeerStatus{
			Address:     a,
			Established: st.GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED,
			State:       strings.ToLower(strings.TrimPrefix(st.GetSessionState().String(), "SESSION_STATE_")),
			LastError:   st.GetDisconnectMessage(),
		}
		if ps.LastError == "" && st.GetDisconnectReason() != api.PeerState_DISCONNECT_REASON_UNSPECIFIED {
			ps.LastError = strings.ToLower(strings.TrimPrefix(st.GetDisconnectReason().String(), "DISCONNECT_REASON_"))
		}
		if ps.LastError == "" {
			c.evMu.Lock()
			ps.LastError = c.lastErr[a]
			c.evMu.Unlock()
		}
		out = append(out, ps)
	})
	if err != nil {
		return nil, wrap("list peers", "", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address.Less(out[j].Address) })
	return out, nil
}

// WaitEstablished waits until every peer's session is established. When
// ctx ends first it returns an error matching ErrUnavailable that names the
// peers still down and why (a refused session shows the peer's
// NOTIFICATION).
func (c *Client) WaitEstablished(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		// Listing is local and quick; it must still answer once ctx ends,
		// to say which peer is down and why.
		ps, err := c.Peers(context.WithoutCancel(ctx))
		if err != nil {
			return err
		}
		var down []string
		for _, p := range ps {
			if !p.Established {
				s := p.Address.String() + " (" + p.State
				if p.LastError != "" {
					s += ": " + p.LastError
				}
				down = append(down, s+")")
			}
		}
		if len(down) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return pkg.New("wait for sessions", "", ErrUnavailable, fmt.Errorf("not established: %s", strings.Join(down, ", ")))
		case <-tick.C:
		}
	}
}

// Close withdraws every route still announced, waiting up to 5 s for the
// withdrawals to be sent, then closes the sessions (a Cease NOTIFICATION
// to each peer) and stops the speaker. Closing twice is a no-op.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for vip := range c.routes {
		errs = append(errs, c.withdrawLocked(ctx, vip, "closing"))
	}
	c.closed = true
	c.stopWatch()
	c.s.Stop()
	return errors.Join(errs...)
}
