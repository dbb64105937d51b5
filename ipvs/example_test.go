package ipvs_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"strings"
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

// An agent's sync loop: the desired state is computed from elsewhere (a
// service registry), Apply makes the kernel match it, and destinations
// that leave are drained for up to 30 s. Only services on port 80 of
// 10.0.0.0/24 are the agent's; anything else in the namespace is left
// alone.
func ExampleClient_Apply() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	vips := netip.MustParsePrefix("10.0.0.0/24")
	opts := &ipvs.ApplyOptions{
		Owns:         func(k ipvs.ServiceKey) bool { return vips.Contains(k.Address) && k.Port == 80 },
		DrainTimeout: 30 * time.Second,
		Drains:       &ipvs.Drains{}, // keep it for the life of the agent
	}
	desired := func() ipvs.State {
		web := ipvs.ServiceState{Service: ipvs.Service{
			ServiceKey: ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80},
			Scheduler:  ipvs.WeightedRoundRobin,
		}}
		for _, a := range []string{"192.168.10.1", "192.168.10.2"} {
			web.Destinations = append(web.Destinations, ipvs.Destination{
				Address: netip.MustParseAddr(a), Port: 80, Forward: ipvs.DirectRoute, Weight: 1})
		}
		return ipvs.State{Services: []ipvs.ServiceState{web}}
	}

	for i := 0; i < 3; i++ { // for ever, in an agent
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := c.Apply(ctx, desired(), opts)
		cancel()
		if err != nil {
			// Some writes failed; res.Applied() says which were made.
			log.Printf("apply: %v (%v)", err, res)
		}
		for _, d := range res.Draining {
			log.Printf("draining %v -> %v: %d connections since %v", d.Service, d.Destination, d.Conns, d.Since)
		}
		time.Sleep(2 * time.Second)
	}
}

// Many writes in one go: a few system calls for thousands of objects, and
// each failure attributed to its write.
func ExampleBatch() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	b := c.Batch()
	for i := 1; i <= 100; i++ {
		k := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), Port: 443}
		b.CreateService(ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin})
		b.CreateDestination(k, ipvs.Destination{Address: netip.AddrFrom4([4]byte{192, 168, 1, byte(i)}), Port: 8443,
			Forward: ipvs.Masquerade, Weight: 1})
	}
	res, err := b.Commit(context.Background())
	if err != nil {
		failed, errs := res.Failed()
		for i := range failed {
			fmt.Println(errs[i]) // e.g. "ipvs: create service TCP 10.0.1.7:443: already exists (EEXIST)"
		}
	}
	fmt.Println(len(res.Applied()), "writes applied")
}

// Read every service and its destinations, with connection counts, as
// cheaply as the kernel allows.
func ExampleClient_Snapshot() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	snap, err := c.Snapshot(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range snap {
		var ds []string
		for _, d := range s.Destinations {
			ds = append(ds, fmt.Sprintf("%v w%d a%d i%d", d.Destination, d.Weight, d.ActiveConns, d.InactiveConns))
		}
		fmt.Println(s.ServiceKey, strings.Join(ds, ", "))
	}
}

// Review, then apply exactly what was reviewed: Plan writes nothing, and
// ApplyPlan refuses if the kernel changed in between.
func ExampleClient_Plan() {
	ctx := context.Background()
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	desired := ipvs.State{Services: []ipvs.ServiceState{{
		Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}},
		Destinations: []ipvs.Destination{
			{Address: netip.MustParseAddr("192.168.10.1"), Port: 80, Forward: ipvs.Masquerade, Weight: 1},
		},
	}}}
	p, err := c.Plan(ctx, desired, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range p.Steps() {
		fmt.Println(s.Change) // e.g. "create service TCP 10.0.0.1:80"
	}
	// ...an operator approves...
	_, err = c.ApplyPlan(ctx, p)
	if errors.Is(err, ipvs.ErrConflict) {
		log.Fatal("the table changed since the review: plan again")
	} else if err != nil {
		log.Fatal(err)
	}
}

// What keeps this namespace's IPVS table from forwarding, with fixes.
func ExampleClient_Check() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fs, err := c.Check(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fs) // "ok", or one finding per line
	if !fs.OK() {
		log.Fatal("IPVS cannot forward as configured")
	}
}

// Read the connection table of another namespace, as ipvsadm -Lnc shows it.
func ExampleClient_Connections() {
	c, err := ipvs.New(&ipvs.Config{NetNSPath: "/run/netns/director"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	conns, err := c.Connections(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, cn := range conns {
		fmt.Println(ipvs.ProtocolName(cn.Protocol), cn.Client, "->", cn.Virtual, "->", cn.Destination, cn.State, cn.Expires)
	}
}

// Set a sysctl for the namespace and restore the previous value afterwards
// with the returned Setup (nothing to restore if it already held "1").
func ExampleClient_SetSysctl() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	set, err := c.SetSysctl(ctx, ipvs.SysctlExpireNodestConn, "1")
	if err != nil {
		log.Fatal(err)
	}
	defer set.Teardown(ctx)
	fmt.Println("changes:", set.Changes())
	total, err := c.GlobalStats(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("connections so far:", total.Connections)
}
