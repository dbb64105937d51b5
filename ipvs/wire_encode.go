package ipvs

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"
)

// attrWriter appends netlink attributes to a buffer. Nests are patched in
// place, so a whole request costs one allocation.
type attrWriter struct{ b []byte }

func (w *attrWriter) header(typ uint16, n int) {
	w.b = native.AppendUint16(w.b, uint16(4+n))
	w.b = native.AppendUint16(w.b, typ)
}

func (w *attrWriter) pad() {
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
}

func (w *attrWriter) bytes(typ uint16, v []byte) {
	w.header(typ, len(v))
	w.b = append(w.b, v...)
	w.pad()
}

func (w *attrWriter) u8(typ uint16, v uint8) { w.bytes(typ, []byte{v}) }

func (w *attrWriter) u16(typ uint16, v uint16) {
	w.header(typ, 2)
	w.b = native.AppendUint16(w.b, v)
	w.pad()
}

func (w *attrWriter) u32(typ uint16, v uint32) {
	w.header(typ, 4)
	w.b = native.AppendUint32(w.b, v)
}

// str writes a NUL-terminated string (NLA_NUL_STRING).
func (w *attrWriter) str(typ uint16, s string) {
	w.header(typ, len(s)+1)
	w.b = append(w.b, s...)
	w.b = append(w.b, 0)
	w.pad()
}

func (w *attrWriter) nest(typ uint16, fill func()) {
	start := len(w.b)
	w.header(typ|nlaFNested, 0)
	fill()
	native.PutUint16(w.b[start:], uint16(len(w.b)-start))
}

// The writes Apply and Batch send by the thousand are encoded in place:
// one grow of the buffer per nest, every byte (padding too) written, as
// the buffer is reused from request to request.

// grow extends w.b by n bytes and returns them, unwritten.
func (w *attrWriter) grow(n int) []byte {
	l := len(w.b)
	if cap(w.b)-l < n {
		w.b = slices.Grow(w.b, n)
	}
	w.b = w.b[:l+n]
	return w.b[l : l+n : l+n]
}

func putHdr(p []byte, n int, typ uint16) {
	native.PutUint16(p, uint16(n))
	native.PutUint16(p[2:], typ)
}

// putU8, putU16, putBE16 and putU32 write an 8-byte attribute.
func putU8(p []byte, typ uint16, v uint8) {
	putHdr(p, 5, typ)
	native.PutUint32(p[4:], 0)
	p[4] = v
}

func putU16(p []byte, typ uint16, v uint16) {
	putHdr(p, 6, typ)
	native.PutUint32(p[4:], 0)
	native.PutUint16(p[4:], v)
}

func putBE16(p []byte, typ uint16, v uint16) {
	putHdr(p, 6, typ)
	native.PutUint32(p[4:], 0)
	binary.BigEndian.PutUint16(p[4:], v)
}

func putU32(p []byte, typ uint16, v uint32) {
	putHdr(p, 8, typ)
	native.PutUint32(p[4:], v)
}

// addrAttrLen is a union nf_inet_addr attribute: always 16 bytes, as
// libipvs sends.
const addrAttrLen = 20

func putAddr(p []byte, typ uint16, a netip.Addr) {
	putHdr(p, addrAttrLen, typ)
	v := p[4:addrAttrLen]
	switch {
	case a.Is4() || a.Is4In6():
		v4 := a.Unmap().As4()
		copy(v, v4[:])
		clear(v[4:])
	case a.IsValid():
		v16 := a.As16()
		copy(v, v16[:])
	default:
		clear(v)
	}
}

// strAttrLen is the padded size of a NUL-terminated string attribute.
func strAttrLen(s string) int { return (4 + len(s) + 1 + 3) &^ 3 }

func putStr(p []byte, typ uint16, s string) {
	putHdr(p, 4+len(s)+1, typ)
	n := copy(p[4:], s)
	clear(p[4+n : strAttrLen(s)])
}

// serviceKeyLen is the size of a service's identifying attributes.
func serviceKeyLen(k ServiceKey) int {
	if k.Fwmark != 0 {
		return 16
	}
	return 24 + addrAttrLen
}

// putServiceKey writes the identifying attributes of k.
func putServiceKey(p []byte, k ServiceKey) {
	putU16(p, svcAF, uint16(k.family()))
	if k.Fwmark != 0 {
		putU32(p[8:], svcFwmark, k.Fwmark)
		return
	}
	putU16(p[8:], svcProtocol, uint16(k.Protocol))
	putAddr(p[16:], svcAddr, k.Address)
	putBE16(p[16+addrAttrLen:], svcPort, k.Port)
}

// serviceKeyAttr is the CMD_ATTR_SERVICE nest with only the key.
func serviceKeyAttr(w *attrWriter, k ServiceKey) {
	n := 4 + serviceKeyLen(k)
	p := w.grow(n)
	putHdr(p, n, attrService|nlaFNested)
	putServiceKey(p[4:], k)
}

// serviceAttr is the CMD_ATTR_SERVICE nest with the full entry, as
// NEW_SERVICE and SET_SERVICE need. s must be validated.
func serviceAttr(w *attrWriter, s *Service) {
	sched := string(s.Scheduler)
	if sched == "" {
		sched = string(defaultScheduler)
	}
	kn := serviceKeyLen(s.ServiceKey)
	n := 4 + kn + strAttrLen(sched) + 12 + 8 + 8
	if s.PersistenceEngine != "" {
		n += strAttrLen(s.PersistenceEngine)
	}
	p := w.grow(n)
	putHdr(p, n, attrService|nlaFNested)
	putServiceKey(p[4:], s.ServiceKey)
	o := 4 + kn
	putStr(p[o:], svcSched, sched)
	o += strAttrLen(sched)
	if s.PersistenceEngine != "" {
		putStr(p[o:], svcPE, s.PersistenceEngine)
		o += strAttrLen(s.PersistenceEngine)
	}
	// struct ip_vs_flags: the flags, and the mask of those to set.
	putHdr(p[o:], 12, svcFlags)
	native.PutUint32(p[o+4:], uint32(s.Flags&^flagHashed))
	native.PutUint32(p[o+8:], 0xffffffff)
	putU32(p[o+12:], svcTimeout, uint32(s.Timeout/time.Second))
	putHdr(p[o+20:], 8, svcNetmask)
	putNetmask(p[o+24:], s.family(), s.Netmask)
}

// putNetmask encodes the granularity: the kernel reads the attribute as a
// be32, which for IPv4 is the mask and for IPv6 must be the prefix length
// in host order.
func putNetmask(b []byte, f Family, m Netmask) {
	switch {
	case f == IPv6 && m.IsZero():
		native.PutUint32(b, 128)
	case f == IPv6:
		native.PutUint32(b, m.raw)
	case m.IsZero():
		binary.BigEndian.PutUint32(b, 0xffffffff)
	default:
		binary.BigEndian.PutUint32(b, m.raw)
	}
}

// destAttrLen is the CMD_ATTR_DEST nest of a full entry: the address and
// nine 8-byte attributes.
const destAttrLen = 4 + addrAttrLen + 9*8

// destAttr is the CMD_ATTR_DEST nest with the full entry. The
// destination's own family is sent explicitly, as libipvs does, so
// mixed-family tunnels work.
func destAttr(w *attrWriter, d Destination) {
	p := w.grow(destAttrLen)
	putHdr(p, destAttrLen, attrDest|nlaFNested)
	putAddr(p[4:], dstAddr, d.Address)
	q := p[4+addrAttrLen:]
	putBE16(q, dstPort, d.Port)
	putU32(q[8:], dstFwd, uint32(d.Forward))
	putU32(q[16:], dstWeight, d.Weight)
	putU32(q[24:], dstUThresh, d.UpperThreshold)
	putU32(q[32:], dstLThresh, d.LowerThreshold)
	putU16(q[40:], dstAF, uint16(FamilyOf(d.Address)))
	putU8(q[48:], dstTunType, uint8(d.TunnelType))
	putBE16(q[56:], dstTunPort, d.TunnelPort)
	putU16(q[64:], dstTunFlags, uint16(d.TunnelFlags))
}

// destKeyAttrLen is the CMD_ATTR_DEST nest DEL_DEST needs.
const destKeyAttrLen = 4 + addrAttrLen + 2*8

// destKeyAttr is the CMD_ATTR_DEST nest DEL_DEST needs.
func destKeyAttr(w *attrWriter, addr netip.Addr, port uint16) {
	p := w.grow(destKeyAttrLen)
	putHdr(p, destKeyAttrLen, attrDest|nlaFNested)
	putAddr(p[4:], dstAddr, addr)
	putBE16(p[4+addrAttrLen:], dstPort, port)
	putU16(p[12+addrAttrLen:], dstAF, uint16(FamilyOf(addr)))
}

func daemonAttr(w *attrWriter, d Daemon) {
	w.nest(attrDaemon, func() {
		w.u32(dmnState, uint32(d.State))
		w.str(dmnIfname, d.Interface)
		w.u32(dmnSyncID, uint32(d.SyncID))
		if d.MaxLen != 0 {
			w.u16(dmnMaxLen, d.MaxLen)
		}
		if d.Group.IsValid() {
			if g := d.Group.Unmap(); g.Is4() {
				a := g.As4()
				w.bytes(dmnGroup, a[:])
			} else {
				a := g.As16()
				w.bytes(dmnGroup6, a[:])
			}
		}
		if d.Port != 0 {
			w.u16(dmnPort, d.Port)
		}
		if d.TTL != 0 {
			w.u8(dmnTTL, d.TTL)
		}
	})
}

func daemonStateAttr(w *attrWriter, s DaemonState) {
	w.nest(attrDaemon, func() { w.u32(dmnState, uint32(s)) })
}

func timeoutsAttrs(w *attrWriter, t Timeouts) {
	w.u32(attrTimeoutTCP, uint32(t.TCP/time.Second))
	w.u32(attrTimeoutFin, uint32(t.TCPFin/time.Second))
	w.u32(attrTimeoutUDP, uint32(t.UDP/time.Second))
}
