package director

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// EtherTypes of the frames the director sends.
const (
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
)

var (
	broadcastMAC    = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	allNodesMAC     = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}
	allNodesAddress = netip.MustParseAddr("ff02::1")
)

// gratuitousARP builds the Ethernet frame keepalived and arping -U send: an
// ARP request to broadcast whose sender and target protocol addresses are
// both vip. Linux neighbours update an existing entry for vip from it even
// within locktime (arp_is_garp), and create one only with arp_accept=1. A
// request rather than a reply, because some hosts ignore unsolicited
// replies.
func gratuitousARP(mac net.HardwareAddr, vip netip.Addr) []byte {
	b := make([]byte, 42)
	copy(b[0:6], broadcastMAC)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:2], 1)      // hardware type Ethernet
	binary.BigEndian.PutUint16(a[2:4], 0x0800) // protocol IPv4
	a[4], a[5] = 6, 4                          // address lengths
	binary.BigEndian.PutUint16(a[6:8], 1)      // request
	copy(a[8:14], mac)                         // sender hardware address
	ip := vip.As4()
	copy(a[14:18], ip[:]) // sender protocol address
	// a[18:24], the target hardware address, stays zero.
	copy(a[24:28], ip[:]) // target protocol address
	return b
}

// unsolicitedNA builds an unsolicited neighbour advertisement for vip to
// all nodes (RFC 4861 7.2.6): Override set so that neighbours replace the
// link-layer address they have, Solicited clear (required for a multicast
// destination), a target link-layer address option, hop limit 255 (else
// receivers drop it), from vip itself, which is assigned to the interface.
// Linux updates an existing entry to STALE with the new address; it creates
// none (unless accept_untracked_na).
func unsolicitedNA(mac net.HardwareAddr, vip netip.Addr, router bool) []byte {
	const icmpLen = 24 + 8
	b := make([]byte, 14+40+icmpLen)
	copy(b[0:6], allNodesMAC)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:14], etherTypeIPv6)
	ip := b[14:54]
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:6], icmpLen)
	ip[6] = 58  // ICMPv6
	ip[7] = 255 // hop limit
	src, dst := vip.As16(), allNodesAddress.As16()
	copy(ip[8:24], src[:])
	copy(ip[24:40], dst[:])
	m := b[54:]
	m[0] = 136 // neighbour advertisement
	m[4] = 0x20
	if router {
		m[4] |= 0x80
	}
	copy(m[8:24], src[:]) // target address
	m[24], m[25] = 2, 1   // target link-layer address option, 8 bytes
	copy(m[26:32], mac)
	binary.BigEndian.PutUint16(m[2:4], icmpv6Checksum(src, dst, m))
	return b
}

// icmpv6Checksum is the Internet checksum over the IPv6 pseudo-header and
// msg (whose checksum field must be zero).
func icmpv6Checksum(src, dst [16]byte, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:4], uint32(len(msg)))
	l[7] = 58
	add(l[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
