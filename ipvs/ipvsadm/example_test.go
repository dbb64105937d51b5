package ipvsadm_test

import (
	"context"
	"log"
	"os"
	"strings"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvsadm"
)

// Restore a file written by ipvsadm-save -n through the SDK; a failure
// removes what was added.
func ExampleRestore() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	f, err := os.Open("/etc/ipvsadm.rules")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := ipvsadm.Restore(context.Background(), c, f); err != nil {
		log.Fatal(err) // *ipvsadm.Error names the line and token
	}
}

// Run an ipvsadm command line on a namespace, as the ipvsadm binary would.
func ExampleRun() {
	c, err := ipvs.New(&ipvs.Config{NetNSPath: "/run/netns/director"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	os.Exit(ipvsadm.Run(context.Background(), c, []string{"ipvsadm", "-Ln", "--stats"}, nil, os.Stdout, os.Stderr))
}

// Parse rules and write them back in ipvsadm's order.
func ExampleWriteRules() {
	r, err := ipvsadm.ParseRules(strings.NewReader(`
-A -f 7 -6 -s rr
-a -t 10.0.0.1:80 -r 192.168.10.2 -m
`))
	if err != nil {
		// line 3: Service not defined (at "-t 10.0.0.1:80")
		r, _ = ipvsadm.ParseRules(strings.NewReader("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 192.168.10.2 -m\n-A -f 7 -6 -s rr\n"))
	}
	ipvsadm.WriteRules(os.Stdout, r)
	// Output:
	// -A -t 10.0.0.1:80 -s rr
	// -a -t 10.0.0.1:80 -r 192.168.10.2:80 -m -w 1
	// -A -f 7 -6 -s rr
}
