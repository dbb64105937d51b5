package director

import (
	"strconv"
	"strings"
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
	return []SysctlInfo{
		{"net.ipv4.ip_forward", 0, 0, 1,
			"Forward IPv4 packets between interfaces. Required for NAT (the director routes the real servers' replies); not for DR or TUN. Writing it also resets every conf/*/forwarding, which ApplySysctls restores."},
		{"net.ipv6.conf.all.forwarding", 0, 0, 1,
			"Forward IPv6 packets; the IPv6 counterpart of ip_forward, also copied to every interface."},
		{"net.ipv4.vs.conntrack", 0, 0, 1,
			"Keep netfilter connection-tracking entries for IPVS connections. Needed whenever other rules must see IPVS traffic: source NAT for one-arm NAT (without it a MASQUERADE rule never matches) and stateful firewalls. Costs a conntrack entry per connection."},
		{"net.ipv4.vs.expire_nodest_conn", 0, 0, 1,
			"When a real server is removed, expire its connections on their next packet instead of silently dropping packets until they time out (up to 15 minutes for TCP). Clients then reconnect at once to a live server. kube-proxy and seesaw set 1."},
		{"net.ipv4.vs.expire_quiescent_template", 0, 0, 1,
			"When a real server's weight is set to 0 (quiesced), expire the persistence templates pointing at it, so that persistent clients move to other servers on their next connection instead of sticking to the quiesced one for the whole persistence timeout. Set it when health checks drain by weight 0 (keepalived's inhibit_on_failure)."},
		{"net.ipv4.vs.conn_reuse_mode", 1, 0, 3,
			"What to do when a new connection reuses the source port of an old IPVS connection. 0: send it to the old real server (no rescheduling). Bit 1 (default): reschedule when safe (TIME_WAIT in NAT mode, or the old server is gone with expire_nodest_conn). Bit 2: also reschedule TCP in FIN_WAIT (what DR sees last), helping new servers get load on busy clusters. On kernels before 5.9, value 1 with conntrack=1 delays such SYNs by a second; kube-proxy sets 0 there."},
		{"net.ipv4.vs.sloppy_tcp", 0, 0, 1,
			"Create IPVS connection state from any TCP packet, not only SYN. Lets a standby director take over established connections without the sync daemon, at the cost of scheduling stray packets."},
		{"net.ipv4.vs.sloppy_sctp", 0, 0, 1,
			"The same for SCTP: create state from any chunk, not only INIT."},
		{"net.ipv4.vs.snat_reroute", 1, 0, 1,
			"Route replies that IPVS source-NATs (NAT mode, real server to client) again as if the director sent them, so that policy routing by source address picks the VIP's route. Leave 1 unless routing is simple and CPU matters."},
		{"net.ipv4.vs.nat_icmp_send", 0, 0, 1,
			"In NAT mode, answer packets from real servers that match no IPVS connection with ICMP port unreachable, so that real servers learn quickly that a connection is gone."},
		{"net.ipv4.vs.pmtu_disc", 1, 0, 1,
			"For tunnelled (TUN) forwarding: drop packets with DF set that do not fit the tunnel and send ICMP fragmentation-needed, i.e. path MTU discovery. 0 fragments instead, hiding the MTU problem at a cost."},
		{"net.ipv4.vs.cache_bypass", 0, 0, 1,
			"When no real server is available, forward the packet to its original destination address (transparent cache clusters). Off for ordinary VIPs."},
		{"net.ipv4.vs.schedule_icmp", 0, 0, 1,
			"Schedule ICMP packets that belong to no connection (e.g. echo requests to the VIP) to real servers, as long as a service for the protocol exists (kernel 4.14)."},
		{"net.ipv4.vs.ignore_tunneled", 0, 0, 1,
			"Let tunnelled packets addressed to a VIP reach local sockets instead of IPVS; for hosts that are both a real server (TUN) and a director."},
		{"net.ipv4.vs.backup_only", 0, 0, 1,
			"Do not forward when the sync daemon runs as backup only; for a standby director that must not schedule."},
		{"net.ipv4.vs.run_estimation", 1, 0, 1,
			"Compute the rate estimates (conns/s, packets/s, bytes/s) shown by ipvsadm --rate; 0 saves CPU on directors with many services (kernel 5.19)."},
	}
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
