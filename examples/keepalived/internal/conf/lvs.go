package conf

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// Defaults of keepalved.conf(5).
const (
	DefaultDelayLoop        = 60 * time.Second
	DefaultConnectTimeout   = 5 * time.Second
	DefaultPersistence      = 360 * time.Second
	defaultDelayBeforeRetry = time.Second
	defaultHTTPRetryDelay   = 3 * time.Second
	maxGroupExpansion       = 65536
)

func (p *parser) group(n *Node) {
	g := &Group{Pos: n.Pos, Name: n.Args[0]}
	for _, c := range n.Children {
		if c.Block {
			p.errorf(c, "virtual_server_group entries take no block")
			continue
		}
		if c.Key == "fwmark" {
			if !p.flat(c, 1, 2) {
				continue
			}
			v, ok := p.integer(c, 0, 1, 1<<32-1)
			if !ok {
				continue
			}
			e := GroupEntry{Fwmark: uint32(v), Family: ipvs.IPv4}
			if len(c.Args) == 2 {
				switch c.Args[1] {
				case "inet":
				case "inet6":
					e.Family = ipvs.IPv6
				default:
					p.errorf(c, "fwmark family %q is not inet or inet6", c.Args[1])
					continue
				}
			}
			g.Entries = append(g.Entries, e)
			continue
		}
		addrs, err := expandRange(c.Key)
		if err != nil {
			if p.known[c.Key] || harmless[c.Key] {
				p.unknown(c, "virtual_server_group")
			} else {
				p.errorf(c, "virtual_server_group %s: %v", g.Name, err)
			}
			continue
		}
		if p.expanded += len(addrs); p.expanded > maxGroupExpansion {
			p.errorf(c, "virtual_server_group %s: groups expand to more than %d services in all", g.Name, maxGroupExpansion)
			continue
		}
		var port uint16
		if len(c.Args) > 1 {
			p.errorf(c, "virtual_server_group entry takes an address range and a port")
			continue
		}
		if len(c.Args) == 1 {
			var ok bool
			if port, ok = p.port(c, 0); !ok {
				continue
			}
		}
		for _, a := range addrs {
			g.Entries = append(g.Entries, GroupEntry{Addr: a, Port: port})
		}
	}
	p.cfg.Groups = append(p.cfg.Groups, g)
}

// expandRange expands A, A-LAST (last byte or group), A-B (full
// address) and A/LEN into addresses.
func expandRange(s string) ([]netip.Addr, error) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address range", s)
		}
		pf = pf.Masked()
		if pf.Addr().BitLen()-pf.Bits() > 16 {
			return nil, fmt.Errorf("%s is too large a range", s)
		}
		var out []netip.Addr
		for a := pf.Addr(); pf.Contains(a); a = a.Next() {
			out = append(out, a)
		}
		return out, nil
	}
	first, last, isRange := strings.Cut(s, "-")
	a, err := netip.ParseAddr(first)
	if err != nil || a.Zone() != "" {
		return nil, fmt.Errorf("%q is not an address or address range", s)
	}
	a = a.Unmap()
	if !isRange {
		return []netip.Addr{a}, nil
	}
	var b netip.Addr
	if full, err := netip.ParseAddr(last); err == nil {
		b = full.Unmap()
	} else {
		// The last byte (IPv4) or 16-bit group (IPv6) of the end.
		base := 10
		max := uint64(255)
		if a.Is6() {
			base, max = 16, 0xffff
		}
		v, err := strconv.ParseUint(last, base, 64)
		if err != nil || v > max {
			return nil, fmt.Errorf("%q is not an address range", s)
		}
		bs := a.AsSlice()
		if a.Is4() {
			bs[3] = byte(v)
		} else {
			bs[14], bs[15] = byte(v>>8), byte(v)
		}
		b, _ = netip.AddrFromSlice(bs)
	}
	if b.BitLen() != a.BitLen() || b.Less(a) {
		return nil, fmt.Errorf("%q: the range ends before it starts", s)
	}
	var out []netip.Addr
	for x := a; ; x = x.Next() {
		out = append(out, x)
		if x == b {
			break
		}
		if len(out) > maxGroupExpansion {
			return nil, fmt.Errorf("%s is too large a range", s)
		}
	}
	return out, nil
}

func (p *parser) method(n *Node) (Method, bool) {
	if !p.flat(n, 1, 6) {
		return Method{}, false
	}
	var m Method
	switch n.Args[0] {
	case "NAT":
		m.Forward = ipvs.Masquerade
	case "DR":
		m.Forward = ipvs.DirectRoute
	case "TUN":
		m.Forward = ipvs.Tunnel
	default:
		p.errorf(n, "%s: %q is not NAT, DR or TUN", n.Key, n.Args[0])
		return m, false
	}
	rest := n.Args[1:]
	if m.Forward != ipvs.Tunnel && len(rest) > 0 {
		p.errorf(n, "%s %s takes no options", n.Key, n.Args[0])
		return m, false
	}
	if len(rest) == 0 {
		return m, true
	}
	if rest[0] != "type" || len(rest) < 2 {
		p.errorf(n, "%s TUN: expected type ipip|gue port N|gre", n.Key)
		return m, false
	}
	switch rest[1] {
	case "ipip":
		rest = rest[2:]
	case "gre":
		m.TunnelType, rest = ipvs.GRE, rest[2:]
	case "gue":
		m.TunnelType = ipvs.GUE
		if len(rest) < 4 || rest[2] != "port" {
			p.errorf(n, "%s TUN type gue needs port N", n.Key)
			return m, false
		}
		v, err := strconv.ParseUint(rest[3], 10, 16)
		if err != nil || v == 0 {
			p.errorf(n, "%s: gue port %q is not a port", n.Key, rest[3])
			return m, false
		}
		m.TunnelPort, rest = uint16(v), rest[4:]
	default:
		p.errorf(n, "%s TUN: type %q is not ipip, gue or gre", n.Key, rest[1])
		return m, false
	}
	if len(rest) > 0 {
		switch {
		case len(rest) == 1 && rest[0] == "nocsum":
		case len(rest) == 1 && rest[0] == "csum" && m.TunnelType != ipvs.IPIP:
			m.TunnelFlags = ipvs.TunnelChecksum
		case len(rest) == 1 && rest[0] == "remcsum" && m.TunnelType == ipvs.GUE:
			m.TunnelFlags = ipvs.TunnelRemoteChecksum
		default:
			p.errorf(n, "%s: %q is not a checksum option this tunnel type takes", n.Key, strings.Join(rest, " "))
			return m, false
		}
	}
	return m, true
}

// timing parses the checking keywords shared by every level; it reports
// whether c was one.
func (p *parser) timing(c *Node, t *Timing) bool {
	switch c.Key {
	case "delay_loop":
		if p.flat(c, 1, 1) {
			if d, ok := p.timer(c, 0); ok {
				if d < time.Millisecond {
					p.errorf(c, "delay_loop must be positive")
				}
				t.DelayLoop = d
			}
		}
	case "connect_timeout":
		p.setTimer(c, &t.ConnectTimeout)
	case "retry", "nb_get_retry":
		p.setInt(c, 0, 1<<16, &t.Retry)
	case "delay_before_retry":
		p.setTimer(c, &t.DelayBeforeRetry)
	case "warmup":
		if p.flat(c, 1, 1) {
			t.Warmup, _ = p.timer(c, 0)
			t.WarmupSet = true
		}
	default:
		return false
	}
	return true
}

func (p *parser) virtualServer(n *Node) {
	vs := &VirtualServer{Pos: n.Pos, Name: strings.Join(n.Args, " "), Quorum: 1,
		Timing: Timing{Retry: -1}, Protocol: ipvs.UDP}
	protocolSet := false
	var addr netip.Addr
	var port uint16
	var fwmark uint32
	switch {
	case len(n.Args) == 2 && n.Args[0] == "fwmark":
		v, ok := p.integer(n, 1, 1, 1<<32-1)
		if !ok {
			return
		}
		fwmark = uint32(v)
	case len(n.Args) == 2 && n.Args[0] == "group":
		vs.Group = n.Args[1]
	case len(n.Args) == 1 || len(n.Args) == 2:
		var ok bool
		if addr, port, ok = p.addrPort(n, 0); !ok {
			return
		}
	default:
		p.errorf(n, "virtual_server needs IP [PORT], fwmark N or group NAME")
		return
	}
	persistSet := false
	family := ipvs.Family(0)
	for _, c := range n.Children {
		if p.timing(c, &vs.Timing) {
			continue
		}
		switch c.Key {
		case "lb_algo", "lvs_sched":
			if s, ok := p.str(c); ok {
				switch s {
				case "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "mh", "dh", "fo", "ovf", "sed", "nq", "twos":
					vs.Service.Scheduler = ipvs.Scheduler(s)
				default:
					p.errorf(c, "%s %q is not a scheduler keepalived knows", c.Key, s)
				}
			}
		case "flag-1":
			vs.Service.Flags |= ipvs.SchedFlag1
		case "flag-2":
			vs.Service.Flags |= ipvs.SchedFlag2
		case "flag-3":
			vs.Service.Flags |= ipvs.SchedFlag3
		case "sh-fallback", "mh-fallback":
			vs.Service.Flags |= ipvs.FlagSHFallback
		case "sh-port", "mh-port":
			vs.Service.Flags |= ipvs.FlagSHPort
		case "ops":
			vs.Service.Flags |= ipvs.FlagOnePacket
		case "lb_kind", "lvs_method":
			vs.Method, _ = p.method(c)
		case "persistence_timeout":
			if p.flat(c, 0, 1) {
				persistSet = true
				vs.Service.Timeout = DefaultPersistence
				if len(c.Args) == 1 {
					v, ok := p.integer(c, 0, 1, 31*24*3600)
					if ok {
						vs.Service.Timeout = time.Duration(v) * time.Second
					}
				}
			}
		case "persistence_granularity":
			if s, ok := p.str(c); ok {
				if m, err := parseGranularity(s); err != nil {
					p.errorf(c, "persistence_granularity: %v", err)
				} else {
					vs.Service.Netmask = m
				}
			}
		case "persistence_engine":
			if s, ok := p.str(c); ok {
				if s != "sip" {
					p.errorf(c, "persistence_engine %q is not sip", s)
				}
				vs.Service.PersistenceEngine = s
			}
		case "protocol":
			if s, ok := p.str(c); ok {
				pr, err := ipvs.ParseProtocol(s)
				if err != nil || s != strings.ToUpper(s) {
					p.errorf(c, "protocol %q is not TCP, UDP or SCTP", s)
				}
				vs.Protocol, protocolSet = pr, true
			}
		case "ha_suspend":
			vs.HASuspend = p.flat(c, 0, 0)
			p.errorf(c, "ha_suspend is not supported (it suspends checks while the VIP is absent)")
		case "alpha":
			vs.Alpha, _ = p.boolean(c)
		case "omega":
			vs.Omega, _ = p.boolean(c)
		case "quorum":
			p.setInt(c, 1, 1<<31-1, &vs.Quorum)
		case "hysteresis":
			p.setInt(c, 0, 1<<31-1, &vs.Hysteresis)
		case "quorum_up":
			p.hookScript(c, &vs.QuorumUp)
		case "quorum_down":
			p.hookScript(c, &vs.QuorumDown)
		case "virtualhost":
			vs.VirtualHost, _ = p.str(c)
		case "inhibit_on_failure":
			vs.Inhibit, _ = p.boolean(c)
		case "sorry_server":
			if p.flat(c, 1, 2) {
				if a, pt, ok := p.addrPort(c, 0); ok {
					vs.Sorry = &ipvs.Destination{Address: a, Port: pt, Weight: 1}
				}
			}
		case "sorry_server_inhibit":
			vs.SorryInhibit, _ = p.boolean(c)
		case "ip_family":
			if s, ok := p.str(c); ok {
				switch s {
				case "inet":
					family = ipvs.IPv4
				case "inet6":
					family = ipvs.IPv6
				default:
					p.errorf(c, "ip_family %q is not inet or inet6", s)
				}
			}
		case "real_server":
			if rs := p.realServer(c, vs); rs != nil {
				vs.Reals = append(vs.Reals, rs)
			}
		default:
			p.unknown(c, "virtual_server")
		}
	}
	if persistSet || vs.Service.Netmask != (ipvs.Netmask{}) || vs.Service.PersistenceEngine != "" {
		vs.Service.Flags |= ipvs.FlagPersistent
		if vs.Service.Timeout == 0 {
			vs.Service.Timeout = DefaultPersistence
		}
	}
	if vs.Service.Scheduler == "" {
		vs.Service.Scheduler = ipvs.WeightedLeastConnection
	}
	if !protocolSet && fwmark == 0 {
		// keepalived 2.2.7 does so, and says so, as run in the VM.
		p.warnf(n, "virtual_server %s: no protocol set - defaulting to UDP", vs.Name)
	}
	switch {
	case vs.Group != "":
		// Keys are filled in by resolve, once every group is known.
	case fwmark != 0:
		if family == 0 {
			family = ipvs.IPv4
			if len(vs.Reals) > 0 && vs.Reals[0].Dest.Address.Is6() {
				family = ipvs.IPv6
			}
		}
		vs.Keys = []ipvs.ServiceKey{{Family: family, Fwmark: fwmark}}
	default:
		if port == 0 && vs.Service.Flags&ipvs.FlagPersistent == 0 {
			p.errorf(n, "virtual_server %s: the port can be omitted only for a persistent service", vs.Name)
		}
		vs.Keys = []ipvs.ServiceKey{{Protocol: vs.Protocol, Address: addr, Port: port}}
	}
	// The real servers' methods default to the virtual server's.
	for _, rs := range vs.Reals {
		if rs.methodSet {
			continue
		}
		rs.Dest.Forward, rs.Dest.TunnelType = vs.Method.Forward, vs.Method.TunnelType
		rs.Dest.TunnelPort, rs.Dest.TunnelFlags = vs.Method.TunnelPort, vs.Method.TunnelFlags
	}
	if vs.Sorry != nil {
		vs.Sorry.Forward, vs.Sorry.TunnelType = vs.Method.Forward, vs.Method.TunnelType
		vs.Sorry.TunnelPort, vs.Sorry.TunnelFlags = vs.Method.TunnelPort, vs.Method.TunnelFlags
	}
	p.cfg.VirtualServers = append(p.cfg.VirtualServers, vs)
}

func parseGranularity(s string) (ipvs.Netmask, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return ipvs.NetmaskIPv4(a)
	}
	if bits, err := strconv.Atoi(s); err == nil {
		return ipvs.NetmaskBits(ipvs.IPv6, bits)
	}
	return ipvs.Netmask{}, fmt.Errorf("%q is neither an IPv4 netmask nor an IPv6 prefix length", s)
}

func (p *parser) realServer(n *Node, vs *VirtualServer) *RealServer {
	if !n.Block || len(n.Args) < 1 || len(n.Args) > 2 {
		if !n.Block {
			p.errorf(n, "real_server needs a block")
		} else {
			p.errorf(n, "real_server needs IP [PORT]")
		}
		return nil
	}
	a, port, ok := p.addrPort(n, 0)
	if !ok {
		return nil
	}
	rs := &RealServer{Pos: n.Pos, Dest: ipvs.Destination{Address: a, Port: port, Weight: 1},
		Timing: Timing{Retry: -1}, Inhibit: vs.Inhibit, Alpha: vs.Alpha, VirtualHost: vs.VirtualHost}
	for _, c := range n.Children {
		if p.timing(c, &rs.Timing) {
			continue
		}
		switch c.Key {
		case "weight":
			if p.flat(c, 1, 1) {
				v, _ := p.integer(c, 0, 0, 65535)
				rs.Dest.Weight = uint32(v)
			}
		case "lvs_method", "lb_kind":
			if m, ok := p.method(c); ok {
				rs.methodSet = true
				rs.Dest.Forward, rs.Dest.TunnelType, rs.Dest.TunnelPort, rs.Dest.TunnelFlags = m.Forward, m.TunnelType, m.TunnelPort, m.TunnelFlags
			}
		case "notify_up":
			p.hookScript(c, &rs.NotifyUp)
		case "notify_down":
			p.hookScript(c, &rs.NotifyDown)
		case "uthreshold":
			if p.flat(c, 1, 1) {
				v, _ := p.integer(c, 0, 0, 1<<31-1)
				rs.Dest.UpperThreshold = uint32(v)
			}
		case "lthreshold":
			if p.flat(c, 1, 1) {
				v, _ := p.integer(c, 0, 0, 1<<31-1)
				rs.Dest.LowerThreshold = uint32(v)
			}
		case "virtualhost":
			rs.VirtualHost, _ = p.str(c)
		case "inhibit_on_failure":
			rs.Inhibit, _ = p.boolean(c)
		case "alpha":
			rs.Alpha, _ = p.boolean(c)
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK", "SMTP_CHECK", "FILE_CHECK":
			if ck := p.checker(c, rs); ck != nil {
				rs.Checkers = append(rs.Checkers, ck)
			}
		default:
			p.unknown(c, "real_server")
		}
	}
	if rs.Dest.Port == 0 && port == 0 {
		rs.Dest.Port = portOf(vs)
	}
	return rs
}

// portOf is the virtual server's port (0 for fwmark and groups).
func portOf(vs *VirtualServer) uint16 {
	if len(vs.Keys) == 1 {
		return vs.Keys[0].Port
	}
	return 0
}

func (p *parser) checker(n *Node, rs *RealServer) *Checker {
	if !p.block(n, 0) {
		return nil
	}
	ck := &Checker{Pos: n.Pos, Kind: n.Key, Timing: Timing{Retry: -1}, DNSType: "SOA", DNSName: ".", MaxReplyLength: 255}
	for _, c := range n.Children {
		if n.Key != "FILE_CHECK" && p.timing(c, &ck.Timing) {
			continue
		}
		switch k := c.Key; {
		case k == "connect_ip" && n.Key != "MISC_CHECK" && n.Key != "FILE_CHECK":
			if p.flat(c, 1, 1) {
				ck.ConnectIP, _ = p.addr(c, 0)
			}
		case k == "connect_port" && n.Key != "MISC_CHECK" && n.Key != "FILE_CHECK":
			if p.flat(c, 1, 1) {
				ck.ConnectPort, _ = p.port(c, 0)
			}
		case k == "bindto" && n.Key != "MISC_CHECK" && n.Key != "FILE_CHECK":
			if p.flat(c, 1, 1) {
				ck.BindTo, _ = p.addr(c, 0)
			}
		case k == "bind_if" && n.Key != "MISC_CHECK" && n.Key != "FILE_CHECK":
			ck.BindIf, _ = p.str(c)
			p.errorf(c, "bind_if is not supported")
		case k == "bind_port" && n.Key != "MISC_CHECK" && n.Key != "FILE_CHECK":
			if p.flat(c, 1, 1) {
				ck.BindPort, _ = p.port(c, 0)
			}
			p.errorf(c, "bind_port is not supported")
		case k == "fwmark" && n.Key != "MISC_CHECK" && n.Key != "FILE_CHECK":
			if p.flat(c, 1, 1) {
				v, _ := p.integer(c, 0, 0, 1<<32-1)
				ck.Fwmark = uint32(v)
			}
		case k == "alpha" && n.Key != "FILE_CHECK":
			b, _ := p.boolean(c)
			ck.Alpha = &b
		case (n.Key == "HTTP_GET" || n.Key == "SSL_GET") && k == "url":
			if u, ok := p.url(c, rs); ok {
				ck.URLs = append(ck.URLs, u)
			}
		case (n.Key == "HTTP_GET" || n.Key == "SSL_GET") && k == "http_protocol":
			if s, ok := p.str(c); ok {
				if s != "1.0" && s != "1.0C" && s != "1.1" && s != "1.0c" {
					p.errorf(c, "http_protocol %q is not 1.0, 1.0C or 1.1", s)
				}
				ck.HTTPProtocol = s
			}
		case (n.Key == "HTTP_GET" || n.Key == "SSL_GET") && k == "virtualhost":
			s, _ := p.str(c)
			for i := range ck.URLs {
				if ck.URLs[i].VirtualHost == rs.VirtualHost {
					ck.URLs[i].VirtualHost = s
				}
			}
			rs.VirtualHost = s // urls after this inherit it
		case n.Key == "SSL_GET" && k == "enable_sni":
			ck.EnableSNI, _ = p.boolean(c)
		case n.Key == "SMTP_CHECK" && k == "helo_name":
			ck.HeloName, _ = p.str(c)
		case n.Key == "DNS_CHECK" && k == "type":
			if s, ok := p.str(c); ok {
				switch strings.ToUpper(s) {
				case "A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA":
					ck.DNSType = strings.ToUpper(s)
				default:
					p.errorf(c, "DNS_CHECK type %q is not A, NS, CNAME, SOA, MX, TXT or AAAA", s)
				}
			}
		case n.Key == "DNS_CHECK" && k == "name":
			ck.DNSName, _ = p.str(c)
		case n.Key == "MISC_CHECK" && k == "misc_path":
			p.hookScript(c, &ck.MiscPath)
		case n.Key == "MISC_CHECK" && k == "misc_timeout":
			if p.flat(c, 1, 1) {
				v, _ := p.integer(c, 0, 1, 1<<20)
				ck.MiscTimeout = time.Duration(v) * time.Second
			}
		case n.Key == "MISC_CHECK" && k == "misc_dynamic":
			ck.MiscDynamic, _ = p.boolean(c)
		case n.Key == "MISC_CHECK" && k == "user":
			p.errorf(c, "MISC_CHECK user is not supported (scripts run as the agent's user)")
		case n.Key == "UDP_CHECK" && k == "payload":
			if p.flat(c, 1, 64) {
				b, err := hexString(strings.Join(c.Args, " "), false)
				if err != nil {
					p.errorf(c, "payload: %v", err)
				}
				ck.Payload = b
			}
		case n.Key == "UDP_CHECK" && k == "require_reply":
			ck.RequireReply = true
			if len(c.Args) > 0 {
				s := strings.Join(c.Args, " ")
				if _, err := hexString(s, true); err != nil {
					p.errorf(c, "require_reply: %v", err)
				}
				ck.ReplyPattern = s
				p.errorf(c, "require_reply with a pattern is not supported")
			}
		case n.Key == "UDP_CHECK" && (k == "min_reply_length" || k == "max_reply_length"):
			if p.flat(c, 1, 1) {
				v, _ := p.integer(c, 0, 0, 65535)
				if k == "min_reply_length" {
					ck.MinReplyLength = int(v)
				} else {
					ck.MaxReplyLength = int(v)
				}
			}
		case n.Key == "FILE_CHECK" && k == "track_file":
			ck.TrackFile, _ = p.str(c)
			p.errorf(c, "FILE_CHECK's track_file blocks are not supported")
		case n.Key == "FILE_CHECK" && k == "dynamic":
			ck.FileDynamic, _ = p.boolean(c)
		case n.Key == "FILE_CHECK" && k == "weight":
			if p.flat(c, 1, 2) {
				v, _ := p.integer(c, 0, -(1<<31 - 1), 1<<31-1)
				ck.FileWeight = int(v)
				ck.FileReverse = len(c.Args) == 2 && c.Args[1] == "reverse"
			}
		default:
			p.unknown(c, n.Key)
		}
	}
	switch {
	case n.Key == "MISC_CHECK" && ck.MiscPath == "":
		p.errorf(n, "MISC_CHECK without misc_path")
	case (n.Key == "HTTP_GET" || n.Key == "SSL_GET") && len(ck.URLs) == 0:
		p.errorf(n, "%s without url", n.Key)
	}
	return ck
}

func (p *parser) url(n *Node, rs *RealServer) (URL, bool) {
	if !p.block(n, 0) {
		return URL{}, false
	}
	u := URL{VirtualHost: rs.VirtualHost}
	for _, c := range n.Children {
		switch c.Key {
		case "path":
			u.Path, _ = p.str(c)
		case "digest":
			if s, ok := p.str(c); ok {
				if b, err := hex.DecodeString(s); err != nil || len(b) != 16 {
					p.errorf(c, "digest %q is not an MD5 digest in hex", s)
				}
				u.Digest = strings.ToLower(s)
			}
		case "status_code":
			if !p.flat(c, 1, 64) {
				continue
			}
			for _, a := range c.Args {
				lo, hi, isRange := strings.Cut(a, "-")
				l, err1 := strconv.Atoi(lo)
				h, err2 := l, error(nil)
				if isRange {
					h, err2 = strconv.Atoi(hi)
				}
				if err1 != nil || err2 != nil || l < 100 || h > 999 || h < l {
					p.errorf(c, "status_code %q is not a status code or range", a)
					continue
				}
				u.StatusCodes = append(u.StatusCodes, [2]int{l, h})
			}
		case "virtualhost":
			u.VirtualHost, _ = p.str(c)
		default:
			p.unknown(c, "url")
		}
	}
	if u.Path == "" {
		p.errorf(n, "url without path")
		return u, false
	}
	if len(u.StatusCodes) == 0 && u.Digest == "" {
		u.StatusCodes = [][2]int{{200, 299}}
	}
	return u, true
}

// hexString decodes keepalived's free-form hex: groups of digits separated
// by spaces, an odd group's last digit standing alone. With wild, x and X
// are accepted as digits (a don't-care nibble).
func hexString(s string, wild bool) ([]byte, error) {
	var out []byte
	for _, g := range strings.Fields(s) {
		for len(g) > 0 {
			n := min(2, len(g))
			part := g[:n]
			g = g[n:]
			if wild {
				part = strings.NewReplacer("x", "0", "X", "0").Replace(part)
			}
			v, err := strconv.ParseUint(part, 16, 8)
			if err != nil {
				return nil, fmt.Errorf("%q is not hex", part)
			}
			out = append(out, byte(v))
		}
	}
	return out, nil
}

// resolve checks references between blocks and expands groups.
func (p *parser) resolve() {
	groups := map[string]*Group{}
	for _, g := range p.cfg.Groups {
		if groups[g.Name] != nil {
			p.problems = append(p.problems, Problem{Pos: g.Pos, Msg: fmt.Sprintf("virtual_server_group %s is defined twice", g.Name)})
		}
		groups[g.Name] = g
	}
	seen := map[ipvs.ServiceKey]Pos{}
	for _, vs := range p.cfg.VirtualServers {
		if vs.Group != "" {
			g := groups[vs.Group]
			if g == nil {
				p.problems = append(p.problems, Problem{Pos: vs.Pos, Msg: fmt.Sprintf("virtual_server group %s: no such virtual_server_group", vs.Group)})
				continue
			}
			for _, e := range g.Entries {
				if e.Fwmark != 0 {
					vs.Keys = append(vs.Keys, ipvs.ServiceKey{Family: e.Family, Fwmark: e.Fwmark})
				} else {
					vs.Keys = append(vs.Keys, ipvs.ServiceKey{Protocol: vs.Protocol, Address: e.Addr, Port: e.Port})
				}
			}
		}
		for _, k := range vs.Keys {
			c := k.Canonical()
			if at, dup := seen[c]; dup {
				p.problems = append(p.problems, Problem{Pos: vs.Pos, Msg: fmt.Sprintf("virtual server %s is already defined at %s", c, at)})
			}
			seen[c] = vs.Pos
		}
		dests := map[netip.AddrPort]bool{}
		for _, rs := range vs.Reals {
			a := netip.AddrPortFrom(rs.Dest.Address, rs.Dest.Port)
			if dests[a] {
				p.problems = append(p.problems, Problem{Pos: rs.Pos, Msg: fmt.Sprintf("real_server %s is defined twice in virtual_server %s", a, vs.Name)})
			}
			dests[a] = true
		}
		// One address key and one fwmark key stand for the rest: a group's
		// services differ only in their addresses.
		var sample []ipvs.ServiceKey
		for _, k := range vs.Keys {
			if len(sample) == 0 || (len(sample) == 1 && (sample[0].Fwmark == 0) != (k.Fwmark == 0)) {
				sample = append(sample, k)
			}
		}
		for _, k := range sample {
			svc := vs.Service
			svc.ServiceKey = k
			st := ipvs.ServiceState{Service: svc}
			for _, rs := range vs.Reals {
				d := rs.Dest
				switch {
				case k.Fwmark != 0:
					d.Port = 0 // keepalived ignores a port for fwmark services
				case d.Forward != ipvs.Masquerade:
					d.Port = k.Port
				}
				st.Destinations = append(st.Destinations, d)
			}
			if err := (ipvs.State{Services: []ipvs.ServiceState{st}}).Validate(); err != nil {
				p.problems = append(p.problems, Problem{Pos: vs.Pos, Msg: fmt.Sprintf("virtual_server %s: %v", vs.Name, err)})
			}
		}
	}
	names := map[string]*Instance{}
	for _, in := range p.cfg.Instances {
		if names[in.Name] != nil {
			p.problems = append(p.problems, Problem{Pos: in.Pos, Msg: fmt.Sprintf("vrrp_instance %s is defined twice", in.Name)})
		}
		names[in.Name] = in
	}
	scripts := map[string]bool{}
	for _, s := range p.cfg.Scripts {
		scripts[s.Name] = true
	}
	for _, in := range p.cfg.Instances {
		for _, s := range in.TrackScripts {
			if !scripts[s] {
				p.problems = append(p.problems, Problem{Pos: in.Pos, Msg: fmt.Sprintf("vrrp_instance %s tracks script %s, which no vrrp_script defines", in.Name, s)})
			}
		}
	}
	for _, g := range p.cfg.SyncGroups {
		for _, m := range g.Group {
			if names[m] == nil {
				p.problems = append(p.problems, Problem{Pos: g.Pos, Msg: fmt.Sprintf("vrrp_sync_group %s: no vrrp_instance %s", g.Name, m)})
			}
		}
	}
}
