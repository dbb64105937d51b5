package ipvs

import (
	"fmt"
	"strconv"
	"strings"
)

// Sysctl names an IPVS sysctl under /proc/sys/net/ipv4/vs/. Each network
// namespace has its own values; a Client reads and writes those of its
// namespace. The constants document each one's meaning and default
// (Documentation/networking/ipvs-sysctl.rst); some exist only on newer
// kernels or only while a module is loaded (lblc_expiration with ip_vs_lblc).
type Sysctl string

// IPVS sysctls.
const (
	// AMemThresh: available memory (pages) below which the defense
	// strategies activate. Default 1024.
	SysctlAMemThresh Sysctl = "amemthresh"
	// AMDropRate: drop rate used by drop_packet mode 3. Default 10.
	SysctlAMDropRate Sysctl = "am_droprate"
	// BackupOnly: 1 disables the director function while a backup sync
	// daemon runs. Default 0.
	SysctlBackupOnly Sysctl = "backup_only"
	// CacheBypass: 1 forwards packets for an unavailable destination
	// directly to the original address. Default 0.
	SysctlCacheBypass Sysctl = "cache_bypass"
	// ConnReuseMode: how a reused connection (same client port) is
	// rescheduled; bit 1 reschedules, bit 2 for persistent too. Default 1.
	SysctlConnReuseMode Sysctl = "conn_reuse_mode"
	// Conntrack: 1 keeps netfilter connection tracking entries for IPVS
	// connections (needed for iptables state matching on NAT). Default 0.
	SysctlConntrack Sysctl = "conntrack"
	// DropEntry: 0..3, randomly drop connection entries under memory
	// pressure (defense against DoS). Default 0.
	SysctlDropEntry Sysctl = "drop_entry"
	// DropPacket: 0..3, drop packets at a rate under memory pressure.
	// Default 0.
	SysctlDropPacket Sysctl = "drop_packet"
	// ExpireNodestConn: 1 expires connections to a deleted destination at
	// their next packet instead of keeping them. Default 0.
	SysctlExpireNodestConn Sysctl = "expire_nodest_conn"
	// ExpireQuiescentTemplate: 1 expires persistence templates of a
	// destination whose weight is 0. Default 0.
	SysctlExpireQuiescentTemplate Sysctl = "expire_quiescent_template"
	// IgnoreTunneled: 1 lets IPVS ignore tunnelled packets. Default 0.
	SysctlIgnoreTunneled Sysctl = "ignore_tunneled"
	// NATICMPSend: 1 sends ICMP errors for NAT connections to a dead
	// destination. Default 0.
	SysctlNATICMPSend Sysctl = "nat_icmp_send"
	// PMTUDisc: 1 honours DF for tunnel/DR packets (ICMP frag needed).
	// Default 1.
	SysctlPMTUDisc Sysctl = "pmtu_disc"
	// RunEstimation: 0 stops the rate estimator (kernel 5.16+). Default 1.
	SysctlRunEstimation Sysctl = "run_estimation"
	// ScheduleICMP: 1 schedules ICMP packets, not only related errors.
	// Default 0.
	SysctlScheduleICMP Sysctl = "schedule_icmp"
	// SecureTCP: 0..3, use the stricter TCP state table under attack.
	// Default 0.
	SysctlSecureTCP Sysctl = "secure_tcp"
	// SloppyTCP and SloppySCTP: 1 lets IPVS pick up connections that
	// started elsewhere (mid-stream). Default 0.
	SysctlSloppyTCP  Sysctl = "sloppy_tcp"
	SysctlSloppySCTP Sysctl = "sloppy_sctp"
	// SNATReroute: 1 reroutes SNAT-ed replies by their new source.
	// Default 1.
	SysctlSNATReroute Sysctl = "snat_reroute"
	// Sync daemon tuning: protocol version (0 or 1, default 1), persistence
	// mode, ports, queue limit, socket size, the "threshold period" pair,
	// refresh period and retries.
	SysctlSyncVersion       Sysctl = "sync_version"
	SysctlSyncPersistMode   Sysctl = "sync_persist_mode"
	SysctlSyncPorts         Sysctl = "sync_ports"
	SysctlSyncQLenMax       Sysctl = "sync_qlen_max"
	SysctlSyncSockSize      Sysctl = "sync_sock_size"
	SysctlSyncThreshold     Sysctl = "sync_threshold"
	SysctlSyncRefreshPeriod Sysctl = "sync_refresh_period"
	SysctlSyncRetries       Sysctl = "sync_retries"
	// LBLCExpiration and LBLCRExpiration: seconds before an unused lblc or
	// lblcr entry expires (present only with those modules loaded).
	SysctlLBLCExpiration  Sysctl = "lblc_expiration"
	SysctlLBLCRExpiration Sysctl = "lblcr_expiration"
	// EstCPUList and EstNice: CPUs and nice value of the estimator kthreads
	// (kernel 6.2+).
	SysctlEstCPUList Sysctl = "est_cpulist"
	SysctlEstNice    Sysctl = "est_nice"
)

// validSysctlName accepts any single path element made of the characters
// the kernel uses, so that sysctls newer than this package still work but
// no path can escape the directory.
func validSysctlName(op string, s Sysctl) error {
	if s == "" || len(s) > 64 {
		return invalid(op, "sysctl", "name", "must be 1..64 characters")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return invalid(op, "sysctl "+string(s), "name", "may contain only a-z, 0-9 and _")
		}
	}
	return nil
}

// parseSysctlInts parses a value of one or more integers ("3 50").
func parseSysctlInts(v string) ([]int, error) {
	f := strings.Fields(v)
	if len(f) == 0 {
		return nil, fmt.Errorf("empty value")
	}
	out := make([]int, len(f))
	for i, s := range f {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", s)
		}
		out[i] = n
	}
	return out, nil
}

// SysctlMeaning documents one IPVS setting: its kernel default (as in
// every new network namespace on 6.1 and 6.12), the values worth setting,
// and what it does and when an operator wants it. The one place these
// meanings are written; director's Sysctls presents them.
type SysctlMeaning struct {
	Default, Min, Max int
	Text              string
}

// Meaning documents s; ok is false for settings left to tuning rather than
// presets (the sync daemon's, the DoS defences', the schedulers').
func (s Sysctl) Meaning() (m SysctlMeaning, ok bool) {
	m, ok = sysctlMeanings[s]
	return m, ok
}

// SysctlsDocumented lists the settings Meaning documents, in a stable order.
func SysctlsDocumented() []Sysctl {
	return []Sysctl{
		SysctlConntrack, SysctlExpireNodestConn, SysctlExpireQuiescentTemplate, SysctlConnReuseMode,
		SysctlSloppyTCP, SysctlSloppySCTP, SysctlSNATReroute, SysctlNATICMPSend, SysctlPMTUDisc,
		SysctlCacheBypass, SysctlScheduleICMP, SysctlIgnoreTunneled, SysctlBackupOnly, SysctlRunEstimation,
	}
}

var sysctlMeanings = map[Sysctl]SysctlMeaning{
	SysctlConntrack: {0, 0, 1,
		"Keep netfilter connection-tracking entries for IPVS connections. Needed whenever other rules must see IPVS traffic: source NAT for one-arm NAT (without it a MASQUERADE rule never matches) and stateful firewalls. Costs a conntrack entry per connection."},
	SysctlExpireNodestConn: {0, 0, 1,
		"When a real server is removed, expire its connections on their next packet instead of silently dropping packets until they time out (up to 15 minutes for TCP). Clients then reconnect at once to a live server. kube-proxy and seesaw set 1."},
	SysctlExpireQuiescentTemplate: {0, 0, 1,
		"When a real server's weight is set to 0 (quiesced), expire the persistence templates pointing at it, so that persistent clients move to other servers on their next connection instead of sticking to the quiesced one for the whole persistence timeout. Set it when health checks drain by weight 0 (keepalived's inhibit_on_failure)."},
	SysctlConnReuseMode: {1, 0, 3,
		"What to do when a new connection reuses the source port of an old IPVS connection. 0: send it to the old real server (no rescheduling). Bit 1 (default): reschedule when safe (TIME_WAIT in NAT mode, or the old server is gone with expire_nodest_conn). Bit 2: also reschedule TCP in FIN_WAIT (what DR sees last), helping new servers get load on busy clusters. On kernels before 5.9, value 1 with conntrack=1 delays such SYNs by a second; kube-proxy sets 0 there."},
	SysctlSloppyTCP: {0, 0, 1,
		"Create IPVS connection state from any TCP packet, not only SYN. Lets a standby director take over established connections without the sync daemon, at the cost of scheduling stray packets."},
	SysctlSloppySCTP: {0, 0, 1,
		"The same for SCTP: create state from any chunk, not only INIT."},
	SysctlSNATReroute: {1, 0, 1,
		"Route replies that IPVS source-NATs (NAT mode, real server to client) again as if the director sent them, so that policy routing by source address picks the VIP's route. Leave 1 unless routing is simple and CPU matters."},
	SysctlNATICMPSend: {0, 0, 1,
		"In NAT mode, answer packets from real servers that match no IPVS connection with ICMP port unreachable, so that real servers learn quickly that a connection is gone."},
	SysctlPMTUDisc: {1, 0, 1,
		"For tunnelled (TUN) forwarding: drop packets with DF set that do not fit the tunnel and send ICMP fragmentation-needed, i.e. path MTU discovery. 0 fragments instead, hiding the MTU problem at a cost."},
	SysctlCacheBypass: {0, 0, 1,
		"When no real server is available, forward the packet to its original destination address (transparent cache clusters). Off for ordinary VIPs."},
	SysctlScheduleICMP: {0, 0, 1,
		"Schedule ICMP packets that belong to no connection (e.g. echo requests to the VIP) to real servers, as long as a service for the protocol exists (kernel 4.14)."},
	SysctlIgnoreTunneled: {0, 0, 1,
		"Let tunnelled packets addressed to a VIP reach local sockets instead of IPVS; for hosts that are both a real server (TUN) and a director."},
	SysctlBackupOnly: {0, 0, 1,
		"Do not forward when the sync daemon runs as backup only; for a standby director that must not schedule."},
	SysctlRunEstimation: {1, 0, 1,
		"Compute the rate estimates (conns/s, packets/s, bytes/s) shown by ipvsadm --rate; 0 saves CPU on directors with many services (kernel 5.19)."},
}
