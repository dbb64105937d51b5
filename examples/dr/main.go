package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/golvs/lvs/examples/internal/agent"
	"github.com/golvs/lvs/examples/internal/cli"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
)

const usage = `usage:
  dr director -vip ADDR:PORT -rs ADDR[,ADDR...] -iface IFACE [-sched NAME] [-metrics ADDR:PORT]
  dr realserver -vip ADDR [-arp sysctl|arptables|nft]`

func main() {
	os.Exit(agent.MainRoles("dr", usage, os.Args[1:], map[string]func([]string) ([]agent.Step, error){
		"director":   directorSteps,
		"realserver": realserverSteps,
	}))
}

func directorSteps(args []string) ([]agent.Step, error) {
	fs := flag.NewFlagSet("dr director", flag.ContinueOnError)
	c := cli.DirectorFlags(fs, "on IFACE's segment")
	id := agent.IDFlag(fs)
	metrics := agent.MetricsFlag(fs)
	if err := agent.ParseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := c.Check("direct routing", true); err != nil {
		return nil, err
	}
	return agent.OneService("dr-director", *id, *metrics, c, ipvs.Destination{Forward: ipvs.DirectRoute, Weight: 1}), nil
}

func realserverSteps(args []string) ([]agent.Step, error) {
	fs := flag.NewFlagSet("dr realserver", flag.ContinueOnError)
	vipFlag := fs.String("vip", "", "virtual IP `ADDR` (IPv4 or IPv6)")
	arpFlag := fs.String("arp", "sysctl", "ARP suppression for an IPv4 VIP: sysctl, arptables or nft")
	id := agent.IDFlag(fs)
	if err := agent.ParseFlags(fs, args); err != nil {
		return nil, err
	}
	vip, err := cli.ParseAddr("-vip", *vipFlag)
	if err != nil {
		return nil, err
	}
	cfg := realserver.DR{VIPs: []netip.Addr{vip}}
	if cfg.ARP.Backend, err = cli.Choice("-arp", *arpFlag, "sysctl, arptables or nft", map[string]realserver.ARPBackend{
		"sysctl": realserver.ARPSysctl, "arptables": realserver.ARPTables, "nft": realserver.ARPNFTables,
	}); err != nil {
		return nil, err
	}
	rules := vip.Is4() && cfg.ARP.Backend != realserver.ARPSysctl
	if rules {
		// Validate with a placeholder; the real RIP is found after
		// recovery, once a killed predecessor's VIP is gone.
		cfg.ARP.RIP = netip.AddrFrom4([4]byte{192, 0, 2, 1})
		if vip == cfg.ARP.RIP {
			cfg.ARP.RIP = netip.AddrFrom4([4]byte{192, 0, 2, 2})
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	return agent.RealServer(agent.ID(*id, "dr-realserver", vip), func(ctx context.Context, c *realserver.Client) (*realserver.Setup, error) {
		if rules {
			// The rules rewrite our ARP requests' sender address from the
			// VIP to our own address on the VIP's segment.
			var err error
			if cfg.ARP.RIP, err = sourceFor(vip); err != nil {
				return nil, err
			}
		}
		return c.SetupDR(ctx, cfg)
	}), nil
}

// sourceFor returns the local address the kernel would send from to reach
// dst. Connecting a UDP socket sends nothing; it only picks the route.
func sourceFor(dst netip.Addr) (netip.Addr, error) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("finding our address towards %v: %w", dst, err)
	}
	defer conn.Close()
	src := conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	if src == dst {
		return netip.Addr{}, fmt.Errorf("%v is already local here; cannot tell our own address on its segment", dst)
	}
	return src, nil
}
