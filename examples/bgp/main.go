package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/golvs/lvs/bgp"
	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/examples/internal/agent"
	"github.com/golvs/lvs/examples/internal/cli"
	"github.com/golvs/lvs/ipvs"
)

const usage = `usage:
  bgp director -vip ADDR:PORT -rs ADDR[,ADDR...] -asn N -router-id ADDR -peer ADDR -peer-asn N [-bfd] [-hold DURATION]
               [-password SECRET] [-forward dr|tun] [-wait DURATION] [-drain DURATION] [-id ID]`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if cli.Help(args, usage) {
		return 0
	}
	if len(args) == 0 || args[0] != "director" {
		fmt.Fprintln(os.Stderr, "bgp:", usage)
		return 2
	}
	d, err := parse(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bgp:", err)
		return 2
	}
	return agent.ServeReady("bgp", d.steps(), d.follow)
}

// bgpDirector is the parsed command line and the running speaker.
type bgpDirector struct {
	vip     netip.AddrPort
	rs      []netip.Addr
	fwd     ipvs.ForwardMethod
	cfg     bgp.Config
	wait    time.Duration
	drain   time.Duration
	id      string
	d       agent.Director
	speaker *bgp.Client
	stop    context.CancelFunc
	done    chan error
}

func parse(args []string) (*bgpDirector, error) {
	fs := flag.NewFlagSet("bgp director", flag.ContinueOnError)
	vipF := fs.String("vip", "", "virtual service `ADDR:PORT` ([ADDR]:PORT for IPv6)")
	rsF := fs.String("rs", "", "real servers `ADDR[,ADDR...]` (no ports)")
	asnF := fs.String("asn", "", "local AS `N`")
	ridF := fs.String("router-id", "", "BGP router ID, an IPv4 `ADDR`")
	peerF := fs.String("peer", "", "the router's `ADDR` (of the VIP's family)")
	peerASNF := fs.String("peer-asn", "", "the router's AS `N`")
	bfdF := fs.Bool("bfd", false, "run BFD with the peer (3 x 300 ms)")
	holdF := fs.Duration("hold", 9*time.Second, "BGP hold time (whole seconds, at least 3s)")
	passF := fs.String("password", "", "TCP MD5 signature `SECRET` of the BGP session (RFC 2385), as the router has it")
	fwdF := fs.String("forward", "dr", "forwarding to the real servers: dr or tun")
	waitF := fs.Duration("wait", 30*time.Second, "how long the session may take to come up")
	drainF := fs.Duration("drain", 2*time.Second, "on shutdown, how long to keep serving after the withdrawal is sent (for the router to converge)")
	id := agent.IDFlag(fs)
	if err := agent.ParseFlags(fs, args); err != nil {
		return nil, err
	}
	d := &bgpDirector{wait: *waitF}
	var err error
	if d.vip, err = cli.AddrPort("-vip", *vipF); err != nil {
		return nil, err
	}
	if d.rs, err = cli.List("-rs", *rsF, "ADDR[,ADDR...]", netip.ParseAddr); err != nil {
		return nil, err
	}
	if d.fwd, err = cli.Choice("-forward", *fwdF, "dr or tun", map[string]ipvs.ForwardMethod{"dr": ipvs.DirectRoute, "tun": ipvs.Tunnel}); err != nil {
		return nil, err
	}
	if err := cli.RealServers("ECMP", d.vip.Addr(), d.fwd == ipvs.DirectRoute, d.rs...); err != nil {
		return nil, err
	}
	asn, err := parseASN("-asn", *asnF)
	if err != nil {
		return nil, err
	}
	peerASN, err := parseASN("-peer-asn", *peerASNF)
	if err != nil {
		return nil, err
	}
	rid, err := cli.ParseAddr("-router-id", *ridF)
	if err != nil {
		return nil, err
	}
	peer, err := cli.ParseAddr("-peer", *peerF)
	if err != nil {
		return nil, err
	}
	if *waitF <= 0 {
		return nil, fmt.Errorf("-wait %v: want a positive duration", *waitF)
	}
	if *drainF < 0 || *drainF > time.Minute {
		return nil, fmt.Errorf("-drain %v: want 0 to 1m", *drainF)
	}
	d.drain = *drainF
	p := bgp.Peer{Address: peer, ASN: peerASN, HoldTime: *holdF, Password: *passF}
	if *bfdF {
		p.BFD = &bgp.BFD{}
	}
	d.cfg = bgp.Config{ASN: asn, RouterID: rid, Peers: []bgp.Peer{p}, OnEvent: printEvent}
	if err := d.cfg.Validate(); err != nil {
		return nil, err
	}
	if err := d.route().Validate(); err != nil {
		return nil, err
	}
	if peer.Is4() != d.vip.Addr().Is4() {
		return nil, fmt.Errorf("-peer %v: the VIP %v is of the other family; a session carries routes of its own family", peer, d.vip.Addr())
	}
	if err := (director.VIP{Address: d.vip.Addr(), Announce: director.AnnounceRouted}).Validate(); err != nil {
		return nil, err
	}
	d.id = agent.ID(*id, "bgp-director", d.vip)
	return d, nil
}

func parseASN(name, s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s %q: want an AS number (1-4294967294)", name, s)
	}
	return uint32(v), nil
}

func (d *bgpDirector) route() bgp.Route {
	a := d.vip.Addr()
	return bgp.Route{VIP: netip.PrefixFrom(a, a.BitLen())}
}

// steps: clients, sysctls, service, VIP, then the speaker last, so that its
// undo (withdraw, wait until sent, close the session) runs first.
func (d *bgpDirector) steps() []agent.Step {
	d.d = agent.Director{ID: d.id}
	svc, dests := bgp.ECMPService(d.vip, d.fwd, d.rs...)
	return []agent.Step{
		d.d.Open,
		func(ctx context.Context) (*agent.Setup, error) {
			return d.d.Host.ApplySysctls(ctx, bgp.PresetECMP()...)
		},
		d.d.Service(svc, dests...),
		func(ctx context.Context) (*agent.Setup, error) {
			return d.d.Host.AddVIP(ctx, director.VIP{Address: d.vip.Addr(), Announce: director.AnnounceRouted})
		},
		d.startSpeaker,
	}
}

func (d *bgpDirector) startSpeaker(ctx context.Context) (*agent.Setup, error) {
	c, err := bgp.New(&d.cfg)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, d.wait)
	defer cancel()
	if err := c.WaitEstablished(wctx); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	d.speaker = c
	return agent.Undo("withdraw and close the BGP session", func(context.Context) error {
		var err error
		if d.stop != nil {
			d.stop()
			err = <-d.done
			// The withdrawal is sent; give the router time to act on it
			// before the service goes, so no new flow arrives here to
			// find it gone.
			time.Sleep(d.drain)
		}
		return errors.Join(err, c.Close())
	}), nil
}

// follow runs once "ready" is printed: announce while the service can serve.
func (d *bgpDirector) follow() {
	ctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	d.done = make(chan error, 1)
	key := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: d.vip.Addr(), Port: d.vip.Port()}
	go func() {
		d.done <- d.speaker.Follow(ctx, d.route(), bgp.ServiceGate(d.d.IPVS, key, 1), time.Second)
	}()
}

var outMu sync.Mutex

// printEvent prints announcements on standard output and the rest on
// standard error.
func printEvent(e bgp.Event) {
	outMu.Lock()
	defer outMu.Unlock()
	switch e.Kind {
	case bgp.EventAnnounced:
		fmt.Println("announced")
	case bgp.EventWithdrawn:
		fmt.Println("withdrawn")
		fmt.Fprintf(os.Stderr, "bgp: %v withdrawn: %s\n", e.VIP, e.Reason)
	case bgp.EventPeerUp, bgp.EventPeerDown:
		fmt.Fprintf(os.Stderr, "bgp: %s %v %s\n", e.Kind, e.Peer, e.Reason)
	default:
		fmt.Fprintf(os.Stderr, "bgp: %s %v: %s\n", e.Kind, e.VIP, e.Reason)
	}
}
