package ipvsadm_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/golvs/lvs/ipvs/ipvsadm"
	"github.com/golvs/lvs/ipvs/ipvstest"
)

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
