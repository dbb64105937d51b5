package ipvs_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// Open a client for another network namespace, here one made with
// `ip netns add lb`. The caller's own namespace is never changed.
func ExampleNew() {
	c, err := ipvs.New(&ipvs.Config{NetNSPath: "/run/netns/lb"})
	if err != nil {
		log.Fatal(err) // errors.Is(err, ipvs.ErrUnavailable): load ip_vs
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	svcs, err := c.Services(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range svcs {
		fmt.Println(s.ServiceKey, s.Scheduler, s.Stats.Connections)
	}
}

// A NAT (masquerading) service with two real servers on another port.
func ExampleClient_CreateService_nat() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	vip := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	if err := c.CreateService(ctx, ipvs.Service{ServiceKey: vip, Scheduler: ipvs.WeightedRoundRobin}); err != nil {
		log.Fatal(err)
	}
	for _, rs := range []string{"192.168.10.1", "192.168.10.2"} {
		d := ipvs.Destination{Address: netip.MustParseAddr(rs), Port: 8080, Forward: ipvs.Masquerade, Weight: 1}
		if err := c.CreateDestination(ctx, vip, d); err != nil {
			log.Fatal(err)
		}
	}
}

// Direct routing: the real servers hold the VIP themselves, so the
// destination port must be the service's.
func ExampleClient_CreateDestination_directRoute() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	vip := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 443}
	if err := c.CreateService(ctx, ipvs.Service{ServiceKey: vip, Scheduler: ipvs.MaglevHashing,
		Flags: ipvs.FlagMHPort}); err != nil {
		log.Fatal(err)
	}
	d := ipvs.Destination{Address: netip.MustParseAddr("192.168.10.1"), Port: 443, Forward: ipvs.DirectRoute, Weight: 100,
		UpperThreshold: 10000, LowerThreshold: 8000}
	if err := c.CreateDestination(ctx, vip, d); err != nil {
		log.Fatal(err)
	}
}

// A GUE tunnel destination in another address family: an IPv6 service
// balanced to an IPv4 real server that decapsulates FOU on UDP port 6080.
// On kernels older than 5.2 the call fails with ErrNotSupported instead of
// silently making an IPIP tunnel.
func ExampleClient_CreateDestination_tunnelGUE() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	vip := ipvs.ServiceKey{Protocol: ipvs.UDP, Address: netip.MustParseAddr("2001:db8::1"), Port: 53}
	if err := c.CreateService(ctx, ipvs.Service{ServiceKey: vip, Scheduler: ipvs.RoundRobin, Flags: ipvs.FlagOnePacket}); err != nil {
		log.Fatal(err)
	}
	d := ipvs.Destination{Address: netip.MustParseAddr("192.168.10.5"), Port: 53, Forward: ipvs.Tunnel, Weight: 1,
		TunnelType: ipvs.GUE, TunnelPort: 6080, TunnelFlags: ipvs.TunnelChecksum}
	if err := c.CreateDestination(ctx, vip, d); errors.Is(err, ipvs.ErrNotSupported) {
		log.Fatal("this kernel has no GUE tunnels: ", err)
	} else if err != nil {
		log.Fatal(err)
	}
}

// A firewall-mark service (packets marked 7 by nftables or iptables) with
// persistence: clients in the same /24 stick to one real server for 10
// minutes.
func ExampleClient_CreateService_fwmarkPersistence() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	mask, err := ipvs.NetmaskBits(ipvs.IPv4, 24)
	if err != nil {
		log.Fatal(err)
	}
	fwm := ipvs.ServiceKey{Family: ipvs.IPv4, Fwmark: 7}
	err = c.CreateService(ctx, ipvs.Service{ServiceKey: fwm, Scheduler: ipvs.WeightedLeastConnection,
		Flags: ipvs.FlagPersistent, Timeout: 10 * time.Minute, Netmask: mask})
	if err != nil {
		log.Fatal(err)
	}
	// A fwmark service has no port: destinations keep the packet's port
	// (port 0) unless they masquerade to a fixed one.
	d := ipvs.Destination{Address: netip.MustParseAddr("192.168.10.1"), Forward: ipvs.DirectRoute, Weight: 1}
	if err := c.CreateDestination(ctx, fwm, d); err != nil {
		log.Fatal(err)
	}
}

// UpdateDestination replaces the whole entry, so change one field by
// reading, modifying and writing back.
func ExampleClient_UpdateDestination_weight() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	vip := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	rs := netip.MustParseAddrPort("192.168.10.1:8080")
	dests, err := c.Destinations(ctx, vip)
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range dests {
		if netip.AddrPortFrom(d.Address, d.Port) == rs {
			d.Weight = 5
			if err := c.UpdateDestination(ctx, vip, d.Destination); err != nil {
				log.Fatal(err)
			}
		}
	}
}

// Drain a real server: weight 0 sends it no new connections while the
// established ones finish; delete it once ActiveConns reaches 0.
func ExampleClient_UpdateDestination_drain() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	vip := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	rs := netip.MustParseAddrPort("192.168.10.1:8080")
	find := func() (ipvs.DestinationInfo, bool) {
		dests, err := c.Destinations(ctx, vip)
		if err != nil {
			log.Fatal(err)
		}
		for _, d := range dests {
			if netip.AddrPortFrom(d.Address, d.Port) == rs {
				return d, true
			}
		}
		return ipvs.DestinationInfo{}, false
	}
	d, ok := find()
	if !ok {
		return
	}
	d.Weight = 0
	if err := c.UpdateDestination(ctx, vip, d.Destination); err != nil {
		log.Fatal(err)
	}
	for d.ActiveConns > 0 && ctx.Err() == nil {
		time.Sleep(time.Second)
		if d, ok = find(); !ok {
			return
		}
	}
	if err := c.DeleteDestination(ctx, vip, rs); err != nil && !errors.Is(err, ipvs.ErrNotExist) {
		log.Fatal(err)
	}
}

// Start a master sync daemon that multicasts connection state on eth1, and
// list what runs.
func ExampleClient_StartDaemon() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	err = c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "eth1", SyncID: 10,
		Group: netip.MustParseAddr("239.1.1.81"), Port: 8848, TTL: 1})
	if err != nil && !errors.Is(err, ipvs.ErrExist) {
		log.Fatal(err)
	}
	daemons, err := c.Daemons(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range daemons {
		fmt.Printf("%v sync daemon on %s, syncid %d\n", d.State, d.Interface, d.SyncID)
	}
}

// Shorten the TCP FIN timeout; zero fields stay as they are.
func ExampleClient_SetTimeouts() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	if err := c.SetTimeouts(ctx, ipvs.Timeouts{TCPFin: 30 * time.Second}); err != nil {
		log.Fatal(err)
	}
	t, err := c.Timeouts(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.TCP, t.TCPFin, t.UDP)
}

// Errors match sentinels with errors.Is the same way on every call, and
// validation errors name the field.
func ExampleError() {
	c, err := ipvs.New(nil)
	if errors.Is(err, ipvs.ErrPermission) {
		log.Fatal("run as root (CAP_NET_ADMIN)")
	} else if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	vip := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	err = c.CreateService(ctx, ipvs.Service{ServiceKey: vip, Scheduler: ipvs.TwoRandomChoices})
	var e *ipvs.Error
	switch {
	case err == nil:
	case errors.Is(err, ipvs.ErrExist):
		// Already there: idempotent set-up can carry on.
	case errors.Is(err, ipvs.ErrUnavailable):
		log.Fatal("this kernel lacks the scheduler: ", err)
	case errors.As(err, &e) && e.Field != "":
		log.Fatalf("bad %s: %v", e.Field, err)
	default:
		log.Fatal(err)
	}
	if _, err := c.Service(ctx, ipvs.ServiceKey{Family: ipvs.IPv6, Fwmark: 99}); errors.Is(err, ipvs.ErrNotExist) {
		fmt.Println("no such service")
	}
}

// Info and counters: the version, the connection table size, and zeroing
// the counters of one service.
func ExampleClient_Info() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	in, err := c.Info(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("IPVS %v, %d connection buckets\n", in.Version, in.ConnTableSize)
	vip := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	if err := c.ZeroService(ctx, vip); err != nil && !errors.Is(err, ipvs.ErrNotExist) {
		log.Fatal(err)
	}
}
