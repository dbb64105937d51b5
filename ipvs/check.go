package ipvs

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/golvs/lvs/internal/diag"
)

// Finding is one thing Check found: the SDK's one diagnostics type
// (director, realserver and fwmark return the same).
type Finding = diag.Finding

// Findings is a check's outcome, in the order found.
type Findings = diag.Findings

// Severity grades a Finding.
type Severity = diag.Severity

// Severities.
const (
	SeverityNote, SeverityWarning, SeverityBroken = diag.SeverityNote, diag.SeverityWarning, diag.SeverityBroken
)

// serviceFindings reports services that cannot forward: no destinations,
// or every destination at weight 0 (IPVS schedules no new connection to
// a weight-0 destination). local says whether an address is the
// namespace's own: IPVS sees packets at LOCAL_IN, so an address service
// whose address is not local never gets any.
func serviceFindings(snap []ServiceSnapshot, local func(a string) bool) Findings {
	var out Findings
	for _, s := range snap {
		subj := "service " + s.ServiceKey.String()
		if s.Fwmark == 0 && local != nil && !local(s.Address.Unmap().String()) {
			out = append(out, Finding{Severity: SeverityBroken, Subject: subj,
				Problem: "its address " + s.Address.Unmap().String() + " is not an address of this host: IPVS sees packets only once routing delivers them locally (LOCAL_IN), so this service never gets any",
				Fix:     "add the VIP to an interface (director.AddVIP), or use a fwmark service for routed traffic"})
		}
		if len(s.Destinations) == 0 {
			out = append(out, Finding{Severity: SeverityBroken, Subject: subj,
				Problem: "it has no destinations: its connections are refused or dropped",
				Fix:     fmt.Sprintf("add real servers (ipvsadm -a %s -r RIP), or delete the service", serviceOption(s.ServiceKey))})
			continue
		}
		zero := true
		for _, d := range s.Destinations {
			zero = zero && d.Weight == 0
		}
		if zero {
			out = append(out, Finding{Severity: SeverityBroken, Subject: subj,
				Problem: fmt.Sprintf("all %d of its destinations have weight 0 (drained, quiesced, or down in health checks): IPVS schedules no new connection to any of them", len(s.Destinations)),
				Fix:     "give a healthy destination a positive weight, or add a sorry server"})
		}
	}
	return out
}

// serviceOption is how ipvsadm names k: -t/-u/--sctp-service ADDR:PORT or -f MARK.
func serviceOption(k ServiceKey) string {
	if k.Fwmark != 0 {
		return "-f " + strconv.FormatUint(uint64(k.Fwmark), 10)
	}
	opt := map[Protocol]string{TCP: "-t", UDP: "-u", SCTP: "--sctp-service"}[k.Protocol]
	return opt + " " + k.String()[strings.IndexByte(k.String(), ' ')+1:]
}

// reuseFindings reports the connection-reuse pitfalls of the sysctls
// conn_reuse_mode, expire_nodest_conn and conntrack on kernel release
// (uname -r).
func reuseFindings(release string, reuse, nodest, conntrack int) Findings {
	var out Findings
	if reuse == 0 && nodest == 0 {
		out = append(out, Finding{Severity: SeverityWarning, Subject: "net.ipv4.vs.conn_reuse_mode",
			Problem: "conn_reuse_mode=0 and expire_nodest_conn=0: a new connection from a client port still in IPVS's connection table goes to that entry's destination, even one deleted or at weight 0, so busy clients that reuse ports keep reaching removed servers and drains never end",
			Fix:     "set net.ipv4.vs.expire_nodest_conn=1 (as kube-proxy does), or conn_reuse_mode=1 on kernel 5.9 or later"})
	}
	if maj, min, ok := kernelVersion(release); ok && (maj < 5 || maj == 5 && min < 9) && (maj > 4 || maj == 4 && min >= 1) && reuse&1 != 0 && conntrack != 0 {
		out = append(out, Finding{Severity: SeverityWarning, Subject: "net.ipv4.vs.conn_reuse_mode",
			Problem: fmt.Sprintf("conn_reuse_mode=%d with conntrack=1 on kernel %s (before 5.9): the SYN of a new connection reusing the port of an old one is dropped so that its conntrack entry can go, a 1 s retransmission delay for clients opening many connections", reuse, release),
			Fix:     "set net.ipv4.vs.conn_reuse_mode=0 with expire_nodest_conn=1 (kube-proxy's setting for 4.1 to 5.8), or upgrade the kernel"})
	}
	return out
}

// kernelVersion reads "6.1.0-28-cloud-amd64" as 6, 1.
func kernelVersion(release string) (major, minor int, ok bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	end := strings.IndexFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(parts[1])
	}
	minor, err2 := strconv.Atoi(parts[1][:end])
	return major, minor, err1 == nil && err2 == nil
}

// daemonFindings reports sync daemons whose interface is missing or down:
// up reports an interface's state (exists, up).
func daemonFindings(ds []Daemon, up func(name string) (exists, isUp bool)) Findings {
	var out Findings
	for _, d := range ds {
		exists, isUp := up(d.Interface)
		subj := fmt.Sprintf("%s sync daemon (syncid %d)", d.State, d.SyncID)
		switch {
		case !exists:
			out = append(out, Finding{Severity: SeverityBroken, Subject: subj,
				Problem: "its interface " + d.Interface + " no longer exists: no connection state is synchronised",
				Fix:     "restart the daemon on an existing interface (ipvsadm --stop-daemon, --start-daemon --mcast-interface IF)"})
		case !isUp:
			out = append(out, Finding{Severity: SeverityBroken, Subject: subj,
				Problem: "its interface " + d.Interface + " is down: no connection state is synchronised, so a failover drops established connections",
				Fix:     "ip link set " + d.Interface + " up"})
		}
	}
	return out
}
