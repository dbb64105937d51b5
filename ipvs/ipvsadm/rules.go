package ipvsadm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/golvs/lvs/ipvs"
)

// Rules is an IPVS table in ipvsadm's rules format (ipvsadm -S -n,
// ipvsadm-save -n, /etc/sysconfig/ipvsadm): each service with its
// destinations, in file order.
type Rules struct {
	Services []ServiceRules
}

// ServiceRules is one -A line and the -a lines of that service.
type ServiceRules struct {
	Service      ipvs.Service
	Destinations []ipvs.Destination
}

// ParseRules reads the rules format. Each line is an ipvsadm command line
// (a leading "ipvsadm" is allowed); blank lines and lines starting with #
// are skipped. Only -A (add service) and -a (add server) lines belong to
// the format, and a server must follow its service. Errors are *Error with
// the line, the token at fault and ipvsadm's message.
func ParseRules(r io.Reader) (*Rules, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	rules := &Rules{}
	index := map[ipvs.ServiceKey]int{}
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "ipvsadm" {
			f = f[1:]
		}
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		cmd, err := ParseCommand(append([]string{"ipvsadm"}, f...))
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Line = n
				if e.Token == "" {
					e.Token = f[0]
				}
				return nil, e
			}
			return nil, err
		}
		key := normKey(cmd.Service.ServiceKey)
		switch cmd.Op {
		case OpAddService:
			if _, dup := index[key]; dup {
				return nil, &Error{Line: n, Token: serviceToken(f), Msg: "Service already exists", Exit: 255}
			}
			index[key] = len(rules.Services)
			rules.Services = append(rules.Services, ServiceRules{Service: cmd.Service})
		case OpAddServer:
			i, ok := index[key]
			if !ok {
				return nil, &Error{Line: n, Token: serviceToken(f), Msg: "Service not defined", Exit: 255}
			}
			for _, d := range rules.Services[i].Destinations {
				if d.Address == cmd.Destination.Address && d.Port == cmd.Destination.Port {
					return nil, &Error{Line: n, Token: "-r", Msg: "Destination already exists", Exit: 255}
				}
			}
			rules.Services[i].Destinations = append(rules.Services[i].Destinations, cmd.Destination)
		default:
			return nil, &Error{Line: n, Token: f[0], Msg: fmt.Sprintf("command %s is not part of the rules format (only -A and -a)", cmd.Op), Exit: 2}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ipvsadm: reading rules: %w", err)
	}
	return rules, nil
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

// normKey makes keys comparable whatever the caller left implicit.
func normKey(k ipvs.ServiceKey) ipvs.ServiceKey {
	if k.Family == 0 {
		k.Family = ipvs.FamilyOf(k.Address)
	}
	k.Address = k.Address.Unmap()
	return k
}

// WriteRules writes rules in ipvsadm -S -n's format and order.
func WriteRules(w io.Writer, r *Rules) error {
	var es []Entry
	for _, s := range r.Services {
		e := Entry{ServiceInfo: ipvs.ServiceInfo{Service: s.Service}}
		if e.Service.Scheduler == "" {
			e.Service.Scheduler = ipvs.WeightedLeastConnection
		}
		for _, d := range s.Destinations {
			e.Destinations = append(e.Destinations, ipvs.DestinationInfo{Destination: d})
		}
		es = append(es, e)
	}
	return WriteSave(w, es, FormatNumeric)
}

// Save writes the table c manages as ipvsadm -S -n does.
func Save(ctx context.Context, c *ipvs.Client, w io.Writer) error {
	t, err := readTable(ctx, c)
	if err != nil {
		return err
	}
	return WriteSave(w, t.Services, FormatNumeric)
}

// Restore parses the rules in r and adds them through c. The whole input
// is parsed before anything changes; if the kernel refuses a service or a
// destination, everything Restore added is removed again and the error
// names the line's service or destination. Existing entries are not
// touched: restoring onto a table that already has one of the services is
// an error (ErrExist), as with ipvsadm -R. Flush first to replace a table.
func Restore(ctx context.Context, c *ipvs.Client, r io.Reader) error {
	rules, err := ParseRules(r)
	if err != nil {
		return err
	}
	return ApplyRules(ctx, c, rules)
}

// ApplyRules adds rules through c, rolling back on failure (see Restore).
func ApplyRules(ctx context.Context, c *ipvs.Client, rules *Rules) error {
	var created []ipvs.ServiceKey
	undo := func() {
		for i := len(created) - 1; i >= 0; i-- {
			c.DeleteService(context.WithoutCancel(ctx), created[i])
		}
	}
	for _, s := range rules.Services {
		if err := c.CreateService(ctx, s.Service); err != nil {
			undo()
			return err
		}
		created = append(created, s.Service.ServiceKey)
		for _, d := range s.Destinations {
			if err := c.CreateDestination(ctx, s.Service.ServiceKey, d); err != nil {
				undo()
				return err
			}
		}
	}
	return nil
}
