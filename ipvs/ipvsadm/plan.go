package ipvsadm

import (
	"fmt"
	"io"
	"strings"

	"github.com/golvs/lvs/ipvs"
)

// WritePlan writes the steps of p (ipvs.Client.Plan) as a diff in
// ipvsadm's command syntax, one line per write in the order they will be
// sent: "+" creates (-A, -a), "~" updates (-E, -e) and "-" deletes (-D,
// -d), each followed by "# was: ..." with the options the kernel holds
// for what it replaces. Thresholds (-x, -y), which the rules format
// leaves out, are shown when set. Destinations left draining follow as
// "# draining" comments. An empty plan writes nothing. f is FormatNumeric
// or 0 (names from /etc/hosts and /etc/services).
func WritePlan(w io.Writer, p *ipvs.Plan, f Format) error {
	f &= FormatNumeric
	var b strings.Builder
	for _, st := range p.Steps() {
		sign, cmd := "+", "-A"
		switch st.Op {
		case ipvs.OpUpdateService:
			sign, cmd = "~", "-E"
		case ipvs.OpDeleteService:
			sign, cmd = "-", "-D"
		case ipvs.OpCreateDestination:
			cmd = "-a"
		case ipvs.OpUpdateDestination:
			sign, cmd = "~", "-e"
		case ipvs.OpDeleteDestination:
			sign, cmd = "-", "-d"
		}
		name, opts := ruleLine(st.Change, f)
		b.WriteString(sign + " " + cmd + " " + name)
		if st.Op != ipvs.OpDeleteService && st.Op != ipvs.OpDeleteDestination {
			b.WriteString(" " + opts)
		}
		if st.Before.Op != 0 {
			_, was := ruleLine(st.Before, f)
			b.WriteString("  # was: " + was)
		}
		b.WriteByte('\n')
	}
	for _, d := range p.Draining() {
		name, _ := ruleLine(ipvs.Change{Op: ipvs.OpCreateService, Service: ipvs.Service{ServiceKey: d.Service}}, f)
		fmt.Fprintf(&b, "# draining %s -r %s: %d connections since %s\n", name,
			addrPort(d.Destination.Addr(), d.Destination.Port(), d.Service.Protocol, f), d.Conns, d.Since.UTC().Format("15:04:05"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ruleLine splits the -S line of ch's object into what names it (the
// service, with "-r DEST" for a destination) and the options that follow.
// It cuts writeEntry's own rule output, so that a plan and ipvsadm -S
// never spell an entry differently.
func ruleLine(ch ipvs.Change, f Format) (name, opts string) {
	e := ipvs.ServiceSnapshot{ServiceInfo: ipvs.ServiceInfo{Service: ch.Service}}
	if ch.Op >= ipvs.OpCreateDestination {
		e.Destinations = []ipvs.DestinationInfo{{Destination: ch.Destination}}
	}
	var b strings.Builder
	writeEntry(&b, e, f|formatRule)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if ch.Op < ipvs.OpCreateDestination {
		// "-A NAME -s SCHED ..."; a name never holds " -s ".
		line := strings.TrimPrefix(lines[0], "-A ")
		i := strings.Index(line, " -s ")
		return line[:i], line[i+1:]
	}
	// "-a NAME -r DEST -m -w 1 ...": the options begin after DEST.
	line := strings.TrimPrefix(lines[1], "-a ")
	r := strings.Index(line, " -r ")
	i := r + len(" -r ") + strings.IndexByte(line[r+len(" -r "):], ' ')
	name, opts = line[:i], line[i+1:]
	if d := ch.Destination; d.UpperThreshold != 0 || d.LowerThreshold != 0 {
		opts += fmt.Sprintf(" -x %d -y %d", d.UpperThreshold, d.LowerThreshold)
	}
	return name, opts
}
