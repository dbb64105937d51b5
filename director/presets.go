package director

import (
	"strconv"
	"strings"

	"github.com/golvs/lvs/ipvs"
)

// Sysctl is one kernel setting, named as sysctl(8) names it
// ("net.ipv4.vs.conntrack"), with an integer value.
type Sysctl struct {
	Name  string
	Value int
}

func (s Sysctl) String() string { return s.Name + "=" + strconv.Itoa(s.Value) }

// path is the file under /proc/sys.
func (s Sysctl) path() string { return strings.ReplaceAll(s.Name, ".", "/") }

// SysctlInfo documents one setting that ApplySysctls accepts.
type SysctlInfo struct {
	Name    string
	Default int
	// Min and Max bound the values ApplySysctls accepts.
	Min, Max int
	// Meaning says what the setting does and when an operator wants it.
	Meaning string
}

// Sysctls returns the settings ApplySysctls accepts, with their kernel
// defaults (as in every new network namespace on 6.1 and 6.12) and meaning.
// The IPVS ones (net.ipv4.vs.*, which apply to IPv6 services too) exist
// only once the ip_vs module is loaded. Settings for the sync daemon and
// the DoS defences (amemthresh, drop_entry, drop_packet, secure_tcp) are
// left to ipvs and sysctl(8): they need tuning, not a preset.
func Sysctls() []SysctlInfo {
	out := []SysctlInfo{
		{"net.ipv4.ip_forward", 0, 0, 1,
			"Forward IPv4 packets between interfaces. Required for NAT (the director routes the real servers' replies); not for DR or TUN. Writing it also resets every conf/*/forwarding, which ApplySysctls restores."},
		{"net.ipv6.conf.all.forwarding", 0, 0, 1,
			"Forward IPv6 packets; the IPv6 counterpart of ip_forward, also copied to every interface."},
	}
	// The IPVS ones: their meanings are ipvs's.
	for _, name := range ipvs.SysctlsDocumented() {
		m, _ := name.Meaning()
		out = append(out, SysctlInfo{"net.ipv4.vs." + string(name), m.Default, m.Min, m.Max, m.Text})
	}
	return out
}

// sysctlInfo looks a name up in Sysctls.
func sysctlInfo(name string) (SysctlInfo, bool) {
	for _, s := range Sysctls() {
		if s.Name == name {
			return s, true
		}
	}
	return SysctlInfo{}, false
}

// PresetFailover makes real-server changes take effect at once: connections
// to a removed real server are reset on their next packet and persistent
// clients leave a quiesced (weight 0) server. This is what kube-proxy,
// seesaw and most keepalived deployments run with.
func PresetFailover() []Sysctl {
	return []Sysctl{
		{"net.ipv4.vs.expire_nodest_conn", 1},
		{"net.ipv4.vs.expire_quiescent_template", 1},
	}
}

// PresetConntrack keeps conntrack entries for IPVS connections, which source
// NAT and stateful firewalls on the director need.
func PresetConntrack() []Sysctl {
	return []Sysctl{{"net.ipv4.vs.conntrack", 1}}
}

// PresetKubeProxy is kube-proxy's IPVS-mode set (without strict ARP):
// conntrack, failover, and IPv4 forwarding. On kernels older than 5.9
// kube-proxy also sets conn_reuse_mode=0; add that yourself there.
func PresetKubeProxy() []Sysctl {
	return append(append(PresetConntrack(), PresetFailover()...), Sysctl{"net.ipv4.ip_forward", 1})
}
