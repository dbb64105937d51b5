package realserver_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/golvs/lvs/realserver"
)

// Will the replies to a client leave the way its requests came? With
// a client address, a static route covering it is a warning.
func ExampleClient_CheckRoutes() {
	c, err := realserver.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fs, err := c.CheckRoutes(context.Background(), netip.MustParseAddr("198.51.100.7"))
	if err != nil {
		log.Fatal(err)
	}
	// e.g. "warning: IPv4 default routes: 2 default gateways (192.168.1.1
	// on eth0, 192.168.2.1 on eth1): replies to clients leave through ..."
	fmt.Println(fs)
}
