package realserver_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
)

// A direct-routing real server: the VIP on lo and ARP suppression with
// sysctls; Teardown restores the host exactly.
func ExampleClient_SetupDR() {
	ctx := context.Background()
	c, err := realserver.New(nil) // the caller's namespace
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	s, err := c.SetupDR(ctx, realserver.DR{
		VIPs: []netip.Addr{netip.MustParseAddr("192.0.2.10")},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, change := range s.Changes() {
		fmt.Println("will undo:", change)
	}
	// ... serve ...
	if err := s.Teardown(ctx); err != nil {
		log.Fatal(err)
	}
}

// Direct routing in a container's namespace, with ARP suppressed by
// nftables rules (table arp golvs_realserver) instead of sysctls, the VIP on a dummy
// device.
func ExampleClient_SetupDR_nftables() {
	ctx := context.Background()
	c, err := realserver.New(&realserver.Config{NetNSPath: "/run/netns/web1"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	s, err := c.SetupDR(ctx, realserver.DR{
		VIPs:   []netip.Addr{netip.MustParseAddr("192.0.2.10")},
		Device: "lvs0",
		ARP: realserver.ARP{
			Backend: realserver.ARPNFTables,
			RIP:     netip.MustParseAddr("10.0.0.11"),
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Teardown(ctx)
}

// A tunnelling real server for a director whose destinations use GUE on
// UDP port 6080 (ipvs.Destination{Forward: ipvs.Tunnel, TunnelType:
// ipvs.GUE, TunnelPort: 6080}); IPIP and GRE differ only in Type.
func ExampleClient_SetupTUN() {
	ctx := context.Background()
	c, err := realserver.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	s, err := c.SetupTUN(ctx, realserver.TUN{
		VIPs: []netip.Addr{netip.MustParseAddr("192.0.2.10")},
		Type: ipvs.GUE,
		Port: 6080,
	})
	if err != nil {
		log.Fatal(err) // e.g. ErrUnavailable: "load the kernel module(s) fou ipip"
	}
	defer s.Teardown(ctx)
}

// Diagnose why direct routing misbehaves for a VIP, changing nothing.
func ExampleClient_CheckDR() {
	c, err := realserver.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	r, err := c.CheckDR(context.Background(), realserver.DR{
		VIPs: []netip.Addr{netip.MustParseAddr("192.0.2.10")},
	})
	if err != nil {
		log.Fatal(err)
	}
	// e.g. "problem: eth0 answers ARP requests for the VIPs (arp_ignore 0 =
	// max(all 0, eth0 0)): ... (fix: sysctl -w net.ipv4.conf.all.arp_ignore=1)"
	fmt.Println(r)
}

// Will the replies to a client leave the way its requests came? With
// a client address, a static route covering it is a warning.
func ExampleClient_CheckRoutes() {
	c, err := realserver.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fs, err := c.CheckRoutes(context.Background(), netip.MustParseAddr("198.51.100.7"))
	if err != nil {
		log.Fatal(err)
	}
	// e.g. "warning: IPv4 default routes: 2 default gateways (192.168.1.1
	// on eth0, 192.168.2.1 on eth1): replies to clients leave through ..."
	fmt.Println(fs)
}
