package ipvs_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"

	"github.com/golvs/lvs/ipvs"
)

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
