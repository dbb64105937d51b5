package ipvs

import (
	"fmt"
	"net/netip"
	"time"
)

// checkKey validates the identifying fields of a service.
func checkKey(op string, k ServiceKey) error {
	// Formatted only on error, and k not copied (a method value would):
	// Apply validates thousands.
	obj := func() string { return k.String() }
	if k.Fwmark != 0 {
		if k.Family != IPv4 && k.Family != IPv6 {
			return invalid(op, obj(), "Family", "a fwmark service needs Family IPv4 or IPv6")
		}
		if k.Address.IsValid() || k.Protocol != 0 || k.Port != 0 {
			return invalid(op, obj(), "Fwmark", "a fwmark service has no Protocol, Address or Port")
		}
		return nil
	}
	switch k.Protocol {
	case TCP, UDP, SCTP:
	case 0:
		return invalid(op, obj(), "Fwmark", "a service needs Fwmark (non-zero) or Protocol, Address and Port")
	default:
		return invalid(op, obj(), "Protocol", fmt.Sprintf("protocol %d is not TCP, UDP or SCTP", k.Protocol))
	}
	if !k.Address.IsValid() {
		return invalid(op, obj(), "Address", "missing")
	}
	if k.Address.Zone() != "" {
		return invalid(op, obj(), "Address", "the kernel has no notion of a zone")
	}
	if k.Family != 0 && k.Family != FamilyOf(k.Address) && !mappedV6(k.Family, k.Address) {
		return invalid(op, obj(), "Family", fmt.Sprintf("%v does not match the %v address", k.Family, FamilyOf(k.Address)))
	}
	return nil
}

func checkName(op string, obj func() string, field, name string) error {
	if len(name) > maxNameLen {
		return invalid(op, obj(), field, fmt.Sprintf("%q is longer than the kernel's %d characters", name, maxNameLen))
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 {
			return invalid(op, obj(), field, "contains a NUL byte")
		}
	}
	return nil
}

// Bounds of the kernel's timeouts, which it keeps in jiffies (seconds
// times HZ, 100 to 1000 depending on the kernel's configuration; 250 on
// Debian's) and reports back divided by HZ.
const (
	// MaxPersistTimeout is the longest persistence timeout (Service.Timeout),
	// ipvsadm's limit of 31 days. The kernel keeps it in an unsigned 32-bit
	// count of jiffies and does not check it: a longer one wraps silently
	// (at 2^32/HZ seconds, 198 days with HZ=250, 49 with HZ=1000), reads
	// back shorter, and Apply would rewrite it forever.
	MaxPersistTimeout = 31 * 24 * time.Hour
	// MaxProtocolTimeout is the longest TCP, TCP FIN or UDP timeout
	// (Timeouts): ipvsadm's limit of 31 days, so that the ipvsadm drop-in
	// accepts what ipvsadm accepts. The kernel keeps these timeouts in a
	// signed int of jiffies and itself refuses more than INT_MAX/HZ seconds
	// with EINVAL (ErrInvalid), never wrapping them: 8589934 s with HZ=250
	// (Debian's), so every kernel with HZ up to 800 takes this bound; one
	// with HZ=1000 refuses values above 2147483 s.
	MaxProtocolTimeout = 31 * 24 * time.Hour
)

// checkSeconds checks a duration the kernel takes in whole seconds, up to max.
func checkSeconds(op string, obj func() string, field string, d, max time.Duration, why string) error {
	if d < 0 || d%time.Second != 0 {
		return invalid(op, obj(), field, fmt.Sprintf("%v is not a whole, non-negative number of seconds", d))
	}
	if d > max {
		return invalid(op, obj(), field, fmt.Sprintf("%v is above %v (%d s), %s", d, max, max/time.Second, why))
	}
	return nil
}

// checkService validates a full service entry.
func checkService(op string, s Service) error {
	if err := checkKey(op, s.ServiceKey); err != nil {
		return err
	}
	obj := func() string { return s.ServiceKey.String() }
	if err := checkName(op, obj, "Scheduler", string(s.Scheduler)); err != nil {
		return err
	}
	if err := checkName(op, obj, "PersistenceEngine", s.PersistenceEngine); err != nil {
		return err
	}
	if err := checkSeconds(op, obj, "Timeout", s.Timeout, MaxPersistTimeout, "ipvsadm's limit of 31 days: the kernel wraps longer persistence timeouts silently"); err != nil {
		return err
	}
	if s.Flags&FlagPersistent != 0 && s.Timeout == 0 {
		return invalid(op, obj(), "Timeout", "FlagPersistent needs a persistence timeout of at least 1s")
	}
	if s.Flags&^(FlagPersistent|FlagOnePacket|SchedFlag1|SchedFlag2|SchedFlag3) != 0 {
		return invalid(op, obj(), "Flags", fmt.Sprintf("unknown bits %#x", uint32(s.Flags&^(FlagPersistent|FlagOnePacket|SchedFlag1|SchedFlag2|SchedFlag3))))
	}
	if s.Flags&FlagOnePacket != 0 && s.Fwmark == 0 && s.Protocol != UDP {
		return invalid(op, obj(), "Flags", "one-packet scheduling applies to UDP and fwmark services only")
	}
	if s.Fwmark == 0 && s.Port == 0 && s.Flags&FlagPersistent == 0 {
		return invalid(op, obj(), "Port", "port 0 (all ports) needs a persistent service")
	}
	if !s.Netmask.IsZero() && s.Netmask.Family() != s.family() {
		return invalid(op, obj(), "Netmask", fmt.Sprintf("a %v granularity does not fit a %v service", s.Netmask.Family(), s.family()))
	}
	// A persistence engine without FlagPersistent is accepted, as the
	// kernel and ipvsadm accept it (the engine then only matters once the
	// service is made persistent); refusing it broke ipvsadm drop-in use.
	return nil
}

// checkDestination validates a full destination entry against its service.
func checkDestination(op string, k ServiceKey, d Destination) error {
	if err := checkKey(op, k); err != nil {
		return err
	}
	return checkDest(op, k, k.family(), &d)
}

// checkDest is checkDestination for a key already validated, whose family
// is fam.
func checkDest(op string, k ServiceKey, fam Family, d *Destination) error {
	obj := func() string { return k.String() + " -> " + d.String() }
	if !d.Address.IsValid() {
		return invalid(op, obj(), "Address", "missing")
	}
	if d.Address.Zone() != "" {
		return invalid(op, obj(), "Address", "the kernel has no notion of a zone")
	}
	if err := checkDestFamily(op, obj, d); err != nil {
		return err
	}
	if a := d.Address.Unmap(); a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return invalid(op, obj(), "Address", "must be a unicast address")
	}
	if d.Address.Is6() && !d.Address.Is4In6() && d.Address.IsLinkLocalUnicast() {
		// The kernel accepts one only if it is an address of the director
		// itself (a Local destination), which a real server never is.
		return invalid(op, obj(), "Address", "an IPv6 link-local address (fe80::/10) cannot be a real server: it is only "+
			"meaningful on one interface, IPVS destinations carry no interface, and the kernel refuses them (EINVAL); "+
			"use the server's global or unique-local (fc00::/7) address")
	}
	switch d.Forward {
	case Masquerade, Local, Tunnel, DirectRoute:
	default:
		return invalid(op, obj(), "Forward", fmt.Sprintf("unknown forwarding method %d", d.Forward))
	}
	if df := d.EffectiveFamily(); df != fam && d.Forward != Tunnel {
		return invalid(op, obj(), "Address", fmt.Sprintf("a %v destination for a %v service needs Forward Tunnel", df, fam))
	}
	if k.Fwmark == 0 && (d.Forward == DirectRoute || d.Forward == Tunnel) && d.Port != k.Port {
		return invalid(op, obj(), "Port", fmt.Sprintf("%v forwarding cannot map ports: the port must be the service's %d (only Masquerade maps ports)", d.Forward, k.Port))
	}
	if d.Weight > maxWeight {
		return invalid(op, obj(), "Weight", fmt.Sprintf("%d is above the kernel's %d", d.Weight, maxWeight))
	}
	// ipvsadm's bound: above it, the kernel's default recovery point (3/4
	// of the upper threshold) overflows.
	if d.UpperThreshold > maxWeight {
		return invalid(op, obj(), "UpperThreshold", fmt.Sprintf("%d is above %d", d.UpperThreshold, maxWeight))
	}
	if d.LowerThreshold > maxWeight {
		return invalid(op, obj(), "LowerThreshold", fmt.Sprintf("%d is above %d", d.LowerThreshold, maxWeight))
	}
	if d.LowerThreshold > d.UpperThreshold {
		// The kernel refuses it with ERANGE, also when UpperThreshold is 0
		// (no limit): a lower threshold means nothing without an upper one.
		return invalid(op, obj(), "LowerThreshold", fmt.Sprintf("%d is above UpperThreshold %d (0: no limit, which admits no lower threshold)", d.LowerThreshold, d.UpperThreshold))
	}
	if d.Forward != Tunnel {
		if d.TunnelType != IPIP || d.TunnelPort != 0 || d.TunnelFlags != 0 {
			return invalid(op, obj(), "TunnelType", "tunnel options need Forward Tunnel")
		}
		return nil
	}
	switch d.TunnelType {
	case IPIP:
		if d.TunnelPort != 0 {
			return invalid(op, obj(), "TunnelPort", "IPIP has no port")
		}
		if d.TunnelFlags != 0 {
			return invalid(op, obj(), "TunnelFlags", "IPIP has no checksum options")
		}
	case GUE:
		if d.TunnelPort == 0 {
			return invalid(op, obj(), "TunnelPort", "GUE needs the real server's fou port")
		}
		if d.TunnelFlags&^(TunnelChecksum|TunnelRemoteChecksum) != 0 || d.TunnelFlags == TunnelChecksum|TunnelRemoteChecksum {
			return invalid(op, obj(), "TunnelFlags", "GUE takes no checksum, Checksum or RemoteChecksum")
		}
	case GRE:
		if d.TunnelPort != 0 {
			return invalid(op, obj(), "TunnelPort", "GRE has no port")
		}
		if d.TunnelFlags&^TunnelChecksum != 0 {
			return invalid(op, obj(), "TunnelFlags", "GRE takes no checksum or Checksum")
		}
	default:
		return invalid(op, obj(), "TunnelType", fmt.Sprintf("unknown tunnel type %d", d.TunnelType))
	}
	return nil
}

// checkDestFamily checks an explicit Family against the address: only
// IPv6 may differ from FamilyOf, for an IPv4-mapped address.
func checkDestFamily(op string, obj func() string, d *Destination) error {
	if d.Family != 0 && d.Family != FamilyOf(d.Address) && !mappedV6(d.Family, d.Address) {
		return invalid(op, obj(), "Family", fmt.Sprintf("%v does not match the %v address", d.Family, FamilyOf(d.Address)))
	}
	return nil
}

func checkDaemon(op string, d Daemon) error {
	obj := d.State.String()
	if d.State != DaemonMaster && d.State != DaemonBackup {
		return invalid(op, obj, "State", "must be DaemonMaster or DaemonBackup")
	}
	if d.Interface == "" {
		return invalid(op, obj, "Interface", "missing: the daemon needs a multicast interface")
	}
	if len(d.Interface) > maxIfNameLen {
		return invalid(op, obj, "Interface", fmt.Sprintf("%q is longer than %d characters", d.Interface, maxIfNameLen))
	}
	if d.Group.IsValid() && !d.Group.Unmap().IsMulticast() {
		return invalid(op, obj, "Group", fmt.Sprintf("%v is not a multicast address", d.Group))
	}
	// The kernel raises a backup's MaxLen below 1024 to 1024 and lowers an
	// IPv6 group's above 65487 to 65487 (its listing shows the value in
	// force); ipvsadm passes such values on, so they are left to the kernel
	// here too, or the ipvsadm drop-in would report another error than
	// ipvsadm does. Above 65507, the largest UDP payload there is, nothing
	// could be meant.
	if d.MaxLen > maxDaemonLen4 {
		return invalid(op, obj, "MaxLen", fmt.Sprintf("%d is above %d, the largest UDP payload (0: the interface's MTU)", d.MaxLen, maxDaemonLen4))
	}
	return nil
}

// Bounds of Daemon.MaxLen: 65535 less the IPv4 and UDP headers, and the
// kernel's least for a backup (it raises smaller values to it).
const (
	maxDaemonLen4 = 65535 - 20 - 8
	minBackupLen  = 1024
)

func checkTimeouts(op string, t Timeouts) error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"TCP", t.TCP}, {"TCPFin", t.TCPFin}, {"UDP", t.UDP}} {
		if err := checkSeconds(op, func() string { return "" }, f.name, f.d, MaxProtocolTimeout, "ipvsadm's limit of 31 days (every kernel with HZ up to 800 accepts it; the kernel refuses more than INT_MAX/HZ seconds)"); err != nil {
			return err
		}
	}
	return nil
}

// The Validate methods make the checks every call makes before sending,
// for callers that validate input (a configuration file, flags) before
// changing anything, and for ipvstest, which refuses exactly what the
// Client refuses. Each returns nil or an *Error matching ErrInvalid that
// names the field, with Op "validate".
const opValidate = "validate"

// Validate checks a service key as every call taking one does.
func (k ServiceKey) Validate() error { return checkKey(opValidate, k) }

// Validate checks a service as CreateService and UpdateService do.
func (s Service) Validate() error { return checkService(opValidate, s) }

// Validate checks a destination of the service k as CreateDestination
// and UpdateDestination do.
func (d Destination) Validate(k ServiceKey) error { return checkDestination(opValidate, k, d) }

// Validate checks a sync daemon as StartDaemon does.
func (d Daemon) Validate() error { return checkDaemon(opValidate, d) }

// Validate checks timeouts as SetTimeouts does.
func (t Timeouts) Validate() error { return checkTimeouts(opValidate, t) }

// Validate checks a desired service and its destinations as Apply does.
func (s ServiceState) Validate() error { return State{Services: []ServiceState{s}}.Validate() }

// Validate checks a desired state as Apply does before reading anything:
// every service and destination, and no service or destination twice.
func (s State) Validate() error {
	_, err := indexState(s)
	if e, ok := err.(*Error); ok {
		e.Op = opValidate
	}
	return err
}

// Validate checks a write as Batch.Commit does; the error's Op is the
// write's operation ("create service").
func (c Change) Validate() error { return c.check() }
