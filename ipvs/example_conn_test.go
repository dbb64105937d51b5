package ipvs_test

import (
	"context"
	"fmt"
	"log"

	"github.com/golvs/lvs/ipvs"
)

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
