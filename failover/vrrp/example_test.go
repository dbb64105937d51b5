package vrrp_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/signal"
	"syscall"

	"github.com/golvs/lvs/failover/vrrp"
)

// Example runs one router of virtual router 51 (keepalived's defaults:
// VRRPv2, 1 s adverts, preemption on) and acts on its role. SIGTERM stops
// it gracefully: as master it sends priority 0, so the backup takes over at
// once.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	roles := make(chan vrrp.State, 16)
	n, err := vrrp.New(&vrrp.Config{
		NetNSPath:      "/run/netns/lb",
		Interface:      "eth0",
		VRID:           51,
		Priority:       150,
		AdvertInterval: vrrp.DefaultAdvertInterval,
		VIPs:           []netip.Addr{netip.MustParseAddr("192.0.2.10")},
		OnEvent: func(e vrrp.Event) {
			if e.Kind == vrrp.EventTransition {
				roles <- e.To // act elsewhere: the node waits for OnEvent
			} else {
				fmt.Println("peer mismatch:", e)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	go func() {
		for r := range roles {
			fmt.Println("state", r) // MASTER: add the VIP; otherwise remove it
		}
	}()
	if err := n.Run(ctx); err != nil {
		fmt.Println(err)
	}
	close(roles)
}

// Example_unicast speaks VRRPv3 to listed peers only, for networks
// without multicast (keepalived's unicast_src_ip and unicast_peer).
func Example_unicast() {
	_, err := vrrp.New(&vrrp.Config{
		Interface:      "eth0",
		VRID:           52,
		Priority:       100,
		Version:        3,
		AdvertInterval: vrrp.DefaultAdvertInterval,
		VIPs:           []netip.Addr{netip.MustParseAddr("2001:db8::10")},
		Source:         netip.MustParseAddr("2001:db8::1"),
		UnicastPeers:   []netip.Addr{netip.MustParseAddr("2001:db8::2")},
	})
	fmt.Println(err != nil)
}
