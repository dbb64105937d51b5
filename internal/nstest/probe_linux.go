package nstest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/netcfg"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Answerers asks the segment on dev who answers for target: from src it
// broadcasts ARP requests (IPv4) or sends neighbour solicitations to
// target's solicited-node group (IPv6), one every 200 ms, and returns the
// link-layer addresses of all answers, distinct, in order of arrival. It
// stops once done (if not nil) accepts the answers so far, or after wait.
// Asking again and again makes one lost or late packet under emulation
// harmless: a test proving that only X answers passes done=nil and listens
// the whole time; one proving that Y answers stops at Y's answer.
func (n *NS) Answerers(t testing.TB, dev string, src, target netip.Addr, wait time.Duration, done func(macs []string) bool) []string {
	t.Helper()
	if src.Is4() != target.Is4() {
		t.Fatalf("nstest: Answerers: %s and %s are of different families", src, target)
	}
	var macs []string
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		var s solicitor
		if target.Is4() {
			s, err = newARPSolicitor(ifi, src, target)
		} else {
			s, err = newNDSolicitor(ifi, src, target)
		}
		if err != nil {
			return err
		}
		defer s.close()
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		if err := unix.SetsockoptTimeval(s.fd(), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		buf := make([]byte, 1500)
		var next time.Time
		for end := time.Now().Add(wait); time.Now().Before(end); {
			if done != nil && done(macs) {
				return nil
			}
			if time.Now().After(next) {
				if err := s.send(); err != nil {
					return err
				}
				next = time.Now().Add(200 * time.Millisecond)
			}
			nr, _, err := unix.Recvfrom(s.fd(), buf, 0)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					continue
				}
				return err
			}
			if m := s.answer(buf[:nr]); m != "" && !slices.Contains(macs, m) {
				macs = append(macs, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("nstest: asking for %s on %s in %s: %v", target, dev, n.Name, err)
	}
	return macs
}

type solicitor interface {
	fd() int
	send() error
	// answer returns the answering link-layer address if b answers the
	// question, else "".
	answer(b []byte) string
	close()
}

type arpSolicitor struct {
	sock   int
	req    []byte
	to     unix.Sockaddr
	target netip.Addr
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func newARPSolicitor(ifi *net.Interface, src, target netip.Addr) (*arpSolicitor, error) {
	proto := htons(unix.ETH_P_ARP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	req := make([]byte, 28)
	binary.BigEndian.PutUint16(req[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(req[2:], 0x0800) // IPv4
	req[4], req[5] = 6, 4
	binary.BigEndian.PutUint16(req[6:], 1) // request
	copy(req[8:], ifi.HardwareAddr)
	copy(req[14:], src.AsSlice())
	copy(req[24:], target.AsSlice())
	to := &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	return &arpSolicitor{fd, req, to, target}, nil
}

func (a *arpSolicitor) fd() int     { return a.sock }
func (a *arpSolicitor) close()      { unix.Close(a.sock) }
func (a *arpSolicitor) send() error { return unix.Sendto(a.sock, a.req, 0, a.to) }

func (a *arpSolicitor) answer(b []byte) string {
	if len(b) < 28 || binary.BigEndian.Uint16(b[6:]) != 2 || netip.AddrFrom4([4]byte(b[14:18])) != a.target {
		return ""
	}
	return net.HardwareAddr(b[8:14]).String()
}

// ndSolicitor uses a raw ICMPv6 socket: the kernel fills in the IPv6
// header and the checksum, and hands the socket a copy of every ICMPv6
// message for src, including the advertisements answering it.
type ndSolicitor struct {
	sock   int
	ns     []byte
	to     unix.Sockaddr
	target netip.Addr
}

const (
	icmp6NeighborSolicit = 135
	icmp6NeighborAdvert  = 136
)

func newNDSolicitor(ifi *net.Interface, src, target netip.Addr) (*ndSolicitor, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		return nil, err
	}
	s := &ndSolicitor{sock: fd, target: target}
	// Receivers drop neighbour discovery with a hop limit below 255.
	for _, o := range []int{unix.IPV6_MULTICAST_HOPS, unix.IPV6_UNICAST_HOPS} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o, 255); err != nil {
			s.close()
			return nil, err
		}
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index); err != nil {
		s.close()
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet6{Addr: src.As16()}); err != nil {
		s.close()
		return nil, fmt.Errorf("bind %s: %w", src, err)
	}
	// Type, code, checksum (the kernel's), reserved, target, and a source
	// link-layer address option so that the answer needs no resolution.
	s.ns = make([]byte, 8+16+8)
	s.ns[0] = icmp6NeighborSolicit
	t16 := target.As16()
	copy(s.ns[8:], t16[:])
	s.ns[24], s.ns[25] = 1, 1
	copy(s.ns[26:], ifi.HardwareAddr)
	group := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: t16[13], 14: t16[14], 15: t16[15]}
	s.to = &unix.SockaddrInet6{Addr: group, ZoneId: uint32(ifi.Index)}
	return s, nil
}

func (s *ndSolicitor) fd() int     { return s.sock }
func (s *ndSolicitor) close()      { unix.Close(s.sock) }
func (s *ndSolicitor) send() error { return unix.Sendto(s.sock, s.ns, 0, s.to) }

// answer reads a neighbour advertisement for the target: its target
// link-layer address option names the answerer (Linux includes it when
// answering a multicast solicitation).
func (s *ndSolicitor) answer(b []byte) string {
	if len(b) < 24 || b[0] != icmp6NeighborAdvert || netip.AddrFrom16([16]byte(b[8:24])) != s.target {
		return ""
	}
	for opts := b[24:]; len(opts) >= 8 && opts[1] > 0 && len(opts) >= int(opts[1])*8; opts = opts[int(opts[1])*8:] {
		if opts[0] == 2 && opts[1] == 1 {
			return net.HardwareAddr(opts[2:8]).String()
		}
	}
	return ""
}

// Neigh returns the link-layer address of the namespace's neighbour entry
// for a (any device), or "" when it has none.
func (n *NS) Neigh(t testing.TB, a netip.Addr) string {
	t.Helper()
	var mac string
	err := n.Do(func() error {
		fam := netlink.FAMILY_V4
		if a.Is6() {
			fam = netlink.FAMILY_V6
		}
		ns, err := netcfg.Dump(func() ([]netlink.Neigh, error) { return netlink.NeighList(0, fam) })
		for _, e := range ns {
			if x, ok := netip.AddrFromSlice(e.IP); ok && x.Unmap() == a && e.HardwareAddr != nil {
				mac = e.HardwareAddr.String()
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("nstest: neighbours in %s: %v", n.Name, err)
	}
	return mac
}
