package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"

	"github.com/golvs/lvs/examples/internal/agent"
	"github.com/golvs/lvs/examples/internal/cli"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
)

const usage = `usage:
  tun director -vip ADDR:PORT -rs ADDR[,ADDR...] -iface IFACE [-type ipip|gue|gre] [-port N] [-sched NAME] [-metrics ADDR:PORT]
  tun realserver -vip ADDR [-type ipip|gue|gre] [-port N] [-mss N]`

// defaultGUEPort is the fou port when -type gue comes without -port.
const defaultGUEPort = 6080

func main() {
	os.Exit(agent.MainRoles("tun", usage, os.Args[1:], map[string]func([]string) ([]agent.Step, error){
		"director":   directorSteps,
		"realserver": realserverSteps,
	}))
}

// tunnelFlags defines -type and -port in fs and returns the parse function
// of fs, which also checks those two.
func tunnelFlags(fs *flag.FlagSet) func(args []string) (ipvs.TunnelType, uint16, error) {
	typ := fs.String("type", "ipip", "encapsulation: ipip, gue or gre")
	port := fs.Uint("port", 0, "GUE's UDP `port` on the real servers (default 6080)")
	return func(args []string) (ipvs.TunnelType, uint16, error) {
		if err := agent.ParseFlags(fs, args); err != nil {
			return 0, 0, err
		}
		t, err := cli.TunnelType("-type", *typ)
		if err != nil {
			return 0, 0, err
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
	c := cli.DirectorFlags(fs, "anywhere routable")
	id := agent.IDFlag(fs)
	metrics := agent.MetricsFlag(fs)
	parse := tunnelFlags(fs)
	typ, port, err := parse(args)
	if err != nil {
		return nil, err
	}
	if err := c.Check("tunnelling", false); err != nil {
		return nil, err
	}
	return agent.OneService("tun-director", *id, *metrics, c, ipvs.Destination{Forward: ipvs.Tunnel, Weight: 1, TunnelType: typ, TunnelPort: port}), nil
}

func realserverSteps(args []string) ([]agent.Step, error) {
	fs := flag.NewFlagSet("tun realserver", flag.ContinueOnError)
	vipFlag := fs.String("vip", "", "virtual IP `ADDR` (IPv4)")
	mss := fs.Uint("mss", 0, "clamp the TCP MSS the real server advertises from the VIP to `N` (536..65535; 0: no clamp)")
	id := agent.IDFlag(fs)
	parse := tunnelFlags(fs)
	typ, port, err := parse(args)
	if err != nil {
		return nil, err
	}
	vip, err := cli.ParseAddr("-vip", *vipFlag)
	if err != nil {
		return nil, err
	}
	if *mss > 65535 {
		return nil, fmt.Errorf("-mss %d: want 536..65535", *mss)
	}
	cfg := realserver.TUN{VIPs: []netip.Addr{vip}, Type: typ, Port: port, MSS: uint16(*mss)}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	return agent.RealServer(agent.ID(*id, "tun-realserver", vip), func(ctx context.Context, c *realserver.Client) (*realserver.Setup, error) {
		return c.SetupTUN(ctx, cfg)
	}), nil
}
