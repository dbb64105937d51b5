package bgp_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/signal"
	"syscall"
	"time"

	"github.com/golvs/lvs/bgp"
	"github.com/golvs/lvs/ipvs"
)

// A director announces its VIP while its IPVS service has a serving real
// server, and withdraws it (confirmed sent) on SIGTERM before it removes
// the service.
func ExampleClient_Follow() {
	vip := netip.MustParseAddrPort("192.0.2.10:80")
	speaker, err := bgp.New(&bgp.Config{
		ASN:      65001,
		RouterID: netip.MustParseAddr("10.0.0.11"),
		Peers: []bgp.Peer{{
			Address:  netip.MustParseAddr("10.0.0.1"),
			ASN:      65000,
			HoldTime: 9 * time.Second,
			BFD:      &bgp.BFD{}, // 3 x 300 ms
		}},
		OnEvent: func(e bgp.Event) { fmt.Println(e.Kind, e.Peer, e.VIP, e.Reason) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer speaker.Close()
	ipvsc, err := ipvs.New(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ipvsc.Close()
	// (Create the service first: see ECMPService and PresetECMP.)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	key := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: vip.Addr(), Port: vip.Port()}
	route := bgp.Route{VIP: netip.PrefixFrom(vip.Addr(), 32), Communities: []string{"65001:100"}}
	if err := speaker.Follow(ctx, route, bgp.ServiceGate(ipvsc, key, 1), time.Second); err != nil {
		fmt.Println(err)
	}
	// Withdrawn and sent: now remove the service.
}

// A bad configuration is refused before anything starts, naming the field.
func ExampleConfig_Validate() {
	cfg := &bgp.Config{ASN: 23456, RouterID: netip.MustParseAddr("10.0.0.11")}
	fmt.Println(cfg.Validate())
	// Output: bgp: configure: Config.ASN: 23456 is AS_TRANS (RFC 6793)
}
