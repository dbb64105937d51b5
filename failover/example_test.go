package failover_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/signal"
	"syscall"

	"github.com/golvs/lvs/failover"
	"github.com/golvs/lvs/failover/vrrp"
	"github.com/golvs/lvs/health"
)

// A director of a keepalived-style pair: VRRP elects, failover holds the
// VIP and the sync daemons, and a health pool's quorum forces FAULT.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	vip := netip.MustParseAddr("192.0.2.10")
	var pool *health.Pool // the director's health-checked real servers
	var fo *failover.Client
	node, err := vrrp.New(&vrrp.Config{
		Interface: "eth0", VRID: 51, Priority: 150, AdvertInterval: vrrp.DefaultAdvertInterval,
		VIPs:    []netip.Addr{vip},
		OnEvent: func(e vrrp.Event) { fo.HandleVRRP(e) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	fo, err = failover.New(&failover.Config{
		Identity: "ha@192.0.2.10", Interface: "eth0", VRID: 51, VIPs: []netip.Addr{vip},
		Sync:    failover.Sync{Mode: failover.SyncFollow, Interface: "eth0"},
		Elector: node, Priority: 150,
		Trackers: []failover.Tracker{{Name: "quorum", Check: func(context.Context) error {
			if !pool.Snapshot().Quorum {
				return errors.New("no quorum")
			}
			return nil
		}}},
		OnEvent: func(e failover.Event) {
			if e.Kind == failover.EventRole {
				fmt.Println("state", e.To) // notify_master, notify_backup...
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fo.Close()
	if err := fo.Run(ctx); err != nil {
		fmt.Println(err)
	}
}
