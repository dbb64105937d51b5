package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/golvs/lvs/internal/errs"
)

// IPProto is VRRP's IP protocol number.
const IPProto = 112

// The multicast groups adverts go to (RFC 5798 §5.1.1.2, §5.1.2.2).
var (
	GroupIPv4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

// AuthType is the authentication type of a VRRPv2 advert (RFC 2338 §5.3.6;
// RFC 3768 left only "none" in use). VRRPv3 has no authentication.
type AuthType uint8

const (
	// AuthNone: no authentication, the RFC 3768 default.
	AuthNone AuthType = 0
	// AuthPass: a clear-text password of up to 8 bytes (keepalived's
	// `auth_type PASS`). It protects against misconfiguration, not
	// attackers; it exists here only to interoperate with peers that use it.
	AuthPass AuthType = 1
	// AuthAH: IPsec AH (RFC 2338); recognised in received adverts, never
	// sent.
	AuthAH AuthType = 2
)

func (a AuthType) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	}
	return fmt.Sprintf("auth type %d", uint8(a))
}

// Advert is one VRRP advertisement: the VRRP packet, without its IP header.
type Advert struct {
	// Version is 2 (RFC 3768, IPv4 only) or 3 (RFC 5798).
	Version int
	// VRID is the virtual router's identifier.
	VRID uint8
	// Priority: 0 means the sender is stopping, 255 that it owns the
	// addresses.
	Priority uint8
	// Interval is the advertisement interval: whole seconds, 1 to 255, in
	// VRRPv2; whole centiseconds, 10 ms to 40.95 s, in VRRPv3.
	Interval time.Duration
	// AuthType and AuthData are VRRPv2's authentication fields (zero in
	// VRRPv3). For AuthPass, AuthData holds the password, padded with zeros.
	AuthType AuthType
	AuthData [8]byte
	// Addrs are the virtual addresses, all of the IP family the advert is
	// carried in.
	Addrs []netip.Addr
}

const (
	headerLen = 8
	authLen   = 8 // VRRPv2's authentication data
	typeAdv   = 1
	// maxAdvertLen bounds the largest advert: 255 IPv6 addresses (v3).
	maxAdvertLen = headerLen + 255*16
)

// A drop is why a received packet was not an acceptable advert; the node
// counts each in Stats.
type drop uint8

const (
	dropNone     drop = iota
	dropShort         // shorter than the header, or than its count of addresses says
	dropLong          // longer than its count of addresses says
	dropVersion       // version other than 2 or 3, or 2 over IPv6
	dropType          // type other than 1 (advertisement)
	dropCount         // no addresses
	dropInterval      // advertisement interval 0
	dropChecksum      // bad checksum
	dropFamily        // source and destination of different families
	dropTTL           // TTL or hop limit other than 255
	numDrops
)

var dropText = [numDrops]string{
	dropNone:     "ok",
	dropShort:    "truncated",
	dropLong:     "longer than its address count says",
	dropVersion:  "unknown version (or VRRPv2 over IPv6)",
	dropType:     "not an advertisement (type 1)",
	dropCount:    "no addresses",
	dropInterval: "advertisement interval 0",
	dropChecksum: "bad checksum",
	dropFamily:   "source and destination of different families",
	dropTTL:      "TTL or hop limit not 255",
}

// DecodeAdvert parses b, a VRRP packet received from src for dst (its IP
// header's addresses, which VRRPv3's checksum covers), into a. It reuses
// a.Addrs's storage, so decoding into the same Advert does not allocate. A
// malformed packet is an *Error of Kind ErrInvalid, and a is then
// unspecified.
func DecodeAdvert(a *Advert, b []byte, src, dst netip.Addr) error {
	if d := decode(a, b, src, dst, false); d != dropNone {
		return errs.New(pkg, "decode advert", ErrInvalid, errors.New(dropText[d]))
	}
	return nil
}

// decode is DecodeAdvert returning the reason, without allocating. With
// oldSum, a VRRPv3 checksum is checked against the multicast group as the
// destination, as keepalived before 1.3.6 computed it for unicast.
func decode(a *Advert, b []byte, src, dst netip.Addr, oldSum bool) drop {
	if len(b) < headerLen {
		return dropShort
	}
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return dropFamily
	}
	v4 := src.Is4()
	alen := 16
	if v4 {
		alen = 4
	}
	a.Version = int(b[0] >> 4)
	switch {
	case a.Version == 2 && v4, a.Version == 3:
	default:
		return dropVersion
	}
	if b[0]&0x0f != typeAdv {
		return dropType
	}
	a.VRID, a.Priority = b[1], b[2]
	count := int(b[3])
	if count == 0 {
		return dropCount
	}
	want := headerLen + count*alen
	if a.Version == 2 {
		want += authLen
	}
	if len(b) < want {
		return dropShort
	}
	if len(b) > want {
		return dropLong
	}
	var sum uint32
	if a.Version == 2 {
		a.AuthType = AuthType(b[4])
		a.Interval = time.Duration(b[5]) * time.Second
		copy(a.AuthData[:], b[want-authLen:want])
		sum = checksum(0, b)
	} else {
		a.AuthType, a.AuthData = AuthNone, [8]byte{}
		a.Interval = time.Duration(binary.BigEndian.Uint16(b[4:6])&0x0fff) * 10 * time.Millisecond
		if oldSum {
			dst = GroupIPv4
			if !v4 {
				dst = GroupIPv6
			}
		}
		sum = checksum(pseudo(src, dst, len(b)), b)
	}
	if fold(sum) != 0xffff {
		return dropChecksum
	}
	if a.Interval == 0 {
		return dropInterval
	}
	a.Addrs = a.Addrs[:0]
	for i := headerLen; i < headerLen+count*alen; i += alen {
		if v4 {
			a.Addrs = append(a.Addrs, netip.AddrFrom4([4]byte(b[i:i+4])))
		} else {
			a.Addrs = append(a.Addrs, netip.AddrFrom16([16]byte(b[i:i+16])))
		}
	}
	return dropNone
}

// AppendAdvert appends a, encoded for sending from src to dst (VRRPv3's
// checksum covers them), to b. It checks a's fields first: the version
// against the family, the interval's range and unit, the number and family
// of the addresses.
func AppendAdvert(b []byte, a *Advert, src, dst netip.Addr) ([]byte, error) {
	if err := a.check(src, dst); err != nil {
		return b, err
	}
	return a.append(b, src, dst, dst), nil
}

func (a *Advert) check(src, dst netip.Addr) error {
	bad := func(field, msg string) error {
		return errs.Invalid(pkg, "encode advert", "", field, msg)
	}
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return bad("src/dst", "source and destination must be addresses of one family")
	}
	switch {
	case a.Version == 3, a.Version == 2 && src.Is4():
	default:
		return bad("Version", "must be 2 (IPv4 only) or 3")
	}
	if err := checkInterval(a.Version, a.Interval); err != "" {
		return bad("Interval", err)
	}
	if len(a.Addrs) == 0 || len(a.Addrs) > 255 {
		return bad("Addrs", "must hold 1 to 255 addresses")
	}
	for _, ip := range a.Addrs {
		if ip.Is4() != src.Is4() || ip.Zone() != "" {
			return bad("Addrs", fmt.Sprintf("%v is not an address of the advert's family", ip))
		}
	}
	if a.Version == 3 && (a.AuthType != AuthNone || a.AuthData != [8]byte{}) {
		return bad("AuthType", "VRRPv3 has no authentication")
	}
	return nil
}

// checkInterval says what is wrong with an advertisement interval for a
// version, or "".
func checkInterval(version int, d time.Duration) string {
	if version == 2 {
		if d < time.Second || d > 255*time.Second || d%time.Second != 0 {
			return "VRRPv2 carries whole seconds, 1s to 255s"
		}
		return ""
	}
	if d < 10*time.Millisecond || d > 4095*10*time.Millisecond || d%(10*time.Millisecond) != 0 {
		return "VRRPv3 carries whole centiseconds, 10ms to 40.95s"
	}
	return ""
}

// append encodes a checked advert; sumDst is the destination the VRRPv3
// checksum is computed with (dst, or the group for keepalived's old
// unicast checksum).
func (a *Advert) append(b []byte, src, dst, sumDst netip.Addr) []byte {
	start := len(b)
	var ints [2]byte
	if a.Version == 2 {
		ints = [2]byte{byte(a.AuthType), byte(a.Interval / time.Second)}
	} else {
		binary.BigEndian.PutUint16(ints[:], uint16(a.Interval/(10*time.Millisecond)))
	}
	b = append(b, byte(a.Version)<<4|typeAdv, a.VRID, a.Priority, byte(len(a.Addrs)), ints[0], ints[1], 0, 0)
	for _, ip := range a.Addrs {
		b = append(b, ip.AsSlice()...)
	}
	if a.Version == 2 {
		b = append(b, a.AuthData[:]...)
	}
	pkt := b[start:]
	var sum uint32
	if a.Version == 3 {
		sum = pseudo(src, sumDst, len(pkt))
	}
	binary.BigEndian.PutUint16(pkt[6:8], ^fold(checksum(sum, pkt)))
	return b
}

// checksum adds b to the one's complement sum s, 16 bits at a time.
func checksum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// fold folds the carries of a one's complement sum into 16 bits.
func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// pseudo is the sum of VRRPv3's pseudo-header (RFC 5798 §5.2.8): RFC 768's
// for IPv4, RFC 8200 §8.1's for IPv6.
func pseudo(src, dst netip.Addr, n int) uint32 {
	var s uint32
	if src.Is4() {
		s4, d4 := src.As4(), dst.As4()
		s = checksum(checksum(0, s4[:]), d4[:])
	} else {
		s16, d16 := src.As16(), dst.As16()
		s = checksum(checksum(0, s16[:]), d16[:])
	}
	return s + IPProto + uint32(n)
}
