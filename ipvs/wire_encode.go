package ipvs

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"
)

// attrWriter is the package's one netlink encoder: it appends attributes
// to a buffer, each primitive growing the buffer by exactly what it
// writes, so that no size is ever computed apart from the code that
// writes it. A nest is opened with begin and closed with end, which
// patches its length in place: a whole request costs at most one
// allocation, none when the buffer is reused. Every byte is written,
// padding too, as the buffer is reused from request to request.
type attrWriter struct{ b []byte }

// grow extends w.b by n bytes and returns them, unwritten.
func (w *attrWriter) grow(n int) []byte {
	l := len(w.b)
	if cap(w.b)-l < n {
		w.b = slices.Grow(w.b, n)
	}
	w.b = w.b[:l+n]
	return w.b[l : l+n : l+n]
}

// attr appends the header of an attribute with an n-byte value and
// returns the value's bytes, padding included and zeroed.
func (w *attrWriter) attr(typ uint16, n int) []byte {
	p := w.grow((4 + n + 3) &^ 3)
	native.PutUint16(p, uint16(4+n))
	native.PutUint16(p[2:], typ)
	v := p[4:]
	clear(v[n:])
	return v
}

// begin opens a nest of type typ; end(begin(...)) closes it.
func (w *attrWriter) begin(typ uint16) int {
	start := len(w.b)
	native.PutUint16(w.grow(4)[2:], typ|nlaFNested)
	return start
}

// end sets the length of the nest begun at start.
func (w *attrWriter) end(start int) {
	native.PutUint16(w.b[start:], uint16(len(w.b)-start))
}

func (w *attrWriter) bytes(typ uint16, v []byte) { copy(w.attr(typ, len(v)), v) }

func (w *attrWriter) u8(typ uint16, v uint8) { w.attr(typ, 1)[0] = v }

func (w *attrWriter) u16(typ uint16, v uint16) { native.PutUint16(w.attr(typ, 2), v) }

// be16 writes a u16 in network byte order (ports).
func (w *attrWriter) be16(typ uint16, v uint16) { binary.BigEndian.PutUint16(w.attr(typ, 2), v) }

func (w *attrWriter) u32(typ uint16, v uint32) { native.PutUint32(w.attr(typ, 4), v) }

// str writes a NUL-terminated string (NLA_NUL_STRING).
func (w *attrWriter) str(typ uint16, s string) {
	v := w.attr(typ, len(s)+1)
	v[copy(v, s)] = 0
}

// addr writes a union nf_inet_addr: always 16 bytes, as libipvs sends; a
// mapped address as IPv4 unless its family f is IPv6.
func (w *attrWriter) addr(typ uint16, a netip.Addr, f Family) {
	v := w.attr(typ, 16)
	switch {
	case a.Is4() || (a.Is4In6() && f != IPv6):
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

// addrAttrLen is what addr writes, for sizing buffers.
const addrAttrLen = 20

// serviceKey writes the identifying attributes of k.
func (w *attrWriter) serviceKey(k ServiceKey) {
	w.u16(svcAF, uint16(k.family()))
	if k.Fwmark != 0 {
		w.u32(svcFwmark, k.Fwmark)
		return
	}
	w.u16(svcProtocol, uint16(k.Protocol))
	w.addr(svcAddr, k.Address, k.Family)
	w.be16(svcPort, k.Port)
}

// serviceKeyAttr is the CMD_ATTR_SERVICE nest with only the key.
func serviceKeyAttr(w *attrWriter, k ServiceKey) {
	start := w.begin(attrService)
	w.serviceKey(k)
	w.end(start)
}

// serviceAttr is the CMD_ATTR_SERVICE nest with the full entry, as
// NEW_SERVICE and SET_SERVICE need. s must be validated.
func serviceAttr(w *attrWriter, s *Service) {
	start := w.begin(attrService)
	w.serviceKey(s.ServiceKey)
	sched := string(s.Scheduler)
	if sched == "" {
		sched = string(defaultScheduler)
	}
	w.str(svcSched, sched)
	if s.PersistenceEngine != "" {
		w.str(svcPE, s.PersistenceEngine)
	}
	// struct ip_vs_flags: the flags, and the mask of those to set.
	f := w.attr(svcFlags, 8)
	native.PutUint32(f, uint32(s.Flags&^flagHashed))
	native.PutUint32(f[4:], 0xffffffff)
	w.u32(svcTimeout, uint32(s.Timeout/time.Second))
	putNetmask(w.attr(svcNetmask, 4), s.family(), s.Netmask)
	w.end(start)
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

// destAttr is the CMD_ATTR_DEST nest with the full entry. The
// destination's own family is sent explicitly, as libipvs does, so
// mixed-family tunnels work.
func destAttr(w *attrWriter, d Destination) {
	start := w.begin(attrDest)
	f := d.EffectiveFamily()
	w.addr(dstAddr, d.Address, f)
	w.be16(dstPort, d.Port)
	w.u32(dstFwd, uint32(d.Forward))
	w.u32(dstWeight, d.Weight)
	w.u32(dstUThresh, d.UpperThreshold)
	w.u32(dstLThresh, d.LowerThreshold)
	w.u16(dstAF, uint16(f))
	w.u8(dstTunType, uint8(d.TunnelType))
	w.be16(dstTunPort, d.TunnelPort)
	w.u16(dstTunFlags, uint16(d.TunnelFlags))
	w.end(start)
}

// destKeyAttr is the CMD_ATTR_DEST nest DEL_DEST needs: d's address,
// port and family.
func destKeyAttr(w *attrWriter, d Destination) {
	start := w.begin(attrDest)
	f := d.EffectiveFamily()
	w.addr(dstAddr, d.Address, f)
	w.be16(dstPort, d.Port)
	w.u16(dstAF, uint16(f))
	w.end(start)
}

func daemonAttr(w *attrWriter, d Daemon) {
	start := w.begin(attrDaemon)
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
	w.end(start)
}

func daemonStateAttr(w *attrWriter, s DaemonState) {
	start := w.begin(attrDaemon)
	w.u32(dmnState, uint32(s))
	w.end(start)
}

func timeoutsAttrs(w *attrWriter, t Timeouts) {
	w.u32(attrTimeoutTCP, uint32(t.TCP/time.Second))
	w.u32(attrTimeoutFin, uint32(t.TCPFin/time.Second))
	w.u32(attrTimeoutUDP, uint32(t.UDP/time.Second))
}

// msgBegin starts a generic netlink message: room for its headers, which
// msgEnd fills in once the attributes are written (the length from what
// was written). It returns where the message begins.
func (w *attrWriter) msgBegin() int {
	start := len(w.b)
	w.grow(nlmsgHdrLen + genlHdrLen)
	return start
}

// msgEnd writes the headers of the message begun at start.
func (w *attrWriter) msgEnd(start int, family, flags uint16, seq, pid uint32, cmd uint8) {
	h := w.b[start:]
	native.PutUint32(h, uint32(len(w.b)-start))
	native.PutUint16(h[4:], family)
	native.PutUint16(h[6:], flags)
	native.PutUint32(h[8:], seq)
	native.PutUint32(h[12:], pid)
	h[16], h[17], h[18], h[19] = cmd, 1, 0, 0 // genlmsghdr: cmd, version 1
}
