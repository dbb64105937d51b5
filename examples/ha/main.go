package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/golvs/lvs/examples/internal/agent"
	"github.com/golvs/lvs/examples/internal/cli"
	"github.com/golvs/lvs/failover"
	"github.com/golvs/lvs/failover/vrrp"
	"github.com/golvs/lvs/ipvs"
)

const usage = `usage:
  ha director -vip ADDR:PORT -rs ADDR[,ADDR...] -iface IFACE -vrid N -priority P
     [-sched NAME] [-advert DURATION] [-version 2|3] [-unicast-peer ADDR[,ADDR...]] [-source ADDR]
     [-nopreempt] [-preempt-delay DURATION] [-sync IFACE]`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if cli.Help(args, usage) {
		return 0
	}
	// State lines wait for "ready", which the agent prints after the last
	// step, when the election already runs.
	lines := make(chan string, 256)
	ready := make(chan struct{})
	go func() {
		<-ready
		for l := range lines {
			fmt.Println(l)
		}
	}()
	parse := agent.Roles(usage, map[string]func([]string) ([]agent.Step, error){
		"director": func(a []string) ([]agent.Step, error) { return directorSteps(a, lines) },
	})
	code := agent.MainReady("ha", args, parse, func() { close(ready) })
	return code
}

// config is the checked command line.
type config struct {
	dir      *cli.Director
	id       string
	vrrp     vrrp.Config
	syncIf   string
	priority int
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("ha director", flag.ContinueOnError)
	c := cli.DirectorFlags(fs, "on IFACE's segment")
	id := agent.IDFlag(fs)
	vrid := fs.String("vrid", "", "VRRP virtual router `ID`, 1..255 (required; keepalived's virtual_router_id)")
	prio := fs.String("priority", "", "VRRP `priority`, 1..255 (required; 255: address owner)")
	advert := fs.Duration("advert", time.Second, "VRRP advertisement `interval` (whole seconds for version 2, centiseconds for 3)")
	version := fs.String("version", "", "VRRP `version`, 2 or 3 (default 2, 3 for an IPv6 VIP)")
	peers := fs.String("unicast-peer", "", "send adverts to these `ADDR[,ADDR...]` instead of multicast (keepalived's unicast_peer)")
	source := fs.String("source", "", "send adverts from this `ADDR` of IFACE (keepalived's unicast_src_ip; default: its first IPv4 address, or IPv6 link-local)")
	nopreempt := fs.Bool("nopreempt", false, "do not take over from a lower-priority master")
	delay := fs.Duration("preempt-delay", 0, "wait this `long` after first hearing a lower-priority master before taking over")
	syncIf := fs.String("sync", "", "run the IPVS sync daemon on `IFACE` with sync ID = vrid")
	if err := agent.ParseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := c.Check("direct routing", true); err != nil {
		return nil, err
	}
	cfg := &config{dir: c}
	n, err := intFlag("-vrid", *vrid, 1, 255)
	if err != nil {
		return nil, err
	}
	if cfg.priority, err = intFlag("-priority", *prio, 1, 255); err != nil {
		return nil, err
	}
	v := 0
	if *version != "" {
		if v, err = intFlag("-version", *version, 2, 3); err != nil {
			return nil, err
		}
	}
	vc := vrrp.Config{
		Interface: c.Iface, VRID: n, Priority: cfg.priority, Version: v, AdvertInterval: *advert,
		VIPs: []netip.Addr{c.VIP.Addr()}, NoPreempt: *nopreempt, PreemptDelay: *delay,
	}
	if *peers != "" {
		if vc.UnicastPeers, err = cli.List("-unicast-peer", *peers, "ADDR[,ADDR...]", netip.ParseAddr); err != nil {
			return nil, err
		}
	}
	if *source != "" {
		if vc.Source, err = netip.ParseAddr(*source); err != nil {
			return nil, fmt.Errorf("-source %q: want an address of IFACE, e.g. 192.0.2.1 or 2001:db8::1", *source)
		}
	}
	if err := vc.Validate(); err != nil {
		return nil, flagError(err)
	}
	if *syncIf != "" {
		if _, err := net.InterfaceByName(*syncIf); err != nil {
			return nil, fmt.Errorf("-sync %q: no such interface here", *syncIf)
		}
	}
	cfg.vrrp, cfg.syncIf = vc, *syncIf
	cfg.id = agent.ID(*id, "ha-director", c.VIP)
	fc := cfg.failoverConfig()
	if err := fc.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// flags names vrrp.Config's fields by their flags.
var flags = map[string]string{
	"VRID": "-vrid", "Priority": "-priority", "Version": "-version", "AdvertInterval": "-advert",
	"UnicastPeers": "-unicast-peer", "PreemptDelay": "-preempt-delay", "VIPs": "-vip", "Source": "-source",
}

// flagError restates a Config error in terms of the flag.
func flagError(err error) error {
	var e *vrrp.Error
	if errors.As(err, &e) && flags[e.Field] != "" {
		msg := err.Error()
		if e.Err != nil {
			msg = e.Err.Error()
		}
		return fmt.Errorf("%s: %s", flags[e.Field], msg)
	}
	return err
}

func intFlag(name, s string, lo, hi int) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("%s is required (%d..%d)", name, lo, hi)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q: want a number from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

func (c *config) failoverConfig() failover.Config {
	fc := failover.Config{
		Identity: c.id, Interface: c.dir.Iface, VIPs: []netip.Addr{c.dir.VIP.Addr()}, VRID: c.vrrp.VRID,
		Priority: c.priority,
	}
	if c.syncIf != "" {
		fc.Sync = failover.Sync{Mode: failover.SyncFollow, Interface: c.syncIf}
	}
	return fc
}

func directorSteps(args []string, lines chan<- string) ([]agent.Step, error) {
	cfg, err := parseFlags(args)
	if err != nil {
		return nil, err
	}
	vip := cfg.dir.VIP
	var dests []ipvs.Destination
	for _, a := range cfg.dir.RS {
		dests = append(dests, ipvs.Destination{Address: a, Port: vip.Port(), Forward: ipvs.DirectRoute, Weight: 1})
	}
	d := agent.Director{ID: cfg.id}
	svc := ipvs.Service{ServiceKey: ipvs.ServiceKey{Protocol: ipvs.TCP, Address: vip.Addr(), Port: vip.Port()}, Scheduler: cfg.dir.Sched}
	return []agent.Step{d.Open, d.Service(svc, dests...), cfg.elect(lines)}, nil
}

// elect starts the election and the failover actions; its undo stops
// them (a master sends priority 0) and removes the VIP and daemons.
func (cfg *config) elect(lines chan<- string) agent.Step {
	return func(ctx context.Context) (*agent.Setup, error) {
		fc := cfg.failoverConfig()
		var fo *failover.Client
		fc.OnEvent = func(e failover.Event) {
			switch {
			case e.Kind == failover.EventRole && (e.To == failover.Master || e.To == failover.Backup || e.To == failover.Fault):
				lines <- "state " + e.To.String()
			case e.Kind == failover.EventError, e.Kind == failover.EventTracker && e.Err != nil:
				fmt.Fprintln(os.Stderr, "ha:", e)
			}
		}
		vc := cfg.vrrp
		vc.OnEvent = func(e vrrp.Event) {
			if e.Kind == vrrp.EventMismatch {
				fmt.Fprintln(os.Stderr, "ha: vrrp:", e)
			}
			fo.HandleVRRP(e)
		}
		node, err := vrrp.New(&vc)
		if err != nil {
			return nil, err
		}
		fc.Elector = node
		if fo, err = failover.New(&fc); err != nil {
			return nil, errors.Join(err, node.Close())
		}
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			err := fo.Run(rctx)
			done <- err
			if err != nil && rctx.Err() == nil {
				// The election broke (its socket failed): say so and
				// stop as on SIGTERM, which undoes the rest.
				fmt.Fprintln(os.Stderr, "ha: election stopped:", err)
				syscall.Kill(os.Getpid(), syscall.SIGTERM)
			}
		}()
		return agent.Undo("stop election", func(context.Context) error {
			cancel()
			err := <-done
			return errors.Join(err, fo.Close(), node.Close())
		}), nil
	}
}
