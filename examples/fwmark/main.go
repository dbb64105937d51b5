// Command fwmark runs a firewall-mark IPVS director until it is stopped: one
// virtual service for several ports of a VIP, forwarding by direct routing.
//
//	fwmark director -vip 192.0.2.10 -ports 80,443 -mark 1 -rs 192.0.2.11,192.0.2.12 -iface eth0 -persist 5m
//
// A packet filter rule gives packets to VIP:PORTS the mark N, and the IPVS
// service for mark N balances them all together. With -persist a client
// keeps going to the same real server for every port (http and https of one
// shopping cart) for that long after its last connection. The real servers
// are set up for direct routing, e.g. with `dr realserver -vip ADDR`, and
// listen on each of the ports. Rules go to nftables (table inet lvs) or, with
// -backend iptables, to the mangle table's LVS-FWMARK chain; by default
// whichever already holds them, else nftables. IPv6 works too.
//
// It prints "ready" once configured, runs until SIGINT or SIGTERM, then
// removes what it configured and exits 0. A failed set-up is rolled back and
// exits 1; bad flags exit 2. It needs root (CAP_NET_ADMIN) and acts on its
// own network namespace.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/fwmark"
	"github.com/golvs/lvs/ipvs"
)

const usage = `usage:
  fwmark director -vip ADDR -ports P[,P...] -mark N -rs ADDR[,ADDR...] -iface IFACE [-persist DURATION] [-backend nft|iptables] [-sched NAME]`

func main() {
	os.Exit(run(os.Args[1:]))
}

// config is the parsed command line.
type config struct {
	vip     netip.Addr
	ports   []fwmark.PortRange
	mark    uint32
	rs      []netip.Addr
	iface   string
	persist time.Duration
	backend fwmark.Backend
	sched   ipvs.Scheduler
}

func parse(args []string) (config, error) {
	var c config
	if len(args) == 0 || args[0] != "director" {
		return c, errors.New(usage)
	}
	fs := flag.NewFlagSet("fwmark director", flag.ContinueOnError)
	vip := fs.String("vip", "", "virtual IP `ADDR` (IPv4 or IPv6)")
	ports := fs.String("ports", "", "TCP/UDP `ports` P[,P...] of the VIP that share the service")
	mark := fs.Uint("mark", 0, "firewall mark `N` (1..4294967295) of the service")
	rs := fs.String("rs", "", "real servers `ADDR[,ADDR...]`, set up for direct routing")
	iface := fs.String("iface", "", "`interface` that gets the VIP, on the real servers' segment")
	persist := fs.Duration("persist", 0, "keep a client on one real server for this long (whole seconds; 0: no persistence)")
	backend := fs.String("backend", "", "nft or iptables (default: whichever holds the rules already, else nft)")
	sched := fs.String("sched", "rr", "IPVS scheduler `name` (rr, wlc, sh, mh, ...)")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	var err error
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.vip, err = netip.ParseAddr(*vip); err != nil {
		return c, fmt.Errorf("-vip %q: want an address, e.g. 192.0.2.10 or 2001:db8::10", *vip)
	}
	for _, s := range strings.Split(*ports, ",") {
		p, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
		if err != nil || p == 0 {
			return c, fmt.Errorf("-ports %q: want ports 1..65535, comma-separated", *ports)
		}
		c.ports = append(c.ports, fwmark.Port(uint16(p)))
	}
	if *mark == 0 || *mark > 1<<32-1 {
		return c, fmt.Errorf("-mark %d: want 1..4294967295", *mark)
	}
	c.mark = uint32(*mark)
	for _, s := range strings.Split(*rs, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return c, fmt.Errorf("-rs %q: want ADDR[,ADDR...]", *rs)
		}
		if a.Is4() != c.vip.Is4() {
			return c, fmt.Errorf("-rs %v: direct routing needs real servers of the VIP's address family", a)
		}
		c.rs = append(c.rs, a)
	}
	if c.iface = *iface; c.iface == "" {
		return c, errors.New("-iface is required: the interface clients reach the VIP on")
	}
	if c.persist = *persist; c.persist < 0 || c.persist%time.Second != 0 {
		return c, fmt.Errorf("-persist %v: want whole seconds, e.g. 300s or 5m", *persist)
	}
	switch *backend {
	case "":
		c.backend = fwmark.Auto
	case "nft":
		c.backend = fwmark.NFTables
	case "iptables":
		c.backend = fwmark.IPTables
	default:
		return c, fmt.Errorf("-backend %q: want nft or iptables", *backend)
	}
	c.sched = ipvs.Scheduler(*sched)
	return c, nil
}

func run(args []string) int {
	cfg, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fwmark:", err)
		return 2
	}
	// A signal during set-up cancels it; the steps done so far are undone.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var undo []func(context.Context) error
	teardown := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i](ctx))
		}
		return errors.Join(errs...)
	}
	if err := setup(ctx, cfg, &undo); err != nil {
		fmt.Fprintln(os.Stderr, "fwmark: set-up failed:", err)
		if err := teardown(); err != nil {
			fmt.Fprintln(os.Stderr, "fwmark: rollback:", err)
		}
		return 1
	}
	fmt.Println("ready")
	<-ctx.Done()
	if err := teardown(); err != nil {
		fmt.Fprintln(os.Stderr, "fwmark: teardown:", err)
		return 1
	}
	return 0
}

// setup configures the director, appending the undo of each step to undo.
func setup(ctx context.Context, cfg config, undo *[]func(context.Context) error) error {
	rule := fwmark.Rule{
		Mark:         cfg.mark,
		Protocol:     fwmark.Any, // with ports: TCP, UDP and SCTP
		Destinations: []netip.Prefix{netip.PrefixFrom(cfg.vip, cfg.vip.BitLen())},
		Ports:        cfg.ports,
	}
	if _, err := rule.Canonical(); err != nil {
		return err
	}
	d, err := director.New(nil)
	if err != nil {
		return err
	}
	*undo = append(*undo, func(context.Context) error { return d.Close() })
	c, err := ipvs.New(nil)
	if err != nil {
		return err
	}
	*undo = append(*undo, func(context.Context) error { return c.Close() })
	fw, err := fwmark.New(ctx, &fwmark.Config{Backend: cfg.backend})
	if err != nil {
		return err
	}
	*undo = append(*undo, func(context.Context) error { return fw.Close() })

	family := ipvs.IPv4
	if cfg.vip.Is6() {
		family = ipvs.IPv6
	}
	svc := ipvs.Service{ServiceKey: ipvs.ServiceKey{Family: family, Fwmark: cfg.mark}, Scheduler: cfg.sched}
	if cfg.persist > 0 {
		svc.Flags, svc.Timeout = ipvs.FlagPersistent, cfg.persist
	}
	if err := c.CreateService(ctx, svc); err != nil {
		if errors.Is(err, ipvs.ErrExist) {
			return fmt.Errorf("%v already exists; not taking over someone else's service", svc.ServiceKey)
		}
		return err
	}
	*undo = append(*undo, func(ctx context.Context) error { return c.DeleteService(ctx, svc.ServiceKey) })
	for _, a := range cfg.rs {
		// Port 0: each connection keeps the port it was made to.
		dest := ipvs.Destination{Address: a, Forward: ipvs.DirectRoute, Weight: 1}
		if err := c.CreateDestination(ctx, svc.ServiceKey, dest); err != nil {
			return err
		}
	}

	// The mark rule, then the VIP: once it is announced, traffic arrives.
	removeRule, err := fw.Add(ctx, rule)
	if err != nil {
		return err
	}
	*undo = append(*undo, removeRule)
	v, err := d.AddVIP(ctx, director.VIP{Address: cfg.vip, Announce: director.AnnounceARP, Interface: cfg.iface})
	if err != nil {
		return err
	}
	*undo = append(*undo, v.Teardown)
	return nil
}
