package health_test

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/golvs/lvs/ipvs"
)

// A DR service whose real servers are checked with HTTP, taken out with
// weight 0 when they fail, and replaced by a sorry server when none is up.
func Example() {
	c, err := ipvs.New(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	svc := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("192.0.2.10"), Port: 80}
	check := &health.HTTP{Path: "/healthz", Host: "www.example.com", Body: regexp.MustCompile(`ok`)}
	var servers []health.Server
	for _, rip := range []string{"10.0.0.11", "10.0.0.12"} {
		servers = append(servers, health.Server{
			Destination: ipvs.Destination{Address: netip.MustParseAddr(rip), Port: 80, Forward: ipvs.DirectRoute, Weight: 10},
			Checker:     check,
		})
	}
	pool, err := health.New(health.Config{
		IPVS:    c,
		Service: svc,
		Servers: servers,
		Timing:  health.Timing{Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3},
		Sorry:   &ipvs.Destination{Address: netip.MustParseAddr("10.0.0.99"), Port: 80, Forward: ipvs.DirectRoute},
		Notify: func(e health.Event) {
			fmt.Println(e.Kind, e.Server, e.Err)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pool.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Println(err)
	}
}

// Checking through the forwarding path: the check goes to the VIP with a
// socket mark, and IPVS forwards it to that one real server.
func ExampleServer_viaVIP() {
	_ = health.Server{
		Destination: ipvs.Destination{Address: netip.MustParseAddr("10.0.0.11"), Port: 80, Forward: ipvs.DirectRoute, Weight: 1},
		Checker:     &health.HTTP{Path: "/"},
		ViaVIP:      true,
		Mark:        0x1001, // unique per real server, unused otherwise on the director
	}
}

// A command decides, and sets the weight: exit 0 up, 1 down, 2–255 up with
// weight status−2. It gets LVS_CHECK_ADDR and LVS_CHECK_PORT.
func ExampleCommand() {
	_ = &health.Command{Path: "/usr/local/bin/check-load", Args: []string{"--max", "0.8"}, DynamicWeight: true}
}

// The pool's state at any time.
func ExamplePool_Snapshot() {
	var pool *health.Pool // from health.New
	if pool == nil {
		return
	}
	s := pool.Snapshot()
	for _, sv := range s.Servers {
		fmt.Println(sv.Server, sv.Up, sv.Weight, sv.LastError)
	}
}

// An agent's live changes, while Run runs: service discovery adds and
// removes servers (a removed one drains first), an operator's maintenance
// switch takes one out without stopping its checks, and a new service
// joins; the other servers' checks and weights are not touched.
func ExamplePool_AddServer() {
	var pool *health.Pool // from health.New, running
	if pool == nil {
		return
	}
	ctx := context.Background()
	svc := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("192.0.2.10"), Port: 80}
	rs := ipvs.Destination{Address: netip.MustParseAddr("10.0.0.13"), Port: 80, Forward: ipvs.DirectRoute, Weight: 10}
	if err := pool.AddServer(ctx, svc, health.Server{Destination: rs, Checker: &health.HTTP{Path: "/healthz"}}); err != nil {
		fmt.Println(err)
	}
	pool.SetMaintenance(ctx, svc, netip.AddrPortFrom(rs.Address, rs.Port), true)  // weight 0, still checked
	pool.SetMaintenance(ctx, svc, netip.AddrPortFrom(rs.Address, rs.Port), false) // back at 10 if healthy
	pool.RemoveServer(ctx, svc, netip.MustParseAddrPort("10.0.0.11:80"))          // drained, then deleted
	// The same backends behind port 443: their checks are shared.
	tls := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: svc.Address, Port: 443}
	pool.AddService(ctx, health.ServiceConfig{Service: tls, Servers: []health.Server{{
		Destination: ipvs.Destination{Address: rs.Address, Port: 443, Forward: ipvs.DirectRoute, Weight: 10},
		Connect:     netip.AddrPortFrom(rs.Address, 80), Checker: &health.HTTP{Path: "/healthz"}}}})
}

// One reconcile path: a passive pool writes nothing; its verdicts go into
// the state the agent applies, after each event and periodically. Apply
// writes nothing when nothing changed, and one batch when many did.
func ExamplePool_Desired() {
	c, err := ipvs.New(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	svc := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("192.0.2.10"), Port: 80}
	changed := make(chan struct{}, 1)
	pool, err := health.New(health.Config{IPVS: c, Service: svc, Passive: true,
		Servers: []health.Server{{Destination: ipvs.Destination{Address: netip.MustParseAddr("10.0.0.11"), Port: 80, Weight: 10}, Checker: health.TCP{}}},
		Notify: func(health.Event) {
			select {
			case changed <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go pool.Run(ctx)
	desired := ipvs.State{Services: []ipvs.ServiceState{{Service: ipvs.Service{ServiceKey: svc, Scheduler: ipvs.WeightedRoundRobin}}}}
	opts := &ipvs.ApplyOptions{Owns: func(k ipvs.ServiceKey) bool { return k == svc }}
	for ctx.Err() == nil {
		if _, err := c.Apply(ctx, pool.Desired(desired), opts); err != nil {
			fmt.Println(err)
		}
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
		case <-ctx.Done():
		}
	}
}
