package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/examples/internal/agent"
	"github.com/golvs/lvs/examples/internal/cli"
	"github.com/golvs/lvs/ipvs"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// config is the parsed command line.
type config struct {
	vip   netip.AddrPort
	rs    []netip.AddrPort
	iface string
	sched ipvs.Scheduler
	proto ipvs.Protocol
	snat  bool
	id    string
	stats string // -metrics
}

func parse(args []string) (config, error) {
	fs := flag.NewFlagSet("nat", flag.ContinueOnError)
	vip := fs.String("vip", "", "virtual service `ADDR:PORT` ([ADDR]:PORT for IPv6)")
	rs := fs.String("rs", "", "real servers `ADDR:PORT[,ADDR:PORT...]`")
	iface := fs.String("iface", "", "client-facing `interface` that gets the VIP")
	sched := fs.String("sched", "rr", "IPVS scheduler `name` (rr, wlc, sh, mh, ...)")
	proto := fs.String("proto", "tcp", "tcp or udp")
	snat := fs.Bool("snat", false, "one-arm NAT: source-NAT forwarded traffic so real servers answer the director")
	id := agent.IDFlag(fs)
	metrics := agent.MetricsFlag(fs)
	var c config
	err := agent.ParseFlags(fs, args)
	if err != nil {
		return c, err
	}
	if c.vip, err = cli.AddrPort("-vip", *vip); err != nil {
		return c, err
	}
	if c.rs, err = cli.List("-rs", *rs, "ADDR:PORT[,ADDR:PORT...], e.g. 10.0.0.11:8080", addrPort); err != nil {
		return c, err
	}
	var rsAddrs []netip.Addr
	for _, a := range c.rs {
		rsAddrs = append(rsAddrs, a.Addr())
	}
	if err := cli.RealServers("NAT", c.vip.Addr(), true, rsAddrs...); err != nil {
		return c, err
	}
	if c.iface, err = cli.Interface(*iface); err != nil {
		return c, err
	}
	if c.proto, err = ipvs.ParseProtocol(*proto); err != nil || (c.proto != ipvs.TCP && c.proto != ipvs.UDP) {
		return c, fmt.Errorf("-proto %q: want tcp or udp", *proto)
	}
	if c.sched, err = cli.Scheduler(*sched); err != nil {
		return c, err
	}
	c.snat = *snat
	c.stats = *metrics
	c.id = agent.ID(*id, "nat", c.vip)
	// What the SDK would refuse, refused before anything changes.
	if err := (director.VIP{Address: c.vip.Addr(), Announce: director.AnnounceARP, Interface: c.iface}).Validate(); err != nil {
		return c, err
	}
	if c.snat {
		n := director.OneArmNAT{Services: []director.SNATService{{Protocol: c.proto, VIP: c.vip}}, Interface: c.iface}
		if err := n.Validate(); err != nil {
			return c, err
		}
	}
	return c, nil
}

// addrPort parses ADDR:PORT with a port.
func addrPort(s string) (netip.AddrPort, error) { return cli.AddrPort("-rs", s) }

func run(args []string) int {
	return agent.Main("nat", args, directorSteps)
}

// directorSteps parses the command line and configures the director: the service first (creating it loads
// ip_vs, whose sysctls -snat needs), then forwarding or source NAT, the VIP
// last.
func directorSteps(args []string) ([]agent.Step, error) {
	cfg, err := parse(args)
	if err != nil {
		return nil, err
	}
	d := agent.Director{ID: cfg.id, Metrics: cfg.stats}
	svc := ipvs.Service{
		ServiceKey: ipvs.ServiceKey{Protocol: cfg.proto, Address: cfg.vip.Addr(), Port: cfg.vip.Port()},
		Scheduler:  cfg.sched,
	}
	var dests []ipvs.Destination
	for _, rs := range cfg.rs {
		dests = append(dests, ipvs.Destination{Address: rs.Addr(), Port: rs.Port(), Forward: ipvs.Masquerade, Weight: 1})
	}
	nat := func(ctx context.Context) (*director.Setup, error) {
		if cfg.snat {
			return d.Host.OneArmNAT(ctx, director.OneArmNAT{
				Services:  []director.SNATService{{Protocol: cfg.proto, VIP: cfg.vip}},
				Interface: cfg.iface,
			})
		}
		ifaces, err := interfacesTowards(cfg.rs)
		if err != nil {
			return nil, err
		}
		fwd := director.Forwarding{IPv4: cfg.vip.Addr().Is4(), IPv6: cfg.vip.Addr().Is6()}
		return d.Host.NATGateway(ctx, director.NATGateway{Forwarding: fwd, Interfaces: ifaces})
	}
	return []agent.Step{d.Open, d.Service(svc, dests...), nat, d.VIP(cfg.vip.Addr(), cfg.iface)}, nil
}

// interfacesTowards names the interfaces the kernel would use to reach the
// real servers. Connecting a UDP socket sends nothing; it only picks the
// route and so the local address, whose interface we look up.
func interfacesTowards(rs []netip.AddrPort) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for _, a := range rs {
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(a))
		if err != nil {
			return nil, fmt.Errorf("no route to real server %v: %w", a.Addr(), err)
		}
		local := conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
		conn.Close()
		name, err := interfaceWith(local)
		if err != nil {
			return nil, err
		}
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names, nil
}

func interfaceWith(a netip.Addr) (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, ifc := range ifaces {
		addrs, _ := ifc.Addrs()
		for _, ad := range addrs {
			if n, ok := ad.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a.Unmap() {
					return ifc.Name, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no interface holds %v", a)
}
