package bgp

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config is a BGP speaker: its own AS and router ID, its peers and where
// its events go.
type Config struct {
	// ASN is the local autonomous system number (4-byte ASNs welcome).
	ASN uint32
	// RouterID is the speaker's BGP identifier, an IPv4 address (also for
	// IPv6-only speakers: BGP identifiers are 32 bits).
	RouterID netip.Addr
	// Peers are the routers the speaker connects to; at least one.
	Peers []Peer
	// OnEvent, if set, receives peer session changes and the routes
	// announced and withdrawn. It is called from the speaker's goroutines,
	// one event at a time, and must not block for long.
	OnEvent func(Event)
}

// Peer is one BGP neighbour. The speaker only connects out (it does not
// listen on port 179), so the router must accept the session.
type Peer struct {
	// Address is the peer's address; its family is the family of the
	// routes announced to it (an IPv4 session carries IPv4 VIPs, an IPv6
	// session IPv6 VIPs: next hop self needs a local address of the VIP's
	// family on the session).
	Address netip.Addr
	// ASN is the peer's AS; equal to Config.ASN makes an iBGP session.
	ASN uint32
	// Port is the peer's BGP port: 0 means 179.
	Port uint16
	// Password enables TCP MD5 signatures (RFC 2385); Linux only.
	Password string
	// Multihop is the TTL of an eBGP session to a peer that is not
	// directly connected; 0 means directly connected.
	Multihop uint8
	// HoldTime is the proposed hold time: 0 means 9 s (three missed
	// keepalives at 3 s), otherwise at least 3 s and at most 65535 s. The
	// session uses the smaller of both sides' values.
	HoldTime time.Duration
	// Keepalive is the keepalive interval: 0 means HoldTime/3; it must be
	// below HoldTime.
	Keepalive time.Duration
	// ConnectRetry is the wait between connection attempts: 0 means 3 s.
	ConnectRetry time.Duration
	// BFD, if set, runs single-hop BFD (RFC 5881) with the peer, which
	// takes the session down within Multiplier × MinRx of a silent peer.
	// The router must run BFD too.
	BFD *BFD
}

// BFD is a peer's Bidirectional Forwarding Detection session.
type BFD struct {
	// MinTx is the desired transmit interval: 0 means 300 ms.
	MinTx time.Duration
	// MinRx is the required receive interval: 0 means 300 ms.
	MinRx time.Duration
	// Multiplier is the detection multiplier: 0 means 3.
	Multiplier uint8
}

// Route is a VIP announcement.
type Route struct {
	// VIP is the announced prefix: a single address, /32 or /128.
	VIP netip.Prefix
	// NextHop is the next hop; the zero value means next hop self (the
	// speaker's address on each session).
	NextHop netip.Addr
	// Communities are standard communities, "ASN:VALUE" each 0–65535.
	Communities []string
	// LocalPref, if set, is sent to iBGP peers (ignored on eBGP sessions).
	LocalPref *uint32
	// MED, if set, is the multi-exit discriminator.
	MED *uint32
}

// reservedASN names why an ASN cannot be used, or is "".
func reservedASN(asn uint32) string {
	switch asn {
	case 0:
		return "0 is reserved (RFC 7607)"
	case 23456:
		return "23456 is AS_TRANS (RFC 6793)"
	case 65535, 4294967295:
		return fmt.Sprintf("%d is reserved (RFC 7300)", asn)
	}
	return ""
}

// Validate checks the configuration, naming the offending field.
func (c *Config) Validate() error {
	if c == nil {
		return pkg.Invalid("configure", "", "Config", "nil configuration")
	}
	if why := reservedASN(c.ASN); why != "" {
		return pkg.Invalid("configure", "", "Config.ASN", why)
	}
	switch {
	case !c.RouterID.IsValid():
		return pkg.Invalid("configure", "", "Config.RouterID", "missing")
	case !c.RouterID.Is4():
		return pkg.Invalid("configure", "", "Config.RouterID", fmt.Sprintf("%v: a BGP identifier is an IPv4 address", c.RouterID))
	case c.RouterID.IsUnspecified() || c.RouterID.IsMulticast() || c.RouterID == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return pkg.Invalid("configure", "", "Config.RouterID", fmt.Sprintf("%v is not a usable identifier", c.RouterID))
	}
	if len(c.Peers) == 0 {
		return pkg.Invalid("configure", "", "Config.Peers", "no peer")
	}
	seen := map[netip.Addr]bool{}
	for i, p := range c.Peers {
		if err := p.validate(fmt.Sprintf("Config.Peers[%d]", i)); err != nil {
			return err
		}
		if seen[p.Address] {
			return pkg.Invalid("configure", p.Address.String(), fmt.Sprintf("Config.Peers[%d].Address", i), "duplicate peer")
		}
		seen[p.Address] = true
	}
	return nil
}

func (p Peer) validate(field string) error {
	obj := p.Address.String()
	a := p.Address
	switch {
	case !a.IsValid():
		return pkg.Invalid("configure", "", field+".Address", "missing")
	case a.Is4In6():
		return pkg.Invalid("configure", obj, field+".Address", "an IPv4-mapped address; write the IPv4 address")
	case a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return pkg.Invalid("configure", obj, field+".Address", "not a unicast address")
	case a.Zone() != "":
		return pkg.Invalid("configure", obj, field+".Address", "zoned (link-local) peers are not supported")
	}
	if why := reservedASN(p.ASN); why != "" {
		return pkg.Invalid("configure", obj, field+".ASN", why)
	}
	hold := p.HoldTime
	if hold != 0 && (hold < 3*time.Second || hold > 65535*time.Second || hold%time.Second != 0) {
		return pkg.Invalid("configure", obj, field+".HoldTime", fmt.Sprintf("%v: want whole seconds from 3s to 65535s (RFC 4271), or 0 for 9s", hold))
	}
	if hold == 0 {
		hold = 9 * time.Second
	}
	if k := p.Keepalive; k < 0 || k%time.Second != 0 || (k != 0 && k >= hold) {
		return pkg.Invalid("configure", obj, field+".Keepalive", fmt.Sprintf("%v: want whole seconds below the hold time %v, or 0 for a third of it", k, hold))
	}
	if r := p.ConnectRetry; r < 0 || r%time.Second != 0 {
		return pkg.Invalid("configure", obj, field+".ConnectRetry", fmt.Sprintf("%v: want whole seconds, or 0 for 3s", r))
	}
	if len(p.Password) > 80 {
		return pkg.Invalid("configure", obj, field+".Password", "longer than the 80 bytes of a TCP MD5 key")
	}
	if b := p.BFD; b != nil {
		if p.Multihop > 1 {
			return pkg.Invalid("configure", obj, field+".BFD", "BFD here is single-hop (RFC 5881); the peer is multihop")
		}
		for _, d := range []struct {
			name string
			v    time.Duration
		}{{".BFD.MinTx", b.MinTx}, {".BFD.MinRx", b.MinRx}} {
			if d.v < 0 || d.v%time.Microsecond != 0 || (d.v != 0 && d.v < 10*time.Millisecond) || d.v > time.Minute {
				return pkg.Invalid("configure", obj, field+d.name, fmt.Sprintf("%v: want 10ms to 1m in whole microseconds, or 0 for 300ms", d.v))
			}
		}
	}
	return nil
}

// Validate checks the route, naming the offending field.
func (r Route) Validate() error {
	obj := r.VIP.String()
	v := r.VIP
	switch {
	case !v.IsValid():
		return pkg.Invalid("configure", "", "Route.VIP", "missing or not a prefix")
	case v.Addr().Is4In6():
		return pkg.Invalid("configure", obj, "Route.VIP", "an IPv4-mapped address; write the IPv4 address")
	case v.Bits() != v.Addr().BitLen():
		return pkg.Invalid("configure", obj, "Route.VIP", fmt.Sprintf("a VIP is one address: want /%d", v.Addr().BitLen()))
	case v.Addr().IsUnspecified() || v.Addr().IsMulticast() || v.Addr().IsLoopback() || v.Addr().IsLinkLocalUnicast():
		return pkg.Invalid("configure", obj, "Route.VIP", "not a routable unicast address")
	case v.Addr().Zone() != "":
		return pkg.Invalid("configure", obj, "Route.VIP", "zoned address")
	}
	if nh := r.NextHop; nh.IsValid() {
		switch {
		case nh.Is4() != v.Addr().Is4() || nh.Is4In6():
			return pkg.Invalid("configure", obj, "Route.NextHop", fmt.Sprintf("%v is not of the VIP's family", nh))
		case nh.IsUnspecified() || nh.IsMulticast():
			return pkg.Invalid("configure", obj, "Route.NextHop", fmt.Sprintf("%v: want a unicast address, or none for next hop self", nh))
		}
	}
	for i, c := range r.Communities {
		if _, err := parseCommunity(c); err != nil {
			return pkg.Invalid("configure", obj, fmt.Sprintf("Route.Communities[%d]", i), err.Error())
		}
	}
	return nil
}

// parseCommunity parses "ASN:VALUE".
func parseCommunity(s string) (uint32, error) {
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("%q: want ASN:VALUE", s)
	}
	a, err1 := strconv.ParseUint(hi, 10, 16)
	b, err2 := strconv.ParseUint(lo, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q: want ASN:VALUE, each 0-65535", s)
	}
	return uint32(a)<<16 | uint32(b), nil
}

// checkFamily refuses a route no peer can carry.
func (c *Config) checkFamily(r Route) error {
	for _, p := range c.Peers {
		if p.Address.Is4() == r.VIP.Addr().Is4() {
			return nil
		}
	}
	fam := "IPv6"
	if r.VIP.Addr().Is4() {
		fam = "IPv4"
	}
	return pkg.Invalid("configure", r.VIP.String(), "Route.VIP", "no "+fam+" peer to announce it to (a session carries routes of its own address family)")
}
