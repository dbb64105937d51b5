package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/golvs/lvs/examples/keepalived/internal/conf"
	"github.com/golvs/lvs/health"
)

// probe is one keepalived checker as a health.Checker, with its own
// connect address, source and mark.
type probe struct {
	c       health.Checker
	connect netip.AddrPort // zero fields: the real server's
	source  netip.Addr
	mark    uint32
}

func (p probe) target(t health.Target) health.Target {
	a, port := t.Addr.Addr(), t.Addr.Port()
	if p.connect.Addr().IsValid() {
		a = p.connect.Addr()
	}
	if p.connect.Port() != 0 {
		port = p.connect.Port()
	}
	t.Addr = netip.AddrPortFrom(a, port)
	if p.source.IsValid() {
		t.Source = p.source
	}
	if p.mark != 0 {
		t.Mark = p.mark
	}
	return t
}

// allOf is a real server's checkers: it is up while every one of them
// succeeds, as in keepalived; a dynamic MISC_CHECK sets its weight. A
// pointer, so that the pool can compare checkers (a reload's new one is
// a new check).
type allOf struct{ probes []probe }

func (a *allOf) Check(ctx context.Context, t health.Target) error {
	_, _, err := a.CheckWeight(ctx, t)
	return err
}

func (a *allOf) CheckWeight(ctx context.Context, t health.Target) (uint32, bool, error) {
	var weight uint32
	var dynamic bool
	for _, p := range a.probes {
		tt := p.target(t)
		if wc, ok := p.c.(health.WeightChecker); ok {
			w, ok, err := wc.CheckWeight(ctx, tt)
			if err != nil {
				return 0, false, err
			}
			if ok {
				weight, dynamic = w, true
			}
			continue
		}
		if err := p.c.Check(ctx, tt); err != nil {
			return 0, false, err
		}
	}
	return weight, dynamic, nil
}

// always is the checker of a real server without checkers: keepalived
// keeps such a server in its service.
type always struct{}

func (always) Check(context.Context, health.Target) error { return nil }

var dnsTypes = map[string]uint16{"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}

// checker turns a real server's checkers into one health.Checker and its
// timing.
func checker(vs *conf.VirtualServer, rs *conf.RealServer) (health.Checker, health.Timing, error) {
	if len(rs.Checkers) == 0 {
		t := timing(vs, rs, nil)
		return always{}, t, nil
	}
	all := &allOf{}
	for _, ck := range rs.Checkers {
		// Without connect_port keepalived checks the real server's port as
		// written: a firewall-mark service's destination has port 0.
		port := ck.ConnectPort
		if port == 0 {
			port = rs.Dest.Port
		}
		p := probe{connect: netip.AddrPortFrom(ck.ConnectIP, port), source: ck.BindTo, mark: ck.Fwmark}
		switch ck.Kind {
		case "TCP_CHECK":
			p.c = health.TCP{}
		case "HTTP_GET", "SSL_GET":
			for _, u := range ck.URLs {
				h := &health.HTTP{Path: u.Path, Host: u.VirtualHost, TLS: ck.Kind == "SSL_GET", Digest: u.Digest}
				for _, r := range u.StatusCodes {
					h.Status = append(h.Status, health.StatusRange{Min: r[0], Max: r[1]})
				}
				if len(u.StatusCodes) == 0 {
					// A digest alone: keepalived then accepts any status.
					h.Status = []health.StatusRange{{Min: 100, Max: 999}}
				}
				pp := p
				pp.c = h
				all.probes = append(all.probes, pp)
			}
			continue
		case "SMTP_CHECK":
			p.c = &health.SMTP{HELO: ck.HeloName}
		case "DNS_CHECK":
			name := ck.DNSName
			p.c = &health.DNS{Name: name, Type: dnsTypes[ck.DNSType]}
		case "UDP_CHECK":
			p.c = &health.UDP{Payload: ck.Payload, RequireReply: ck.RequireReply}
		case "PING_CHECK":
			p.c = health.ICMP{}
		case "MISC_CHECK":
			args := splitCommand(ck.MiscPath)
			if len(args) == 0 {
				return nil, health.Timing{}, fmt.Errorf("%s: empty misc_path", ck.Pos)
			}
			p.c = &health.Command{Path: args[0], Args: args[1:], DynamicWeight: ck.MiscDynamic}
		default:
			return nil, health.Timing{}, fmt.Errorf("%s: %s is not supported", ck.Pos, ck.Kind)
		}
		all.probes = append(all.probes, p)
	}
	return all, timing(vs, rs, rs.Checkers[0]), nil
}

// timing resolves keepalived's checking parameters (checker, then real
// server, then virtual server, then the defaults) into a health.Timing: a
// check is retry+1 attempts delay_before_retry apart, one failed check
// takes the server down and one success brings it up.
func timing(vs *conf.VirtualServer, rs *conf.RealServer, ck *conf.Checker) health.Timing {
	levels := []conf.Timing{vs.Timing, rs.Timing}
	kind := ""
	if ck != nil {
		levels = append(levels, ck.Timing)
		kind = ck.Kind
	}
	t := conf.Timing{DelayLoop: conf.DefaultDelayLoop, ConnectTimeout: conf.DefaultConnectTimeout, Retry: -1}
	for _, l := range levels {
		if l.DelayLoop != 0 {
			t.DelayLoop = l.DelayLoop
		}
		if l.ConnectTimeout != 0 {
			t.ConnectTimeout = l.ConnectTimeout
		}
		if l.Retry >= 0 {
			t.Retry = l.Retry
		}
		if l.DelayBeforeRetry != 0 {
			t.DelayBeforeRetry = l.DelayBeforeRetry
		}
		if l.WarmupSet {
			t.Warmup, t.WarmupSet = l.Warmup, true
		}
	}
	if t.Retry < 0 {
		switch kind {
		case "DNS_CHECK":
			t.Retry = 3
		case "MISC_CHECK":
			t.Retry = 0
		default:
			t.Retry = 1
		}
	}
	if t.DelayBeforeRetry == 0 {
		switch kind {
		case "DNS_CHECK":
			t.DelayBeforeRetry = t.DelayLoop
		case "HTTP_GET", "SSL_GET":
			t.DelayBeforeRetry = 3 * time.Second
		default:
			t.DelayBeforeRetry = time.Second
		}
	}
	if !t.WarmupSet {
		t.Warmup = t.DelayLoop
	}
	timeout := t.ConnectTimeout
	if kind == "MISC_CHECK" {
		timeout = t.DelayLoop
		if ck.MiscTimeout != 0 {
			timeout = ck.MiscTimeout
		}
	}
	return health.Timing{
		Interval:   t.DelayLoop,
		Timeout:    min(timeout, t.DelayLoop),
		Rise:       1,
		Fall:       1,
		Retries:    t.Retry,
		RetryDelay: min(t.DelayBeforeRetry, t.DelayLoop),
		Warmup:     t.Warmup,
	}
}

// splitCommand splits a script's command line at spaces; single quotes
// keep spaces in an argument (keepalived.conf(5) "Quoted strings").
func splitCommand(s string) []string {
	var out []string
	var cur strings.Builder
	in, quoted := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, in = !quoted, true
		case r == ' ' && !quoted:
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}
