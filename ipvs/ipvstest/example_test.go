package ipvstest_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvstest"
)

// weights is the part of ipvs.Client an agent uses: *ipvs.Client in
// production, *ipvstest.Client in its tests.
type weights interface {
	Destinations(ctx context.Context, k ipvs.ServiceKey) ([]ipvs.DestinationInfo, error)
	UpdateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error
}

// quiesce sets a real server's weight to 0: no new connections.
func quiesce(ctx context.Context, c weights, k ipvs.ServiceKey, server netip.AddrPort) error {
	ds, err := c.Destinations(ctx, k)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if netip.AddrPortFrom(d.Address, d.Port) == server {
			d.Weight = 0
			return c.UpdateDestination(ctx, k, d.Destination)
		}
	}
	return fmt.Errorf("%v is not a server of %v", server, k)
}

// Test an agent's logic without root or IPVS: the fake answers as the
// kernel would, errors included.
func Example() {
	ctx := context.Background()
	c := ipvstest.New()
	svc := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("192.0.2.10"), Port: 80}
	_ = c.CreateService(ctx, ipvs.Service{ServiceKey: svc, Scheduler: ipvs.RoundRobin})
	_ = c.CreateDestination(ctx, svc, ipvs.Destination{Address: netip.MustParseAddr("10.0.0.11"), Port: 80, Forward: ipvs.DirectRoute, Weight: 10})

	fmt.Println(quiesce(ctx, c, svc, netip.MustParseAddrPort("10.0.0.11:80")))
	ds, _ := c.Destinations(ctx, svc)
	fmt.Println(ds[0].Address, "weight", ds[0].Weight)

	other := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("192.0.2.10"), Port: 443}
	fmt.Println(quiesce(ctx, c, other, netip.MustParseAddrPort("10.0.0.11:443")))
	// Output:
	// <nil>
	// 10.0.0.11 weight 0
	// ipvs: list destinations TCP 192.0.2.10:443: does not exist (ESRCH)
}

// Apply's guard against a truncated desired state, shown without root:
// ipvstest runs ipvs's own Apply.
func ExampleClient_Apply() {
	ctx := context.Background()
	c := ipvstest.New()
	var desired ipvs.State
	for port := uint16(1); port <= 4; port++ {
		desired.Services = append(desired.Services, ipvs.ServiceState{
			Service: ipvs.Service{ServiceKey: ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("192.0.2.10"), Port: port}},
		})
	}
	res, err := c.Apply(ctx, desired, nil)
	fmt.Println(res, err)

	// A configuration cut short after its first service.
	_, err = c.Apply(ctx, ipvs.State{Services: desired.Services[:1]}, nil)
	fmt.Println(err)

	// A deliberate removal says so.
	res, err = c.Apply(ctx, ipvs.State{}, &ipvs.ApplyOptions{AllowMassDelete: true})
	fmt.Println(res, err)
	// Output:
	// 4 writes (4 applied, 0 failed), 0 draining <nil>
	// ipvs: apply: refusing to delete 3 of the 4 services it owns (75%, above MaxDeleteShare 50%) for a desired state of 1: is it truncated? Set AllowMassDelete or raise MaxDeleteShare to delete them (conflicts with existing configuration)
	// 4 writes (4 applied, 0 failed), 0 draining <nil>
}
