package ipvsadm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// ParseRules reads ipvsadm's rules format (ipvsadm -S -n, ipvsadm-save
// -n, /etc/sysconfig/ipvsadm) into the ipvs package's desired state, in
// file order. Each line is an ipvsadm command line (a leading "ipvsadm"
// is allowed); blank lines and lines starting with # are skipped. Only -A
// (add service) and -a (add server) lines belong to the format, and a
// server must follow its service. Errors are *Error naming the line
// (Object "line N"), the argument at fault (Field) and ipvsadm's message.
func ParseRules(r io.Reader) (ipvs.State, error) {
	st, _, err := parseRules(r)
	return st, err
}

// ruleLines are the line numbers of a parsed state's services and
// destinations, for errors.
type ruleLines struct {
	svc  []int
	dest [][]int
}

func parseRules(r io.Reader) (ipvs.State, ruleLines, error) {
	const op = "parse rules"
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var (
		st    ipvs.State
		lines ruleLines
	)
	index := map[ipvs.ServiceKey]int{}
	n := 0
	for sc.Scan() {
		n++
		line := "line " + strconv.Itoa(n)
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "ipvsadm" {
			f = f[1:]
		}
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		cmd, ce := parseCommand(append([]string{"ipvsadm"}, f...))
		if ce != nil {
			if ce.token == "" {
				ce.token = f[0]
			}
			return ipvs.State{}, ruleLines{}, newError(op, line, ErrInvalid, ce)
		}
		key := cmd.Service.ServiceKey.Canonical()
		switch cmd.Op {
		case OpAddService:
			if _, dup := index[key]; dup {
				return ipvs.State{}, ruleLines{}, newError(op, line, ErrExist, &cmdError{token: serviceToken(f), msg: "Service already exists", exit: 255})
			}
			index[key] = len(st.Services)
			st.Services = append(st.Services, ipvs.ServiceState{Service: cmd.Service})
			lines.svc = append(lines.svc, n)
			lines.dest = append(lines.dest, nil)
		case OpAddServer:
			i, ok := index[key]
			if !ok {
				return ipvs.State{}, ruleLines{}, newError(op, line, ErrNotExist, &cmdError{token: serviceToken(f), msg: "Service not defined", exit: 255})
			}
			nd := cmd.Destination.Canonical()
			for _, d := range st.Services[i].Destinations {
				if d = d.Canonical(); d.Address == nd.Address && d.Port == nd.Port {
					return ipvs.State{}, ruleLines{}, newError(op, line, ErrExist, &cmdError{token: "-r", msg: "Destination already exists", exit: 255})
				}
			}
			st.Services[i].Destinations = append(st.Services[i].Destinations, cmd.Destination)
			lines.dest[i] = append(lines.dest[i], n)
		default:
			return ipvs.State{}, ruleLines{}, newError(op, line, ErrInvalid, &cmdError{token: f[0], msg: fmt.Sprintf("command %s is not part of the rules format (only -A and -a)", cmd.Op), exit: 2})
		}
	}
	if err := sc.Err(); err != nil {
		return ipvs.State{}, ruleLines{}, &Error{Pkg: pkgName, Op: op, Object: "line " + strconv.Itoa(n+1), Kind: ErrInvalid, Err: err}
	}
	return st, lines, nil
}

func serviceToken(f []string) string {
	for i, w := range f {
		switch w {
		case "-t", "-u", "-f", "--sctp-service", "--tcp-service", "--udp-service", "--fwmark-service":
			if i+1 < len(f) {
				return w + " " + f[i+1]
			}
		}
	}
	return f[0]
}

// Restore parses the rules in r (ParseRules) and adds them through c in
// two batches (ipvs.Batch): the services, then their destinations. The
// whole input is parsed before anything changes. If the kernel refuses a
// service or a destination, the services Restore created are deleted
// again and the error names the line; if that clean-up fails too, the
// error matches ErrRollback. Existing entries are not touched: restoring
// onto a table that already has one of the services fails with ErrExist,
// as ipvsadm -R does. Flush first to replace a table, or use
// ipvs.Client.Apply to converge on a parsed state.
func Restore(ctx context.Context, c *ipvs.Client, r io.Reader) error {
	st, lines, err := parseRules(r)
	if err != nil {
		return err
	}
	const op = "restore"
	b := c.Batch()
	for _, s := range st.Services {
		b.CreateService(s.Service)
	}
	res, err := b.Commit(ctx)
	if err != nil {
		return rollback(ctx, c, res.Applied(), restoreError(op, res, err, lines.svc))
	}
	var at []int
	b = c.Batch()
	for i, s := range st.Services {
		for j, d := range s.Destinations {
			b.CreateDestination(s.ServiceKey, d)
			at = append(at, lines.dest[i][j])
		}
	}
	dres, err := b.Commit(ctx)
	if err != nil {
		return rollback(ctx, c, res.Applied(), restoreError(op, dres, err, at))
	}
	return nil
}

// restoreError names the line of a batch's first failed write (line[i]
// is the line of write i).
func restoreError(op string, res ipvs.BatchResult, err error, line []int) error {
	for i, e := range res.Errs {
		if e != nil && i < len(line) {
			return kernelError(op, "line "+strconv.Itoa(line[i]), e)
		}
	}
	return kernelError(op, "", err)
}

// rollback deletes the services of applied (the service creations that
// succeeded) and returns cause, or an ErrRollback error if a deletion
// failed.
func rollback(ctx context.Context, c *ipvs.Client, applied []ipvs.Change, cause error) error {
	if len(applied) == 0 {
		return cause
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	b := c.Batch()
	for _, ch := range applied {
		b.DeleteService(ch.Service.ServiceKey)
	}
	if _, err := b.Commit(ctx); err != nil {
		var e *Error
		object := ""
		if errors.As(cause, &e) {
			object = e.Object
		}
		return &Error{Pkg: pkgName, Op: "restore", Object: object, Kind: ErrRollback,
			Err: fmt.Errorf("%w; removing the services restored so far failed too, some may be left: %w", cause, err)}
	}
	return cause
}
