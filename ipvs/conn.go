package ipvs

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Connection is one entry of the kernel's connection table, as
// /proc/net/ip_vs_conn shows it (there is no netlink equivalent).
// Persistence templates appear too: their client port is 0 for
// port-independent persistence and their Protocol is 0 (shown "IP") for
// firewall-mark services.
type Connection struct {
	// Protocol is the IP protocol number: TCP, UDP, SCTP, 1 (ICMP), 58
	// (ICMPv6) or 0 for fwmark persistence templates.
	Protocol Protocol
	Client   netip.AddrPort
	Virtual  netip.AddrPort
	// Destination may be of the other family than Client and Virtual for
	// tunnel destinations of mixed-family services.
	Destination netip.AddrPort
	// State is the kernel's state name: ESTABLISHED, SYN_RECV, TIME_WAIT,
	// ... for TCP, "UDP" for UDP, NONE or ASSURED for templates.
	State string
	// Expires is the time left before the entry expires, whole seconds.
	Expires time.Duration
	// PersistenceEngine and PEData are set for connections handled by a
	// persistence engine, e.g. "sip" and the Call-ID.
	PersistenceEngine string
	PEData            string
}

// ProtocolName returns the name the kernel uses for p in
// /proc/net/ip_vs_conn: TCP, UDP, SCTP, ICMP, ICMPv6, IP (0) or IP_<n>.
func ProtocolName(p Protocol) string {
	switch p {
	case 0:
		return "IP"
	case TCP, UDP, SCTP:
		return p.String()
	case 1:
		return "ICMP"
	case 58:
		return "ICMPv6"
	}
	return "IP_" + strconv.Itoa(int(p))
}

func parseProtocolName(s string) (Protocol, bool) {
	switch s {
	case "IP":
		return 0, true
	case "TCP":
		return TCP, true
	case "UDP":
		return UDP, true
	case "SCTP":
		return SCTP, true
	case "ICMP":
		return 1, true
	case "ICMPv6":
		return 58, true
	}
	if n, ok := strings.CutPrefix(s, "IP_"); ok {
		v, err := strconv.ParseUint(n, 10, 8)
		return Protocol(v), err == nil
	}
	return 0, false
}

// ParseConnections parses the text of /proc/net/ip_vs_conn. It is a pure
// function, exported so that tools can parse a copy of the file taken
// elsewhere. An unparsable line is an error naming the line.
func ParseConnections(r io.Reader) ([]Connection, error) {
	conns, err := parseConnections(r)
	if err != nil {
		return nil, newError("parse connections", "", ErrInvalid, err)
	}
	return conns, nil
}

// parseConnections is ParseConnections with plain errors.
func parseConnections(r io.Reader) ([]Connection, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var out []Connection
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 && strings.HasPrefix(text, "Pro ") {
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		c, err := parseConnLine(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	return out, nil
}

// parseConnLine parses one entry. The kernel writes
// "%-3s %08X %04X %08X %04X %s %04X %-11s %7u%s" for IPv4 and the full
// IPv6 form (%pI6) for IPv6 addresses; the destination follows its own
// family. The optional suffix is " <pe name> <pe data>".
func parseConnLine(s string) (Connection, error) {
	f := strings.Fields(s)
	if len(f) != 9 && len(f) != 11 {
		return Connection{}, fmt.Errorf("want 9 or 11 fields, have %d", len(f))
	}
	var c Connection
	var ok bool
	if c.Protocol, ok = parseProtocolName(f[0]); !ok {
		return Connection{}, fmt.Errorf("unknown protocol %q", f[0])
	}
	var err error
	if c.Client, err = parseConnAddrPort(f[1], f[2]); err != nil {
		return Connection{}, fmt.Errorf("client: %w", err)
	}
	if c.Virtual, err = parseConnAddrPort(f[3], f[4]); err != nil {
		return Connection{}, fmt.Errorf("virtual: %w", err)
	}
	if c.Destination, err = parseConnAddrPort(f[5], f[6]); err != nil {
		return Connection{}, fmt.Errorf("destination: %w", err)
	}
	if c.Client.Addr().Is4() != c.Virtual.Addr().Is4() {
		return Connection{}, fmt.Errorf("client and virtual addresses of different families")
	}
	c.State = f[7]
	exp, err := strconv.ParseUint(f[8], 10, 32)
	if err != nil {
		return Connection{}, fmt.Errorf("expires %q: not a number", f[8])
	}
	c.Expires = time.Duration(exp) * time.Second
	if len(f) == 11 {
		c.PersistenceEngine, c.PEData = f[9], f[10]
	}
	return c, nil
}

// parseConnAddrPort parses "0A000001" or
// "2001:0db8:0000:0000:0000:0000:0000:0001" and a 4-digit hex port.
func parseConnAddrPort(a, p string) (netip.AddrPort, error) {
	var addr netip.Addr
	switch {
	case len(a) == 8:
		var b [4]byte
		if _, err := hex.Decode(b[:], []byte(a)); err != nil {
			return netip.AddrPort{}, fmt.Errorf("address %q: %v", a, err)
		}
		addr = netip.AddrFrom4(b)
	case len(a) == 39 && strings.Count(a, ":") == 7:
		var b [16]byte
		if _, err := hex.Decode(b[:], bytes.ReplaceAll([]byte(a), []byte(":"), nil)); err != nil {
			return netip.AddrPort{}, fmt.Errorf("address %q: %v", a, err)
		}
		addr = netip.AddrFrom16(b)
	default:
		return netip.AddrPort{}, fmt.Errorf("address %q: neither 8 hex digits nor a full IPv6 address", a)
	}
	if len(p) != 4 {
		return netip.AddrPort{}, fmt.Errorf("port %q: want 4 hex digits", p)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q: %v", p, err)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}
