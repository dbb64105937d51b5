package fwmark_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/golvs/lvs/fwmark"
	"github.com/golvs/lvs/ipvs"
)

// One persistent fwmark service for http and https of a VIP: a client's
// connections to both ports go to the same real server.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vip := netip.MustParsePrefix("192.0.2.10/32")

	fw, err := fwmark.New(ctx, &fwmark.Config{NetNSPath: "/run/netns/director"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fw.Close()
	web := fwmark.Rule{Mark: 1, Protocol: fwmark.ProtocolTCP, Destinations: []netip.Prefix{vip},
		Ports: []fwmark.PortRange{fwmark.Port(80), fwmark.Port(443)}}
	if err := fw.Sync(ctx, []fwmark.Rule{web}); err != nil {
		fmt.Println(err)
		return
	}

	c, err := ipvs.New(&ipvs.Config{NetNSPath: "/run/netns/director"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	key := ipvs.ServiceKey{Family: ipvs.IPv4, Fwmark: web.Mark}
	err = c.CreateService(ctx, ipvs.Service{ServiceKey: key, Scheduler: ipvs.RoundRobin,
		Flags: ipvs.FlagPersistent, Timeout: 5 * time.Minute})
	if err != nil {
		fmt.Println(err)
	}
}

// Sync reconciles: the installed rules become exactly the desired ones.
// An empty list removes everything.
func ExampleClient_Sync() {
	ctx := context.Background()
	fw, err := fwmark.New(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fw.Close()
	desired := []fwmark.Rule{
		{Mark: 1, Protocol: fwmark.ProtocolTCP, Destinations: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")},
			Ports: []fwmark.PortRange{fwmark.Port(80), fwmark.Port(443)}},
		// Everything to a whole range, any protocol.
		{Mark: 2, Protocol: fwmark.ProtocolAny, Destinations: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
	}
	if err := fw.Sync(ctx, desired); err != nil {
		fmt.Println(err)
	}
}

// Add installs rules and returns a Setup whose Teardown removes exactly what
// it added.
func ExampleClient_Add() {
	ctx := context.Background()
	fw, err := fwmark.New(ctx, &fwmark.Config{Backend: fwmark.BackendIPTables, IPTables: "iptables-legacy"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fw.Close()
	s, err := fw.Add(ctx, fwmark.Rule{Mark: 3, Protocol: fwmark.ProtocolUDP,
		Destinations: []netip.Prefix{netip.MustParsePrefix("2001:db8::53/128")},
		Ports:        []fwmark.PortRange{fwmark.Port(53)}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Teardown(ctx)
}

// An agent with an identity on the host recovers first: what a killed
// process of the same identity added is undone (a rule another agent
// still relies on stays), then it adds afresh.
func ExampleClient_Recover() {
	ctx := context.Background()
	fw, err := fwmark.New(ctx, &fwmark.Config{Identity: "fwmark-director@192.0.2.10"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fw.Close()
	if err := fw.Recover(ctx); err != nil {
		fmt.Println(err)
		return
	}
	s, err := fw.Add(ctx, fwmark.Rule{Mark: 1, Protocol: fwmark.ProtocolTCP,
		Destinations: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")},
		Ports:        []fwmark.PortRange{fwmark.Port(80), fwmark.Port(443)}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Teardown(ctx)
}

// Conflicts reports other owners' rules that write the mark where IPVS
// would see it.
func ExampleClient_Conflicts() {
	ctx := context.Background()
	fw, err := fwmark.New(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fw.Close()
	conflicts, err := fw.Conflicts(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range conflicts {
		fmt.Println("mark also written by:", c)
	}
}

// Canonical shows the form rules are compared and stored in.
func ExampleRule_Canonical() {
	r := fwmark.Rule{Mark: 0x10, Protocol: fwmark.ProtocolTCP,
		Destinations: []netip.Prefix{netip.MustParsePrefix("10.0.0.7/24"), netip.MustParsePrefix("10.0.0.9/32")},
		Ports:        []fwmark.PortRange{fwmark.Port(443), {80, 81}, fwmark.Port(82)}}
	c, err := r.Canonical()
	fmt.Println(c, err)
	// Output: mark=0x10 proto=tcp dst=10.0.0.0/24 ports=80-82,443 <nil>
}
