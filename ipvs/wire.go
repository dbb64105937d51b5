package ipvs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Generic netlink commands of the "IPVS" family (include/uapi/linux/ip_vs.h).
const (
	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdGetService = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdNewDaemon  = 9
	cmdDelDaemon  = 10
	cmdGetDaemon  = 11
	cmdSetConfig  = 12
	cmdGetConfig  = 13
	cmdGetInfo    = 15
	cmdZero       = 16
	cmdFlush      = 17
)

// Top-level attributes.
const (
	attrService    = 1
	attrDest       = 2
	attrDaemon     = 3
	attrTimeoutTCP = 4
	attrTimeoutFin = 5
	attrTimeoutUDP = 6

	// GET_INFO replies reuse numbers 1 and 2.
	attrInfoVersion  = 1
	attrInfoConnTabs = 2
)

// IPVS_SVC_ATTR_*.
const (
	svcAF       = 1
	svcProtocol = 2
	svcAddr     = 3
	svcPort     = 4
	svcFwmark   = 5
	svcSched    = 6
	svcFlags    = 7
	svcTimeout  = 8
	svcNetmask  = 9
	svcStats    = 10
	svcPE       = 11
	svcStats64  = 12
)

// IPVS_DEST_ATTR_*.
const (
	dstAddr      = 1
	dstPort      = 2
	dstFwd       = 3
	dstWeight    = 4
	dstUThresh   = 5
	dstLThresh   = 6
	dstActive    = 7
	dstInactive  = 8
	dstPersist   = 9
	dstStats     = 10
	dstAF        = 11
	dstStats64   = 12
	dstTunType   = 13
	dstTunPort   = 14
	dstTunFlags  = 15
	dstFwdMask   = 0x7
	dstMaxAttrID = dstTunFlags
)

// IPVS_DAEMON_ATTR_*.
const (
	dmnState   = 1
	dmnIfname  = 2
	dmnSyncID  = 3
	dmnMaxLen  = 4
	dmnGroup   = 5
	dmnGroup6  = 6
	dmnPort    = 7
	dmnTTL     = 8
	dmnMaxAttr = dmnTTL
)

// IPVS_STATS_ATTR_*.
const (
	statConns    = 1
	statInPkts   = 2
	statOutPkts  = 3
	statInBytes  = 4
	statOutBytes = 5
	statCPS      = 6
	statInPPS    = 7
	statOutPPS   = 8
	statInBPS    = 9
	statOutBPS   = 10
)

const nlaFNested = 0x8000
const nlaTypeMask = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

var native = binary.NativeEndian

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

// attrs iterates over netlink attributes, stopping at the first malformed
// one. It never slices beyond the buffer.
func attrs(b []byte, fn func(typ uint16, v []byte) error) error {
	for len(b) > 0 {
		typ, v, rest, ok := nextAttr(b)
		if !ok {
			return badAttr(b)
		}
		if err := fn(typ, v); err != nil {
			return err
		}
		b = rest
	}
	return nil
}

// nextAttr splits the first attribute off b (not empty): its type, its
// value and the attributes after it; !ok if it is malformed (badAttr says
// how). The decoders of what a snapshot reads
// by the thousand loop with it directly rather than through attrs: no call
// through a function value per attribute.
func nextAttr(b []byte) (typ uint16, v, rest []byte, ok bool) {
	if len(b) < 4 {
		return
	}
	n := int(native.Uint16(b))
	if n < 4 || n > len(b) {
		return
	}
	return native.Uint16(b[2:]) & nlaTypeMask, b[4:n], b[min((n+3)&^3, len(b)):], true
}

// badAttr says what is wrong with the attribute at the start of b, which
// nextAttr refused; apart from it, so that nextAttr inlines.
func badAttr(b []byte) error {
	if len(b) < 4 {
		return errors.New("truncated attribute header")
	}
	return fmt.Errorf("attribute %d: length %d outside the %d bytes left", native.Uint16(b[2:])&nlaTypeMask, native.Uint16(b), len(b))
}

func getU8(v []byte) (uint8, error) {
	if len(v) < 1 {
		return 0, errors.New("u8 attribute too short")
	}
	return v[0], nil
}

func getU16(v []byte) (uint16, error) {
	if len(v) < 2 {
		return 0, errors.New("u16 attribute too short")
	}
	return native.Uint16(v), nil
}

func getBE16(v []byte) (uint16, error) {
	if len(v) < 2 {
		return 0, errors.New("be16 attribute too short")
	}
	return binary.BigEndian.Uint16(v), nil
}

func getU32(v []byte) (uint32, error) {
	if len(v) < 4 {
		return 0, errors.New("u32 attribute too short")
	}
	return native.Uint32(v), nil
}

func getU64(v []byte) (uint64, error) {
	if len(v) < 8 {
		return 0, errors.New("u64 attribute too short")
	}
	return native.Uint64(v), nil
}

// getUint reads a u32 or u64 by length: the kernel's 32-bit STATS nest mixes
// both widths.
func getUint(v []byte) (uint64, error) {
	if len(v) >= 8 {
		return native.Uint64(v), nil
	}
	x, err := getU32(v)
	return uint64(x), err
}

func getString(v []byte) string {
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

// schedulerName is getString for a scheduler: the mainline names come
// back as constants, so that a dump of thousands of services does not
// allocate one string each.
func schedulerName(v []byte) Scheduler {
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	switch string(v) { // compared without allocating
	case "rr":
		return RoundRobin
	case "wrr":
		return WeightedRoundRobin
	case "lc":
		return LeastConnection
	case "wlc":
		return WeightedLeastConnection
	case "lblc":
		return LocalityBasedLeastConn
	case "lblcr":
		return LocalityBasedLeastConnRepl
	case "dh":
		return DestinationHashing
	case "sh":
		return SourceHashing
	case "sed":
		return ShortestExpectedDelay
	case "nq":
		return NeverQueue
	case "fo":
		return WeightedFailover
	case "ovf":
		return WeightedOverflow
	case "mh":
		return MaglevHashing
	case "twos":
		return TwoRandomChoices
	}
	return Scheduler(v)
}

func getAddr(f Family, v []byte) (netip.Addr, error) {
	switch {
	case f == IPv4 && len(v) >= 4:
		return netip.AddrFrom4([4]byte(v[:4])), nil
	case f == IPv6 && len(v) >= 16:
		return netip.AddrFrom16([16]byte(v[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("%d-byte address for family %v", len(v), f)
}

// --- requests -------------------------------------------------------------

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

// --- replies --------------------------------------------------------------

// wantNested finds the nested attribute typ at the top level of b.
func wantNested(b []byte, typ uint16) ([]byte, error) {
	var out []byte
	for len(b) > 0 {
		t, v, rest, ok := nextAttr(b)
		if !ok {
			return nil, badAttr(b)
		}
		if t == typ && out == nil {
			out = v
		}
		b = rest
	}
	if out == nil {
		return nil, fmt.Errorf("reply lacks attribute %d", typ)
	}
	return out, nil
}

// decodeService parses the attributes of a NEW_SERVICE reply message.
func decodeService(b []byte) (ServiceInfo, error) {
	return decodeServiceAs(b, false)
}

// decodeServiceKey parses only the key of a NEW_SERVICE reply message, all
// a listing that confirms another needs.
func decodeServiceKey(b []byte) (ServiceKey, error) {
	s, err := decodeServiceAs(b, true)
	return s.ServiceKey, err
}

// decodeServiceAs is decodeService, or with keyOnly decodeServiceKey: the
// key's attributes (AF to FWMARK) come first, the rest is skipped.
func decodeServiceAs(b []byte, keyOnly bool) (ServiceInfo, error) {
	nest, err := wantNested(b, attrService)
	if err != nil {
		return ServiceInfo{}, err
	}
	var (
		s              ServiceInfo
		rawAddr, rawNM []byte
		stats, stats64 []byte
	)
	for b := nest; len(b) > 0; {
		t, v, rest, ok := nextAttr(b)
		if !ok {
			return ServiceInfo{}, badAttr(b)
		}
		b = rest
		if keyOnly && t > svcFwmark {
			continue
		}
		switch t {
		case svcAF:
			var f uint16
			f, err = getU16(v)
			s.Family = Family(f)
		case svcProtocol:
			var p uint16
			p, err = getU16(v)
			s.Protocol = Protocol(p)
		case svcAddr:
			rawAddr = v
		case svcPort:
			s.Port, err = getBE16(v)
		case svcFwmark:
			s.Fwmark, err = getU32(v)
		case svcSched:
			s.Scheduler = schedulerName(v)
		case svcPE:
			s.PersistenceEngine = getString(v)
		case svcFlags:
			var f uint32
			f, err = getU32(v)
			s.Flags = ServiceFlags(f) &^ flagHashed
		case svcTimeout:
			var sec uint32
			sec, err = getU32(v)
			s.Timeout = time.Duration(sec) * time.Second
		case svcNetmask:
			if len(v) < 4 {
				err = errors.New("netmask too short")
			}
			rawNM = v
		case svcStats:
			stats = v
		case svcStats64:
			stats64 = v
		}
		if err != nil {
			return ServiceInfo{}, fmt.Errorf("service attribute %d: %w", t, err)
		}
	}
	if s.Family != IPv4 && s.Family != IPv6 {
		return ServiceInfo{}, fmt.Errorf("service has address family %d", s.Family)
	}
	if s.Fwmark == 0 {
		if s.Address, err = getAddr(s.Family, rawAddr); err != nil {
			return ServiceInfo{}, fmt.Errorf("service address: %w", err)
		}
	} else {
		s.Protocol, s.Port = 0, 0
	}
	if keyOnly {
		return s, nil
	}
	if rawNM != nil {
		s.Netmask = netmaskFromWire(s.Family, rawNM)
	}
	if s.Scheduler == "" {
		s.Scheduler = NoScheduler
	}
	if s.Stats, err = decodeStatsPair(stats, stats64); err != nil {
		return ServiceInfo{}, err
	}
	return s, nil
}

// netmaskFromWire undoes putNetmask; the full mask reads back as the zero
// value so that what was created compares equal to what is read.
func netmaskFromWire(f Family, v []byte) Netmask {
	if f == IPv6 {
		n := native.Uint32(v)
		if n == 128 || n == 0 || n > 128 {
			return Netmask{}
		}
		return Netmask{IPv6, n}
	}
	m := binary.BigEndian.Uint32(v)
	if m == 0xffffffff {
		return Netmask{}
	}
	return Netmask{IPv4, m}
}

func decodeStatsPair(stats, stats64 []byte) (Stats, error) {
	switch {
	case stats64 != nil:
		return decodeStats(stats64)
	case stats != nil:
		return decodeStats(stats)
	}
	return Stats{}, nil
}

func decodeStats(b []byte) (Stats, error) {
	var s Stats
	for len(b) > 0 {
		t, v, rest, ok := nextAttr(b)
		if !ok {
			return Stats{}, badAttr(b)
		}
		b = rest
		var p *uint64
		switch t {
		case statConns:
			p = &s.Connections
		case statInPkts:
			p = &s.PacketsIn
		case statOutPkts:
			p = &s.PacketsOut
		case statInBytes:
			p = &s.BytesIn
		case statOutBytes:
			p = &s.BytesOut
		case statCPS:
			p = &s.CPS
		case statInPPS:
			p = &s.PPSIn
		case statOutPPS:
			p = &s.PPSOut
		case statInBPS:
			p = &s.BPSIn
		case statOutBPS:
			p = &s.BPSOut
		default:
			continue // PAD and anything newer
		}
		var err error
		if *p, err = getUint(v); err != nil {
			return Stats{}, fmt.Errorf("stats attribute %d: %w", t, err)
		}
	}
	return s, nil
}

// decodeDestination parses a GET_DEST reply. svcFamily is the family of the
// service it was listed for, the destination's own family when the kernel
// does not say (before 3.18).
func decodeDestination(b []byte, svcFamily Family) (DestinationInfo, error) {
	var d DestinationInfo
	err := decodeDestinationTo(&d, b, svcFamily)
	return d, err
}

// decodeDestinationTo is decodeDestination into *d, which must be zero: a
// snapshot decodes its destinations where they are kept.
func decodeDestinationTo(d *DestinationInfo, b []byte, svcFamily Family) error {
	nest, err := wantNested(b, attrDest)
	if err != nil {
		return err
	}
	var (
		rawAddr        []byte
		stats, stats64 []byte
		af             = svcFamily
	)
	for b := nest; len(b) > 0; {
		t, v, rest, ok := nextAttr(b)
		if !ok {
			return badAttr(b)
		}
		b = rest
		var x uint32
		switch t {
		case dstAddr:
			rawAddr = v
		case dstPort:
			d.Port, err = getBE16(v)
		case dstFwd:
			x, err = getU32(v)
			d.Forward = ForwardMethod(x & dstFwdMask)
		case dstWeight:
			d.Weight, err = getU32(v)
		case dstUThresh:
			d.UpperThreshold, err = getU32(v)
		case dstLThresh:
			d.LowerThreshold, err = getU32(v)
		case dstActive:
			d.ActiveConns, err = getU32(v)
		case dstInactive:
			d.InactiveConns, err = getU32(v)
		case dstPersist:
			d.PersistentConns, err = getU32(v)
		case dstAF:
			var f uint16
			if f, err = getU16(v); err == nil && f != 0 {
				af = Family(f)
			}
		case dstTunType:
			var tt uint8
			tt, err = getU8(v)
			d.TunnelType = TunnelType(tt)
		case dstTunPort:
			d.TunnelPort, err = getBE16(v)
		case dstTunFlags:
			var f uint16
			f, err = getU16(v)
			d.TunnelFlags = TunnelFlags(f)
		case dstStats:
			stats = v
		case dstStats64:
			stats64 = v
		}
		if err != nil {
			return fmt.Errorf("destination attribute %d: %w", t, err)
		}
	}
	if d.Address, err = getAddr(af, rawAddr); err != nil {
		return fmt.Errorf("destination address: %w", err)
	}
	if d.Stats, err = decodeStatsPair(stats, stats64); err != nil {
		return err
	}
	return nil
}

// decodeDaemon parses one GET_DAEMON reply.
func decodeDaemon(b []byte) (Daemon, error) {
	nest, err := wantNested(b, attrDaemon)
	if err != nil {
		return Daemon{}, err
	}
	var d Daemon
	err = attrs(nest, func(t uint16, v []byte) error {
		var err error
		var x uint32
		switch t {
		case dmnState:
			x, err = getU32(v)
			d.State = DaemonState(x)
		case dmnIfname:
			d.Interface = getString(v)
		case dmnSyncID:
			x, err = getU32(v)
			d.SyncID = uint8(x)
		case dmnMaxLen:
			d.MaxLen, err = getU16(v)
		case dmnGroup:
			if len(v) < 4 {
				return errors.New("daemon group too short")
			}
			if g := netip.AddrFrom4([4]byte(v[:4])); !g.IsUnspecified() {
				d.Group = g
			}
		case dmnGroup6:
			if len(v) < 16 {
				return errors.New("daemon IPv6 group too short")
			}
			if g := netip.AddrFrom16([16]byte(v[:16])); !g.IsUnspecified() {
				d.Group = g
			}
		case dmnPort:
			d.Port, err = getU16(v)
		case dmnTTL:
			d.TTL, err = getU8(v)
		}
		if err != nil {
			return fmt.Errorf("daemon attribute %d: %w", t, err)
		}
		return nil
	})
	return d, err
}

func decodeTimeouts(b []byte) (Timeouts, error) {
	var t Timeouts
	err := attrs(b, func(typ uint16, v []byte) error {
		var p *time.Duration
		switch typ {
		case attrTimeoutTCP:
			p = &t.TCP
		case attrTimeoutFin:
			p = &t.TCPFin
		case attrTimeoutUDP:
			p = &t.UDP
		default:
			return nil
		}
		sec, err := getU32(v)
		if err != nil {
			return fmt.Errorf("timeout attribute %d: %w", typ, err)
		}
		*p = time.Duration(sec) * time.Second
		return nil
	})
	return t, err
}

func decodeInfo(b []byte) (Info, error) {
	var in Info
	err := attrs(b, func(typ uint16, v []byte) error {
		var err error
		var x uint32
		switch typ {
		case attrInfoVersion:
			x, err = getU32(v)
			in.Version = Version(x)
		case attrInfoConnTabs:
			in.ConnTableSize, err = getU32(v)
		}
		if err != nil {
			return fmt.Errorf("info attribute %d: %w", typ, err)
		}
		return nil
	})
	return in, err
}

// --- framing ---------------------------------------------------------------

const (
	nlmsgHdrLen = 16
	genlHdrLen  = 4

	nlmFRequest = 0x1 // NLM_F_REQUEST
	nlmFAck     = 0x4 // NLM_F_ACK
)

// encodeFunc appends the attributes of request i of a batch to w and
// returns its command.
type encodeFunc func(i int, w *attrWriter) uint8

// frameBatch appends requests from, from+1, … of a batch of n to b as
// netlink messages numbered from seq, encoding each in place, until the
// next one would take b past limit (the first always goes in). The last
// one appended asks for an acknowledgement. It returns the buffer and the
// index after the last request appended.
func frameBatch(b []byte, family uint16, pid, seq uint32, from, n, limit int, enc encodeFunc) ([]byte, int) {
	w := attrWriter{b: b}
	last := -1
	i := from
	for ; i < n; i++ {
		start := len(w.b)
		w.grow(nlmsgHdrLen + genlHdrLen)
		cmd := enc(i, &w) // may move w.b
		h := w.b[start:]
		if i > from && len(w.b) > limit {
			w.b = w.b[:start] // sent with the next chunk
			break
		}
		native.PutUint32(h, uint32(len(w.b)-start))
		native.PutUint16(h[4:], family)
		native.PutUint16(h[6:], nlmFRequest)
		native.PutUint32(h[8:], seq+uint32(i-from))
		native.PutUint32(h[12:], pid)
		h[16], h[17], h[18], h[19] = cmd, 1, 0, 0 // genlmsghdr: cmd, version 1
		last = start
	}
	if last >= 0 {
		native.PutUint16(w.b[last+6:], nlmFRequest|nlmFAck)
	}
	return w.b, i
}
