package conf

import (
	_ "embed"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// Config is a parsed keepalived.conf.
type Config struct {
	Global         Global
	StaticAddrs    []VIP
	Scripts        []*Script
	SyncGroups     []*SyncGroup
	Instances      []*Instance
	Groups         []*Group
	VirtualServers []*VirtualServer
}

// Global is global_defs.
type Global struct {
	RouterID             string
	ScriptSecurity       bool
	ScriptUser           string
	GARPMasterDelay      time.Duration // vrrp_garp_master_delay, default 5 s
	GARPMasterRepeat     int           // vrrp_garp_master_repeat, default 5
	GARPMasterRefresh    time.Duration // vrrp_garp_master_refresh, default 0 (off)
	GARPRefreshRepeat    int           // vrrp_garp_master_refresh_repeat, default 1
	GARPInterval         time.Duration // vrrp_garp_interval
	GARPLowerPrioDelay   time.Duration
	GARPLowerPrioRepeat  int
	SyncDaemon           *SyncDaemon // lvs_sync_daemon
	VRRPVersion          int         // vrrp_version, default 2
	HasScripts           bool        // some script is configured
	LVSFlushOnStop       bool
	LVSFlush             bool
	VRRPStrict           bool
	GARPMasterRefreshSet bool
	// At is where each global_defs keyword was set (for problems found
	// after parsing).
	At map[string]Pos
}

// SyncDaemon is lvs_sync_daemon INTERFACE [INSTANCE] [id N].
type SyncDaemon struct {
	Pos       Pos
	Interface string
	Instance  string
	ID        int // 0: the instance's VRID
}

// VIP is one address of virtual_ipaddress or static_ipaddress.
type VIP struct {
	Pos    Pos
	Prefix netip.Prefix
	Dev    string
	Label  string
	Scope  string
}

// Script is a vrrp_script.
type Script struct {
	Pos      Pos
	Name     string
	Script   string
	Interval time.Duration // default 1 s
	Timeout  time.Duration // default Interval
	Weight   int
	Rise     int  // default 1
	Fall     int  // default 1
	InitFail bool // init_fail: failed until it succeeds (default: succeeded)
}

// SyncGroup is a vrrp_sync_group.
type SyncGroup struct {
	Pos                                             Pos
	Name                                            string
	Group                                           []string
	NotifyMaster, NotifyBackup, NotifyFault, Notify string
}

// Instance is a vrrp_instance.
type Instance struct {
	Pos                                                         Pos
	Name                                                        string
	State                                                       string // MASTER or BACKUP (default BACKUP)
	Interface                                                   string
	VRID                                                        int
	Priority                                                    int // default 100
	AdvertInt                                                   time.Duration
	NoPreempt                                                   bool
	PreemptDelay                                                time.Duration
	AuthPass                                                    string
	Version                                                     int
	UnicastSrc                                                  netip.Addr
	McastSrc                                                    netip.Addr
	GARPMasterDelay                                             *time.Duration // garp_master_delay (default: global's)
	GARPMasterRepeat                                            *int           // garp_master_repeat (default: global's)
	GARPMasterRefresh                                           *time.Duration // garp_master_refresh (default: global's)
	GARPRefreshRepeat                                           *int           // garp_master_refresh_repeat (default: global's)
	GARPLowerPrioDelay                                          *time.Duration // garp_lower_prio_delay (default: global's)
	GARPLowerPrioRepeat                                         *int           // garp_lower_prio_repeat (default: global's)
	UnicastPeers                                                []netip.Addr
	VIPs                                                        []VIP
	TrackInterfaces                                             []string
	TrackScripts                                                []string
	NotifyMaster, NotifyBackup, NotifyFault, NotifyStop, Notify string
	SyncDaemon                                                  *SyncDaemon
}

// Group is a virtual_server_group: services expanded from addresses,
// ranges and firewall marks.
type Group struct {
	Pos     Pos
	Name    string
	Entries []GroupEntry
}

// GroupEntry is one address (with a port, or 0) or firewall mark.
type GroupEntry struct {
	Addr   netip.Addr
	Port   uint16
	Fwmark uint32
	Family ipvs.Family
}

// Timing is the checking parameters that a virtual server passes to its
// real servers and they to their checkers. Zero means inherited.
type Timing struct {
	DelayLoop        time.Duration
	ConnectTimeout   time.Duration
	Retry            int // -1: inherited
	DelayBeforeRetry time.Duration
	Warmup           time.Duration
	WarmupSet        bool
}

// Method is a forwarding method.
type Method struct {
	Forward     ipvs.ForwardMethod
	TunnelType  ipvs.TunnelType
	TunnelPort  uint16
	TunnelFlags ipvs.TunnelFlags
}

// VirtualServer is a virtual_server block.
type VirtualServer struct {
	Pos Pos
	// Keys are the IPVS services it stands for: one, or one per entry of
	// its group.
	Keys []ipvs.ServiceKey
	// Name is how the file names it: "IP PORT", "fwmark N" or "group NAME".
	Name         string
	Group        string
	Service      ipvs.Service // Scheduler, Flags, Timeout, Netmask, PersistenceEngine
	Method       Method
	Protocol     ipvs.Protocol
	HASuspend    bool
	Alpha        bool
	Omega        bool
	Quorum       int // default 1
	Hysteresis   int
	QuorumUp     string
	QuorumDown   string
	VirtualHost  string
	Inhibit      bool
	Timing       Timing
	Sorry        *ipvs.Destination
	SorryInhibit bool
	Reals        []*RealServer
}

// RealServer is a real_server block.
type RealServer struct {
	Pos         Pos
	Dest        ipvs.Destination // Weight is the configured one
	NotifyUp    string
	NotifyDown  string
	VirtualHost string
	Inhibit     bool
	Alpha       bool
	Timing      Timing
	Checkers    []*Checker

	methodSet bool
}

// Checker is one health checker of a real server.
type Checker struct {
	Pos         Pos
	Kind        string // TCP_CHECK, HTTP_GET, ...
	ConnectIP   netip.Addr
	ConnectPort uint16
	BindTo      netip.Addr
	BindIf      string
	BindPort    uint16
	Fwmark      uint32
	Timing      Timing
	Alpha       *bool

	URLs         []URL  // HTTP_GET, SSL_GET
	HTTPProtocol string // 1.0, 1.0C, 1.1
	EnableSNI    bool
	HeloName     string // SMTP_CHECK

	DNSType string // DNS_CHECK: default SOA
	DNSName string // default "."

	MiscPath    string
	MiscTimeout time.Duration
	MiscDynamic bool
	MiscUser    string

	Payload        []byte // UDP_CHECK
	RequireReply   bool
	ReplyPattern   string
	MinReplyLength int
	MaxReplyLength int

	TrackFile   string // FILE_CHECK
	FileWeight  int
	FileDynamic bool
	FileReverse bool
}

// URL is one url block of HTTP_GET or SSL_GET.
type URL struct {
	Path        string
	Digest      string
	StatusCodes [][2]int // default 200-299
	VirtualHost string
}

//go:embed keywords.txt
var keywordsTxt string

// Parse reads the configuration file at path, with its includes. It
// returns the configuration (nil if any problem is an error) and every
// problem found, errors and warnings, in file order.
func Parse(path string) (*Config, []Problem) {
	return ParseFS(path, os.ReadFile, osGlob)
}

// ParseFS is Parse with the file system given as functions (for tests).
func ParseFS(path string, readFile func(string) ([]byte, error), glob func(string) ([]string, error)) (*Config, []Problem) {
	nodes, probs := readTree(path, readFile, glob)
	p := &parser{known: map[string]bool{}, cfg: &Config{}}
	for _, l := range strings.Split(keywordsTxt, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			p.known[l] = true
		}
	}
	p.problems = probs
	p.top(nodes)
	if p.cfg != nil {
		p.resolve()
	}
	for _, pr := range p.problems {
		if !pr.Warning {
			return nil, p.problems
		}
	}
	return p.cfg, p.problems
}

// HasErrors reports whether any problem is an error.
func HasErrors(ps []Problem) bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}

type parser struct {
	known    map[string]bool
	problems []Problem
	cfg      *Config
	expanded int // addresses the groups expanded to
}

func (p *parser) errorf(n *Node, format string, a ...any) {
	p.problems = append(p.problems, Problem{Pos: n.Pos, Msg: fmt.Sprintf(format, a...)})
}

func (p *parser) warnf(n *Node, format string, a ...any) {
	p.problems = append(p.problems, Problem{Pos: n.Pos, Warning: true, Msg: fmt.Sprintf(format, a...)})
}

// harmless are keywords keepalived knows whose effect lies outside what
// the agent does to the host (mail, SNMP, D-Bus, logging, process tuning):
// ignoring them changes nothing the kernel sees, so they only warn.
var harmless = map[string]bool{
	"notification_email": true, "notification_email_from": true, "smtp_server": true,
	"smtp_connect_timeout": true, "smtp_helo_name": true, "smtp_alert": true, "smtp_alert_vrrp": true,
	"smtp_alert_checker": true, "no_email_faults": true, "snmp_name": true, "snmp_socket": true,
	"enable_snmp_vrrp": true, "enable_snmp_checker": true, "enable_snmp_rfc": true, "enable_snmp_rfcv2": true,
	"enable_snmp_rfcv3": true, "enable_traps": true, "enable_dbus": true, "log_all_failures": true,
	"checker_log_all_failures": true, "vrrp_no_swap": true, "checker_no_swap": true, "bfd_no_swap": true,
	"vrrp_priority": true, "checker_priority": true, "bfd_priority": true, "vrrp_rt_priority": true,
	"checker_rt_priority": true, "bfd_rt_priority": true, "vrrp_rlimit_rttime": true,
	"checker_rlimit_rttime": true, "vrrp_process_name": true, "checker_process_name": true,
	"bfd_process_name": true, "vrrp_cpu_affinity": true, "checker_cpu_affinity": true,
	"process_name": true, "no_checker_emails": true, "log_unknown_vrids": true,
	"vrrp_notify_priority_changes": true, "notify_priority_changes": true, "lvs_id": true,
}

// unknown reports a keyword this block does not implement.
func (p *parser) unknown(n *Node, where string) {
	switch {
	case harmless[n.Key]:
		p.warnf(n, "%q in %s is not supported and is ignored (it does not change what the kernel is told)", n.Key, where)
	case p.known[n.Key]:
		p.errorf(n, "%q in %s is not supported by this agent (ignoring it would change behaviour)", n.Key, where)
	default:
		p.warnf(n, "unknown keyword %q in %s (keepalived ignores it too)", n.Key, where)
	}
}

func (p *parser) top(nodes []*Node) {
	for _, n := range nodes {
		switch n.Key {
		case "global_defs":
			if p.block(n, 0) {
				p.global(n)
			}
		case "static_ipaddress":
			if p.block(n, 0) {
				for _, c := range n.Children {
					if v, ok := p.vip(c); ok {
						p.cfg.StaticAddrs = append(p.cfg.StaticAddrs, v)
					}
				}
			}
		case "vrrp_script":
			if p.block(n, 1) {
				p.script(n)
			}
		case "vrrp_sync_group":
			if p.block(n, 1) {
				p.syncGroup(n)
			}
		case "vrrp_instance":
			if p.block(n, 1) {
				p.instance(n)
			}
		case "virtual_server_group":
			if p.block(n, 1) {
				p.group(n)
			}
		case "virtual_server":
			if n.Block {
				p.virtualServer(n)
			} else {
				p.errorf(n, "virtual_server needs a block")
			}
		default:
			p.unknown(n, "the top level")
		}
	}
}

// block checks that n is a block with nargs arguments.
func (p *parser) block(n *Node, nargs int) bool {
	if !n.Block {
		p.errorf(n, "%s needs a { } block", n.Key)
		return false
	}
	if len(n.Args) != nargs {
		p.errorf(n, "%s takes %d argument(s), got %d", n.Key, nargs, len(n.Args))
		return false
	}
	return true
}

// flat checks that n is a plain statement with min..max arguments.
func (p *parser) flat(n *Node, min, max int) bool {
	if n.Block {
		p.errorf(n, "%s takes no block", n.Key)
		return false
	}
	if len(n.Args) < min || len(n.Args) > max {
		if min == max {
			p.errorf(n, "%s takes %d argument(s), got %d", n.Key, min, len(n.Args))
		} else {
			p.errorf(n, "%s takes %d to %d arguments, got %d", n.Key, min, max, len(n.Args))
		}
		return false
	}
	return true
}
