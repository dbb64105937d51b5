package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/examples/keepalived/internal/conf"
	"github.com/golvs/lvs/failover"
	"github.com/golvs/lvs/failover/vrrp"
)

// The VRRP side of a configuration, checked before anything changes: one
// instPlan per vrrp_instance, plain data (a reload compares them).

// instPlan is one vrrp_instance as package failover and failover/vrrp
// run it.
type instPlan struct {
	name string
	pos  conf.Pos
	// vrrp is the elector's configuration (OnEvent unset).
	vrrp vrrp.Config
	// devs are the devices the VIPs go on, in the order of their first
	// VIP (devs[0] has the main failover Client, the elector's); vips the
	// VIPs of each.
	devs []string
	vips map[string][]netip.Addr
	// burst, second and secondDelay are the gratuitous ARP timings.
	burst, second director.Gratuitous
	secondDelay   time.Duration
	// refresh is sent every refreshEvery while MASTER (0: never), on the
	// instance's interface only (keepalived's garp_extra_if, which
	// extends it to the others, is not supported).
	refresh      director.Gratuitous
	refreshEvery time.Duration
	// outranked is sent when a master this one outranks advertises, and
	// again outrankedDelay later (0: not again); Count 0: never.
	outranked      director.Gratuitous
	outrankedDelay time.Duration
	sync           failover.Sync
	priority       int
	trackIfs       []string
	scripts        []scriptPlan
	notify         notifyCmds
	// group is the vrrp_sync_group the instance belongs to (nil: none).
	group *groupPlan
}

// scriptPlan is one vrrp_script an instance tracks.
type scriptPlan struct {
	name              string
	cmd               string
	interval, timeout time.Duration
	weight            int
	rise, fall        int
	initFail          bool
}

// notifyCmds are the notify_* scripts of an instance or group.
type notifyCmds struct{ master, backup, fault, stop, any string }

// groupPlan is a vrrp_sync_group.
type groupPlan struct {
	name    string
	members []string
	notify  notifyCmds
}

// vrrpPlan is the whole VRRP side, in file order.
type vrrpPlan struct {
	insts  []*instPlan
	groups []*groupPlan
}

// identity names an instance's host records (director's and failover's):
// a restart after SIGKILL removes what the killed agent left.
func (p *instPlan) identity(dev string) string {
	id := []rune("keepalived:" + p.name + "@" + dev)
	for i, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-:@", c)) {
			id[i] = '_'
		}
	}
	return string(id[:min(len(id), 100)])
}

// failoverConfig is the failover.Config of the instance's VIPs on dev
// (Elector, Trackers and OnEvent are the caller's).
func (p *instPlan) failoverConfig(dev string) failover.Config {
	fc := failover.Config{
		Identity: p.identity(dev), Interface: dev, VIPs: p.vips[dev], VRID: p.vrrp.VRID,
		Burst: p.burst, SecondBurst: p.second, SecondBurstDelay: p.secondDelay,
	}
	if dev == p.devs[0] {
		fc.Sync, fc.Priority, fc.TrackInterfaces = p.sync, p.priority, p.trackIfs
	}
	if dev == p.vrrp.Interface {
		fc.Refresh, fc.RefreshInterval = p.refresh, p.refreshEvery
	}
	fc.Outranked, fc.OutrankedDelay = p.outranked, p.outrankedDelay
	return fc
}

// planVRRP checks the VRRP side of c and returns what runs it, or every
// problem (errors only) with its file:line.
func planVRRP(c *conf.Config) (*vrrpPlan, []conf.Problem) {
	var probs []conf.Problem
	errorf := func(pos conf.Pos, format string, a ...any) {
		probs = append(probs, conf.Problem{Pos: pos, Msg: fmt.Sprintf(format, a...)})
	}
	g := c.Global
	for _, a := range c.StaticAddrs {
		errorf(a.Pos, "static_ipaddress %s is not supported by this agent: it adds only addresses that follow a VRRP role (vrrp_instance's virtual_ipaddress); leave static ones to the system's network configuration", a.Prefix)
	}

	plan := &vrrpPlan{}
	scripts := map[string]*conf.Script{}
	for _, s := range c.Scripts {
		if scripts[s.Name] != nil {
			errorf(s.Pos, "vrrp_script %s is defined twice", s.Name)
		}
		scripts[s.Name] = s
	}
	insts := map[string]*conf.Instance{}
	for _, in := range c.Instances {
		if insts[in.Name] != nil {
			errorf(in.Pos, "vrrp_instance %s is defined twice", in.Name)
		}
		insts[in.Name] = in
	}
	member := map[string]*groupPlan{}
	for _, sg := range c.SyncGroups {
		gp := &groupPlan{name: sg.Name, notify: notifyCmds{master: sg.NotifyMaster, backup: sg.NotifyBackup, fault: sg.NotifyFault, any: sg.Notify}}
		for _, m := range sg.Group {
			switch {
			case insts[m] == nil:
				errorf(sg.Pos, "vrrp_sync_group %s: no vrrp_instance %s", sg.Name, m)
			case member[m] != nil:
				errorf(sg.Pos, "vrrp_sync_group %s: vrrp_instance %s is already in vrrp_sync_group %s", sg.Name, m, member[m].name)
			default:
				member[m] = gp
				gp.members = append(gp.members, m)
			}
		}
		plan.groups = append(plan.groups, gp)
	}

	// lvs_sync_daemon: the global one names its instance; one in all.
	var syncd *conf.SyncDaemon
	syncFor := ""
	if d := g.SyncDaemon; d != nil {
		syncd, syncFor = d, d.Instance
		if d.Instance == "" {
			errorf(d.Pos, "lvs_sync_daemon in global_defs needs the vrrp_instance it follows (lvs_sync_daemon IFACE INSTANCE [id N])")
		} else if insts[d.Instance] == nil {
			errorf(d.Pos, "lvs_sync_daemon: no vrrp_instance %s", d.Instance)
		}
	}
	for _, in := range c.Instances {
		if d := in.SyncDaemon; d != nil {
			if syncd != nil {
				errorf(d.Pos, "a second lvs_sync_daemon (the first is at %s): IPVS runs one sync daemon of each role", syncd.Pos)
				continue
			}
			syncd, syncFor = d, in.Name
		}
	}

	type routerKey struct {
		iface string
		vrid  int
		v6    bool
	}
	routers := map[routerKey]string{}
	for _, in := range c.Instances {
		p := &instPlan{name: in.Name, pos: in.Pos, priority: in.Priority, trackIfs: slices.Clone(in.TrackInterfaces), vips: map[string][]netip.Addr{},
			notify: notifyCmds{master: in.NotifyMaster, backup: in.NotifyBackup, fault: in.NotifyFault, stop: in.NotifyStop, any: in.Notify},
			group:  member[in.Name]}
		var all []netip.Addr
		for _, v := range in.VIPs {
			a := v.Prefix.Addr()
			switch {
			case v.Prefix.Bits() != a.BitLen():
				errorf(v.Pos, "virtual_ipaddress %s: only host addresses (/%d) are supported by this agent: package director adds a VIP as a host address (a wider prefix would add a connected route)", v.Prefix, a.BitLen())
				continue
			case v.Label != "":
				errorf(v.Pos, "virtual_ipaddress %s: label is not supported by this agent: package director adds a VIP without an alias label, so what looks for %s would not find it", v.Prefix, v.Label)
				continue
			case v.Scope != "" && v.Scope != "global":
				errorf(v.Pos, "virtual_ipaddress %s: scope %s is not supported by this agent: package director adds a VIP with global scope (scope global is accepted)", v.Prefix, v.Scope)
				continue
			case slices.Contains(all, a):
				errorf(v.Pos, "virtual_ipaddress %s is listed twice", a)
				continue
			}
			dev := v.Dev
			if dev == "" {
				dev = in.Interface
			}
			if !slices.Contains(p.devs, dev) {
				p.devs = append(p.devs, dev)
			}
			p.vips[dev] = append(p.vips[dev], a)
			all = append(all, a)
		}
		if len(all) == 0 {
			errorf(in.Pos, "vrrp_instance %s has no virtual_ipaddress (this agent needs at least one)", in.Name)
			continue
		}
		// The first VIP's device carries the main failover Client (the
		// elector's); the instance's interface is tracked by it too.
		if p.devs[0] != in.Interface && !slices.Contains(p.trackIfs, in.Interface) {
			p.trackIfs = append(p.trackIfs, in.Interface)
		}
		version := in.Version
		if version == 0 {
			version = g.VRRPVersion
			if all[0].Is6() {
				version = 3
			}
		}
		src := in.UnicastSrc
		if !src.IsValid() {
			src = in.McastSrc
		}
		delayPreempt := in.PreemptDelay
		if in.NoPreempt {
			delayPreempt = 0 // a node that never preempts has nothing to delay
		}
		p.vrrp = vrrp.Config{Interface: in.Interface, VRID: in.VRID, Priority: in.Priority, Version: version,
			AdvertInterval: in.AdvertInt, VIPs: all, NoPreempt: in.NoPreempt, PreemptDelay: delayPreempt,
			Source: src, UnicastPeers: slices.Clone(in.UnicastPeers), AuthPass: in.AuthPass}
		if in.Priority == 255 {
			// keepalived 2.2.7: an owner with state MASTER is MASTER at
			// once; with state BACKUP (or nopreempt, or preempt_delay, as
			// keepalived.conf(5) says) it waits as any priority.
			p.vrrp.OwnerWaits = in.State != "MASTER" || in.NoPreempt || in.PreemptDelay != 0
		}
		if err := p.vrrp.Validate(); err != nil {
			errorf(in.Pos, "vrrp_instance %s: %v", in.Name, err)
			continue
		}
		k := routerKey{in.Interface, in.VRID, all[0].Is6()}
		if o, dup := routers[k]; dup {
			errorf(in.Pos, "vrrp_instance %s: virtual_router_id %d on %s is vrrp_instance %s's too", in.Name, in.VRID, in.Interface, o)
		}
		routers[k] = in.Name

		// Gratuitous ARPs: vrrp_garp_master_repeat at once, as many
		// vrrp_garp_master_delay later (0: none), vrrp_garp_interval apart.
		repeat, delay := g.GARPMasterRepeat, g.GARPMasterDelay
		if in.GARPMasterRepeat != nil {
			repeat = *in.GARPMasterRepeat
		}
		if in.GARPMasterDelay != nil {
			delay = *in.GARPMasterDelay
		}
		p.burst = director.Gratuitous{Count: repeat, Interval: g.GARPInterval}
		p.second = p.burst
		p.secondDelay = delay
		if delay == 0 {
			p.secondDelay = -1
		}
		// vrrp_garp_master_refresh: vrrp_garp_master_refresh_repeat
		// packets that often while MASTER.
		p.refreshEvery, repeat = g.GARPMasterRefresh, g.GARPRefreshRepeat
		if in.GARPMasterRefresh != nil {
			p.refreshEvery = *in.GARPMasterRefresh
		}
		if in.GARPRefreshRepeat != nil {
			repeat = *in.GARPRefreshRepeat
		}
		if p.refreshEvery > 0 {
			p.refresh = director.Gratuitous{Count: repeat, Interval: g.GARPInterval}
		}
		// vrrp_garp_lower_prio_repeat: that many when a master this one
		// outranks advertises, and vrrp_garp_lower_prio_delay later (by
		// default the master delay). Only when set, as keepalived's
		// maintainers describe it (the man page's default reads otherwise).
		repeat, lowerDelay := 0, delay
		if _, ok := g.At["vrrp_garp_lower_prio_repeat"]; ok {
			repeat = g.GARPLowerPrioRepeat
		}
		if _, ok := g.At["vrrp_garp_lower_prio_delay"]; ok {
			lowerDelay = g.GARPLowerPrioDelay
		}
		if in.GARPLowerPrioRepeat != nil {
			repeat = *in.GARPLowerPrioRepeat
		}
		if in.GARPLowerPrioDelay != nil {
			lowerDelay = *in.GARPLowerPrioDelay
		}
		if repeat > 0 {
			p.outranked, p.outrankedDelay = director.Gratuitous{Count: repeat, Interval: g.GARPInterval}, lowerDelay
		}

		if syncFor == in.Name && syncd != nil {
			p.sync = failover.Sync{Mode: failover.SyncFollow, Interface: syncd.Interface, SyncID: syncd.ID}
		}
		for _, name := range in.TrackScripts {
			s := scripts[name]
			if s == nil {
				errorf(in.Pos, "vrrp_instance %s: track_script %s: no such vrrp_script", in.Name, name)
				continue
			}
			sp := scriptPlan{name: s.Name, cmd: s.Script, interval: s.Interval, timeout: s.Timeout, weight: s.Weight, rise: s.Rise, fall: s.Fall, initFail: s.InitFail}
			if p.group != nil {
				// keepalived.conf(5): a sync group's members track with
				// weight 0, so that their priorities stay consistent.
				sp.weight = 0
			}
			p.scripts = append(p.scripts, sp)
		}
		// The failover side, checked with stand-in functions.
		for _, dev := range p.devs {
			fc := p.failoverConfig(dev)
			if dev == p.devs[0] {
				fc.Elector = nopElector{}
				for _, s := range p.scripts {
					fc.Trackers = append(fc.Trackers, failover.Tracker{Name: "script " + s.name, Weight: s.weight, Check: func(context.Context) error { return nil }})
				}
			}
			if err := fc.Validate(); err != nil {
				errorf(in.Pos, "vrrp_instance %s: %v", in.Name, err)
			}
		}
		plan.insts = append(plan.insts, p)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return plan, nil
}

// nopElector stands for the vrrp.Node while a plan is checked.
type nopElector struct{}

func (nopElector) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (nopElector) SetPriority(int) error         { return errors.New("not running") }
