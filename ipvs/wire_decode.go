package ipvs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

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
// a dump that proves another needs (see Services).
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
	if mappedV6(af, d.Address) {
		// An IPv6 destination at an IPv4-mapped address (see Destination.Family).
		d.Family = IPv6
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
