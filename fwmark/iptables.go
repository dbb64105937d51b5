package fwmark

import (
	"fmt"
	"strings"
)

// iptState is what iptables-save says about the mangle table of one family.
type iptState struct {
	hasChain bool
	// jumps counts plain "-j LVS-FWMARK" rules per built-in chain.
	jumps map[string]int
	// specs are the comments of our chain's rules, deduplicated, in order.
	specs []string
	// others are rules of other owners that set or restore the mark.
	others []conflict
}

// parseSave reads `iptables-save -t mangle` output. family is "ipv4" or
// "ipv6" and only labels conflicts.
func parseSave(out, family string) (iptState, error) {
	st := iptState{jumps: map[string]int{}}
	inMangle := false
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "*"):
			inMangle = line == "*mangle"
			continue
		case !inMangle || line == "" || line[0] == '#':
			continue
		case strings.HasPrefix(line, ":"):
			if strings.HasPrefix(line, ":"+ChainName+" ") {
				st.hasChain = true
			}
			continue
		case !strings.HasPrefix(line, "-A "):
			continue
		}
		chain, rest, _ := strings.Cut(line[3:], " ")
		switch {
		case chain == ChainName:
			c, ok := saveComment(rest)
			if !ok || !strings.HasPrefix(c, commentPrefix) {
				return st, fmt.Errorf("rule in %s not made by this package: %q", ChainName, line)
			}
			if spec := strings.TrimPrefix(c, commentPrefix); !seen[spec] {
				seen[spec] = true
				st.specs = append(st.specs, spec)
			}
		case rest == "-j "+ChainName:
			st.jumps[chain]++
		case setsMark(rest):
			hook, order := iptOrder(chain, st.jumps[chain] > 0)
			st.others = append(st.others, conflict{
				Family: family, Table: "mangle", Chain: chain, Hook: hook,
				Priority: -150, Order: order, Rule: line,
			})
		}
	}
	return st, nil
}

// conflicts returns the others' mark-writing rules that matter: output
// ones only with output.
func (st iptState) conflicts(output bool) []conflict {
	var out []conflict
	for _, c := range st.others {
		if c.Hook != "output" || output {
			out = append(out, c)
		}
	}
	return out
}

// setsMark reports whether rule arguments set or restore the packet mark.
func setsMark(args string) bool {
	for _, t := range []string{"-j MARK", "-j CONNMARK"} {
		if strings.Contains(args+" ", t+" ") {
			return true
		}
	}
	return false
}

// iptOrder places a mark-setting rule of chain relative to our jump.
func iptOrder(chain string, afterOurJump bool) (hook string, o markOrder) {
	switch chain {
	case "PREROUTING", "OUTPUT":
		// Without a jump yet, ours will be appended after it.
		if afterOurJump {
			return strings.ToLower(chain), orderAfter
		}
		return strings.ToLower(chain), orderBefore
	case "INPUT":
		// mangle INPUT runs after PREROUTING but before IPVS (LOCAL_IN
		// priority 98).
		return "input", orderAfter
	}
	return "", orderUnknown
}

// saveComment extracts the --comment argument of an iptables-save line.
func saveComment(args string) (string, bool) {
	const flag = "--comment "
	i := strings.Index(args, flag)
	if i < 0 {
		return "", false
	}
	s := args[i+len(flag):]
	if !strings.HasPrefix(s, `"`) {
		v, _, _ := strings.Cut(s, " ")
		return v, true
	}
	var b strings.Builder
	for j := 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if j+1 < len(s) {
				j++
				b.WriteByte(s[j])
			}
		case '"':
			return b.String(), true
		default:
			b.WriteByte(s[j])
		}
	}
	return "", false
}

// iptRuleLines renders one canonical rule as iptables-restore lines. ProtocolAny
// with ports becomes one line per protocol (multiport needs one); more than
// 15 port slots (a range takes two) are split over several lines.
func iptRuleLines(r Rule) []string {
	protos := []Protocol{r.Protocol}
	if r.Protocol == ProtocolAny && len(r.Ports) > 0 {
		protos = []Protocol{ProtocolTCP, ProtocolUDP, ProtocolSCTP}
	}
	var chunks [][]PortRange
	for i, slots := 0, 0; i < len(r.Ports); i++ {
		n := 1
		if r.Ports[i].From != r.Ports[i].To {
			n = 2
		}
		if len(chunks) == 0 || slots+n > 15 {
			chunks = append(chunks, nil)
			slots = 0
		}
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], r.Ports[i])
		slots += n
	}
	if len(chunks) == 0 {
		chunks = [][]PortRange{nil}
	}
	tail := fmt.Sprintf(` -m comment --comment "%s%s" -j MARK --set-mark %#x`, commentPrefix, r, r.Mark)
	var out []string
	for _, d := range r.Destinations {
		for _, p := range protos {
			for _, ch := range chunks {
				l := "-A " + ChainName + " -d " + d.String()
				if p != ProtocolAny {
					l += " -p " + p.String()
				}
				if len(ch) > 0 {
					l += " -m multiport --dports " + joinPorts(ch, ",", ":")
				}
				out = append(out, l+tail)
			}
		}
	}
	return out
}

// iptScript is the iptables-restore --noflush input that turns st into
// rules (already of the right family), or removes everything when remove
// is set. It is "" when nothing is to be done.
func iptScript(st iptState, rules []Rule, output, remove bool) string {
	var b strings.Builder
	jump := func(op, chain string, n int) {
		for range n {
			b.WriteString(op + " " + chain + " -j " + ChainName + "\n")
		}
	}
	b.WriteString("*mangle\n")
	if remove || len(rules) == 0 {
		if !st.hasChain && st.jumps["PREROUTING"]+st.jumps["OUTPUT"] == 0 {
			return ""
		}
		jump("-D", "PREROUTING", st.jumps["PREROUTING"])
		jump("-D", "OUTPUT", st.jumps["OUTPUT"])
		if st.hasChain {
			b.WriteString("-F " + ChainName + "\n-X " + ChainName + "\n")
		}
		b.WriteString("COMMIT\n")
		return b.String()
	}
	b.WriteString(":" + ChainName + " - [0:0]\n-F " + ChainName + "\n")
	for _, r := range rules {
		for _, l := range iptRuleLines(r) {
			b.WriteString(l + "\n")
		}
	}
	fix := func(chain string, want bool) {
		n := st.jumps[chain]
		switch {
		case want && n == 0:
			jump("-A", chain, 1)
		case want && n > 1:
			jump("-D", chain, n-1)
		case !want:
			jump("-D", chain, n)
		}
	}
	fix("PREROUTING", true)
	fix("OUTPUT", output)
	b.WriteString("COMMIT\n")
	return b.String()
}

// iptUpToDate reports whether st already holds exactly rules (canonical,
// sorted, of st's family) with the right jumps.
func iptUpToDate(st iptState, rules []Rule, output bool) bool {
	if len(rules) == 0 {
		return !st.hasChain && st.jumps["PREROUTING"]+st.jumps["OUTPUT"] == 0
	}
	want := 0
	if output {
		want = 1
	}
	if !st.hasChain || st.jumps["PREROUTING"] != 1 || st.jumps["OUTPUT"] != want || len(st.specs) != len(rules) {
		return false
	}
	for i, r := range rules {
		if st.specs[i] != r.String() {
			return false
		}
	}
	return true
}

// iptTool derives a companion command from the iptables command: ip6
// selects ip6tables, suffix is "-save" or "-restore". "iptables-legacy" →
// "ip6tables-legacy-save".
func iptTool(cmd string, ip6 bool, suffix string) string {
	dir, base := "", cmd
	if i := strings.LastIndexByte(cmd, '/'); i >= 0 {
		dir, base = cmd[:i+1], cmd[i+1:]
	}
	if ip6 {
		base = strings.Replace(base, "iptables", "ip6tables", 1)
	}
	return dir + base + suffix
}
