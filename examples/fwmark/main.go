package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/examples/internal/agent"
	"github.com/golvs/lvs/examples/internal/cli"
	"github.com/golvs/lvs/fwmark"
	"github.com/golvs/lvs/ipvs"
)

const usage = `usage:
  fwmark director -vip ADDR -ports P[,P...] -mark N -rs ADDR[,ADDR...] -iface IFACE [-persist DURATION] [-backend nft|iptables] [-sched NAME] [-metrics ADDR:PORT]`

func main() {
	os.Exit(run(os.Args[1:]))
}

// config is the parsed command line.
type config struct {
	vip     netip.Addr
	mark    uint32
	rule    fwmark.Rule // marks packets to the VIP's ports
	rs      []netip.Addr
	iface   string
	persist time.Duration
	backend fwmark.Backend
	sched   ipvs.Scheduler
	id      string
	stats   string // -metrics
}

func parse(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("fwmark director", flag.ContinueOnError)
	vip := fs.String("vip", "", "virtual IP `ADDR` (IPv4 or IPv6)")
	ports := fs.String("ports", "", "TCP/UDP `ports` P[,P...] of the VIP that share the service")
	mark := fs.Uint("mark", 0, "firewall mark `N` (1..4294967295) of the service")
	rs := fs.String("rs", "", "real servers `ADDR[,ADDR...]`, set up for direct routing")
	iface := fs.String("iface", "", "`interface` that gets the VIP, on the real servers' segment")
	persist := fs.Duration("persist", 0, "keep a client on one real server for this long (whole seconds; 0: no persistence)")
	backend := fs.String("backend", "", "nft or iptables (default: whichever holds the rules already, else nft)")
	sched := fs.String("sched", "rr", "IPVS scheduler `name` (rr, wlc, sh, mh, ...)")
	id := agent.IDFlag(fs)
	metrics := agent.MetricsFlag(fs)
	err := agent.ParseFlags(fs, args)
	if err != nil {
		return c, err
	}
	if c.vip, err = cli.ParseAddr("-vip", *vip); err != nil {
		return c, err
	}
	if c.rule.Ports, err = cli.List("-ports", *ports, "ports 1..65535, comma-separated", port); err != nil {
		return c, err
	}
	if *mark == 0 || *mark > 1<<32-1 {
		return c, fmt.Errorf("-mark %d: want 1..4294967295", *mark)
	}
	c.mark = uint32(*mark)
	if c.rs, err = cli.List("-rs", *rs, "ADDR[,ADDR...]", netip.ParseAddr); err != nil {
		return c, err
	}
	if err := cli.RealServers("direct routing", c.vip, true, c.rs...); err != nil {
		return c, err
	}
	if c.iface, err = cli.Interface(*iface); err != nil {
		return c, err
	}
	// ipvsadm caps persistence at 31 days; the kernel wraps larger values.
	if c.persist = *persist; c.persist < 0 || c.persist%time.Second != 0 || c.persist > 31*24*time.Hour {
		return c, fmt.Errorf("-persist %v: want whole seconds up to 31 days, e.g. 300s or 5m", *persist)
	}
	if c.backend, err = cli.Choice("-backend", *backend, "nft or iptables", map[string]fwmark.Backend{
		"": fwmark.BackendAuto, "nft": fwmark.BackendNFTables, "iptables": fwmark.BackendIPTables,
	}); err != nil {
		return c, err
	}
	if c.sched, err = cli.Scheduler(*sched); err != nil {
		return c, err
	}
	c.id = agent.ID(*id, "fwmark-director", c.vip)
	c.stats = *metrics
	c.rule.Mark = c.mark
	c.rule.Protocol = fwmark.ProtocolAny // with ports: TCP, UDP and SCTP
	c.rule.Destinations = []netip.Prefix{netip.PrefixFrom(c.vip, c.vip.BitLen())}
	if _, err := c.rule.Canonical(); err != nil {
		return c, err
	}
	if err := (director.VIP{Address: c.vip, Announce: director.AnnounceARP, Interface: c.iface}).Validate(); err != nil {
		return c, err
	}
	return c, nil
}

func run(args []string) int {
	return agent.MainRoles("fwmark", usage, args, map[string]func([]string) ([]agent.Step, error){
		"director": directorSteps,
	})
}

// directorSteps parses the command line and configures the director: the service, the mark rule, then the VIP.
func directorSteps(args []string) ([]agent.Step, error) {
	cfg, err := parse(args)
	if err != nil {
		return nil, err
	}
	d := agent.Director{ID: cfg.id, Metrics: cfg.stats}
	var fw *fwmark.Client
	family := ipvs.IPv4
	if cfg.vip.Is6() {
		family = ipvs.IPv6
	}
	svc := ipvs.Service{ServiceKey: ipvs.ServiceKey{Family: family, Fwmark: cfg.mark}, Scheduler: cfg.sched}
	if cfg.persist > 0 {
		svc.Flags, svc.Timeout = ipvs.FlagPersistent, cfg.persist
	}
	var dests []ipvs.Destination
	for _, a := range cfg.rs {
		// Port 0: each connection keeps the port it was made to.
		dests = append(dests, ipvs.Destination{Address: a, Forward: ipvs.DirectRoute, Weight: 1})
	}
	return []agent.Step{
		d.Open,
		func(ctx context.Context) (*agent.Setup, error) {
			var err error
			if fw, err = fwmark.New(ctx, &fwmark.Config{Backend: cfg.backend, Identity: cfg.id}); err != nil {
				return nil, err
			}
			// What a killed agent of this identity added goes first.
			if err := fw.Recover(ctx); err != nil {
				return nil, errors.Join(err, fw.Close())
			}
			return agent.Undo("close fwmark client", func(context.Context) error { return fw.Close() }), nil
		},
		d.Service(svc, dests...),
		func(ctx context.Context) (*agent.Setup, error) { return fw.Add(ctx, cfg.rule) },
		d.VIP(cfg.vip, cfg.iface),
	}, nil
}

func port(s string) (fwmark.PortRange, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err == nil && p == 0 {
		err = errors.New("port 0")
	}
	return fwmark.Port(uint16(p)), err
}
