package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// boundsEnv is a client of a fresh namespace and a context for one test.
func boundsEnv(t *testing.T) (context.Context, *Client, *nstest.NS) {
	t.Helper()
	ns := nstest.New(t)
	c, err := New(&Config{NetNSPath: ns.Path})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx, c, ns
}

// raw sends a write as is, without the package's validation, to show what
// the kernel itself does with a value; it returns the kernel's errno.
func raw(ctx context.Context, c *Client, cmd uint8, fill func(w *attrWriter)) error {
	return c.t.do(ctx, request{cmd: cmd, attrs: encode(fill)}, func(uint8, []byte) error { return nil })
}

// refusedBeforeSending checks a validation error: ErrInvalid, the field
// named, and (checked by the caller) nothing changed in the kernel.
func refusedBeforeSending(t *testing.T, err error, field string) {
	t.Helper()
	var e *Error
	require.ErrorAs(t, err, &e)
	require.ErrorIs(t, err, ErrInvalid)
	require.Equal(t, field, e.Field, "%v", err)
	var errno unix.Errno
	require.False(t, errors.As(err, &errno), "the kernel answered %v: the request was sent", err)
}

// TestKernelBounds proves each bound of validate.go on the real kernel:
// what the kernel does just past it (wraps, clamps, or refuses with an
// errno that names nothing), that the largest value we accept round-trips
// unchanged, and that the first one we refuse never reaches the kernel.
func TestKernelBounds(t *testing.T) {
	t.Run("persistence timeout", func(t *testing.T) {
		t.Parallel()
		ctx, c, _ := boundsEnv(t)
		vip := ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}

		// The kernel wraps what ipvsadm would refuse: 5000h reads back
		// shorter (227h48m50s with HZ=250).
		long := vip
		long.Port = 81
		s := Service{ServiceKey: long, Scheduler: RoundRobin, Flags: FlagPersistent, Timeout: 5000 * time.Hour}
		require.NoError(t, raw(ctx, c, cmdNewService, func(w *attrWriter) { serviceAttr(w, &s) }))
		got, err := c.Service(ctx, long)
		require.NoError(t, err)
		require.Less(t, got.Timeout, s.Timeout, "the kernel kept a 5000h persistence timeout: it no longer wraps")
		t.Logf("kernel: a persistence timeout of %v reads back as %v", s.Timeout, got.Timeout)

		// The largest we accept round-trips, and Apply converges on it.
		s = Service{ServiceKey: vip, Scheduler: RoundRobin, Flags: FlagPersistent, Timeout: MaxPersistTimeout}
		st := State{Services: []ServiceState{{Service: s}, {Service: Service{ServiceKey: long, Scheduler: RoundRobin, Flags: FlagPersistent, Timeout: MaxPersistTimeout}}}}
		_, err = c.Apply(ctx, st, nil)
		require.NoError(t, err)
		got, err = c.Service(ctx, vip)
		require.NoError(t, err)
		require.Equal(t, s, got.Service)
		again, err := c.Apply(ctx, st, nil)
		require.NoError(t, err)
		require.Zero(t, again.Writes(), "Apply does not converge: %v", again.Applied())

		// One second more is refused before sending.
		next := vip
		next.Port = 82
		err = c.CreateService(ctx, Service{ServiceKey: next, Flags: FlagPersistent, Timeout: MaxPersistTimeout + time.Second})
		refusedBeforeSending(t, err, "Timeout")
		_, err = c.Service(ctx, next)
		require.ErrorIs(t, err, ErrNotExist)
	})

	t.Run("thresholds", func(t *testing.T) {
		t.Parallel()
		ctx, c, _ := boundsEnv(t)
		vip := ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
		require.NoError(t, c.CreateService(ctx, Service{ServiceKey: vip, Scheduler: RoundRobin}))
		rs := func(last byte, u, l uint32) Destination {
			return Destination{Address: netip.AddrFrom4([4]byte{192, 168, 1, last}), Port: 80, Forward: Masquerade, Weight: 1, UpperThreshold: u, LowerThreshold: l}
		}

		// The kernel refuses a lower threshold without an upper one with
		// a bare ERANGE.
		d := rs(1, 0, 1)
		err := raw(ctx, c, cmdNewDest, func(w *attrWriter) { serviceKeyAttr(w, vip); destAttr(w, d) })
		require.ErrorIs(t, err, unix.ERANGE)
		refusedBeforeSending(t, c.CreateDestination(ctx, vip, d), "LowerThreshold")
		refusedBeforeSending(t, c.CreateDestination(ctx, vip, rs(1, 5, 6)), "LowerThreshold")

		// The largest thresholds we accept round-trip.
		d = rs(2, maxWeight, maxWeight)
		require.NoError(t, c.CreateDestination(ctx, vip, d))
		ds, err := c.Destinations(ctx, vip)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		require.Equal(t, d, ds[0].Destination)
	})

	t.Run("IPv6 link-local destination", func(t *testing.T) {
		t.Parallel()
		ctx, c, _ := boundsEnv(t)
		vip := ServiceKey{Family: IPv6, Protocol: TCP, Address: netip.MustParseAddr("2001:db8::1"), Port: 80}
		require.NoError(t, c.CreateService(ctx, Service{ServiceKey: vip, Scheduler: RoundRobin}))
		rs := func(a string) Destination {
			return Destination{Address: netip.MustParseAddr(a), Port: 80, Forward: Masquerade, Weight: 1}
		}
		// Both ends of fe80::/10: the kernel says EINVAL and nothing more.
		for _, a := range []string{"fe80::1", "febf:ffff::1"} {
			err := raw(ctx, c, cmdNewDest, func(w *attrWriter) { serviceKeyAttr(w, vip); destAttr(w, rs(a)) })
			require.ErrorIs(t, err, unix.EINVAL, a)
			err = c.CreateDestination(ctx, vip, rs(a))
			refusedBeforeSending(t, err, "Address")
			require.ErrorContains(t, err, "link-local")
		}
		// Just outside it on each side, the kernel accepts them.
		for _, a := range []string{"fe7f:ffff::1", "fec0::1"} {
			require.NoError(t, c.CreateDestination(ctx, vip, rs(a)), a)
		}
		ds, err := c.Destinations(ctx, vip)
		require.NoError(t, err)
		require.Len(t, ds, 2)
	})

	t.Run("protocol timeouts", func(t *testing.T) {
		t.Parallel()
		ctx, c, _ := boundsEnv(t)
		set := func(secs uint32) error {
			d := time.Duration(secs) * time.Second
			return raw(ctx, c, cmdSetConfig, func(w *attrWriter) { timeoutsAttrs(w, Timeouts{TCP: d, TCPFin: d, UDP: d}) })
		}
		// The kernel's own limit, INT_MAX/HZ, found by bisection: it
		// depends on HZ, and it is never below ours.
		lo, hi := uint32(1), uint32(1<<31-1) // lo accepted, hi refused
		require.NoError(t, set(lo))
		require.ErrorIs(t, set(hi), unix.EINVAL)
		for n := 0; hi-lo > 1 && n < 40; n++ {
			mid := lo + (hi-lo)/2
			if err := set(mid); err == nil {
				lo = mid
			} else {
				require.ErrorIs(t, err, unix.EINVAL)
				hi = mid
			}
		}
		require.Equal(t, lo+1, hi)
		t.Logf("kernel: protocol timeouts up to %d s accepted (INT_MAX/HZ: HZ=%d); ours up to %d s", lo, (1<<31-1)/lo, MaxProtocolTimeout/time.Second)
		require.GreaterOrEqual(t, time.Duration(lo)*time.Second, MaxProtocolTimeout)
		tm, err := c.Timeouts(ctx)
		require.NoError(t, err)
		require.Equal(t, Timeouts{TCP: time.Duration(lo) * time.Second, TCPFin: time.Duration(lo) * time.Second, UDP: time.Duration(lo) * time.Second}, tm)

		// The largest we accept round-trips; one second more is refused
		// before sending, each field by name.
		want := Timeouts{TCP: MaxProtocolTimeout, TCPFin: MaxProtocolTimeout, UDP: MaxProtocolTimeout}
		require.NoError(t, c.SetTimeouts(ctx, want))
		tm, err = c.Timeouts(ctx)
		require.NoError(t, err)
		require.Equal(t, want, tm)
		for field, bad := range map[string]Timeouts{
			"TCP":    {TCP: MaxProtocolTimeout + time.Second},
			"TCPFin": {TCPFin: MaxProtocolTimeout + time.Second},
			"UDP":    {UDP: MaxProtocolTimeout + time.Second},
		} {
			refusedBeforeSending(t, c.SetTimeouts(ctx, bad), field)
		}
		tm, err = c.Timeouts(ctx)
		require.NoError(t, err)
		require.Equal(t, want, tm)
	})

	t.Run("sync daemon MaxLen", func(t *testing.T) {
		t.Parallel()
		ctx, c, ns := boundsEnv(t)
		ns.Exec(t, "ip", "link", "add", "dum0", "type", "dummy")
		ns.Exec(t, "ip", "link", "set", "dum0", "multicast", "on")
		ns.AddAddr(t, "dum0", netip.MustParsePrefix("192.168.77.1/24"))
		daemon := func(s DaemonState) (Daemon, error) {
			ds, err := c.Daemons(ctx)
			for _, d := range ds {
				if d.State == s {
					return d, err
				}
			}
			return Daemon{}, err
		}
		start := func(d Daemon, wantLen uint16) {
			t.Helper()
			require.NoError(t, raw(ctx, c, cmdNewDaemon, func(w *attrWriter) { daemonAttr(w, d) }))
			got, err := daemon(d.State)
			require.NoError(t, err)
			require.Equal(t, wantLen, got.MaxLen, "%v", d.State)
			require.NoError(t, c.StopDaemon(ctx, d.State))
		}
		master := Daemon{State: DaemonMaster, Interface: "dum0", Group: netip.MustParseAddr("239.1.2.3")}
		backup := Daemon{State: DaemonBackup, Interface: "dum0", Group: netip.MustParseAddr("239.1.2.3")}
		// The kernel clamps silently past the bounds...
		master.MaxLen, backup.MaxLen = 65535, 100
		start(master, maxDaemonLen4)
		start(backup, minBackupLen)
		// ...and keeps the bounds themselves.
		master.MaxLen, backup.MaxLen = maxDaemonLen4, minBackupLen
		require.NoError(t, c.StartDaemon(ctx, master))
		require.NoError(t, c.StartDaemon(ctx, backup))
		for _, d := range []Daemon{master, backup} {
			got, err := daemon(d.State)
			require.NoError(t, err)
			require.Equal(t, d.MaxLen, got.MaxLen, "%v", d.State)
			require.NoError(t, c.StopDaemon(ctx, d.State))
		}
		// A backup's below 1024 is the kernel's to raise (as with ipvsadm);
		// past the largest UDP payload is refused before sending.
		backup.MaxLen = 100
		require.NoError(t, c.StartDaemon(ctx, backup))
		got, err := daemon(DaemonBackup)
		require.NoError(t, err)
		require.Equal(t, uint16(minBackupLen), got.MaxLen)
		require.NoError(t, c.StopDaemon(ctx, DaemonBackup))
		master.MaxLen, backup.MaxLen = maxDaemonLen4+1, maxDaemonLen4+1
		refusedBeforeSending(t, c.StartDaemon(ctx, master), "MaxLen")
		refusedBeforeSending(t, c.StartDaemon(ctx, backup), "MaxLen")
		ds, err := c.Daemons(ctx)
		require.NoError(t, err)
		require.Empty(t, ds)
	})
}

// TestKernelApplyDeleteGuard: a truncated or empty desired state is
// refused with ErrConflict and the kernel keeps every service; a share
// within the limit, or AllowMassDelete, deletes as asked.
func TestKernelApplyDeleteGuard(t *testing.T) {
	t.Parallel()
	ctx, c, ns := boundsEnv(t)
	st := func(n int) State {
		var s State
		for p := 1; p <= n; p++ {
			s.Services = append(s.Services, ServiceState{
				Service:      Service{ServiceKey: ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: uint16(p)}, Scheduler: RoundRobin},
				Destinations: []Destination{{Address: netip.MustParseAddr("192.168.1.2"), Port: uint16(p), Forward: Masquerade, Weight: 1}},
			})
		}
		return s
	}
	_, err := c.Apply(ctx, st(4), nil)
	require.NoError(t, err)
	before := ns.Exec(t, "ipvsadm", "-Sn")
	require.Len(t, splitLines(before), 8)

	for _, tc := range []struct {
		desired State
		says    string
	}{
		{State{}, "all 4 of the services it owns: the desired state is empty"},
		{st(1), "3 of the 4 services it owns (75%, above MaxDeleteShare 50%)"},
	} {
		res, err := c.Apply(ctx, tc.desired, nil)
		require.ErrorIs(t, err, errs.ErrConflict)
		require.ErrorContains(t, err, tc.says)
		require.Zero(t, res.Writes())
		require.Equal(t, before, ns.Exec(t, "ipvsadm", "-Sn"), "the refused Apply changed the kernel")
	}

	res, err := c.Apply(ctx, st(2), nil)
	require.NoError(t, err, "half may go")
	require.Len(t, res.Applied(), 2)
	snap, err := c.Snapshot(ctx)
	require.NoError(t, err)
	require.Len(t, snap, 2)

	_, err = c.Apply(ctx, State{}, &ApplyOptions{AllowMassDelete: true})
	require.NoError(t, err)
	require.Empty(t, splitLines(ns.Exec(t, "ipvsadm", "-Sn")))
}

func splitLines(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\n' })
}
