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
