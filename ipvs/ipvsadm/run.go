package ipvsadm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"syscall"

	"github.com/golvs/lvs/ipvs"
)

// Run executes an ipvsadm command line (args[0] is the program name) on
// the IPVS table c manages, writing what ipvsadm 1.31 writes to stdout and
// stderr and returning the exit status it would return. -R reads commands
// from stdin, one per line, as ipvsadm -R does: a line with a bad option
// ends the restore, kernel errors are printed and the restore goes on.
func Run(ctx context.Context, c *ipvs.Client, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, c, args, stdin, stdout, stderr, false)
}

func run(ctx context.Context, c *ipvs.Client, args []string, stdin io.Reader, stdout, stderr io.Writer, restoring bool) int {
	prog := "ipvsadm"
	if len(args) > 0 {
		prog = args[0]
	}
	if len(args) <= 1 && !restoring {
		return list(ctx, c, &Command{Op: OpList}, stdout, stderr)
	}
	cmd, ce := parseCommand(args)
	if ce != nil {
		fmt.Fprintln(stderr, ce.msg)
		return ce.exit
	}
	switch cmd.Op {
	case OpHelp:
		io.WriteString(stdout, strings.ReplaceAll(usage, "%s", prog))
		return 0
	case OpVersion:
		io.WriteString(stdout, versionLine)
		return 0
	case OpList:
		return list(ctx, c, cmd, stdout, stderr)
	case OpSave:
		t, err := readTable(ctx, c)
		if err != nil {
			fmt.Fprintln(stderr, strerror(err, OpList))
			return 1
		}
		WriteRules(stdout, t.Services, cmd.Format)
		return 0
	case OpRestore:
		if restoring {
			fmt.Fprintln(stderr, tryHelp(prog).msg)
			return 255
		}
		return restoreLines(ctx, c, prog, stdin, stdout, stderr)
	}
	if err := execute(ctx, c, cmd); err != nil {
		fmt.Fprintln(stderr, strerror(err, cmd.Op))
		return 255
	}
	return 0
}

// restoreLines is ipvsadm -R: each line of stdin is a command line. A
// line with a bad option ends the restore with that line's status, as
// ipvsadm's exit() in fail() does; -h and -v print and end it with 0;
// kernel errors are printed and the restore goes on; the status is the
// last line's. A read error ends it with a message and status 2 (ipvsadm
// would take it for the end of the input).
func restoreLines(ctx context.Context, c *ipvs.Client, prog string, stdin io.Reader, stdout, stderr io.Writer) int {
	if stdin == nil {
		return 0
	}
	in := newStreamReader(stdin)
	result := 0
	for {
		f, ok := in.next()
		if !ok {
			break
		}
		if len(f) == 0 {
			continue
		}
		args := append([]string{prog}, f...)
		cmd, ce := parseCommand(args)
		if ce != nil {
			// ipvsadm exits on a bad line; popt errors return -1 instead.
			fmt.Fprintln(stderr, ce.msg)
			if strings.HasSuffix(ce.msg, ": unknown option") || strings.HasSuffix(ce.msg, ": missing argument") {
				result = -1
				continue
			}
			return ce.exit
		}
		switch cmd.Op {
		case OpRestore:
			fmt.Fprintln(stderr, tryHelp(prog).msg)
			return 255
		case OpHelp, OpVersion:
			run(ctx, c, args, nil, stdout, stderr, true)
			return 0
		}
		st := run(ctx, c, args, nil, stdout, stderr, true)
		if st == 1 && (cmd.Op == OpList || cmd.Op == OpSave) {
			return 1
		}
		result = st
	}
	if in.err != nil {
		fmt.Fprintf(stderr, "%s: reading rules from standard input: %v\n", prog, in.err)
		return 2
	}
	if result < 0 {
		return 255
	}
	return result
}

// Execute performs a parsed command that changes the table (every Op but
// OpList, OpSave, OpRestore, OpHelp and OpVersion) through c, as ipvsadm
// would.
func Execute(ctx context.Context, c *ipvs.Client, cmd *Command) error {
	if err := execute(ctx, c, cmd); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Pkg == pkgName {
			return err
		}
		return kernelError(cmd.Op.String(), "", err)
	}
	return nil
}

// execute is Execute with the ipvs package's errors as they are, for
// strerror.
func execute(ctx context.Context, c *ipvs.Client, cmd *Command) error {
	key := cmd.Service.ServiceKey
	switch cmd.Op {
	case OpFlush:
		return c.Flush(ctx)
	case OpAddService:
		return c.CreateService(ctx, cmd.Service)
	case OpEditService:
		return c.UpdateService(ctx, cmd.Service)
	case OpDeleteService:
		return c.DeleteService(ctx, key)
	case OpZero:
		if !cmd.HasService {
			return c.Zero(ctx)
		}
		return c.ZeroService(ctx, key)
	case OpAddServer:
		return c.CreateDestination(ctx, key, cmd.Destination)
	case OpEditServer:
		return c.UpdateDestination(ctx, key, cmd.Destination)
	case OpDeleteServer:
		if cmd.Destination.Family != 0 {
			// An IPv6 real server at a mapped address: the change carries
			// the family, an AddrPort would not.
			res, err := c.Batch().Add(ipvs.Change{Op: ipvs.OpDeleteDestination, Service: cmd.Service, Destination: cmd.Destination}).Commit(ctx)
			if len(res.Errs) == 1 && res.Errs[0] != nil {
				return res.Errs[0]
			}
			return err
		}
		return c.DeleteDestination(ctx, key, netip.AddrPortFrom(cmd.Destination.Address, cmd.Destination.Port))
	case OpSetTimeouts:
		return c.SetTimeouts(ctx, cmd.Timeouts)
	case OpStartDaemon:
		return c.StartDaemon(ctx, cmd.Daemon)
	case OpStopDaemon:
		return c.StopDaemon(ctx, cmd.Daemon.State)
	}
	return &Error{Pkg: pkgName, Op: "execute", Object: cmd.Op.String(), Kind: ErrInvalid, Err: errors.New("the command does not change the table")}
}

// readTable reads what a listing shows.
func readTable(ctx context.Context, c *ipvs.Client) (Table, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return Table{}, err
	}
	svcs, err := c.Snapshot(ctx)
	if err != nil {
		return Table{}, err
	}
	return Table{Info: info, Services: svcs}, nil
}

func list(ctx context.Context, c *ipvs.Client, cmd *Command, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, strerror(err, OpList))
		return 1
	}
	switch {
	case cmd.Connections:
		conns, err := c.Connections(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "cannot open file /proc/net/ip_vs_conn")
			return 1
		}
		WriteConnections(stdout, conns, cmd.Format)
	case cmd.HasService:
		s, err := c.Service(ctx, cmd.Service.ServiceKey)
		if err != nil {
			return fail(err)
		}
		ds, err := c.Destinations(ctx, s.ServiceKey)
		if err != nil {
			return fail(err)
		}
		WriteService(stdout, ipvs.ServiceSnapshot{ServiceInfo: s, Destinations: ds}, cmd.Format)
	case cmd.ListTimeout:
		t, err := c.Timeouts(ctx)
		if err != nil {
			return 1
		}
		WriteTimeouts(stdout, t)
	case cmd.ListDaemon:
		ds, err := c.Daemons(ctx)
		if err != nil {
			return 1
		}
		WriteDaemons(stdout, ds)
	default:
		t, err := readTable(ctx, c)
		if err != nil {
			return fail(err)
		}
		WriteList(stdout, t, cmd.Format)
	}
	return 0
}

// strerror is libipvs's ipvs_strerror: messages by call and errno, the C
// library's text otherwise. SDK validation errors (nothing was sent) map
// to the errno the kernel would have returned.
func strerror(err error, op Op) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		var e *ipvs.Error
		switch {
		case errors.As(err, &e) && e.Field == "LowerThreshold":
			errno = syscall.ERANGE
		case errors.As(err, &e) && e.Field == "PersistenceEngine":
			// the kernel looks the engine up first: ENOENT for an unknown one
			errno = syscall.ENOENT
		case errors.Is(err, ipvs.ErrInvalid):
			errno = syscall.EINVAL
		case errors.Is(err, ipvs.ErrNotExist):
			errno = syscall.ESRCH
		case errors.Is(err, ipvs.ErrExist):
			errno = syscall.EEXIST
		case errors.Is(err, ipvs.ErrPermission):
			errno = syscall.EPERM
		case errors.Is(err, ipvs.ErrNotSupported):
			errno = syscall.EOPNOTSUPP
		default:
			return err.Error()
		}
	}
	type k struct {
		op Op
		e  syscall.Errno
	}
	if m, ok := map[k]string{
		{OpAddService, syscall.EEXIST}:   "Service already exists",
		{OpAddService, syscall.ENOENT}:   "Scheduler or persistence engine not found",
		{OpEditService, syscall.ENOENT}:  "Scheduler or persistence engine not found",
		{OpAddServer, syscall.ESRCH}:     "Service not defined",
		{OpAddServer, syscall.EEXIST}:    "Destination already exists",
		{OpEditServer, syscall.ESRCH}:    "Service not defined",
		{OpEditServer, syscall.ENOENT}:   "No such destination",
		{OpDeleteServer, syscall.ESRCH}:  "Service not defined",
		{OpDeleteServer, syscall.ENOENT}: "No such destination",
		{OpStartDaemon, syscall.EEXIST}:  "Daemon has already run",
		{OpStopDaemon, syscall.ESRCH}:    "No daemon is running",
	}[k{op, errno}]; ok {
		return m
	}
	switch errno {
	case syscall.ESRCH:
		return "No such service"
	case syscall.EPERM:
		return "Permission denied (you must be root)"
	case syscall.EINVAL:
		return "Invalid operation.  Possibly wrong module version, address not unicast, ..."
	case syscall.ENOPROTOOPT:
		return "Protocol not available"
	case syscall.ENOMEM:
		return "Memory allocation problem"
	case syscall.EOPNOTSUPP:
		return "Operation not supported with IPv6"
	case syscall.EAFNOSUPPORT:
		return "Operation not supported with specified address family"
	case syscall.EMSGSIZE:
		return "Module is wrong version"
	}
	s := errno.Error()
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

const versionLine = "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n"

const usage = versionLine + `Usage:
  %s -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  %s -D virtual-service
  %s -C
  %s -R
  %s -S [-n]
  %s -a|e virtual-service -r server-address [options]
  %s -d virtual-service -r server-address
  %s -L|l [virtual-service] [options]
  %s -Z [virtual-service]
  %s --set tcp tcpfin udp
  %s --start-daemon {master|backup} [daemon-options]
  %s --stop-daemon {master|backup}
  %s -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine may be sip,
                                      not set by default.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                one of ipip|gue|gre,
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
Daemon Options:
  --syncid sid                        syncid for connection sync (default=255)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)
`
