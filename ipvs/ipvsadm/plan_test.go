package ipvsadm_test

import (
	"context"
	"strings"
	"testing"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvsadm"
	"github.com/golvs/lvs/ipvs/ipvstest"
	"github.com/stretchr/testify/require"
)

func TestWritePlan(t *testing.T) {
	ctx := context.Background()
	c := ipvstest.New()
	// The kernel holds a rules file...
	have, err := ipvsadm.ParseRules(strings.NewReader(`-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 1
-a -t 10.0.0.1:80 -r 192.168.1.3:80 -m -w 2
-A -u 10.0.0.1:53 -s rr
-a -u 10.0.0.1:53 -r 192.168.1.2:53 -m -w 1
-A -f 7 -s wlc -p 300
-a -f 7 -r 192.168.1.2:0 -g -w 1
`))
	require.NoError(t, err)
	_, err = c.Apply(ctx, have, nil)
	require.NoError(t, err)
	// ...and the plan of another.
	want, err := ipvsadm.ParseRules(strings.NewReader(`-A -t 10.0.0.1:80 -s wlc
-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 5
-a -t 10.0.0.1:80 -r 192.168.1.4:8080 -m -w 1
-A -f 7 -s wlc -p 300
-a -f 7 -r 192.168.1.2:0 -g -w 1 -x 100 -y 50
-A -t [2001:db8::1]:443 -s sh -b sh-port
-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -i -w 1 --tun-type gue --tun-port 6080
`))
	require.NoError(t, err)
	p, err := c.Plan(ctx, want, &ipvs.ApplyOptions{MaxDeleteShare: 1})
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, ipvsadm.WritePlan(&b, p, ipvsadm.FormatNumeric))
	require.Equal(t, `- -d -t 10.0.0.1:80 -r 192.168.1.3:80  # was: -m -w 2
- -D -u 10.0.0.1:53  # was: -s rr
~ -E -t 10.0.0.1:80 -s wlc  # was: -s rr
~ -e -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 5  # was: -m -w 1
+ -a -t 10.0.0.1:80 -r 192.168.1.4:8080 -m -w 1
~ -e -f 7 -r 192.168.1.2:0 -g -w 1 -x 100 -y 50  # was: -g -w 1
+ -A -t [2001:db8::1]:443 -s sh -b sh-port
+ -a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
`, b.String())

	// Applied, the plan leaves nothing to do: an empty diff.
	_, err = c.ApplyPlan(ctx, p)
	require.NoError(t, err)
	p, err = c.Plan(ctx, want, nil)
	require.NoError(t, err)
	b.Reset()
	require.NoError(t, ipvsadm.WritePlan(&b, p, ipvsadm.FormatNumeric))
	require.Empty(t, b.String())
}
