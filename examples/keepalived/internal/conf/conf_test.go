package conf

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/ipvs"
)

func TestParseFull(t *testing.T) {
	c, probs := Parse("testdata/full.conf")
	var warnings []string
	for _, p := range probs {
		if !p.Warning {
			t.Errorf("unexpected error: %v", p)
		}
		warnings = append(warnings, p.String())
	}
	if c == nil {
		t.Fatal("no configuration")
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "full.conf:11: warning:") || !strings.Contains(warnings[0], "notification_email_from") {
		t.Errorf("warnings %q, want one naming notification_email_from at full.conf:11", warnings)
	}
	g := c.Global
	if g.RouterID != "lb1" || !g.ScriptSecurity || g.GARPMasterDelay != 2*time.Second || g.GARPMasterRepeat != 3 ||
		g.GARPMasterRefresh != time.Minute || g.GARPRefreshRepeat != 2 || g.SyncDaemon == nil || g.SyncDaemon.ID != 51 || g.SyncDaemon.Instance != "VI_1" {
		t.Errorf("global_defs: %+v", g)
	}
	if len(c.StaticAddrs) != 1 || c.StaticAddrs[0].Dev != "eth1" || c.StaticAddrs[0].Scope != "link" {
		t.Errorf("static_ipaddress: %+v", c.StaticAddrs)
	}
	in := c.Instances[0]
	if in.State != "MASTER" || in.VRID != 51 || in.Priority != 150 || !in.NoPreempt || in.PreemptDelay != 5*time.Second ||
		in.AuthPass != "secret12" || len(in.VIPs) != 2 || in.VIPs[0].Label != "eth0:1" || in.VIPs[1].Prefix.Bits() != 128 ||
		len(in.UnicastPeers) != 1 || in.TrackScripts[0] != "chk" || in.TrackInterfaces[0] != "eth1" ||
		in.GARPMasterRefresh == nil || *in.GARPMasterRefresh != 30*time.Second || in.GARPRefreshRepeat == nil || *in.GARPRefreshRepeat != 4 ||
		in.GARPLowerPrioDelay == nil || *in.GARPLowerPrioDelay != 2*time.Second || in.GARPLowerPrioRepeat == nil || *in.GARPLowerPrioRepeat != 3 {
		t.Errorf("vrrp_instance: %+v", in)
	}
	if s := c.Scripts[0]; s.Script != "/bin/true arg" || s.Interval != 2*time.Second || s.Weight != -10 || s.Rise != 2 || s.Fall != 3 {
		t.Errorf("vrrp_script: %+v", s)
	}
	if len(c.VirtualServers) != 3 {
		t.Fatalf("%d virtual servers, want 3", len(c.VirtualServers))
	}
	vs := c.VirtualServers[0]
	if vs.Pos.File != filepath.Join("testdata", "inc", "lvs.conf") || vs.Pos.Line != 6 {
		t.Errorf("position %v", vs.Pos)
	}
	if vs.Service.Scheduler != "mh" || vs.Service.Flags != ipvs.FlagPersistent|ipvs.FlagMHPort|ipvs.FlagMHFallback ||
		vs.Service.Timeout != 360*time.Second || vs.Service.Netmask.Bits() != 24 || vs.Quorum != 2 || vs.Hysteresis != 1 ||
		vs.Sorry == nil || vs.Sorry.Forward != ipvs.DirectRoute || vs.Method.Forward != ipvs.DirectRoute {
		t.Errorf("virtual_server: %+v", vs)
	}
	r1, r2 := vs.Reals[0], vs.Reals[1]
	if r1.Dest.Weight != 5 || r1.Dest.UpperThreshold != 100 || r1.Dest.LowerThreshold != 10 || !r1.Inhibit || r1.Dest.Forward != ipvs.DirectRoute ||
		len(r1.Checkers) != 2 || r1.Checkers[0].ConnectPort != 8443 || r1.Checkers[0].Timing.ConnectTimeout != 2*time.Second {
		t.Errorf("real_server 1: %+v", r1)
	}
	h := r1.Checkers[1]
	if len(h.URLs) != 2 || h.URLs[0].StatusCodes[1] != [2]int{300, 302} || h.URLs[1].StatusCodes != nil || h.URLs[0].VirtualHost != "www.example.org" ||
		h.Timing.Retry != 2 || h.Timing.DelayBeforeRetry != 1500*time.Millisecond {
		t.Errorf("HTTP_GET: %+v", h)
	}
	if r2.Inhibit || r2.Dest.Weight != 1 || r2.Checkers[0].MiscPath != "/bin/sh -c 'exit 0'" || !r2.Checkers[0].MiscDynamic {
		t.Errorf("real_server 2: %+v %+v", r2, r2.Checkers[0])
	}
	web := c.VirtualServers[1]
	wantKeys := []ipvs.ServiceKey{
		{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.100"), Port: 80},
		{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.101"), Port: 80},
		{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.110"), Port: 80},
		{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.111"), Port: 80},
		{Family: ipvs.IPv4, Fwmark: 9},
	}
	if len(web.Keys) != len(wantKeys) {
		t.Fatalf("group keys %v, want %v", web.Keys, wantKeys)
	}
	for i := range wantKeys {
		if web.Keys[i] != wantKeys[i] {
			t.Errorf("group key %d: %v, want %v", i, web.Keys[i], wantKeys[i])
		}
	}
	d := web.Reals[0].Dest
	if d.Forward != ipvs.Tunnel || d.TunnelType != ipvs.GUE || d.TunnelPort != 6080 || d.TunnelFlags != ipvs.TunnelChecksum {
		t.Errorf("group real server %+v", d)
	}
	ck := web.Reals[0].Checkers
	if len(ck) != 4 || ck[0].DNSType != "A" || string(ck[1].Payload) != "\x01\x02\xab" || !ck[1].RequireReply || ck[3].HeloName != "lb1" {
		t.Errorf("group checkers %+v", ck)
	}
	fw := c.VirtualServers[2]
	if fw.Keys[0] != (ipvs.ServiceKey{Family: ipvs.IPv6, Fwmark: 7}) || fw.Service.Flags != ipvs.FlagPersistent|ipvs.FlagSHPort|ipvs.FlagOnePacket || fw.Reals[0].Dest.Port != 80 {
		t.Errorf("fwmark: %+v %+v", fw.Keys, fw.Service)
	}
}

// TestParseProblems checks that each bad file is refused with the right
// position and a message naming the keyword or value.
func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		conf    string
		want    string // substring of the first problem
		warning bool
	}{
		{"virtual_server 10.0.0.1 80 {\n  lb_algo rrr\n}\n", "x.conf:2: error: lb_algo \"rrr\"", false},
		{"virtual_server 10.0.0.1 80 {\n  real_server 10.0.1.1 80 {\n    weight -1\n  }\n}\n", "x.conf:3: error: weight", false},
		{"virtual_server 10.0.0.1 80 {\n  real_server 10.0.1.1 80 {\n", "never closed", false},
		{"}\n", "x.conf:1: error: unmatched", false},
		{"virtual_server 10.0.0.1 80 {\n  bogus_keyword 1\n}\n", "x.conf:2: warning: unknown keyword \"bogus_keyword\"", true},
		{"virtual_server 10.0.0.1 80 {\n  snmp_name x\n}\n", "x.conf:2: warning: \"snmp_name\"", true},
		{"virtual_server 10.0.0.1 80 {\n  nftables_ipvs 1\n}\n", "x.conf:2: error: \"nftables_ipvs\" in virtual_server is not supported", false},
		{"global_defs {\n  vrrp_strict\n}\n", "x.conf:2: error: \"vrrp_strict\"", false},
		{"virtual_server 10.0.0.1 {\n}\n", "port can be omitted only", false},
		{"virtual_server group nope {\n}\n", "no such virtual_server_group", false},
		{"virtual_server 10.0.0.1 80 {\n}\nvirtual_server 10.0.0.1 80 {\n}\n", "x.conf:3: error: virtual server UDP 10.0.0.1:80 is already defined at x.conf:1", false},
		{"virtual_server 10.0.0.1 80 {\n real_server 10.0.1.1 80 {\n  HTTP_GET {\n  }\n }\n}\n", "x.conf:3: error: HTTP_GET without url", false},
		{"vrrp_instance VI {\n  interface eth0\n}\n", "no virtual_router_id", false},
		{"vrrp_instance VI {\n  interface eth0\n  virtual_router_id 1\n  track_script {\n    nope\n  }\n}\n", "no vrrp_script defines", false},
		{"virtual_server 10.0.0.1 80 {\n  lvs_method TUN type gue\n}\n", "x.conf:2: error: lvs_method TUN type gue needs port", false},
		{"@main virtual_server 10.0.0.1 80 {\n", "conditional configuration", false},
		{"virtual_server 10.0.0.1 80 {\n  protocol TCP\n  real_server 10.0.1.1 80 {\n    notify_up \"/bin/x\" nobody\n  }\n}\n", "x.conf:4: error: notify_up: running scripts as another user", false},
		{"include nothing/*.conf\n", "x.conf:1: warning: include nothing/*.conf: no file matches", true},
		{"include x.conf\n", "nested more than", false},
		{"virtual_server 10.0.0.1 80 { \"unterminated\n", "unterminated quoted string", false},
		{"vrrp_instance VI {\n  garp_master_refresh soon\n}\n", "x.conf:2: error: garp_master_refresh", false},
		{"vrrp_instance VI {\n  garp_master_refresh_repeat 0\n}\n", "x.conf:2: error: garp_master_refresh_repeat", false},
		{"vrrp_instance VI {\n  garp_lower_prio_repeat -1\n}\n", "x.conf:2: error: garp_lower_prio_repeat", false},
		{"vrrp_instance VI {\n  garp_lower_prio_delay x\n}\n", "x.conf:2: error: garp_lower_prio_delay", false},
	} {
		files := map[string]string{"x.conf": tc.conf}
		c, probs := ParseFS("x.conf", fakeRead(files), fakeGlob(files))
		if len(probs) == 0 {
			t.Errorf("%q: no problem, want %q", tc.conf, tc.want)
			continue
		}
		found := false
		for _, p := range probs {
			found = found || strings.Contains(p.String(), tc.want)
		}
		if !found {
			t.Errorf("%q: no problem %q among %v", tc.conf, tc.want, probs)
		}
		if tc.warning != (c != nil) {
			t.Errorf("%q: configuration returned = %v, want %v", tc.conf, c != nil, tc.warning)
		}
	}
}

func fakeRead(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		s, ok := files[name]
		if !ok {
			return nil, os.ErrNotExist
		}
		return []byte(s), nil
	}
}

func fakeGlob(files map[string]string) func(string) ([]string, error) {
	return func(pat string) ([]string, error) {
		var out []string
		for n := range files {
			if ok, _ := filepath.Match(pat, n); ok {
				out = append(out, n)
			}
		}
		return out, nil
	}
}

func TestExpandRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		last string
	}{
		{"10.0.0.1", 1, "10.0.0.1"},
		{"10.0.0.250-10.0.1.2", 9, "10.0.1.2"},
		{"10.0.0.1-4", 4, "10.0.0.4"},
		{"10.0.0.8/29", 8, "10.0.0.15"},
		{"2001:db8::1-a", 10, "2001:db8::a"},
	} {
		as, err := expandRange(tc.in)
		if err != nil || len(as) != tc.n || as[len(as)-1].String() != tc.last {
			t.Errorf("%s: %v %v, want %d ending %s", tc.in, as, err, tc.n, tc.last)
		}
	}
	for _, bad := range []string{"10.0.0.5-4", "10.0.0.1-300", "10.0.0.0/8", "x-y"} {
		if _, err := expandRange(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// FuzzParse feeds arbitrary files to the parser: it must never panic, and a
// configuration it accepts must have only warnings and valid IPVS states.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/full.conf", "testdata/inc/lvs.conf"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("virtual_server 1.2.3.4 80 { real_server 1.2.3.5 80 { weight 2 } }\n")
	f.Fuzz(func(t *testing.T, s string) {
		files := map[string]string{"x.conf": s, "y.conf": s}
		c, probs := ParseFS("x.conf", fakeRead(files), fakeGlob(files))
		if (c == nil) != HasErrors(probs) {
			t.Fatalf("configuration %v with problems %v", c != nil, probs)
		}
		for _, p := range probs {
			if p.Pos.File == "" || p.Msg == "" {
				t.Fatalf("problem without position or message: %+v", p)
			}
		}
	})
}
