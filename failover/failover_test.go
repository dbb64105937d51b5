package failover

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/failover/vrrp"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeHost records the actions and holds the state they make.
type fakeHost struct {
	mu       sync.Mutex
	log      []string
	vips     bool
	daemons  map[ipvs.DaemonState]uint8
	down     map[string]bool
	conflict ipvs.DaemonState // startDaemon of this role fails
}

func newFakeHost() *fakeHost {
	return &fakeHost{daemons: map[ipvs.DaemonState]uint8{}, down: map[string]bool{}}
}

func (f *fakeHost) add(s string) { f.log = append(f.log, s) }

func (f *fakeHost) addVIPs(_ context.Context, g director.Gratuitous) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vips = true
	f.add(fmt.Sprintf("add VIPs burst %d/%v", g.Count, g.Interval))
	return nil
}

func (f *fakeHost) removeVIPs(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vips {
		f.add("remove VIPs")
	}
	f.vips = false
	return nil
}

func (f *fakeHost) announce(_ context.Context, g director.Gratuitous) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.add(fmt.Sprintf("announce %d/%v", g.Count, g.Interval))
	return nil
}

func (f *fakeHost) startDaemon(_ context.Context, d ipvs.Daemon) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d.State == f.conflict {
		return &Error{Pkg: pkg, Op: "start sync daemon", Kind: ErrConflict}
	}
	if _, ok := f.daemons[d.State]; ok {
		return errors.New("started twice")
	}
	f.daemons[d.State] = d.SyncID
	f.add(fmt.Sprintf("start %s %s id %d", d.State, d.Interface, d.SyncID))
	return nil
}

func (f *fakeHost) stopDaemon(_ context.Context, s ipvs.DaemonState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.daemons[s]; ok {
		f.add("stop " + s.String())
	}
	delete(f.daemons, s)
	return nil
}

func (f *fakeHost) linkUp(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[name] {
		return errors.New("down")
	}
	return nil
}

func (f *fakeHost) close() error { return nil }

func (f *fakeHost) setDown(name string, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[name] = down
}

// take returns the actions so far and forgets them.
func (f *fakeHost) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.log
	f.log = nil
	return l
}

func (f *fakeHost) state() (bool, map[ipvs.DaemonState]uint8) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[ipvs.DaemonState]uint8{}
	for k, v := range f.daemons {
		m[k] = v
	}
	return f.vips, m
}

// fakeElector reports its runs and priorities.
type fakeElector struct {
	mu    sync.Mutex
	runs  int
	live  bool
	prios []int
	fail  chan error // a value makes Run return it
}

func (e *fakeElector) Run(ctx context.Context) error {
	e.mu.Lock()
	e.runs++
	e.live = true
	e.mu.Unlock()
	defer func() { e.mu.Lock(); e.live = false; e.mu.Unlock() }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-e.fail:
		return err
	}
}

func (e *fakeElector) SetPriority(p int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.prios = append(e.prios, p)
	return nil
}

func (e *fakeElector) status() (runs int, live bool, prios []int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs, e.live, slices.Clone(e.prios)
}

// events collects a Client's events.
type events struct{ nstest.Events[Event] }

func (ev *events) roles() []string {
	var out []string
	for _, e := range ev.All() {
		if e.Kind == EventRole {
			out = append(out, e.From.String()+">"+e.To.String())
		}
	}
	return out
}

func (ev *events) kinds(k EventKind) []Event {
	var out []Event
	for _, e := range ev.All() {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

var vip = netip.MustParseAddr("192.0.2.10")

func baseConfig() Config {
	return Config{Interface: "eth0", VIPs: []netip.Addr{vip}, VRID: 51, CheckInterval: 10 * time.Millisecond}
}

// start runs a Client on a fake host; stop ends Run and returns its error.
func start(t *testing.T, cfg Config) (c *Client, f *fakeHost, ev *events, stop func() error) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	ev = &events{}
	cfg.OnEvent = ev.Add
	c = newClient(&cfg)
	f = newFakeHost()
	c.h = f
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("Run did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return c, f, ev, stop
}

func waitRole(t *testing.T, c *Client, r Role) {
	t.Helper()
	require.Eventually(t, func() bool { return c.Role() == r }, 5*time.Second, time.Millisecond, "role %s, want %s", c.Role(), r)
}

func TestValidate(t *testing.T) {
	el := &fakeElector{}
	chk := func(context.Context) error { return nil }
	cases := []struct {
		field string
		mod   func(*Config)
	}{
		{"Interface", func(c *Config) { c.Interface = "" }},
		{"VIPs", func(c *Config) { c.VIPs = nil }},
		{"VIPs", func(c *Config) { c.VIPs = []netip.Addr{netip.MustParseAddr("224.0.0.1")} }},
		{"VIPs", func(c *Config) { c.VIPs = append(c.VIPs, netip.MustParseAddr("2001:db8::1")) }},
		{"VIPs", func(c *Config) { c.VIPs = append(c.VIPs, vip) }},
		{"VRID", func(c *Config) { c.VRID = 256 }},
		{"Burst", func(c *Config) { c.Burst.Interval = -1 }},
		{"SecondBurst", func(c *Config) { c.SecondBurst.Count = 1000 }},
		{"CheckInterval", func(c *Config) { c.CheckInterval = -1 }},
		{"Refresh", func(c *Config) { c.Refresh.Count = 101 }},
		{"RefreshInterval", func(c *Config) { c.RefreshInterval = -1 }},
		{"Outranked", func(c *Config) { c.Outranked.Interval = -1 }},
		{"OutrankedDelay", func(c *Config) { c.OutrankedDelay = -1 }},
		{"Sync.Mode", func(c *Config) { c.Sync.Mode = 7 }},
		{"Sync.Mode", func(c *Config) { c.Sync.Interface = "eth1" }},
		{"Sync.Interface", func(c *Config) { c.Sync.Mode = SyncFollow }},
		{"Sync.SyncID", func(c *Config) { c.Sync = Sync{Mode: SyncFollow, Interface: "eth1"}; c.VRID = 0 }},
		{"Sync.SyncID", func(c *Config) { c.Sync = Sync{Mode: SyncFollow, Interface: "eth1", SyncID: 300} }},
		{"Sync.PeerSyncID", func(c *Config) { c.Sync = Sync{Mode: SyncFollow, Interface: "eth1", PeerSyncID: 2} }},
		{"Sync.PeerSyncID", func(c *Config) { c.Sync = Sync{Mode: SyncBoth, Interface: "eth1"} }},
		{"Sync.PeerSyncID", func(c *Config) { c.Sync = Sync{Mode: SyncBoth, Interface: "eth1", PeerSyncID: 51} }},
		{"Sync.Group", func(c *Config) {
			c.Sync = Sync{Mode: SyncFollow, Interface: "eth1", Group: netip.MustParseAddr("10.0.0.1")}
		}},
		{"Trackers[0]", func(c *Config) { c.Trackers = []Tracker{{Name: "x"}} }},
		{"Trackers[1]", func(c *Config) { c.Trackers = []Tracker{{Name: "x", Check: chk}, {Name: "x", Check: chk}} }},
		{"Trackers[0]", func(c *Config) { c.Trackers = []Tracker{{Name: "x", Check: chk, Weight: -300}} }},
		{"Priority", func(c *Config) { c.Trackers = []Tracker{{Name: "x", Check: chk, Weight: -10}}; c.Elector = el }},
		{"Priority", func(c *Config) { c.Priority = 256 }},
		{"Elector", func(c *Config) { c.Trackers = []Tracker{{Name: "x", Check: chk, Weight: -10}}; c.Priority = 100 }},
		{"TrackInterfaces", func(c *Config) { c.TrackInterfaces = []string{"eth1", "eth1"} }},
	}
	for _, tc := range cases {
		cfg := baseConfig()
		tc.mod(&cfg)
		err := cfg.Validate()
		var e *Error
		if assert.ErrorAs(t, err, &e, tc.field) {
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Equal(t, tc.field, e.Field, "%v", err)
		}
		// New refuses it too, before opening anything.
		_, err = New(&cfg)
		assert.ErrorIs(t, err, ErrInvalid)
	}
	var nilCfg *Config
	assert.ErrorIs(t, nilCfg.Validate(), ErrInvalid)
	cfg := baseConfig()
	assert.NoError(t, cfg.Validate())
}

// SyncFollow: the backup daemon from the start, the master daemon while
// Master; VIPs and two bursts on Master, removed on Backup and at stop.
func TestFollowRole(t *testing.T) {
	cfg := baseConfig()
	cfg.Sync = Sync{Mode: SyncFollow, Interface: "eth1"}
	cfg.SecondBurstDelay = 30 * time.Millisecond
	c, f, ev, stop := start(t, cfg)
	require.Eventually(t, func() bool { _, d := f.state(); return d[ipvs.DaemonBackup] == 51 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"start backup eth1 id 51"}, f.take())

	c.SetRole(Backup, "elected")
	waitRole(t, c, Backup)
	assert.Empty(t, f.take(), "Backup from Init changes nothing")

	c.SetRole(Master, "master down")
	waitRole(t, c, Master)
	require.Eventually(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.log) >= 4 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"add VIPs burst 5/10ms", "stop backup", "start master eth1 id 51", "announce 5/10ms"}, f.take())

	c.SetRole(Backup, "higher priority")
	waitRole(t, c, Backup)
	assert.Equal(t, []string{"remove VIPs", "stop master", "start backup eth1 id 51"}, f.take())

	c.SetRole(Master, "again")
	waitRole(t, c, Master)
	require.NoError(t, stop())
	// The stop may come before or after the second burst is due (30 ms,
	// and a loaded host can be late); either way no burst follows the
	// VIPs' removal.
	got := f.take()
	if len(got) == 6 {
		assert.Equal(t, "announce 5/10ms", got[3], "only the second burst may come between master and stop")
		got = append(got[:3], got[4:]...)
	}
	assert.Equal(t, []string{"add VIPs burst 5/10ms", "stop backup", "start master eth1 id 51", "remove VIPs", "stop master"}, got)
	vips, d := f.state()
	assert.False(t, vips)
	assert.Empty(t, d)
	assert.Equal(t, Stopped, c.Role())
	assert.Equal(t, []string{"INIT>BACKUP", "BACKUP>MASTER", "MASTER>BACKUP", "BACKUP>MASTER", "MASTER>STOP"}, ev.roles())
	assert.Empty(t, ev.kinds(EventError))
}

// TestMasterAnnouncements: while Master, the refresh every
// RefreshInterval (one packet by default), and Outranked at once and
// OutrankedDelay later each time the elector reports an outranked master;
// none of them as Backup or unconfigured.
func TestMasterAnnouncements(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		poke func(*Client)
		want []string
	}{
		{"refresh", func(c *Config) { c.RefreshInterval = 20 * time.Millisecond }, func(*Client) {}, []string{"announce 1/10ms", "announce 1/10ms"}},
		{"outranked", func(c *Config) { c.Outranked, c.OutrankedDelay = director.Gratuitous{Count: 2}, 20*time.Millisecond },
			func(c *Client) { c.HandleVRRP(vrrp.Event{Kind: vrrp.EventOutranked}) }, []string{"announce 2/10ms", "announce 2/10ms"}},
		{"unconfigured", func(*Config) {}, func(c *Client) { c.Outranked() }, nil},
	} {
		cfg := baseConfig()
		cfg.SecondBurstDelay = -1
		tc.mod(&cfg)
		c, f, _, stop := start(t, cfg)
		tc.poke(c) // before Master: nothing
		c.SetRole(Backup, "elected")
		waitRole(t, c, Backup)
		time.Sleep(50 * time.Millisecond)
		assert.Empty(t, f.take(), "%s: as Backup", tc.name)
		c.SetRole(Master, "master down")
		waitRole(t, c, Master)
		tc.poke(c)
		want := append([]string{"add VIPs burst 5/10ms"}, tc.want...)
		time.Sleep(50 * time.Millisecond)
		require.Eventually(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.log) >= len(want) }, 5*time.Second, time.Millisecond)
		got := f.take()
		if tc.want == nil {
			assert.Equal(t, want, got, tc.name)
		} else {
			assert.Equal(t, want, got[:len(want)], tc.name)
		}
		c.SetRole(Backup, "higher priority")
		waitRole(t, c, Backup)
		f.take()
		time.Sleep(50 * time.Millisecond)
		assert.Empty(t, f.take(), "%s: after Master", tc.name)
		require.NoError(t, stop())
	}
}

// SyncBoth: both daemons with swapped IDs for the whole run, whatever the
// role.
func TestSyncBoth(t *testing.T) {
	cfg := baseConfig()
	cfg.Sync = Sync{Mode: SyncBoth, Interface: "eth1", SyncID: 2, PeerSyncID: 1}
	cfg.Burst = director.Gratuitous{Count: -1}
	cfg.SecondBurstDelay = -1
	c, f, _, stop := start(t, cfg)
	require.Eventually(t, func() bool { _, d := f.state(); return len(d) == 2 }, 5*time.Second, time.Millisecond)
	_, d := f.state()
	assert.Equal(t, map[ipvs.DaemonState]uint8{ipvs.DaemonMaster: 2, ipvs.DaemonBackup: 1}, d)
	f.take()
	c.SetRole(Master, "x")
	waitRole(t, c, Master)
	c.SetRole(Backup, "y")
	waitRole(t, c, Backup)
	assert.Equal(t, []string{"add VIPs burst -1/10ms", "remove VIPs"}, f.take())
	require.NoError(t, stop())
	assert.ElementsMatch(t, []string{"stop master", "stop backup"}, f.take())
}

// A daemon we did not start in the role we need: Run fails and leaves
// nothing.
func TestDaemonConflict(t *testing.T) {
	cfg := baseConfig()
	cfg.Sync = Sync{Mode: SyncBoth, Interface: "eth1", PeerSyncID: 9}
	ev := &events{}
	cfg.OnEvent = ev.Add
	c := newClient(&cfg)
	f := newFakeHost()
	f.conflict = ipvs.DaemonBackup
	c.h = f
	err := c.Run(context.Background())
	assert.ErrorIs(t, err, ErrConflict)
	_, d := f.state()
	assert.Empty(t, d, "the master daemon started first is stopped again")
	assert.Equal(t, Stopped, c.Role())
}

// A tracker of weight 0 forces Fault: the elector stops, the VIPs go; when
// it recovers the elector runs again from Backup. Weighted trackers move
// the priority.
func TestTrackers(t *testing.T) {
	var mu sync.Mutex
	bad := map[string]bool{}
	check := func(name string) func(context.Context) error {
		return func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if bad[name] {
				return errors.New(name + " failing")
			}
			return nil
		}
	}
	set := func(name string, b bool) { mu.Lock(); bad[name] = b; mu.Unlock() }
	el := &fakeElector{fail: make(chan error)}
	cfg := baseConfig()
	cfg.Elector = el
	cfg.Priority = 100
	cfg.Trackers = []Tracker{
		{Name: "quorum", Check: check("quorum")},
		{Name: "minus", Check: check("minus"), Weight: -30},
		{Name: "plus", Check: check("plus"), Weight: 20},
		{Name: "huge", Check: check("huge"), Weight: -254},
	}
	c, f, ev, stop := start(t, cfg)
	require.Eventually(t, func() bool { _, live, _ := el.status(); return live }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { _, _, p := el.status(); return slices.Equal(p, []int{120}) }, 5*time.Second, time.Millisecond, "plus holds: 100+20")
	c.SetRole(Master, "elected")
	waitRole(t, c, Master)

	set("minus", true)
	require.Eventually(t, func() bool { _, _, p := el.status(); return slices.Equal(p, []int{120, 90}) }, 5*time.Second, time.Millisecond)
	set("huge", true)
	require.Eventually(t, func() bool { _, _, p := el.status(); return slices.Equal(p, []int{120, 90, 1}) }, 5*time.Second, time.Millisecond, "clamped to 1")
	// Each tracker polls on its own: if minus's recovery is seen first,
	// huge's clamp holds and the priority goes 1 -> 120; if huge's is seen
	// first (a slow poll under load), minus holds it at 90 for a while.
	set("minus", false)
	set("huge", false)
	require.Eventually(t, func() bool {
		_, _, p := el.status()
		return slices.Equal(p, []int{120, 90, 1, 120}) || slices.Equal(p, []int{120, 90, 1, 90, 120})
	}, 5*time.Second, time.Millisecond)

	set("quorum", true)
	waitRole(t, c, Fault)
	runs, live, _ := el.status()
	assert.Equal(t, 1, runs)
	assert.False(t, live, "the elector is stopped in Fault")
	vips, _ := f.state()
	assert.False(t, vips)
	c.SetRole(Master, "stale report")
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, Fault, c.Role(), "roles are ignored in Fault")

	set("quorum", false)
	waitRole(t, c, Backup)
	require.Eventually(t, func() bool { r, live, _ := el.status(); return r == 2 && live }, 5*time.Second, time.Millisecond)
	require.NoError(t, stop())
	assert.Equal(t, []string{"INIT>MASTER", "MASTER>FAULT", "FAULT>BACKUP", "BACKUP>STOP"}, ev.roles())
	var trk []string
	for _, e := range ev.kinds(EventTracker) {
		trk = append(trk, fmt.Sprintf("%s %v", e.Tracker, e.Err != nil))
	}
	// minus and huge recover in whichever order their polls see it.
	if len(trk) == 6 && trk[2] == "huge false" && trk[3] == "minus false" {
		trk[2], trk[3] = trk[3], trk[2]
	}
	assert.Equal(t, []string{"minus true", "huge true", "minus false", "huge false", "quorum true", "quorum false"}, trk)
}

// The VIP interface or a tracked interface going down forces Fault.
func TestInterfaceDown(t *testing.T) {
	cfg := baseConfig()
	cfg.TrackInterfaces = []string{"eth1"}
	c, f, ev, _ := start(t, cfg)
	c.SetRole(Master, "x")
	waitRole(t, c, Master)
	f.setDown("eth1", true)
	waitRole(t, c, Fault)
	f.setDown("eth1", false)
	waitRole(t, c, Backup)
	f.setDown("eth0", true)
	waitRole(t, c, Fault)
	roles := ev.roles()
	assert.Equal(t, []string{"INIT>MASTER", "MASTER>FAULT", "FAULT>BACKUP", "BACKUP>FAULT"}, roles)
	var reasons []string
	for _, e := range ev.All() {
		if e.Kind == EventRole && e.To == Fault {
			reasons = append(reasons, e.Reason)
		}
	}
	assert.Equal(t, []string{"interface eth1: down", "interface eth0: down"}, reasons)
}

// Without weighted trackers the elector's priority is left alone (a
// Config without Priority must not make it 1).
func TestPriorityLeftAlone(t *testing.T) {
	el := &fakeElector{fail: make(chan error)}
	cfg := baseConfig()
	cfg.Elector = el
	cfg.Trackers = []Tracker{{Name: "q", Check: func(context.Context) error { return nil }}}
	c, _, _, stop := start(t, cfg)
	c.SetRole(Master, "x")
	waitRole(t, c, Master)
	time.Sleep(50 * time.Millisecond) // several checks
	require.NoError(t, stop())
	_, _, prios := el.status()
	assert.Empty(t, prios)
}

// An elector that stops on its own ends Run with its error, cleaned up.
func TestElectorFails(t *testing.T) {
	el := &fakeElector{fail: make(chan error, 1)}
	cfg := baseConfig()
	cfg.Elector = el
	cfg.Sync = Sync{Mode: SyncFollow, Interface: "eth1"}
	c, f, _, stop := start(t, cfg)
	c.SetRole(Master, "x")
	waitRole(t, c, Master)
	boom := errors.New("socket gone")
	el.fail <- boom
	waitRole(t, c, Stopped)
	assert.ErrorIs(t, stop(), boom)
	vips, d := f.state()
	assert.False(t, vips)
	assert.Empty(t, d)
}

func TestRunOnceAndClosed(t *testing.T) {
	c, _, _, stop := start(t, baseConfig())
	require.Eventually(t, func() bool { return c.run.Running() }, 5*time.Second, time.Millisecond)
	assert.ErrorIs(t, c.Run(context.Background()), ErrBusy)
	require.NoError(t, stop())
	require.NoError(t, c.Close())
	assert.ErrorIs(t, c.Run(context.Background()), ErrClosed)
}

func TestHandleVRRP(t *testing.T) {
	c := newClient(&Config{})
	for _, tc := range []struct {
		to   vrrp.State
		want Role
	}{{vrrp.Master, Master}, {vrrp.Backup, Backup}, {vrrp.Initialize, Init}} {
		c.HandleVRRP(vrrp.Event{Kind: vrrp.EventTransition, To: tc.to, Reason: vrrp.ReasonMasterDown})
		m := c.takePending()
		require.NotNil(t, m)
		assert.Equal(t, tc.want, m.role)
		assert.Equal(t, "vrrp: "+vrrp.ReasonMasterDown.String(), m.reason)
	}
	c.HandleVRRP(vrrp.Event{Kind: vrrp.EventMismatch, To: vrrp.Master})
	assert.Nil(t, c.takePending(), "a mismatch report is no role")
	c.SetRole(Fault, "callers cannot force Fault")
	assert.Nil(t, c.takePending())
}
