package ipvs_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"strings"
	"time"

	"github.com/golvs/lvs/ipvs"
)

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
