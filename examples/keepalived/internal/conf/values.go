package conf

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// integer parses n's argument i as an integer in [lo, hi].
func (p *parser) integer(n *Node, i int, lo, hi int64) (int64, bool) {
	if i >= len(n.Args) {
		p.errorf(n, "%s needs a value", n.Key)
		return 0, false
	}
	v, err := strconv.ParseInt(n.Args[i], 10, 64)
	if err != nil || v < lo || v > hi {
		p.errorf(n, "%s: %q is not an integer in %d..%d", n.Key, n.Args[i], lo, hi)
		return 0, false
	}
	return v, true
}

// timer parses a <TIMER>: seconds, fractions allowed, microsecond
// resolution.
func (p *parser) timer(n *Node, i int) (time.Duration, bool) {
	if i >= len(n.Args) {
		p.errorf(n, "%s needs a time in seconds", n.Key)
		return 0, false
	}
	f, err := strconv.ParseFloat(n.Args[i], 64)
	if err != nil || f < 0 || f > 365*24*3600 || math.IsNaN(f) {
		p.errorf(n, "%s: %q is not a time in seconds", n.Key, n.Args[i])
		return 0, false
	}
	return time.Duration(math.Round(f*1e6)) * time.Microsecond, true
}

// boolean parses an optional <BOOL>; no argument means true.
func (p *parser) boolean(n *Node) (bool, bool) {
	if !p.flat(n, 0, 1) {
		return false, false
	}
	if len(n.Args) == 0 {
		return true, true
	}
	switch strings.ToLower(n.Args[0]) {
	case "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	p.errorf(n, "%s: %q is not one of on|off|true|false|yes|no", n.Key, n.Args[0])
	return false, false
}

func (p *parser) addr(n *Node, i int) (netip.Addr, bool) {
	if i >= len(n.Args) {
		p.errorf(n, "%s needs an IP address", n.Key)
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(n.Args[i])
	if err != nil || a.Zone() != "" {
		p.errorf(n, "%s: %q is not an IP address", n.Key, n.Args[i])
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (p *parser) port(n *Node, i int) (uint16, bool) {
	v, ok := p.integer(n, i, 0, 65535)
	return uint16(v), ok
}

// addrPort parses "<IPADDR> [<PORT>]" from argument i on.
func (p *parser) addrPort(n *Node, i int) (netip.Addr, uint16, bool) {
	a, ok := p.addr(n, i)
	if !ok {
		return a, 0, false
	}
	if len(n.Args) > i+1 {
		port, ok := p.port(n, i+1)
		return a, port, ok
	}
	return a, 0, true
}

// str parses a one-argument string statement.
func (p *parser) str(n *Node) (string, bool) {
	if !p.flat(n, 1, 1) {
		return "", false
	}
	return n.Args[0], true
}

// hookScript sets *dst to the script of c, a hook the agent runs (so the
// configuration has scripts).
func (p *parser) hookScript(c *Node, dst *string) {
	*dst, _ = p.scriptCmd(c)
	p.cfg.Global.HasScripts = true
}

// script parses a script statement: the command (possibly quoted) and an
// optional user and group, which are kept in the command line for the
// agent to reject or honour.
func (p *parser) scriptCmd(n *Node) (string, bool) {
	if !p.flat(n, 1, 3) {
		return "", false
	}
	if len(n.Args) > 1 {
		p.errorf(n, "%s: running scripts as another user (%s) is not supported", n.Key, strings.Join(n.Args[1:], " "))
		return "", false
	}
	return n.Args[0], true
}

// setInt sets *dst from a one-argument integer statement in [lo, hi].
func (p *parser) setInt(n *Node, lo, hi int64, dst *int) {
	if p.flat(n, 1, 1) {
		if v, ok := p.integer(n, 0, lo, hi); ok {
			*dst = int(v)
		}
	}
}

// setTimer sets *dst from a one-argument <TIMER> statement.
func (p *parser) setTimer(n *Node, dst *time.Duration) {
	if p.flat(n, 1, 1) {
		if d, ok := p.timer(n, 0); ok {
			*dst = d
		}
	}
}

// optTimer and optInt return a one-argument statement's value (def, or
// zero, when it is bad: the error is recorded), for an instance's setting
// that overrides global_defs' only when present.
func (p *parser) optTimer(n *Node) *time.Duration {
	var d time.Duration
	p.setTimer(n, &d)
	return &d
}

func (p *parser) optInt(n *Node, lo, hi int64, def int) *int {
	v := def
	p.setInt(n, lo, hi, &v)
	return &v
}
