// Command nat runs a NAT (masquerading) IPVS director until it is stopped.
//
//	nat -vip 192.0.2.10:80 -rs 10.0.0.11:8080,10.0.0.12:8080 -iface eth0
//	nat -vip [2001:db8::10]:80 -rs [fd00::11]:8080,[fd00::12]:8080 -iface eth0
//	nat -vip 10.0.0.100:80 -rs 10.0.0.11:8080,10.0.0.12:8080 -iface eth0 -snat
//
// It puts the VIP on IFACE (announced by gratuitous ARP or neighbour
// advertisement), turns on forwarding, and creates the virtual service with
// masquerading destinations; real servers may listen on other ports than the
// VIP's. Replies must come back through the director: either the real
// servers' default route points at it (two-arm NAT), or -snat source-NATs
// what IPVS forwards, so that they answer the director (one-arm NAT, for real
// servers on the clients' own subnet).
//
// It prints "ready" once everything is configured, runs until SIGINT or
// SIGTERM, then removes what it configured and exits 0. A failed set-up is
// rolled back and exits 1; bad flags exit 2. It needs root (CAP_NET_ADMIN)
// and acts on its own network namespace (start it with ip netns exec to
// target another).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/golvs/lvs/director"
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
}

func parse(args []string) (config, error) {
	fs := flag.NewFlagSet("nat", flag.ContinueOnError)
	vip := fs.String("vip", "", "virtual service `ADDR:PORT` ([ADDR]:PORT for IPv6)")
	rs := fs.String("rs", "", "real servers `ADDR:PORT[,ADDR:PORT...]`")
	iface := fs.String("iface", "", "client-facing `interface` that gets the VIP")
	sched := fs.String("sched", "rr", "IPVS scheduler `name` (rr, wlc, sh, mh, ...)")
	proto := fs.String("proto", "tcp", "tcp or udp")
	snat := fs.Bool("snat", false, "one-arm NAT: source-NAT forwarded traffic so real servers answer the director")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	var c config
	var err error
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.vip, err = netip.ParseAddrPort(*vip); err != nil || c.vip.Port() == 0 {
		return c, fmt.Errorf("-vip %q: want ADDR:PORT with a port, e.g. 192.0.2.10:80 or [2001:db8::10]:80", *vip)
	}
	for _, s := range strings.Split(*rs, ",") {
		a, err := netip.ParseAddrPort(strings.TrimSpace(s))
		if err != nil || a.Port() == 0 {
			return c, fmt.Errorf("-rs %q: want ADDR:PORT[,ADDR:PORT...]", *rs)
		}
		if a.Addr().Is4() != c.vip.Addr().Is4() {
			return c, fmt.Errorf("-rs %v: NAT needs real servers of the VIP's address family", a)
		}
		c.rs = append(c.rs, a)
	}
	if c.iface = *iface; c.iface == "" {
		return c, errors.New("-iface is required: the interface clients reach the VIP on")
	}
	if c.proto, err = ipvs.ParseProtocol(*proto); err != nil || (c.proto != ipvs.TCP && c.proto != ipvs.UDP) {
		return c, fmt.Errorf("-proto %q: want tcp or udp", *proto)
	}
	c.sched, c.snat = ipvs.Scheduler(*sched), *snat
	return c, nil
}

func run(args []string) int {
	cfg, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nat:", err)
		return 2
	}
	// A signal during set-up cancels it; the steps done so far are undone.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var undo []func(context.Context) error
	teardown := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i](ctx))
		}
		return errors.Join(errs...)
	}
	if err := setup(ctx, cfg, &undo); err != nil {
		fmt.Fprintln(os.Stderr, "nat: set-up failed:", err)
		if err := teardown(); err != nil {
			fmt.Fprintln(os.Stderr, "nat: rollback:", err)
		}
		return 1
	}
	fmt.Println("ready")
	<-ctx.Done()
	if err := teardown(); err != nil {
		fmt.Fprintln(os.Stderr, "nat: teardown:", err)
		return 1
	}
	return 0
}

// setup configures the director, appending the undo of each step to undo.
func setup(ctx context.Context, cfg config, undo *[]func(context.Context) error) error {
	d, err := director.New(nil)
	if err != nil {
		return err
	}
	c, err := ipvs.New(nil)
	if err != nil {
		d.Close()
		return err
	}
	// Closed last, after every other undo step has used them.
	*undo = append(*undo, func(context.Context) error { return errors.Join(c.Close(), d.Close()) })

	// The service first: creating it loads ip_vs, whose sysctls -snat needs.
	key := ipvs.ServiceKey{Protocol: cfg.proto, Address: cfg.vip.Addr(), Port: cfg.vip.Port()}
	if err := c.CreateService(ctx, ipvs.Service{ServiceKey: key, Scheduler: cfg.sched}); err != nil {
		if errors.Is(err, ipvs.ErrExist) {
			return fmt.Errorf("%v already exists; not taking over someone else's service", key)
		}
		return err
	}
	*undo = append(*undo, func(ctx context.Context) error { return c.DeleteService(ctx, key) })
	for _, rs := range cfg.rs {
		d := ipvs.Destination{Address: rs.Addr(), Port: rs.Port(), Forward: ipvs.Masquerade, Weight: 1}
		if err := c.CreateDestination(ctx, key, d); err != nil {
			return err
		}
	}

	fwd := director.Forwarding{IPv4: cfg.vip.Addr().Is4(), IPv6: cfg.vip.Addr().Is6()}
	var s *director.Setup
	if cfg.snat {
		s, err = d.OneArmNAT(ctx, director.OneArmNAT{
			Services:  []director.SNATService{{Protocol: cfg.proto, VIP: cfg.vip}},
			Interface: cfg.iface,
		})
	} else {
		var ifaces []string
		ifaces, err = interfacesTowards(cfg.rs)
		if err == nil {
			s, err = d.NATGateway(ctx, director.NATGateway{Forwarding: fwd, Interfaces: ifaces})
		}
	}
	if err != nil {
		return err
	}
	*undo = append(*undo, s.Teardown)

	// The VIP last: once it is announced, clients' traffic arrives.
	v, err := d.AddVIP(ctx, director.VIP{Address: cfg.vip.Addr(), Announce: director.AnnounceARP, Interface: cfg.iface})
	if err != nil {
		return err
	}
	*undo = append(*undo, v.Teardown)
	return nil
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
