package ipvstest_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvstest"
	"github.com/stretchr/testify/require"
)

var (
	web = ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	rs1 = ipvs.Destination{Address: netip.MustParseAddr("192.168.1.2"), Port: 80, Forward: ipvs.Masquerade, Weight: 1}
)

// kernelErr checks an error as a caller of ipvs.Client would.
func kernelErr(t *testing.T, err error, sentinel error, errno syscall.Errno, op, obj string) {
	t.Helper()
	require.ErrorIs(t, err, sentinel)
	require.ErrorIs(t, err, errno)
	var e *ipvs.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, op, e.Op)
	require.Equal(t, obj, e.Object)
}

func TestServicesAndDestinations(t *testing.T) {
	ctx := context.Background()
	c := ipvstest.New()
	require.NoError(t, c.CreateService(ctx, ipvs.Service{ServiceKey: web}))
	kernelErr(t, c.CreateService(ctx, ipvs.Service{ServiceKey: web}), ipvs.ErrExist, syscall.EEXIST, "create service", "TCP 10.0.0.1:80")
	require.EqualError(t, c.CreateService(ctx, ipvs.Service{ServiceKey: web}), "ipvs: create service TCP 10.0.0.1:80: already exists (EEXIST)")

	// Read back as the kernel reports it.
	got, err := c.Service(ctx, ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 80})
	require.NoError(t, err)
	require.Equal(t, ipvs.Service{ServiceKey: ipvs.ServiceKey{Family: ipvs.IPv4, Protocol: ipvs.TCP, Address: web.Address, Port: 80}, Scheduler: ipvs.WeightedLeastConnection}, got.Service)

	kernelErr(t, c.CreateService(ctx, ipvs.Service{ServiceKey: ipvs.ServiceKey{Protocol: ipvs.UDP, Address: web.Address, Port: 53}, Scheduler: "nosuch"}),
		ipvs.ErrUnavailable, syscall.ENOENT, "create service", "UDP 10.0.0.1:53")

	missing := web
	missing.Port = 81
	kernelErr(t, c.CreateDestination(ctx, missing, rs1), ipvs.ErrNotExist, syscall.ESRCH, "create destination", "TCP 10.0.0.1:81 -> 192.168.1.2:80")
	require.NoError(t, c.CreateDestination(ctx, web, rs1))
	kernelErr(t, c.CreateDestination(ctx, web, rs1), ipvs.ErrExist, syscall.EEXIST, "create destination", "TCP 10.0.0.1:80 -> 192.168.1.2:80")
	rs2 := rs1
	rs2.Address = netip.MustParseAddr("192.168.1.3")
	kernelErr(t, c.UpdateDestination(ctx, web, rs2), ipvs.ErrNotExist, syscall.ENOENT, "update destination", "TCP 10.0.0.1:80 -> 192.168.1.3:80")
	require.NoError(t, c.CreateDestination(ctx, web, rs2))

	require.NoError(t, c.SetConnections(web, netip.AddrPortFrom(rs1.Address, 80), 3, 4, 5))
	ds, err := c.Destinations(ctx, web)
	require.NoError(t, err)
	require.Equal(t, []ipvs.DestinationInfo{{Destination: rs2}, {Destination: rs1, ActiveConns: 3, InactiveConns: 4, PersistentConns: 5}}, ds, "newest first")

	_, err = c.Destinations(ctx, missing)
	kernelErr(t, err, ipvs.ErrNotExist, syscall.ESRCH, "list destinations", "TCP 10.0.0.1:81")
	require.NoError(t, c.DeleteService(ctx, web))
	snap, err := c.Snapshot(ctx)
	require.NoError(t, err)
	require.Empty(t, snap)
}

// Validation is ipvs's own: the same field, the same message, nothing
// counted as written.
func TestValidationIsTheClients(t *testing.T) {
	c := ipvstest.New()
	err := c.CreateService(context.Background(), ipvs.Service{ServiceKey: web, Flags: ipvs.FlagPersistent, Timeout: 5000 * time.Hour})
	want := ipvs.Service{ServiceKey: web, Flags: ipvs.FlagPersistent, Timeout: 5000 * time.Hour}.Validate()
	require.ErrorIs(t, err, ipvs.ErrInvalid)
	var e, w *ipvs.Error
	require.ErrorAs(t, err, &e)
	require.ErrorAs(t, want, &w)
	require.Equal(t, "create service", e.Op)
	require.Equal(t, w.Field, e.Field)
	require.Equal(t, w.Err.Error(), e.Err.Error())
	require.Zero(t, c.Writes())

	err = c.DeleteDestination(context.Background(), web, netip.AddrPort{})
	require.ErrorIs(t, err, ipvs.ErrInvalid)
	require.ErrorAs(t, err, &e)
	require.Equal(t, "Address", e.Field)
}

func TestDaemons(t *testing.T) {
	ctx := context.Background()
	c := ipvstest.New()
	kernelErr(t, c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "eth0"}), ipvs.ErrInvalid, syscall.ENODEV, "start daemon", "master")
	c.AddInterface("eth0", 9000)
	require.NoError(t, c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonBackup, Interface: "eth0"}))
	require.NoError(t, c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "eth0", Group: netip.MustParseAddr("ff02::81")}))
	kernelErr(t, c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "eth0"}), ipvs.ErrExist, syscall.EEXIST, "start daemon", "master")
	ds, err := c.Daemons(ctx)
	require.NoError(t, err)
	require.Equal(t, []ipvs.Daemon{
		{State: ipvs.DaemonMaster, Interface: "eth0", MaxLen: 1500 - 48, Group: netip.MustParseAddr("ff02::81"), Port: 8848, TTL: 1},
		{State: ipvs.DaemonBackup, Interface: "eth0", MaxLen: 9000 - 28, Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1},
	}, ds)

	// No mixed-family destination while a daemon runs.
	v6 := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("2001:db8::1"), Port: 80}
	require.NoError(t, c.CreateService(ctx, ipvs.Service{ServiceKey: v6}))
	tun := ipvs.Destination{Address: netip.MustParseAddr("192.168.1.2"), Port: 80, Forward: ipvs.Tunnel}
	kernelErr(t, c.CreateDestination(ctx, v6, tun), ipvs.ErrInvalid, syscall.EINVAL, "create destination", "TCP [2001:db8::1]:80 -> 192.168.1.2:80")
	require.NoError(t, c.StopDaemon(ctx, ipvs.DaemonMaster))
	require.NoError(t, c.StopDaemon(ctx, ipvs.DaemonBackup))
	kernelErr(t, c.StopDaemon(ctx, ipvs.DaemonBackup), ipvs.ErrNotExist, syscall.ESRCH, "stop daemon", "backup")
	require.NoError(t, c.CreateDestination(ctx, v6, tun))
	kernelErr(t, c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "eth0"}), ipvs.ErrInvalid, syscall.EINVAL, "start daemon", "master")
	require.NoError(t, c.DeleteService(ctx, v6))
	require.NoError(t, c.StartDaemon(ctx, ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "eth0"}), "the mixed destination left with its service")
}

func TestTimeouts(t *testing.T) {
	ctx := context.Background()
	c := ipvstest.New()
	require.NoError(t, c.SetTimeouts(ctx, ipvs.Timeouts{UDP: time.Minute}))
	got, err := c.Timeouts(ctx)
	require.NoError(t, err)
	require.Equal(t, ipvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: time.Minute}, got)
	require.ErrorIs(t, c.SetTimeouts(ctx, ipvs.Timeouts{TCP: ipvs.MaxProtocolTimeout + time.Second}), ipvs.ErrInvalid)
}

func TestControls(t *testing.T) {
	ctx := context.Background()
	c := ipvstest.New()
	boom := errors.New("boom")
	c.SetFault(func(op, obj string) error {
		if op == "create destination" {
			return boom
		}
		return nil
	})
	require.NoError(t, c.CreateService(ctx, ipvs.Service{ServiceKey: web}))
	require.ErrorIs(t, c.CreateDestination(ctx, web, rs1), boom)
	ds, err := c.Destinations(ctx, web)
	require.NoError(t, err)
	require.Empty(t, ds, "a faulted write changed the table")
	require.Equal(t, 2, c.Writes())
	c.SetFault(nil)
	require.NoError(t, c.CreateDestination(ctx, web, rs1))
	require.ErrorIs(t, c.SetConnections(web, netip.MustParseAddrPort("192.168.1.9:80"), 1, 0, 0), ipvs.ErrNotExist)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, c.DeleteService(cancelled, web), context.Canceled)

	require.NoError(t, c.Close())
	_, err = c.Services(ctx)
	require.ErrorContains(t, err, "closed")
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	c := ipvstest.New()
	require.NoError(t, c.CreateService(ctx, ipvs.Service{ServiceKey: web}))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := rs1
			d.Address = netip.AddrFrom4([4]byte{192, 168, 2, byte(i + 1)})
			for range 50 {
				_ = c.CreateDestination(ctx, web, d)
				_, _ = c.Snapshot(ctx)
				_ = c.DeleteDestination(ctx, web, netip.AddrPortFrom(d.Address, d.Port))
			}
		}()
	}
	wg.Wait()
	ds, err := c.Destinations(ctx, web)
	require.NoError(t, err)
	require.Empty(t, ds)
}

// Apply is ipvs's own: the plan, the deletion guard, drains that watch
// the connections SetConnections reports.
func TestApply(t *testing.T) {
	ctx := context.Background()
	c := ipvstest.New()
	rs2 := rs1
	rs2.Address = netip.MustParseAddr("192.168.1.3")
	both := ipvs.State{Services: []ipvs.ServiceState{{Service: ipvs.Service{ServiceKey: web}, Destinations: []ipvs.Destination{rs1, rs2}}}}
	res, err := c.Apply(ctx, both, nil)
	require.NoError(t, err)
	require.Equal(t, 3, res.Writes())
	res, err = c.Apply(ctx, both, nil)
	require.NoError(t, err)
	require.Zero(t, res.Writes())

	_, err = c.Apply(ctx, ipvs.State{}, nil)
	require.ErrorContains(t, err, "the desired state is empty")

	// A drain: rs2 leaves with connections, stays at weight 0 until they end.
	drains := &ipvs.Drains{}
	opts := &ipvs.ApplyOptions{DrainTimeout: time.Hour, Drains: drains}
	require.NoError(t, c.SetConnections(web, netip.AddrPortFrom(rs2.Address, 80), 2, 0, 0))
	one := ipvs.State{Services: []ipvs.ServiceState{{Service: ipvs.Service{ServiceKey: web}, Destinations: []ipvs.Destination{rs1}}}}
	res, err = c.Apply(ctx, one, opts)
	require.NoError(t, err)
	require.Len(t, res.Draining, 1)
	ds, err := c.Destinations(ctx, web)
	require.NoError(t, err)
	require.Len(t, ds, 2)
	require.NoError(t, c.SetConnections(web, netip.AddrPortFrom(rs2.Address, 80), 0, 0, 0))
	res, err = c.Apply(ctx, one, opts)
	require.NoError(t, err)
	require.Empty(t, res.Draining)
	ds, err = c.Destinations(ctx, web)
	require.NoError(t, err)
	require.Equal(t, []ipvs.DestinationInfo{{Destination: rs1}}, ds)

	// A refused write does not stop the others.
	c.SetFault(func(op, _ string) error {
		if op == "create service" {
			return errors.New("boom")
		}
		return nil
	})
	udp := ipvs.ServiceKey{Protocol: ipvs.UDP, Address: web.Address, Port: 53}
	res, err = c.Apply(ctx, ipvs.State{Services: append(one.Services, ipvs.ServiceState{Service: ipvs.Service{ServiceKey: udp}})}, nil)
	require.ErrorContains(t, err, "apply (1 of 1 writes failed)")
	failed, _ := res.Failed()
	require.Len(t, failed, 1)
}

func TestCommitValidatesFirst(t *testing.T) {
	c := ipvstest.New()
	res, err := c.Commit(context.Background(), []ipvs.Change{
		{Op: ipvs.OpCreateService, Service: ipvs.Service{ServiceKey: web}},
		{Op: ipvs.OpCreateDestination, Service: ipvs.Service{ServiceKey: web}, Destination: ipvs.Destination{Address: rs1.Address, Port: 80, LowerThreshold: 1}},
	})
	require.ErrorIs(t, err, ipvs.ErrInvalid)
	require.Empty(t, res.Changes)
	require.Zero(t, c.Writes())
}
