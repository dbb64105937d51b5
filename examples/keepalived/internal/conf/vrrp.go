package conf

import (
	"net/netip"
	"strings"
	"time"
)

func (p *parser) global(n *Node) {
	g := &p.cfg.Global
	g.GARPMasterDelay, g.GARPMasterRepeat, g.GARPRefreshRepeat = 5*time.Second, 5, 1
	g.VRRPVersion = 2
	if g.At == nil {
		g.At = map[string]Pos{}
	}
	for _, c := range n.Children {
		g.At[c.Key] = c.Pos
		switch c.Key {
		case "router_id":
			g.RouterID, _ = p.str(c)
		case "enable_script_security":
			g.ScriptSecurity, _ = p.boolean(c)
		case "script_user":
			if p.flat(c, 1, 2) {
				g.ScriptUser = strings.Join(c.Args, " ")
			}
		case "vrrp_garp_master_delay":
			p.setTimer(c, &g.GARPMasterDelay)
		case "vrrp_garp_master_repeat":
			p.setInt(c, 1, 1<<20, &g.GARPMasterRepeat)
		case "vrrp_garp_master_refresh":
			p.setTimer(c, &g.GARPMasterRefresh)
		case "vrrp_garp_master_refresh_repeat":
			p.setInt(c, 1, 1<<20, &g.GARPRefreshRepeat)
		case "vrrp_garp_interval":
			p.setTimer(c, &g.GARPInterval)
		case "vrrp_garp_lower_prio_delay":
			p.setTimer(c, &g.GARPLowerPrioDelay)
		case "vrrp_garp_lower_prio_repeat":
			p.setInt(c, 0, 1<<20, &g.GARPLowerPrioRepeat)
		case "lvs_sync_daemon":
			g.SyncDaemon = p.syncDaemon(c)
		case "vrrp_version":
			p.setInt(c, 2, 3, &g.VRRPVersion)
		default:
			p.unknown(c, "global_defs")
		}
	}
}

func (p *parser) syncDaemon(n *Node) *SyncDaemon {
	if !p.flat(n, 1, 4) {
		return nil
	}
	d := &SyncDaemon{Pos: n.Pos, Interface: n.Args[0]}
	rest := n.Args[1:]
	if len(rest) > 0 && rest[0] != "id" {
		d.Instance, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		if rest[0] != "id" || len(rest) != 2 {
			p.errorf(n, "lvs_sync_daemon: expected [INSTANCE] [id N], got %q", strings.Join(n.Args[1:], " "))
			return nil
		}
		v, ok := p.integer(&Node{Key: "lvs_sync_daemon id", Args: rest[1:], Pos: n.Pos}, 0, 0, 255)
		if !ok {
			return nil
		}
		d.ID = int(v)
	}
	return d
}

// vip parses one line of virtual_ipaddress or static_ipaddress:
// ADDR[/LEN] [dev DEV] [label LABEL] [scope SCOPE].
func (p *parser) vip(n *Node) (VIP, bool) {
	if n.Block {
		p.errorf(n, "an address line takes no block")
		return VIP{}, false
	}
	v := VIP{Pos: n.Pos}
	s := n.Key
	if s == "" {
		return v, false
	}
	var err error
	if strings.Contains(s, "/") {
		v.Prefix, err = netip.ParsePrefix(s)
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(s)
		if err == nil {
			v.Prefix = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil {
		p.errorf(n, "%q is not an IP address or prefix", s)
		return v, false
	}
	for i := 0; i < len(n.Args); i += 2 {
		if i+1 >= len(n.Args) {
			p.errorf(n, "address option %q needs a value", n.Args[i])
			return v, false
		}
		val := n.Args[i+1]
		switch n.Args[i] {
		case "dev":
			v.Dev = val
		case "label":
			v.Label = val
		case "scope":
			switch val {
			case "global", "site", "link", "host", "nowhere":
				v.Scope = val
			default:
				p.errorf(n, "scope %q is not one of global|site|link|host|nowhere", val)
				return v, false
			}
		default:
			p.errorf(n, "address option %q is not supported (dev, label and scope are)", n.Args[i])
			return v, false
		}
	}
	return v, true
}

func (p *parser) script(n *Node) {
	s := &Script{Pos: n.Pos, Name: n.Args[0], Interval: time.Second, Rise: 1, Fall: 1}
	p.cfg.Global.HasScripts = true
	for _, c := range n.Children {
		switch c.Key {
		case "script":
			s.Script, _ = p.scriptCmd(c)
		case "interval":
			p.setTimer(c, &s.Interval)
		case "timeout":
			p.setTimer(c, &s.Timeout)
		case "weight":
			if p.flat(c, 1, 2) {
				v, _ := p.integer(c, 0, -253, 253)
				s.Weight = int(v)
				if len(c.Args) == 2 {
					p.errorf(c, "weight %s: the reverse option is not supported", c.Args[1])
				}
			}
		case "rise":
			p.setInt(c, 1, 1<<20, &s.Rise)
		case "fall":
			p.setInt(c, 1, 1<<20, &s.Fall)
		case "init_fail":
			if p.flat(c, 0, 0) {
				s.InitFail = true
			}
		default:
			p.unknown(c, "vrrp_script")
		}
	}
	if s.Script == "" {
		p.errorf(n, "vrrp_script %s has no script", s.Name)
	}
	if s.Timeout == 0 {
		s.Timeout = s.Interval
	}
	p.cfg.Scripts = append(p.cfg.Scripts, s)
}

func (p *parser) syncGroup(n *Node) {
	g := &SyncGroup{Pos: n.Pos, Name: n.Args[0]}
	for _, c := range n.Children {
		switch c.Key {
		case "group":
			if !c.Block || len(c.Args) != 0 {
				p.errorf(c, "group needs a block of instance names")
				continue
			}
			for _, m := range c.Children {
				if m.Block {
					p.errorf(m, "an instance name takes no block")
					continue
				}
				g.Group = append(g.Group, m.Key)
				g.Group = append(g.Group, m.Args...)
			}
		default:
			if !p.notifyScript(c, map[string]*string{"notify_master": &g.NotifyMaster, "notify_backup": &g.NotifyBackup, "notify_fault": &g.NotifyFault, "notify": &g.Notify}) {
				p.unknown(c, "vrrp_sync_group")
			}
		}
	}
	p.cfg.SyncGroups = append(p.cfg.SyncGroups, g)
}

// notifyScript sets the script of c when its key is one of scripts' (the
// notify keywords of a block), and reports whether it was.
func (p *parser) notifyScript(c *Node, scripts map[string]*string) bool {
	dst, ok := scripts[c.Key]
	if ok {
		*dst, _ = p.scriptCmd(c)
	}
	return ok
}

func (p *parser) instance(n *Node) {
	in := &Instance{Pos: n.Pos, Name: n.Args[0], State: "BACKUP", Priority: 100, AdvertInt: time.Second}
	for _, c := range n.Children {
		switch c.Key {
		case "state":
			if s, ok := p.str(c); ok {
				if s != "MASTER" && s != "BACKUP" {
					p.errorf(c, "state %q is not MASTER or BACKUP", s)
				}
				in.State = s
			}
		case "interface":
			in.Interface, _ = p.str(c)
		case "virtual_router_id":
			p.setInt(c, 1, 255, &in.VRID)
		case "priority":
			p.setInt(c, 1, 255, &in.Priority)
		case "advert_int":
			p.setTimer(c, &in.AdvertInt)
		case "nopreempt":
			if p.flat(c, 0, 0) {
				in.NoPreempt = true
			}
		case "preempt_delay":
			p.setTimer(c, &in.PreemptDelay)
		case "authentication":
			p.auth(c, in)
		case "vrrp_version", "version":
			p.setInt(c, 2, 3, &in.Version)
		case "unicast_src_ip":
			if p.flat(c, 1, 1) {
				in.UnicastSrc, _ = p.addr(c, 0)
			}
		case "mcast_src_ip":
			if p.flat(c, 1, 1) {
				in.McastSrc, _ = p.addr(c, 0)
			}
		case "garp_master_delay":
			in.GARPMasterDelay = p.optTimer(c)
		case "garp_master_repeat":
			in.GARPMasterRepeat = p.optInt(c, 1, 1<<20, 5)
		case "garp_master_refresh":
			in.GARPMasterRefresh = p.optTimer(c)
		case "garp_master_refresh_repeat":
			in.GARPRefreshRepeat = p.optInt(c, 1, 1<<20, 1)
		case "garp_lower_prio_delay":
			in.GARPLowerPrioDelay = p.optTimer(c)
		case "garp_lower_prio_repeat":
			in.GARPLowerPrioRepeat = p.optInt(c, 0, 1<<20, 0)
		case "unicast_peer":
			if !c.Block || len(c.Args) != 0 {
				p.errorf(c, "unicast_peer needs a block of addresses")
				continue
			}
			for _, m := range c.Children {
				a, err := netip.ParseAddr(m.Key)
				if err != nil || m.Block || len(m.Args) != 0 {
					p.errorf(m, "unicast_peer: %q is not a plain IP address (peer options are not supported)", m.Key)
					continue
				}
				in.UnicastPeers = append(in.UnicastPeers, a)
			}
		case "virtual_ipaddress":
			if !c.Block || len(c.Args) != 0 {
				p.errorf(c, "virtual_ipaddress needs a block of addresses")
				continue
			}
			for _, m := range c.Children {
				if v, ok := p.vip(m); ok {
					in.VIPs = append(in.VIPs, v)
				}
			}
		case "track_interface", "track_script":
			if !c.Block || len(c.Args) != 0 {
				p.errorf(c, "%s needs a block of names", c.Key)
				continue
			}
			for _, m := range c.Children {
				if m.Block || len(m.Args) != 0 {
					p.errorf(m, "%s: weights are not supported (%q)", c.Key, strings.Join(append([]string{m.Key}, m.Args...), " "))
					continue
				}
				if c.Key == "track_interface" {
					in.TrackInterfaces = append(in.TrackInterfaces, m.Key)
				} else {
					in.TrackScripts = append(in.TrackScripts, m.Key)
				}
			}
		case "lvs_sync_daemon":
			in.SyncDaemon = p.syncDaemon(c)
		default:
			if !p.notifyScript(c, map[string]*string{"notify_master": &in.NotifyMaster, "notify_backup": &in.NotifyBackup, "notify_fault": &in.NotifyFault, "notify_stop": &in.NotifyStop, "notify": &in.Notify}) {
				p.unknown(c, "vrrp_instance")
			}
		}
	}
	if in.Interface == "" {
		p.errorf(n, "vrrp_instance %s has no interface", in.Name)
	}
	if in.VRID == 0 {
		p.errorf(n, "vrrp_instance %s has no virtual_router_id", in.Name)
	}
	if in.NotifyMaster != "" || in.NotifyBackup != "" || in.NotifyFault != "" || in.NotifyStop != "" || in.Notify != "" {
		p.cfg.Global.HasScripts = true
	}
	p.cfg.Instances = append(p.cfg.Instances, in)
}

func (p *parser) auth(n *Node, in *Instance) {
	if !p.block(n, 0) {
		return
	}
	typ := ""
	for _, c := range n.Children {
		switch c.Key {
		case "auth_type":
			typ, _ = p.str(c)
			if typ != "PASS" {
				p.errorf(c, "auth_type %q is not supported (PASS is)", typ)
			}
		case "auth_pass":
			if s, ok := p.str(c); ok {
				if len(s) > 8 {
					s = s[:8] // keepalived uses the first 8 characters
				}
				in.AuthPass = s
			}
		default:
			p.unknown(c, "authentication")
		}
	}
	if typ == "PASS" && in.AuthPass == "" {
		p.errorf(n, "auth_type PASS without auth_pass")
	}
}
