package ipvsadm_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvsadm"
	"github.com/golvs/lvs/ipvs/ipvstest"
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
		log.Fatal(err) // names the line, e.g. "ipvsadm: restore line 3: ..."
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

// Save a namespace's table as ipvsadm -S -n does.
func ExampleWriteRules() {
	c, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	services, err := c.Snapshot(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	ipvsadm.WriteRules(os.Stdout, services, ipvsadm.FormatNumeric)
}

// Read a rules file into the ipvs package's desired state, e.g. for
// ipvs.Client.Apply; an error names the line and the argument at fault.
func ExampleParseRules() {
	_, err := ipvsadm.ParseRules(strings.NewReader("-A -f 7 -6 -s rr\n-a -t 10.0.0.1:80 -r 192.168.10.2 -m\n"))
	fmt.Println(err, errors.Is(err, ipvsadm.ErrNotExist))
	st, err := ipvsadm.ParseRules(strings.NewReader("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 192.168.10.2 -m\n"))
	if err != nil {
		log.Fatal(err)
	}
	s := st.Services[0]
	fmt.Println(s.ServiceKey, s.Scheduler, s.Destinations[0].Address, s.Destinations[0].Port, s.Destinations[0].Forward)
	// Output:
	// ipvsadm: parse rules line 2: -t 10.0.0.1:80: Service not defined (does not exist) true
	// TCP 10.0.0.1:80 rr 192.168.10.2 80 Masq
}

// Review before applying: the plan of a rules file against a table,
// printed as a diff, then applied as reviewed. ipvstest stands in for
// the kernel (ipvs.New(nil) on a real host).
func ExampleWritePlan() {
	ctx := context.Background()
	c := ipvstest.New()
	now, _ := ipvsadm.ParseRules(strings.NewReader("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 1\n"))
	if _, err := c.Apply(ctx, now, nil); err != nil {
		log.Fatal(err)
	}

	rules := `-A -t 10.0.0.1:80 -s wlc
-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 3
-a -t 10.0.0.1:80 -r 192.168.1.3:80 -m -w 1
`
	desired, err := ipvsadm.ParseRules(strings.NewReader(rules))
	if err != nil {
		log.Fatal(err)
	}
	p, err := c.Plan(ctx, desired, nil)
	if err != nil {
		log.Fatal(err)
	}
	ipvsadm.WritePlan(os.Stdout, p, ipvsadm.FormatNumeric)
	// ...reviewed; if the table changed meanwhile, ApplyPlan writes nothing
	// and fails with ErrConflict.
	res, err := c.ApplyPlan(ctx, p)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res)
	// Output:
	// ~ -E -t 10.0.0.1:80 -s wlc  # was: -s rr
	// ~ -e -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 3  # was: -m -w 1
	// + -a -t 10.0.0.1:80 -r 192.168.1.3:80 -m -w 1
	// 3 writes (3 applied, 0 failed), 0 draining
}
