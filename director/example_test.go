package director_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/ipvs"
)

// A two-arm NAT director: the VIP on the client-facing interface eth0,
// real servers behind eth1 with the director as their default gateway.
func ExampleClient_NATGateway() {
	ctx := context.Background()
	d, err := director.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	gw, err := d.NATGateway(ctx, director.NATGateway{
		Forwarding: director.Forwarding{IPv4: true},
		Interfaces: []string{"eth1"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Teardown(ctx)
	vip, err := d.AddVIP(ctx, director.VIP{
		Address:   netip.MustParseAddr("192.0.2.10"),
		Announce:  director.AnnounceARP,
		Interface: "eth0",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer vip.Teardown(ctx)
	findings, err := d.CheckReturnPath(ctx, director.ReturnPath{
		RealServer: netip.MustParseAddr("10.0.0.11"),
		Gateway:    netip.MustParseAddr("10.0.0.1"),
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range findings {
		fmt.Println(f)
	}
	// Now create the service with package ipvs: VIP:80 → 10.0.0.11:8080,
	// ipvs.Masquerade.
}

// A VIP routed to the director (static route, ECMP or BGP) on the dummy
// device lvs0, created if missing.
func ExampleClient_AddVIP_routed() {
	ctx := context.Background()
	d, err := director.New(&director.Config{NetNSPath: "/run/netns/lb"})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	s, err := d.AddVIP(ctx, director.VIP{Address: netip.MustParseAddr("2001:db8::80"), Announce: director.AnnounceRouted})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Changes())
}

// Moving a VIP to this director: add it and announce it, five packets
// 100 ms apart; Announce repeats the burst later if needed.
func ExampleClient_AddVIP_failover() {
	ctx := context.Background()
	d, err := director.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	_, err = d.AddVIP(ctx, director.VIP{
		Address:    netip.MustParseAddr("192.0.2.10"),
		Announce:   director.AnnounceARP,
		Interface:  "eth0",
		Gratuitous: director.Gratuitous{Count: 5, Interval: 100 * time.Millisecond},
	})
	if err != nil {
		log.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	if err := d.Announce(ctx, "eth0", netip.MustParseAddr("192.0.2.10"), director.Gratuitous{}); err != nil {
		log.Fatal(err)
	}
}

// One-arm NAT: clients on the real servers' own subnet. The director
// source-NATs what IPVS forwards for the service, so the real servers
// answer the director, which de-NATs both ways.
func ExampleClient_OneArmNAT() {
	ctx := context.Background()
	d, err := director.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	s, err := d.OneArmNAT(ctx, director.OneArmNAT{
		Services:  []director.SNATService{{Protocol: ipvs.TCP, VIP: netip.MustParseAddrPort("10.0.0.100:80")}},
		Interface: "eth0",
		Backend:   director.BackendNFTables,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Teardown(ctx)
}

// Forwarding alone, for both families.
func ExampleClient_EnableForwarding() {
	ctx := context.Background()
	d, err := director.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	s, err := d.EnableForwarding(ctx, director.Forwarding{IPv4: true, IPv6: true})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Teardown(ctx)
}

// The sysctls most directors want, reverted on shutdown.
func ExampleClient_ApplySysctls() {
	ctx := context.Background()
	d, err := director.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	s, err := d.ApplySysctls(ctx, append(director.PresetFailover(), director.PresetConntrack()...)...)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Teardown(ctx)
}

// The settings ApplySysctls accepts, with their meaning.
func ExampleSysctls() {
	for _, s := range director.Sysctls()[:3] {
		fmt.Printf("%s (default %d)\n", s.Name, s.Default)
	}
	// Output:
	// net.ipv4.ip_forward (default 0)
	// net.ipv6.conf.all.forwarding (default 0)
	// net.ipv4.vs.conntrack (default 0)
}
