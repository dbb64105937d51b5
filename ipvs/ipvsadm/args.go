package ipvsadm

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// Op is the command of an ipvsadm command line.
type Op int

// Commands, in ipvsadm's order.
const (
	OpNone Op = iota
	OpAddService
	OpEditService
	OpDeleteService
	OpFlush
	OpList
	OpAddServer
	OpDeleteServer
	OpEditServer
	OpSetTimeouts
	OpStartDaemon
	OpStopDaemon
	OpRestore
	OpSave
	OpZero
	OpHelp
	OpVersion
)

var cmdNames = [...]string{"", "add-service", "edit-service", "delete-service", "flush", "list",
	"add-server", "delete-server", "edit-server", "set", "start-daemon", "stop-daemon",
	"restore", "save", "zero"}

func (o Op) String() string {
	if o > 0 && int(o) < len(cmdNames) {
		return cmdNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Option indices, in ipvsadm's order (its optnames table).
const (
	optNumeric = iota
	optConnection
	optService
	optScheduler
	optPersistent
	optNetmask
	optServer
	optForward
	optWeight
	optUThreshold
	optLThreshold
	optMcast
	optTimeout
	optDaemon
	optStats
	optRate
	optThresholds
	optPersistentConn
	optNoSort
	optSyncID
	optExact
	optOps
	optPE
	optSchedFlags
	optMcastGroup
	optMcastPort
	optMcastTTL
	optSyncMaxLen
	optTunInfo
	optTunType
	optTunPort
	optTunNoCsum
	optTunCsum
	optTunRemCsum
	numOpts
)

var optNames = [numOpts]string{"numeric", "connection", "service-address", "scheduler", "persistent",
	"netmask", "real-server", "forwarding-method", "weight", "u-threshold", "l-threshold",
	"mcast-interface", "timeout", "daemon", "stats", "rate", "thresholds", "persistent-conn",
	"nosort", "syncid", "exact", "ops", "pe", "sched-flags", "mcast-group", "mcast-port",
	"mcast-ttl", "sync-maxlen", "tun-info", "tun-type", "tun-port", "tun-nocsum", "tun-csum",
	"tun-remcsum"}

// cmdOpts is ipvsadm 1.31's table of legal command/option combinations:
// '+' required, 'x' illegal, '1' exclusive, ' ' optional. Rows follow Op
// from OpAddService, columns the option indices.
var cmdOpts = [14]string{
	"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
	"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
	"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	" 11xxxxxxxxx11       xxxxxxx xxxxx",
	"xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
	"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
	"xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
	"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
}

// Tunnel options against tunnel types (ipip, gue, gre): tun-port,
// tun-nocsum, tun-csum, tun-remcsum.
var tunOptCols = [4]int{optTunPort, optTunNoCsum, optTunCsum, optTunRemCsum}
var tunOpts = [3]string{"xxxx", "+111", "x11x"}

// Format selects a listing's variant, as ipvsadm's list options do.
type Format uint

// Listing formats; combine with |.
const (
	FormatNumeric        Format = 1 << iota // -n: addresses and ports as numbers
	FormatStats                             // --stats
	FormatRate                              // --rate
	FormatThresholds                        // --thresholds
	FormatPersistentConn                    // --persistent-conn
	FormatNoSort                            // --nosort
	FormatExact                             // --exact
	FormatTunInfo                           // --tun-info
	formatRule                              // -S: the rules format
)

// Command is one parsed ipvsadm command line: what ipvsadm would send to
// the kernel, with its defaults applied (scheduler wlc, weight 1, direct
// routing, persistence 360 s, forced ports for DR and tunnel servers).
type Command struct {
	Op          Op
	Service     ipvs.Service
	Destination ipvs.Destination
	Timeouts    ipvs.Timeouts
	Daemon      ipvs.Daemon
	// Format and the list selectors apply to OpList and OpSave.
	Format      Format
	Connections bool
	ListTimeout bool
	ListDaemon  bool
	// HasService tells whether a service was named (-t/-u/--sctp-service/-f).
	HasService bool

	options uint64
	netmask uint32 // raw, as ipvsadm keeps it: IPv4 mask or IPv6 prefix length
	family  ipvs.Family
	prog    string
}

// cmdError is the cause of a command-line or rules error: ipvsadm's own
// message, the argument at fault and the status ipvsadm exits with (2
// for bad input, 255 for the errors popt reports).
type cmdError struct {
	token string
	msg   string
	exit  int
}

func (e *cmdError) Error() string { return e.msg }

// newError returns the package's *Error for a command-line or rules
// error: Op says which, Object the line of a rules file, Field the
// argument at fault.
func newError(op, object string, kind error, ce *cmdError) *Error {
	return &Error{Pkg: pkgName, Op: op, Object: object, Field: ce.token, Kind: kind, Err: ce}
}

type argKind int

const (
	argNone argKind = iota
	argRequired
	argOptional
)

type optSpec struct {
	long  string
	short byte
	arg   argKind
}

// shortOps are the commands given by a short option, -A to -S.
var shortOps = map[byte]Op{
	'A': OpAddService, 'E': OpEditService, 'D': OpDeleteService,
	'a': OpAddServer, 'e': OpEditServer, 'd': OpDeleteServer,
	'C': OpFlush, 'L': OpList, 'l': OpList, 'Z': OpZero, 'R': OpRestore, 'S': OpSave,
}

var optTable = []optSpec{
	{"add-service", 'A', argNone}, {"edit-service", 'E', argNone}, {"delete-service", 'D', argNone},
	{"clear", 'C', argNone}, {"list", 'L', argNone}, {"", 'l', argNone}, {"zero", 'Z', argNone},
	{"add-server", 'a', argNone}, {"edit-server", 'e', argNone}, {"delete-server", 'd', argNone},
	{"set", 0, argNone}, {"help", 'h', argNone}, {"version", 'v', argNone}, {"restore", 'R', argNone},
	{"save", 'S', argNone}, {"start-daemon", 0, argRequired}, {"stop-daemon", 0, argRequired},
	{"tcp-service", 't', argRequired}, {"udp-service", 'u', argRequired},
	{"sctp-service", 0, argRequired}, {"fwmark-service", 'f', argRequired},
	{"scheduler", 's', argRequired}, {"persistent", 'p', argOptional}, {"netmask", 'M', argRequired},
	{"real-server", 'r', argRequired}, {"masquerading", 'm', argNone}, {"ipip", 'i', argNone},
	{"gatewaying", 'g', argNone}, {"weight", 'w', argRequired}, {"u-threshold", 'x', argRequired},
	{"l-threshold", 'y', argRequired}, {"numeric", 'n', argNone}, {"connection", 'c', argNone},
	{"mcast-interface", 0, argRequired}, {"syncid", 0, argRequired}, {"timeout", 0, argNone},
	{"daemon", 0, argNone}, {"stats", 0, argNone}, {"rate", 0, argNone}, {"thresholds", 0, argNone},
	{"persistent-conn", 0, argNone}, {"nosort", 0, argNone}, {"sort", 0, argNone},
	{"exact", 'X', argNone}, {"ipv6", '6', argNone}, {"ops", 'o', argNone}, {"pe", 0, argRequired},
	{"sched-flags", 'b', argRequired}, {"mcast-group", 0, argRequired}, {"mcast-port", 0, argRequired},
	{"mcast-ttl", 0, argRequired}, {"sync-maxlen", 0, argRequired}, {"tun-info", 0, argNone},
	{"tun-type", 0, argRequired}, {"tun-port", 0, argRequired}, {"tun-nocsum", 0, argNone},
	{"tun-csum", 0, argNone}, {"tun-remcsum", 0, argNone},
}

// popt is the small part of libpopt's behaviour ipvsadm relies on: short
// option clusters (-Ln, -p5), --long and --long=value, optional arguments
// that only take a following word not starting with '-', leftover words.
type popt struct {
	args     []string
	i        int    // next word
	cluster  string // rest of a short-option cluster
	leftover []string
	noMore   bool
}

type poptResult struct {
	spec  *optSpec
	arg   *string
	token string // the word as typed, for messages
	err   string // "unknown option", "missing argument"
}

func (p *popt) next() (poptResult, bool) {
	for {
		if p.cluster != "" {
			c := p.cluster[0]
			p.cluster = p.cluster[1:]
			tok := p.args[p.i-1]
			for k := range optTable {
				s := &optTable[k]
				if s.short != c {
					continue
				}
				r := poptResult{spec: s, token: tok}
				if v, ok := strings.CutPrefix(p.cluster, "="); ok {
					// popt reads -p=8 as -p 8 (and -s= as an empty name)
					p.cluster = ""
					if s.arg == argNone {
						r.err = "option does not take an argument"
					} else {
						r.arg = &v
					}
					return r, true
				}
				switch s.arg {
				case argRequired:
					if p.cluster != "" {
						v := p.cluster
						r.arg, p.cluster = &v, ""
					} else if p.i < len(p.args) {
						v := p.args[p.i]
						r.arg = &v
						p.i++
					} else {
						r.err = "missing argument"
					}
				case argOptional:
					if p.cluster != "" {
						v := p.cluster
						r.arg, p.cluster = &v, ""
					} else if p.i < len(p.args) && !strings.HasPrefix(p.args[p.i], "-") {
						v := p.args[p.i]
						r.arg = &v
						p.i++
					}
				}
				return r, true
			}
			p.cluster = ""
			return poptResult{token: tok, err: "unknown option"}, true
		}
		if p.i >= len(p.args) {
			return poptResult{}, false
		}
		w := p.args[p.i]
		p.i++
		if p.noMore || len(w) < 2 || w[0] != '-' {
			p.leftover = append(p.leftover, w)
			continue
		}
		if w == "--" {
			p.noMore = true
			continue
		}
		if strings.HasPrefix(w, "--") {
			name, val, hasVal := strings.Cut(w[2:], "=")
			for k := range optTable {
				s := &optTable[k]
				if s.long == "" || s.long != name {
					continue
				}
				r := poptResult{spec: s, token: w}
				switch {
				case s.arg == argNone:
					if hasVal {
						r.err = "option does not take an argument"
					}
				case hasVal:
					r.arg = &val
				case s.arg == argRequired && p.i < len(p.args):
					v := p.args[p.i]
					r.arg = &v
					p.i++
				case s.arg == argRequired:
					r.err = "missing argument"
				case p.i < len(p.args) && !strings.HasPrefix(p.args[p.i], "-"):
					v := p.args[p.i]
					r.arg = &v
					p.i++
				}
				return r, true
			}
			return poptResult{token: w, err: "unknown option"}, true
		}
		p.cluster = w[1:]
	}
}

// failure is how parsing stops, like ipvsadm's fail().
type failure struct{ e *cmdError }

func fail(token, format string, a ...any) {
	panic(failure{&cmdError{token: token, msg: fmt.Sprintf(format, a...), exit: 2}})
}

func tryHelp(prog string) *cmdError {
	return &cmdError{msg: fmt.Sprintf("Try `%s -h' or '%s --help' for more information.", prog, prog), exit: 255}
}

// ParseCommand parses an ipvsadm command line; args[0] is the program
// name, used in messages as ipvsadm uses it. The checks, their order and
// their messages are ipvsadm 1.31's: a returned *Error (ErrInvalid)
// has ipvsadm's message as its cause and the argument at fault in Field. Host and service names are looked up
// in /etc/hosts and /etc/services only.
func ParseCommand(args []string) (*Command, error) {
	c, ce := parseCommand(args)
	if ce != nil {
		return nil, newError("parse command line", "", ErrInvalid, ce)
	}
	return c, nil
}

func parseCommand(args []string) (cmd *Command, err *cmdError) {
	if len(args) == 0 {
		args = []string{"ipvsadm"}
	}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			cmd, err = nil, f.e
		}
	}()
	c := &Command{prog: args[0], netmask: 0xffffffff, family: ipvs.IPv4}
	c.Destination.Weight = 1
	c.Destination.Forward = ipvs.DirectRoute
	p := &popt{args: args, i: 1}
	r, ok := p.next()
	if !ok || r.err != "" {
		return nil, tryHelp(c.prog)
	}
	toks := map[int]string{}
	switch op := shortOps[r.spec.short]; {
	case op != OpNone:
		c.Op = op
	case r.spec.short == 'h':
		return &Command{Op: OpHelp, prog: c.prog}, nil
	case r.spec.short == 'v':
		return &Command{Op: OpVersion, prog: c.prog}, nil
	default:
		switch r.spec.long {
		case "set":
			c.Op = OpSetTimeouts
		case "start-daemon", "stop-daemon":
			if r.err != "" || r.arg == nil {
				return nil, tryHelp(c.prog)
			}
			c.Op = OpStartDaemon
			msg := "illegal start-daemon parameter specified"
			if r.spec.long == "stop-daemon" {
				c.Op, msg = OpStopDaemon, "illegal start_daemon specified"
			}
			switch *r.arg {
			case "master":
				c.Daemon.State = ipvs.DaemonMaster
			case "backup":
				c.Daemon.State = ipvs.DaemonBackup
			default:
				fail(r.token, "%s", msg)
			}
		default:
			return nil, tryHelp(c.prog)
		}
	}
	var schedFlagsArg string
	for {
		r, ok := p.next()
		if !ok {
			break
		}
		if r.err != "" {
			return nil, &cmdError{token: r.token, msg: r.token + ": " + r.err, exit: 255}
		}
		arg := ""
		if r.arg != nil {
			arg = *r.arg
		}
		tok := r.token
		if r.arg != nil && !strings.Contains(tok, arg) {
			tok += " " + arg
		}
		set := func(o int) {
			if c.options&(1<<o) != 0 {
				fail(tok, "multiple '%s' options specified", optNames[o])
			}
			c.options |= 1 << o
			toks[o] = tok
		}
		s := r.spec
		switch {
		case s.short == 't' || s.short == 'u' || s.long == "sctp-service":
			set(optService)
			c.HasService = true
			switch {
			case s.short == 't':
				c.Service.Protocol = ipvs.TCP
			case s.short == 'u':
				c.Service.Protocol = ipvs.UDP
			default:
				c.Service.Protocol = ipvs.SCTP
			}
			addr, port, res, fam := parseService(arg, c.Service.Protocol, c.family)
			if res&serviceAddr == 0 {
				fail(tok, "illegal virtual server address[:port] specified")
			}
			c.Service.Address, c.family = addr, fam
			if fam == ipvs.IPv6 {
				c.netmask = 128
			}
			if res&servicePort != 0 {
				c.Service.Port = port
			}
		case s.short == 'f':
			set(optService)
			c.HasService = true
			c.family = ipvs.IPv4
			c.Service.Protocol = ipvs.TCP
			n, ok := strtol(arg)
			if !ok || n <= 0 || n > math.MaxUint32 {
				fail(tok, "invalid fwmark value `%s' specified", arg)
			}
			c.Service.Fwmark = uint32(n)
		case s.short == 's':
			set(optScheduler)
			c.Service.Scheduler = ipvs.Scheduler(truncate(arg, 15))
		case s.short == 'p':
			set(optPersistent)
			c.Service.Flags |= ipvs.FlagPersistent
			c.Service.Timeout = time.Duration(parseTimeout(tok, r.arg, 1)) * time.Second
		case s.short == 'M':
			set(optNetmask)
			if c.family != ipvs.IPv6 {
				a, ok := inetAton(arg)
				if !ok {
					a, ok = lookupHost(arg)
				}
				if !ok {
					fail(tok, "illegal virtual server persistent mask specified")
				}
				b := a.As4()
				c.netmask = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			} else {
				n := atoi(arg)
				if n < 1 || n > 128 {
					fail(tok, "illegal ipv6 netmask specified")
				}
				c.netmask = uint32(n)
			}
		case s.short == 'r':
			set(optServer)
			addr, port, res, fam := parseService(arg, c.Service.Protocol, c.family)
			if res&serviceAddr == 0 {
				fail(tok, "illegal real server address[:port] specified")
			}
			c.Destination.Address = addr
			if fam == ipvs.IPv6 && addr.Is4In6() {
				// [::ffff:a.b.c.d] is an IPv6 real server, as in ipvsadm.
				c.Destination.Family = ipvs.IPv6
			}
			c.Destination.Port = port
			if res == serviceAddr {
				c.Destination.Port = c.Service.Port
			}
		case s.short == 'i' || s.short == 'g' || s.short == 'm':
			set(optForward)
			c.Destination.Forward = map[byte]ipvs.ForwardMethod{'i': ipvs.Tunnel, 'g': ipvs.DirectRoute, 'm': ipvs.Masquerade}[s.short]
		case s.short == 'w':
			set(optWeight)
			c.Destination.Weight = uint32(number(tok, arg, 0, math.MaxInt32, "illegal weight specified"))
		case s.short == 'x':
			set(optUThreshold)
			c.Destination.UpperThreshold = uint32(number(tok, arg, 0, math.MaxInt32, "illegal u_threshold specified"))
		case s.short == 'y':
			set(optLThreshold)
			c.Destination.LowerThreshold = uint32(number(tok, arg, 0, math.MaxInt32, "illegal l_threshold specified"))
		case s.short == 'c':
			set(optConnection)
			c.Connections = true
		case s.short == 'n':
			set(optNumeric)
			c.Format |= FormatNumeric
		case s.long == "mcast-interface":
			set(optMcast)
			c.Daemon.Interface = truncate(arg, 15)
		case s.long == "syncid":
			set(optSyncID)
			c.Daemon.SyncID = uint8(number(tok, arg, 0, 255, "illegal syncid specified"))
		case s.long == "timeout":
			set(optTimeout)
			c.ListTimeout = true
		case s.long == "daemon":
			set(optDaemon)
			c.ListDaemon = true
		case formatOptions[s.long].f != 0:
			set(formatOptions[s.long].opt)
			c.Format |= formatOptions[s.long].f
		case s.long == "sort":
		case s.short == '6':
			if c.Service.Fwmark == 0 {
				fail(tok, "-6 used before -f\n")
			}
			c.family, c.netmask = ipvs.IPv6, 128
		case s.short == 'o':
			set(optOps)
			c.Service.Flags |= ipvs.FlagOnePacket
		case s.long == "pe":
			set(optPE)
			c.Service.PersistenceEngine = truncate(arg, 15)
		case s.short == 'b':
			set(optSchedFlags)
			schedFlagsArg = arg
		case s.long == "mcast-group":
			set(optMcastGroup)
			if strings.Contains(arg, ":") {
				a, err := netip.ParseAddr(arg)
				if err != nil || !a.Is6() || !a.IsMulticast() {
					fail(tok, "invalid IPv6 mcast-group `%s'", arg)
				}
				c.Daemon.Group = a
			} else {
				a, err := netip.ParseAddr(arg)
				if err != nil || !a.Is4() || !a.IsMulticast() {
					fail(tok, "invalid IPv4 mcast-group `%s'", arg)
				}
				c.Daemon.Group = a
			}
		case s.long == "mcast-port":
			set(optMcastPort)
			c.Daemon.Port = uint16(number(tok, arg, 1, 65535, "illegal mcast-port specified"))
		case s.long == "mcast-ttl":
			set(optMcastTTL)
			c.Daemon.TTL = uint8(number(tok, arg, 1, 255, "illegal mcast-ttl specified"))
		case s.long == "sync-maxlen":
			set(optSyncMaxLen)
			c.Daemon.MaxLen = uint16(number(tok, arg, 1, 65535-20-8, "illegal sync-maxlen specified"))
		case s.long == "tun-info":
			set(optTunInfo)
			c.Format |= FormatTunInfo
		case s.long == "tun-type":
			set(optTunType)
			switch arg {
			case "ipip":
				c.Destination.TunnelType = ipvs.IPIP
			case "gue":
				c.Destination.TunnelType = ipvs.GUE
			case "gre":
				c.Destination.TunnelType = ipvs.GRE
			default:
				fail(tok, "illegal tunnel type specified")
			}
		case s.long == "tun-port":
			set(optTunPort)
			c.Destination.TunnelPort = uint16(number(tok, arg, 1, 65535, "illegal tunnel port specified"))
		case s.long == "tun-nocsum":
			set(optTunNoCsum)
		case s.long == "tun-csum":
			set(optTunCsum)
			c.Destination.TunnelFlags |= ipvs.TunnelChecksum
		case s.long == "tun-remcsum":
			set(optTunRemCsum)
			c.Destination.TunnelFlags |= ipvs.TunnelRemoteChecksum
		default:
			fail(tok, "invalid option `%s'", r.token)
		}
	}
	if c.Op == OpSetTimeouts {
		if len(p.leftover) < 3 {
			fail("", "--set option requires 3 timeout values")
		}
		v := p.leftover[:3]
		p.leftover = p.leftover[3:]
		c.Timeouts.TCP = time.Duration(parseTimeout(v[0], &v[0], 0)) * time.Second
		c.Timeouts.TCPFin = time.Duration(parseTimeout(v[1], &v[1], 0)) * time.Second
		c.Timeouts.UDP = time.Duration(parseTimeout(v[2], &v[2], 0)) * time.Second
	}
	if len(p.leftover) > 0 {
		fail(p.leftover[0], "unexpected argument %s", p.leftover[0])
	}
	// ipvsadm reads the flags here, whatever the command, against the
	// scheduler as given (none: no default yet), before checking options.
	if schedFlagsArg != "" {
		c.Service.Flags |= parseSchedFlags(toks[optSchedFlags], string(c.Service.Scheduler), schedFlagsArg)
	}
	c.check(toks)
	return c, nil
}

// check is ipvsadm's generic_opt_check and the checks of process_options.
func (c *Command) check(toks map[int]string) {
	var all [numOpts]int
	for j := range all {
		all[j] = j
	}
	c.checkTable(toks, all[:], cmdOpts[c.Op-1], "", cmdNames[c.Op], "command")
	s := &c.Service
	if c.Op == OpAddService || c.Op == OpEditService {
		if s.Fwmark == 0 && s.Port == 0 && s.Flags&ipvs.FlagPersistent == 0 {
			fail(toks[optService], "Zero port specified for non-persistent service")
		}
		if s.Flags&ipvs.FlagOnePacket != 0 && s.Fwmark == 0 && s.Protocol != ipvs.UDP {
			fail(toks[optOps], "One-Packet Scheduling is only for UDP virtual services")
		}
		if s.Scheduler == "" {
			s.Scheduler = ipvs.WeightedLeastConnection
		}
	}
	if c.Op == OpStartDaemon && c.Daemon.Interface == "" {
		c.Daemon.Interface = "eth0"
	}
	if c.Op == OpAddServer || c.Op == OpEditServer {
		d := &c.Destination
		if s.Fwmark == 0 && (d.Forward == ipvs.Tunnel || d.Forward == ipvs.DirectRoute) {
			d.Port = s.Port
		}
		if d.EffectiveFamily() != c.family && d.Forward != ipvs.Tunnel {
			fail(toks[optServer], "Different address family is allowed only for tunneling servers")
		}
		const tunMask = 1<<optTunType | 1<<optTunPort | 1<<optTunNoCsum | 1<<optTunCsum | 1<<optTunRemCsum
		if c.options&tunMask != 0 && d.Forward != ipvs.Tunnel {
			fail(toks[optForward], "Tunnel options conflict with forward method")
		}
		c.checkTable(toks, tunOptCols[:], tunOpts[d.TunnelType], toks[optTunType], d.TunnelType.String(), "tunnel type")
	}
	if c.Op == OpList {
		o := c.options
		if (o&(1<<optConnection|1<<optTimeout|1<<optDaemon) != 0 && o&(1<<optStats|1<<optRate|1<<optThresholds) != 0) ||
			(o&(1<<optTimeout|1<<optDaemon) != 0 && o&(1<<optPersistentConn) != 0) {
			fail("", "options conflicts in the list command")
		}
	}
	if c.HasService {
		c.Service.Family = c.family
		if c.Service.Fwmark != 0 {
			c.Service.Protocol, c.Service.Address, c.Service.Port = 0, netip.Addr{}, 0
		}
		c.Service.Netmask = netmaskOf(c.family, c.netmask)
	}
	if c.Op != OpAddService && c.Op != OpEditService {
		c.Service.Netmask = ipvs.Netmask{}
	}
}

// checkTable applies one row of an ipvsadm option table: row[j] is the
// rule for option cols[j] ('+' required, 'x' illegal, '1' exclusive, ' '
// optional) with the command or tunnel type name of kind ("command",
// "tunnel type"). A missing option is blamed on missingTok.
func (c *Command) checkTable(toks map[int]string, cols []int, row, missingTok, name, kind string) {
	last, count := 0, 0
	for j, k := range cols {
		if c.options&(1<<k) == 0 {
			if row[j] == '+' {
				fail(missingTok, "You need to supply the '%s' option for the '%s' %s", optNames[k], name, kind)
			}
			continue
		}
		switch row[j] {
		case 'x':
			fail(toks[k], "Illegal '%s' option with the '%s' %s", optNames[k], name, kind)
		case '1':
			count++
			if count == 1 {
				last = k
				continue
			}
			fail(toks[k], "The option '%s' conflicts with the '%s' option in the '%s' %s", optNames[k], optNames[last], name, kind)
		}
	}
}

// netmaskOf turns ipvsadm's raw netmask into the SDK's value. A value the
// kernel would refuse (an IPv6 prefix outside 1..128) is passed on as an
// impossible IPv4 mask of the wrong family so that the kernel call fails
// as ipvsadm's does.
func netmaskOf(f ipvs.Family, raw uint32) ipvs.Netmask {
	if f == ipvs.IPv6 {
		if raw == 128 {
			return ipvs.Netmask{}
		}
		m, err := ipvs.NetmaskBits(ipvs.IPv6, int(raw))
		if err != nil {
			m, _ = ipvs.NetmaskIPv4(netip.AddrFrom4([4]byte{byte(raw >> 24), byte(raw >> 16), byte(raw >> 8), byte(raw)}))
		}
		return m
	}
	if raw == 0xffffffff {
		return ipvs.Netmask{}
	}
	m, _ := ipvs.NetmaskIPv4(netip.AddrFrom4([4]byte{byte(raw >> 24), byte(raw >> 16), byte(raw >> 8), byte(raw)}))
	return m
}

func parseSchedFlags(tok, sched, arg string) ipvs.ServiceFlags {
	var f ipvs.ServiceFlags
	for _, fl := range strings.Split(arg, ",") {
		if fl == "" {
			continue
		}
		switch fl {
		case "flag-1":
			f |= ipvs.SchedFlag1
		case "flag-2":
			f |= ipvs.SchedFlag2
		case "flag-3":
			f |= ipvs.SchedFlag3
		case "sh-fallback", "sh-port":
			if sched != "sh" {
				fail(tok, "incompatible scheduler flag `%s'", fl)
			}
			f |= map[string]ipvs.ServiceFlags{"sh-fallback": ipvs.FlagSHFallback, "sh-port": ipvs.FlagSHPort}[fl]
		case "mh-fallback", "mh-port":
			if sched != "mh" {
				fail(tok, "incompatible scheduler flag `%s'", fl)
			}
			f |= map[string]ipvs.ServiceFlags{"mh-fallback": ipvs.FlagMHFallback, "mh-port": ipvs.FlagMHPort}[fl]
		default:
			fail(tok, "invalid scheduler flag `%s'", fl)
		}
	}
	return f
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// strtol parses a whole base-10 number as C's strtol does for ipvsadm's
// purposes: optional leading blanks and sign, every character consumed.
func strtol(s string) (int64, bool) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	if t == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, false
	}
	if t[0] == '+' && len(t) > 1 && (t[1] == '+' || t[1] == '-') {
		return 0, false
	}
	return n, true
}

// number is ipvsadm's string_to_number with its failure message.
func number(tok, s string, min, max int64, msg string) int64 {
	n, ok := strtol(s)
	if !ok || n < min || n > max {
		fail(tok, "%s", msg)
	}
	return n
}

func parseTimeout(tok string, arg *string, min int64) int64 {
	if arg == nil {
		return 360
	}
	n, ok := strtol(*arg)
	if !ok || n < min || n > 86400*31 {
		fail(tok, "invalid timeout value `%s' specified", *arg)
	}
	return n
}

// atoi is C's atoi: leading digits, 0 when there are none.
func atoi(s string) int64 {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	var n int64
	for i := 0; i < len(t) && t[i] >= '0' && t[i] <= '9' && n < 1<<40; i++ {
		n = n*10 + int64(t[i]-'0')
	}
	if neg {
		n = -n
	}
	return n
}

const (
	serviceAddr = 1
	servicePort = 2
)

// formatOptions are the listing options that each set one Format bit.
var formatOptions = map[string]struct {
	opt int
	f   Format
}{
	"stats": {optStats, FormatStats}, "rate": {optRate, FormatRate}, "thresholds": {optThresholds, FormatThresholds},
	"persistent-conn": {optPersistentConn, FormatPersistentConn}, "nosort": {optNoSort, FormatNoSort}, "exact": {optExact, FormatExact},
}

// parseService is ipvsadm's parse_service: host[:port], [v6addr]:port, or
// a bare IPv6 address; an all-digit word is not an address.
func parseService(buf string, proto ipvs.Protocol, curFamily ipvs.Family) (netip.Addr, uint16, int, ipvs.Family) {
	if isAllDigits(buf) {
		return netip.Addr{}, 0, 0, curFamily
	}
	var portStr *string
	if buf[0] == '[' {
		buf = buf[1:]
		end := strings.IndexByte(buf, ']')
		if end < 0 {
			return netip.Addr{}, 0, 0, curFamily
		}
		rest := buf[end+1:]
		buf = buf[:end]
		if !strings.HasPrefix(rest, ":") {
			return netip.Addr{}, 0, 0, curFamily
		}
		v := rest[1:]
		portStr = &v
	}
	var addr netip.Addr
	fam := ipvs.IPv4
	if a, err := netip.ParseAddr(buf); err == nil && a.Is6() && a.Zone() == "" {
		addr, fam = a, ipvs.IPv6
	} else {
		portStr = nil
		if i := strings.LastIndexByte(buf, ':'); i >= 0 {
			v := buf[i+1:]
			portStr = &v
			buf = buf[:i]
		}
		a, ok := inetAton(buf)
		if !ok {
			a, ok = lookupHost(buf)
		}
		if !ok {
			return netip.Addr{}, 0, 0, curFamily
		}
		addr = a
	}
	res := serviceAddr
	var port uint16
	if portStr != nil {
		res |= servicePort
		if n, ok := strtol(*portStr); ok && n >= 0 && n <= 65535 {
			port = uint16(n)
		} else if n, ok := lookupService(*portStr, proto); ok {
			port = n
		} else {
			return netip.Addr{}, 0, 0, curFamily
		}
	}
	return addr, port, res, fam
}

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// inetAton is C's inet_aton: one to four parts, each decimal, octal
// (leading 0) or hex (0x), the last part filling the remaining bytes.
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 || s == "" {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" {
			return netip.Addr{}, false
		}
		base := 10
		switch {
		case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i := 0; i < last; i++ {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
		n |= vals[i] << (24 - 8*i)
	}
	if vals[last] >= 1<<(32-8*last) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
