package fwmark

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Canonical validates r and returns its canonical form: destinations
// masked, sorted, without those another one covers; ports sorted, with overlapping and
// adjacent ranges merged. Two rules that match the same packets with the
// same mark have equal canonical text (String).
func (r Rule) Canonical() (Rule, error) { return r.canonical("rule", "rule") }

func (r Rule) canonical(op, field string) (Rule, error) {
	if r.Mark == 0 {
		return Rule{}, invalidf(op, field+".Mark", "mark 0 means unmarked: IPVS fwmark services need a non-zero mark")
	}
	switch r.Protocol {
	case ProtocolAny, ProtocolTCP, ProtocolUDP, ProtocolSCTP:
	default:
		return Rule{}, invalidf(op, field+".Protocol", "%v: want ProtocolTCP, ProtocolUDP, ProtocolSCTP or ProtocolAny", r.Protocol)
	}
	if len(r.Destinations) == 0 {
		return Rule{}, invalidf(op, field+".Destinations", "no destination: give at least one address or prefix")
	}
	if len(r.Ports) == 0 && r.Protocol != ProtocolAny {
		return Rule{}, invalidf(op, field+".Ports", "no port for %v: give at least one port or range (only ProtocolAny may match all ports)", r.Protocol)
	}
	out := Rule{Mark: r.Mark, Protocol: r.Protocol}
	is6 := false
	for i, p := range r.Destinations {
		f := fmt.Sprintf("%s.Destinations[%d]", field, i)
		switch {
		case !p.IsValid():
			return Rule{}, invalidf(op, f, "invalid prefix %v", p)
		case p.Addr().Is4In6():
			return Rule{}, invalidf(op, f, "%v is an IPv4-mapped IPv6 prefix: use the IPv4 form", p)
		case p.Addr().Zone() != "":
			return Rule{}, invalidf(op, f, "%v has a zone", p)
		}
		if i == 0 {
			is6 = p.Addr().Is6()
		} else if p.Addr().Is6() != is6 {
			return Rule{}, invalidf(op, f, "%v mixes address families with %v: use one rule per family", p, r.Destinations[0])
		}
		out.Destinations = append(out.Destinations, p.Masked())
	}
	// Sorted, a prefix comes after any prefix containing it; drop those
	// already covered.
	slices.SortFunc(out.Destinations, comparePrefix)
	kept := out.Destinations[:0]
	for _, p := range out.Destinations {
		if !slices.ContainsFunc(kept, func(q netip.Prefix) bool { return q.Bits() <= p.Bits() && q.Contains(p.Addr()) }) {
			kept = append(kept, p)
		}
	}
	out.Destinations = kept
	for i, pr := range r.Ports {
		f := fmt.Sprintf("%s.Ports[%d]", field, i)
		if pr.From == 0 || pr.From > pr.To {
			return Rule{}, invalidf(op, f, "bad port range %d-%d: want 1 <= From <= To", pr.From, pr.To)
		}
	}
	out.Ports = mergePorts(r.Ports)
	if n := len(out.String()); n > maxComment {
		return Rule{}, invalidf(op, field, "too many destinations and ports (%d bytes of rule text, at most %d): split it into several rules with the same mark", n, maxComment)
	}
	return out, nil
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// mergePorts sorts ranges and merges those that overlap or touch.
func mergePorts(in []PortRange) []PortRange {
	if len(in) == 0 {
		return nil
	}
	s := slices.Clone(in)
	slices.SortFunc(s, func(a, b PortRange) int { return cmp.Compare(a.From, b.From) })
	out := s[:1]
	for _, r := range s[1:] {
		last := &out[len(out)-1]
		if uint32(r.From) <= uint32(last.To)+1 {
			last.To = max(last.To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out
}

// String is the canonical text of a (canonical) rule; the package stores it
// as a comment on every kernel rule it installs.
func (r Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mark=%#x proto=%v dst=", r.Mark, r.Protocol)
	for i, p := range r.Destinations {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.String())
	}
	if len(r.Ports) > 0 {
		b.WriteString(" ports=")
		b.WriteString(joinPorts(r.Ports, ",", "-"))
	}
	return b.String()
}

func joinPorts(ps []PortRange, sep, rangeSep string) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(strconv.Itoa(int(p.From)))
		if p.To != p.From {
			b.WriteString(rangeSep)
			b.WriteString(strconv.Itoa(int(p.To)))
		}
	}
	return b.String()
}

// ParseRule parses the canonical text of a rule (String's output) and
// returns the rule in canonical form.
func ParseRule(s string) (Rule, error) {
	const op = "parse rule"
	var r Rule
	seen := map[string]bool{}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || seen[k] {
			return Rule{}, invalidf(op, "", "%q: want key=value fields mark, proto, dst and ports once each", f)
		}
		seen[k] = true
		switch k {
		case "mark":
			m, err := strconv.ParseUint(v, 0, 32)
			if err != nil {
				return Rule{}, invalidf(op, "mark", "%q: %v", v, err)
			}
			r.Mark = uint32(m)
		case "proto":
			p, ok := parseProtocol(v)
			if !ok {
				return Rule{}, invalidf(op, "proto", "unknown protocol %q", v)
			}
			r.Protocol = p
		case "dst":
			for _, d := range strings.Split(v, ",") {
				p, err := netip.ParsePrefix(d)
				if err != nil {
					return Rule{}, invalidf(op, "dst", "%v", err)
				}
				r.Destinations = append(r.Destinations, p)
			}
		case "ports":
			for _, d := range strings.Split(v, ",") {
				lo, hi, isRange := strings.Cut(d, "-")
				from, err := strconv.ParseUint(lo, 10, 16)
				to := from
				if err == nil && isRange {
					to, err = strconv.ParseUint(hi, 10, 16)
				}
				if err != nil {
					return Rule{}, invalidf(op, "ports", "%q: %v", d, err)
				}
				r.Ports = append(r.Ports, PortRange{uint16(from), uint16(to)})
			}
		default:
			return Rule{}, invalidf(op, "", "unknown field %q", k)
		}
	}
	return r.canonical(op, "rule")
}

// canonicalRules validates and canonicalises rules, drops duplicates, sorts
// them, and rejects rules that match the same packets with different marks
// (the kernel would apply whichever came last, silently).
func canonicalRules(op string, rules []Rule) ([]Rule, error) {
	out := make([]Rule, 0, len(rules))
	for i, r := range rules {
		c, err := r.canonical(op, fmt.Sprintf("rules[%d]", i))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[i].Mark != out[j].Mark && overlap(out[i], out[j]) {
				return nil, invalidf(op, fmt.Sprintf("rules[%d]", j), "%v overlaps %v with another mark", out[j], out[i])
			}
		}
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.String(), b.String()) })
	return slices.CompactFunc(out, func(a, b Rule) bool { return a.String() == b.String() }), nil
}

// overlap reports whether some packet matches both rules.
func overlap(a, b Rule) bool {
	if a.Is6() != b.Is6() {
		return false
	}
	if a.Protocol != ProtocolAny && b.Protocol != ProtocolAny && a.Protocol != b.Protocol {
		return false
	}
	dst := false
	for _, p := range a.Destinations {
		for _, q := range b.Destinations {
			dst = dst || p.Overlaps(q)
		}
	}
	if !dst {
		return false
	}
	if len(a.Ports) == 0 || len(b.Ports) == 0 {
		return true
	}
	for _, p := range a.Ports {
		for _, q := range b.Ports {
			if p.From <= q.To && q.From <= p.To {
				return true
			}
		}
	}
	return false
}

// sameRules reports whether two canonical, sorted rule lists are equal.
func sameRules(a, b []Rule) bool {
	return slices.EqualFunc(a, b, func(x, y Rule) bool { return x.String() == y.String() })
}
