package ipvsadm

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// Table is what a listing shows: the version header and the services.
type Table struct {
	Info     ipvs.Info
	Services []ipvs.ServiceSnapshot
}

// addrPort is ipvsadm's addrport_to_anyname: numeric, or names from
// /etc/hosts and /etc/services. a is canonical: IPv4-mapped only for an
// IPv6 entry (ipvs.ServiceKey.Family), which prints as IPv6.
func addrPort(a netip.Addr, port uint16, p ipvs.Protocol, f Format) string {
	host := a.String()
	ps := strconv.Itoa(int(port))
	if f&FormatNumeric == 0 {
		if n, ok := hostName(a); ok {
			host = n
		}
		if n, ok := serviceName(port, p); ok {
			ps = n
		}
	}
	s := "[" + host + "]:" + ps
	if a.Is4() {
		s = host + ":" + ps
	}
	// ipvsadm formats into a 60-byte buffer: longer names are cut.
	return truncate(s, addrPortMax)
}

// addrPortMax is the most of a name:port ipvsadm prints.
const addrPortMax = 59

// largeNum is ipvsadm's print_largenum: nine columns, K/M/G/T beyond
// 10^8 unless --exact.
func largeNum(b *strings.Builder, i uint64, f Format) {
	if f&FormatExact != 0 {
		w := len(strconv.FormatUint(i, 10)) + 1
		if w <= 9 {
			w = 9
		}
		fmt.Fprintf(b, "%*d", w, i)
		return
	}
	switch {
	case i < 100000000:
		fmt.Fprintf(b, "%9d", i)
	case i < 1000000000:
		fmt.Fprintf(b, "%8dK", i/1000)
	case i < 100000000000:
		fmt.Fprintf(b, "%8dM", i/1000000)
	case i < 100000000000000:
		fmt.Fprintf(b, "%8dG", i/1000000000)
	default:
		fmt.Fprintf(b, "%8dT", i/1000000000000)
	}
}

// cmp32 is the sign of a difference of unsigned 32-bit values as
// libipvs's comparators compute it: wrapped into a signed int. The result
// is not a consistent order (10.x < 100.x < 200.x < 10.x), so the listing
// order also depends on the sort algorithm: msort reproduces glibc's.
func cmp32(a, b uint32) int { return int(int32(a - b)) }

// addrWords is a's union nf_inet_addr as words; a is canonical (an
// IPv6 entry's mapped address keeps its 16 bytes).
func addrWords(a netip.Addr) [4]uint32 {
	var w [4]uint32
	if a.Is4() {
		b := a.As4()
		w[0] = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		return w
	}
	b := a.As16()
	for i := range w {
		w[i] = uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
	}
	return w
}

// cmpAddr compares the first word, or all four when the left side is IPv6,
// as libipvs does (it looks at the left entry's family only).
func cmpAddr(a, b netip.Addr, v6 bool) int {
	wa, wb := addrWords(a), addrWords(b)
	n := 1
	if v6 {
		n = 4
	}
	for i := 0; i < n; i++ {
		if r := cmp32(wa[i], wb[i]); r != 0 {
			return r
		}
	}
	return 0
}

func svcFamily(s ipvs.Service) ipvs.Family {
	if s.Family != 0 {
		return s.Family
	}
	return ipvs.FamilyOf(s.Address)
}

// msort is glibc's qsort for arrays of large elements: a top-down merge
// sort splitting at n/2 that takes the left element on ties.
func msort[T any](v []T, cmp func(a, b T) int) {
	if len(v) < 2 {
		return
	}
	tmp := make([]T, len(v))
	var rec func(v []T)
	rec = func(v []T) {
		if len(v) < 2 {
			return
		}
		n1 := len(v) / 2
		l, r := v[:n1], v[n1:]
		rec(l)
		rec(r)
		k := 0
		for len(l) > 0 && len(r) > 0 {
			if cmp(l[0], r[0]) <= 0 {
				tmp[k], l = l[0], l[1:]
			} else {
				tmp[k], r = r[0], r[1:]
			}
			k++
		}
		k += copy(tmp[k:], l)
		copy(v, tmp[:k])
	}
	rec(v)
}

// sortServices orders like ipvs_cmp_services: fwmark, family, protocol,
// address, port.
func sortServices(es []ipvs.ServiceSnapshot) {
	msort(es, func(x, y ipvs.ServiceSnapshot) int {
		a, b := x.Service, y.Service
		if r := cmp32(a.Fwmark, b.Fwmark); r != 0 {
			return r
		}
		if r := int(svcFamily(a)) - int(svcFamily(b)); r != 0 {
			return r
		}
		if r := int(a.Protocol) - int(b.Protocol); r != 0 {
			return r
		}
		if r := cmpAddr(a.Address, b.Address, svcFamily(a) == ipvs.IPv6); r != 0 {
			return r
		}
		return int(a.Port) - int(b.Port)
	})
}

// sortDests orders like ipvs_cmp_dests: address, then port.
func sortDests(ds []ipvs.DestinationInfo) {
	msort(ds, func(a, b ipvs.DestinationInfo) int {
		if r := cmpAddr(a.Address, b.Address, a.EffectiveFamily() == ipvs.IPv6); r != 0 {
			return r
		}
		return int(a.Port) - int(b.Port)
	})
}

func writeTitle(b *strings.Builder, f Format) {
	const svc = "Prot LocalAddress:Port"
	switch {
	case f&FormatStats != 0:
		fmt.Fprintf(b, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n", svc, "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case f&FormatRate != 0:
		fmt.Fprintf(b, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n", svc, "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case f&FormatThresholds != 0:
		fmt.Fprintf(b, "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n", svc, "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case f&FormatPersistentConn != 0:
		fmt.Fprintf(b, "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n", svc, "Weight", "PersistConn", "ActiveConn", "InActConn")
	case f&FormatTunInfo != 0:
		b.WriteString("Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n")
	case f&formatRule == 0:
		b.WriteString("Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
}

func schedFlagsString(s ipvs.Service) string {
	var fl []string
	switch s.Scheduler {
	case ipvs.SourceHashing:
		if s.Flags&ipvs.FlagSHFallback != 0 {
			fl = append(fl, "sh-fallback")
		}
		if s.Flags&ipvs.FlagSHPort != 0 {
			fl = append(fl, "sh-port")
		}
	case ipvs.MaglevHashing:
		if s.Flags&ipvs.FlagMHFallback != 0 {
			fl = append(fl, "mh-fallback")
		}
		if s.Flags&ipvs.FlagMHPort != 0 {
			fl = append(fl, "mh-port")
		}
	default:
		for i, f := range []ipvs.ServiceFlags{ipvs.SchedFlag1, ipvs.SchedFlag2, ipvs.SchedFlag3} {
			if s.Flags&f != 0 {
				fl = append(fl, "flag-"+strconv.Itoa(i+1))
			}
		}
	}
	return strings.Join(fl, ",")
}

func protoOption(p ipvs.Protocol) string {
	switch p {
	case ipvs.TCP:
		return "-t"
	case ipvs.UDP:
		return "-u"
	case ipvs.SCTP:
		return "--sctp-service"
	}
	return "--xxx-service"
}

func protoLabel(p ipvs.Protocol) string {
	switch p {
	case ipvs.TCP, ipvs.UDP, ipvs.SCTP:
		return p.String()
	}
	return "???"
}

func maskString(s ipvs.Service) string {
	if s.Netmask.IsFull() {
		return ""
	}
	return s.Netmask.String()
}

var tunFlagNames = [...]string{"-c", "+c", "r+c"}
var tunFlagOpts = [...]string{"--tun-nocsum", "--tun-csum", "--tun-remcsum"}

func tunFlagIndex(f ipvs.TunnelFlags) int {
	if int(f) < len(tunFlagNames) {
		return int(f)
	}
	return 0
}

func fwdSwitch(m ipvs.ForwardMethod) string {
	switch m {
	case ipvs.Masquerade:
		return "-m"
	case ipvs.Tunnel:
		return "-i"
	}
	return "-g"
}

func writeEntry(b *strings.Builder, e ipvs.ServiceSnapshot, f Format) {
	s := e.Service
	s.ServiceKey = s.ServiceKey.Canonical()
	v6 := svcFamily(s) == ipvs.IPv6
	var name string
	switch {
	case s.Fwmark != 0 && f&formatRule != 0:
		name = "-f " + fwmarkString(s.Fwmark)
		if v6 {
			name += " -6"
		}
	case s.Fwmark != 0:
		name = "FWM  " + fwmarkString(s.Fwmark)
		if v6 {
			name += " IPv6"
		}
	case f&formatRule != 0:
		name = protoOption(s.Protocol) + " " + addrPort(s.Address, s.Port, s.Protocol, f)
	default:
		name = fmt.Sprintf("%-4s %s", protoLabel(s.Protocol), addrPort(s.Address, s.Port, s.Protocol, f))
		if !v6 && len(name) > 33 {
			name = name[:33]
		}
	}
	flags := schedFlagsString(s)
	timeout := uint64(s.Timeout / time.Second)
	switch {
	case f&formatRule != 0:
		fmt.Fprintf(b, "-A %s -s %s", name, s.Scheduler)
		if s.Flags&ipvs.FlagPersistent != 0 {
			fmt.Fprintf(b, " -p %d", timeout)
			if m := maskString(s); m != "" {
				b.WriteString(" -M " + m)
			}
		}
		if s.PersistenceEngine != "" {
			b.WriteString(" --pe " + s.PersistenceEngine)
		}
		if s.Flags&ipvs.FlagOnePacket != 0 {
			b.WriteString(" -o")
		}
		if flags != "" {
			b.WriteString(" -b " + flags)
		}
	case f&(FormatStats|FormatRate) != 0:
		fmt.Fprintf(b, "%-33s", name)
		for _, v := range statsColumns(e.Stats, f) {
			largeNum(b, v, f)
		}
	default:
		fmt.Fprintf(b, "%s %s", name, s.Scheduler)
		if flags != "" {
			b.WriteString(" (" + flags + ")")
		}
		if s.Flags&ipvs.FlagPersistent != 0 {
			fmt.Fprintf(b, " persistent %d", timeout)
			if m := maskString(s); m != "" {
				b.WriteString(" mask " + m)
			}
			if s.PersistenceEngine != "" {
				b.WriteString(" pe " + s.PersistenceEngine)
			}
		}
		if s.Flags&ipvs.FlagOnePacket != 0 {
			b.WriteString(" ops")
		}
	}
	b.WriteByte('\n')
	ds := append([]ipvs.DestinationInfo(nil), e.Destinations...)
	for i := range ds {
		ds[i].Destination = ds[i].Canonical()
	}
	if f&FormatNoSort == 0 {
		sortDests(ds)
	}
	for _, d := range ds {
		dname := addrPort(d.Address, d.Port, s.Protocol, f)
		// cut by the destination's family, not the service's, as ipvsadm does
		if f&formatRule == 0 && d.EffectiveFamily() == ipvs.IPv4 && len(dname) > 28 {
			dname = dname[:28]
		}
		switch {
		case f&formatRule != 0:
			fmt.Fprintf(b, "-a %s -r %s %s -w %d", name, dname, fwdSwitch(d.Forward), int32(d.Weight))
			if d.Forward == ipvs.Tunnel {
				switch d.TunnelType {
				case ipvs.IPIP:
					b.WriteString(" --tun-type ipip")
				case ipvs.GUE:
					fmt.Fprintf(b, " --tun-type gue --tun-port %d %s", d.TunnelPort, tunFlagOpts[tunFlagIndex(d.TunnelFlags)])
				case ipvs.GRE:
					fmt.Fprintf(b, " --tun-type gre %s", tunFlagOpts[tunFlagIndex(d.TunnelFlags)])
				}
			}
			b.WriteByte('\n')
		case f&FormatStats != 0:
			fmt.Fprintf(b, "  -> %-28s", dname)
			for _, v := range statsColumns(d.Stats, f) {
				largeNum(b, v, f)
			}
			b.WriteByte('\n')
		case f&FormatRate != 0:
			fmt.Fprintf(b, "  -> %-28s %8d %8d %8d", dname, d.Stats.CPS, d.Stats.PPSIn, d.Stats.PPSOut)
			largeNum(b, d.Stats.BPSIn, f)
			largeNum(b, d.Stats.BPSOut, f)
			b.WriteByte('\n')
		case f&FormatThresholds != 0:
			fmt.Fprintf(b, "  -> %-28s %-10d %-10d %-10d %-10d\n", dname, d.UpperThreshold, d.LowerThreshold, d.ActiveConns, d.InactiveConns)
		case f&FormatPersistentConn != 0:
			fmt.Fprintf(b, "  -> %-28s %-9d %-11d %-10d %-10d\n", dname, d.Weight, d.PersistentConns, d.ActiveConns, d.InactiveConns)
		case f&FormatTunInfo != 0:
			fmt.Fprintf(b, "  -> %-28s %-7s %-13s %-6d %-10d %-10d\n", dname, d.Forward, tunInfo(d.Destination), int32(d.Weight), d.ActiveConns, d.InactiveConns)
		default:
			fmt.Fprintf(b, "  -> %-28s %-7s %-6d %-10d %-10d\n", dname, d.Forward, int32(d.Weight), d.ActiveConns, d.InactiveConns)
		}
	}
}

// fwmarkString prints a mark as ipvsadm does, as a signed int: 4294967295
// is -1 (in -S too, which ipvsadm -R then refuses).
func fwmarkString(m uint32) string { return strconv.Itoa(int(int32(m))) }

func tunInfo(d ipvs.Destination) string {
	if d.Forward != ipvs.Tunnel {
		return "n/a"
	}
	switch d.TunnelType {
	case ipvs.IPIP:
		return "ipip"
	case ipvs.GUE:
		return fmt.Sprintf("gue:%d:%s", d.TunnelPort, tunFlagNames[tunFlagIndex(d.TunnelFlags)])
	case ipvs.GRE:
		return "gre:" + tunFlagNames[tunFlagIndex(d.TunnelFlags)]
	}
	return "n/a"
}

// WriteList writes the listing ipvsadm -L prints for t with format f
// (FormatNumeric for -n), byte for byte as ipvsadm 1.31 does, including
// its sort order unless FormatNoSort.
func WriteList(w io.Writer, t Table, f Format) error {
	var b strings.Builder
	v := t.Info.Version
	fmt.Fprintf(&b, "IP Virtual Server version %d.%d.%d (size=%d)\n", v>>16, v>>8&0xff, v&0xff, t.Info.ConnTableSize)
	writeServices(&b, t.Services, f&^formatRule)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteService writes the listing of one service (ipvsadm -L -t ...),
// which has no version header.
func WriteService(w io.Writer, e ipvs.ServiceSnapshot, f Format) error {
	var b strings.Builder
	writeTitle(&b, f&^formatRule)
	writeEntry(&b, e, f&^formatRule)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteRules writes services in ipvsadm's rules format, as ipvsadm -S
// does (-S -n with FormatNumeric; unsorted with FormatNoSort), sorted as
// ipvsadm sorts them. ipvsadm -R and Restore read it back; thresholds
// (-x, -y) are not part of it. c.Snapshot gives a namespace's services.
func WriteRules(w io.Writer, services []ipvs.ServiceSnapshot, f Format) error {
	var b strings.Builder
	writeServices(&b, services, (f&(FormatNumeric|FormatNoSort))|formatRule)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeServices(b *strings.Builder, services []ipvs.ServiceSnapshot, f Format) {
	es := append([]ipvs.ServiceSnapshot(nil), services...)
	for i := range es {
		es[i].ServiceKey = es[i].ServiceKey.Canonical()
	}
	if f&FormatNoSort == 0 {
		sortServices(es)
	}
	writeTitle(b, f)
	for _, e := range es {
		writeEntry(b, e, f)
	}
}

// WriteConnections writes the connection listing of ipvsadm -L -c (with
// FormatPersistentConn: the persistence-engine columns).
func WriteConnections(w io.Writer, conns []ipvs.Connection, f Format) error {
	var b strings.Builder
	b.WriteString("IPVS connection entries\n")
	if f&FormatPersistentConn != 0 {
		fmt.Fprintf(&b, "pro expire %-11s %-18s %-18s %-18s %-16s %s\n", "state", "source", "virtual", "destination", "pe name", "pe_data")
	} else {
		fmt.Fprintf(&b, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	}
	for _, c := range conns {
		p := c.Protocol
		if p != ipvs.TCP && p != ipvs.UDP && p != ipvs.SCTP {
			p = 0
		}
		dst := c.Destination.Addr()
		if c.Client.Addr().Is4() && dst.Is6() {
			// ipvsadm reads a v4 entry's IPv6 destination with strtoul(16),
			// which stops at the first colon.
			b16 := dst.As16()
			dst = netip.AddrFrom4([4]byte{0, 0, b16[0], b16[1]})
		}
		secs := uint32(c.Expires / time.Second)
		exp := fmt.Sprintf("%02d:%02d", secs/60, secs%60)
		cn := addrPort(c.Client.Addr().Unmap(), c.Client.Port(), p, f)
		vn := addrPort(c.Virtual.Addr().Unmap(), c.Virtual.Port(), p, f)
		dn := addrPort(dst.Unmap(), c.Destination.Port(), p, f)
		if f&FormatPersistentConn != 0 && c.PersistenceEngine != "" {
			fmt.Fprintf(&b, "%-3s %-6s %-11s %-18s %-18s %-16s %-18s %s\n", ipvs.ProtocolName(c.Protocol), exp, c.State, cn, vn, dn, c.PersistenceEngine, c.PEData)
		} else {
			fmt.Fprintf(&b, "%-3s %-6s %-11s %-18s %-18s %s\n", ipvs.ProtocolName(c.Protocol), exp, c.State, cn, vn, dn)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteTimeouts writes ipvsadm -L --timeout.
func WriteTimeouts(w io.Writer, t ipvs.Timeouts) error {
	_, err := fmt.Fprintf(w, "Timeout (tcp tcpfin udp): %d %d %d\n", t.TCP/time.Second, t.TCPFin/time.Second, t.UDP/time.Second)
	return err
}

// WriteDaemons writes ipvsadm -L --daemon: the master, then the backup.
func WriteDaemons(w io.Writer, ds []ipvs.Daemon) error {
	var b strings.Builder
	for _, st := range []ipvs.DaemonState{ipvs.DaemonMaster, ipvs.DaemonBackup} {
		for _, d := range ds {
			if d.State != st {
				continue
			}
			fmt.Fprintf(&b, "%s sync daemon (mcast=%s, syncid=%d", st, d.Interface, d.SyncID)
			if d.MaxLen != 0 {
				fmt.Fprintf(&b, ", maxlen=%d", d.MaxLen)
			}
			if d.Group.IsValid() {
				fmt.Fprintf(&b, ", group=%s", d.Group)
			}
			if d.Port != 0 {
				fmt.Fprintf(&b, ", port=%d", d.Port)
			}
			if d.TTL != 0 {
				fmt.Fprintf(&b, ", ttl=%d", d.TTL)
			}
			b.WriteString(")\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// statsColumns are the five numbers of a --stats row, or of a --rate row
// when f asks for rates (--stats wins, as in ipvsadm).
func statsColumns(st ipvs.Stats, f Format) [5]uint64 {
	if f&FormatStats != 0 {
		return [5]uint64{st.Connections, st.PacketsIn, st.PacketsOut, st.BytesIn, st.BytesOut}
	}
	return [5]uint64{st.CPS, st.PPSIn, st.PPSOut, st.BPSIn, st.BPSOut}
}
