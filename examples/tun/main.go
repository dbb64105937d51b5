// Command tun runs either side of an IPVS tunnelling (TUN) service until it
// is stopped.
//
//	tun director -vip 192.0.2.10:80 -rs 10.1.0.11,10.2.0.12 -iface eth0 [-type ipip|gue|gre] [-port 6080]
//	tun realserver -vip 192.0.2.10 [-type ipip|gue|gre] [-port 6080]
//
// In tunnelling mode the director wraps each request in an outer IP header
// (IPIP, GUE over UDP, or GRE) addressed to a real server, which may be
// anywhere the director can route to; the real server unwraps it and
// answers the client directly, from the VIP. The director side puts the VIP
// on IFACE and creates the service with tunnelling destinations (IPVS
// encapsulates by itself: no tunnel device is needed there). The realserver
// side brings up the tunnel device (tunl0 or gre0; for GUE also the fou
// receive port), puts the VIP on it, suppresses ARP for the VIP, and relaxes
// reverse-path filtering on the tunnel device only if strict filtering
// would drop the unwrapped packets. Both sides must agree on -type (and
// -port for GUE, default 6080). Ports cannot be mapped. The real-server side
// handles IPv4 VIPs (IPv4 in IPv4).
//
// Each side prints "ready" once configured, runs until SIGINT or SIGTERM,
// then removes what it configured and exits 0. A failed set-up is rolled
// back and exits 1; bad flags exit 2. It needs root (CAP_NET_ADMIN) and acts
// on its own network namespace. The kernel modules ipip (or ip_gre, and fou
// for GUE) must be loaded on real servers; nothing here runs modprobe.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/golvs/lvs/examples/internal/agent"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
)

const usage = `usage:
  tun director -vip ADDR:PORT -rs ADDR[,ADDR...] -iface IFACE [-type ipip|gue|gre] [-port N] [-sched NAME]
  tun realserver -vip ADDR [-type ipip|gue|gre] [-port N]`

// defaultGUEPort is the fou port when -type gue comes without -port.
const defaultGUEPort = 6080

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	var steps []agent.Step
	var err error
	switch args[0] {
	case "director":
		steps, err = directorSteps(args[1:])
	case "realserver":
		steps, err = realserverSteps(args[1:])
	default:
		err = fmt.Errorf("unknown role %q\n%s", args[0], usage)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tun:", err)
		return 2
	}
	return agent.Serve("tun", steps)
}

func tunnelFlags(fs *flag.FlagSet) func() (ipvs.TunnelType, uint16, error) {
	typ := fs.String("type", "ipip", "encapsulation: ipip, gue or gre")
	port := fs.Uint("port", 0, "GUE's UDP `port` on the real servers (default 6080)")
	return func() (ipvs.TunnelType, uint16, error) {
		var t ipvs.TunnelType
		switch *typ {
		case "ipip":
			t = ipvs.IPIP
		case "gue":
			t = ipvs.GUE
		case "gre":
			t = ipvs.GRE
		default:
			return 0, 0, fmt.Errorf("-type %q: want ipip, gue or gre", *typ)
		}
		switch {
		case *port > 65535:
			return 0, 0, fmt.Errorf("-port %d: not a port", *port)
		case t != ipvs.GUE && *port != 0:
			return 0, 0, fmt.Errorf("-port is for -type gue only")
		case t == ipvs.GUE && *port == 0:
			*port = defaultGUEPort
		}
		return t, uint16(*port), nil
	}
}

func directorSteps(args []string) ([]agent.Step, error) {
	fs := flag.NewFlagSet("tun director", flag.ContinueOnError)
	vipFlag := fs.String("vip", "", "virtual service `ADDR:PORT`")
	rsFlag := fs.String("rs", "", "real servers `ADDR[,ADDR...]`, anywhere routable")
	iface := fs.String("iface", "", "client-facing `interface` that gets the VIP")
	sched := fs.String("sched", "rr", "IPVS scheduler `name` (rr, wlc, sh, mh, ...)")
	tunnel := tunnelFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	typ, port, err := tunnel()
	if err != nil {
		return nil, err
	}
	vip, err := netip.ParseAddrPort(*vipFlag)
	if err != nil || vip.Port() == 0 {
		return nil, fmt.Errorf("-vip %q: want ADDR:PORT with a port, e.g. 192.0.2.10:80", *vipFlag)
	}
	var rs []netip.Addr
	for _, s := range strings.Split(*rsFlag, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("-rs %q: want ADDR[,ADDR...] (no ports: tunnelling cannot map them)", *rsFlag)
		}
		rs = append(rs, a)
	}
	if *iface == "" {
		return nil, errors.New("-iface is required: the interface clients reach the VIP on")
	}

	var d *director.Client
	var c *ipvs.Client
	key := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: vip.Addr(), Port: vip.Port()}
	return []agent.Step{
		func(context.Context) (func(context.Context) error, error) {
			var err error
			if d, err = director.New(nil); err != nil {
				return nil, err
			}
			if c, err = ipvs.New(nil); err != nil {
				d.Close()
				return nil, err
			}
			return func(context.Context) error { return errors.Join(c.Close(), d.Close()) }, nil
		},
		func(ctx context.Context) (func(context.Context) error, error) {
			err := c.CreateService(ctx, ipvs.Service{ServiceKey: key, Scheduler: ipvs.Scheduler(*sched)})
			if errors.Is(err, ipvs.ErrExist) {
				return nil, fmt.Errorf("%v already exists; not taking over someone else's service", key)
			}
			if err != nil {
				return nil, err
			}
			undo := func(ctx context.Context) error { return c.DeleteService(ctx, key) }
			for _, a := range rs {
				dest := ipvs.Destination{Address: a, Port: vip.Port(), Forward: ipvs.Tunnel, Weight: 1,
					TunnelType: typ, TunnelPort: port}
				if err := c.CreateDestination(ctx, key, dest); err != nil {
					return nil, errors.Join(err, undo(ctx))
				}
			}
			return undo, nil
		},
		func(ctx context.Context) (func(context.Context) error, error) {
			s, err := d.AddVIP(ctx, director.VIP{Address: vip.Addr(), Announce: director.AnnounceARP, Interface: *iface})
			if err != nil {
				return nil, err
			}
			return s.Teardown, nil
		},
	}, nil
}

func realserverSteps(args []string) ([]agent.Step, error) {
	fs := flag.NewFlagSet("tun realserver", flag.ContinueOnError)
	vipFlag := fs.String("vip", "", "virtual IP `ADDR` (IPv4)")
	tunnel := tunnelFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	typ, port, err := tunnel()
	if err != nil {
		return nil, err
	}
	vip, err := netip.ParseAddr(*vipFlag)
	if err != nil {
		return nil, fmt.Errorf("-vip %q: want an address, e.g. 192.0.2.10", *vipFlag)
	}
	cfg := realserver.TUN{VIPs: []netip.Prefix{netip.PrefixFrom(vip, vip.BitLen())}, Type: typ, Port: port}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	var c *realserver.Client
	return []agent.Step{
		func(context.Context) (func(context.Context) error, error) {
			var err error
			if c, err = realserver.New(nil); err != nil {
				return nil, err
			}
			return func(context.Context) error { return c.Close() }, nil
		},
		func(ctx context.Context) (func(context.Context) error, error) {
			s, err := c.SetupTUN(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return s.Teardown, nil
		},
	}, nil
}
