//go:build linux

package ipvs_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/golvs/lvs/ipvs"
	"github.com/stretchr/testify/require"
)

// A plan against a kernel another program changed is refused and writes
// nothing; planned again, it applies and the kernel holds the desired
// state.
func TestKernelPlanRefusedAfterChangeThenConverges(t *testing.T) {
	c, ns, ctx := applyEnv(t, 2*time.Minute)
	ns.Exec(t, "ipvsadm", "-A", "-t", "10.0.0.1:80", "-s", "rr")
	ns.Exec(t, "ipvsadm", "-a", "-t", "10.0.0.1:80", "-r", "192.168.1.2:80", "-m", "-w", "1")
	ns.Exec(t, "ipvsadm", "-a", "-t", "10.0.0.1:80", "-r", "192.168.1.3:80", "-m", "-w", "1")

	web := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	desired := ipvs.State{Services: []ipvs.ServiceState{{
		Service: ipvs.Service{ServiceKey: web, Scheduler: ipvs.WeightedRoundRobin},
		Destinations: []ipvs.Destination{
			{Address: netip.MustParseAddr("192.168.1.2"), Port: 80, Forward: ipvs.Masquerade, Weight: 3},
			{Address: netip.MustParseAddr("192.168.1.4"), Port: 80, Forward: ipvs.Masquerade, Weight: 1},
		},
	}}}
	p, err := c.Plan(ctx, desired, nil)
	require.NoError(t, err)
	require.Equal(t, 4, p.Len(), "%v", p.Steps())
	before := string(ns.Exec(t, "ipvsadm", "-Sn"))
	require.Equal(t, `-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 1
-a -t 10.0.0.1:80 -r 192.168.1.3:80 -m -w 1
`, before, "Plan wrote")

	// An operator changes a weight meanwhile.
	ns.Exec(t, "ipvsadm", "-e", "-t", "10.0.0.1:80", "-r", "192.168.1.3:80", "-m", "-w", "7")
	changed := string(ns.Exec(t, "ipvsadm", "-Sn"))
	_, err = c.ApplyPlan(ctx, p)
	require.ErrorIs(t, err, ipvs.ErrConflict)
	require.ErrorContains(t, err, "TCP 10.0.0.1:80 -> 192.168.1.3:80")
	require.Equal(t, changed, string(ns.Exec(t, "ipvsadm", "-Sn")), "a refused plan wrote")

	p, err = c.Plan(ctx, desired, nil)
	require.NoError(t, err)
	res, err := c.ApplyPlan(ctx, p)
	require.NoError(t, err)
	require.Equal(t, 4, res.Writes())
	require.Equal(t, `-A -t 10.0.0.1:80 -s wrr
-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 3
-a -t 10.0.0.1:80 -r 192.168.1.4:80 -m -w 1
`, string(ns.Exec(t, "ipvsadm", "-Sn")))
	p, err = c.Plan(ctx, desired, nil)
	require.NoError(t, err)
	require.Zero(t, p.Len(), "%v", p.Steps())
}
