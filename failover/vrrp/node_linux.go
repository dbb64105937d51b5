//go:build linux

package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/netns"
)

// rawConn is a raw IP socket of protocol 112 bound to one interface. Reads
// and writes go through the runtime's poller (so a deadline unblocks a
// read) with system calls on preallocated buffers: receiving allocates
// nothing.
type rawConn struct {
	f       *os.File
	rc      syscall.RawConn
	v4      bool
	ifindex int

	// recv's buffers and results.
	buf    [maxAdvertLen + 64]byte
	oob    [128]byte
	name   unix.RawSockaddrInet6
	iov    unix.Iovec
	msg    unix.Msghdr
	n      int
	oobn   int
	rerr   error
	readFn func(uintptr) bool

	// send's arguments.
	to4     unix.SockaddrInet4
	to6     unix.SockaddrInet6
	soob    []byte // IP_PKTINFO / IPV6_PKTINFO: the source and interface
	spkt    []byte
	sto     unix.Sockaddr
	serr    error
	writeFn func(uintptr) bool
}

// open finds the interface and the source address and opens the socket,
// all inside cfg.NetNSPath.
func open(cfg *Config) (conn, netip.Addr, error) {
	var c *rawConn
	var self netip.Addr
	err := netns.DoPath(cfg.NetNSPath, func() error {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return invalid("Interface", fmt.Sprintf("%s: no such interface in the namespace", cfg.Interface))
		}
		if self, err = source(cfg, ifi); err != nil {
			return err
		}
		c, err = openRaw(cfg, ifi, self)
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, self, err
		}
		// netns.DoPath's own errors: the namespace is missing or cannot be
		// entered.
		return nil, self, errs.New(pkg, "open", kindOf(err), err)
	}
	return c, self, nil
}

// source returns cfg.Source if it is on the interface, or picks the
// interface's primary address of the VIPs' family.
func source(cfg *Config, ifi *net.Interface) (netip.Addr, error) {
	v4 := cfg.VIPs[0].Is4()
	fam := netlink.FAMILY_V6
	if v4 {
		fam = netlink.FAMILY_V4
	}
	addrs, err := netcfg.Dump(func() ([]netlink.Addr, error) {
		return netlink.AddrList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifi.Index}}, fam)
	})
	if err != nil {
		return netip.Addr{}, errs.New(pkg, "list addresses of "+cfg.Interface, kindOf(err), err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if cfg.Source.IsValid() {
			if ip == cfg.Source.WithZone("") {
				return ip, nil
			}
			continue
		}
		usable := a.Flags&(unix.IFA_F_SECONDARY|unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0
		if usable && !slices.Contains(cfg.VIPs, ip) && (v4 || ip.IsLinkLocalUnicast()) {
			return ip, nil
		}
	}
	if cfg.Source.IsValid() {
		return netip.Addr{}, invalid("Source", fmt.Sprintf("%v is not an address of %s", cfg.Source, cfg.Interface))
	}
	what := "IPv4 address"
	if !v4 {
		what = "usable IPv6 link-local address"
	}
	return netip.Addr{}, invalid("Source", fmt.Sprintf("%s has no %s to send from (other than the VIPs); add one or set Source", cfg.Interface, what))
}

func openRaw(cfg *Config, ifi *net.Interface, self netip.Addr) (*rawConn, error) {
	c := &rawConn{v4: self.Is4(), ifindex: ifi.Index}
	af := unix.AF_INET6
	if c.v4 {
		af = unix.AF_INET
	}
	fd, err := unix.Socket(af, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, IPProto)
	if err != nil {
		return nil, errs.New(pkg, "open raw socket", kindOf(err), err)
	}
	multicast := len(cfg.UnicastPeers) == 0
	opts := []struct {
		name string
		set  func() error
	}{
		{"SO_BINDTODEVICE", func() error { return unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifi.Name) }},
	}
	add := func(name string, f func() error) {
		opts = append(opts, struct {
			name string
			set  func() error
		}{name, f})
	}
	if c.v4 {
		add("IP_TTL", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, 255) })
		add("IP_MULTICAST_TTL", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 255) })
		add("IP_MULTICAST_LOOP", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0) })
		add("IP_MULTICAST_IF", func() error {
			return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)})
		})
		if multicast {
			add("IP_ADD_MEMBERSHIP", func() error {
				return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &unix.IPMreqn{Multiaddr: GroupIPv4.As4(), Ifindex: int32(ifi.Index)})
			})
		}
	} else {
		add("IPV6_UNICAST_HOPS", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 255) })
		add("IPV6_MULTICAST_HOPS", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255) })
		add("IPV6_MULTICAST_LOOP", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0) })
		add("IPV6_MULTICAST_IF", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index) })
		add("IPV6_RECVPKTINFO", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1) })
		add("IPV6_RECVHOPLIMIT", func() error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1) })
		if multicast {
			add("IPV6_JOIN_GROUP", func() error {
				return unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, &unix.IPv6Mreq{Multiaddr: GroupIPv6.As16(), Interface: uint32(ifi.Index)})
			})
		}
	}
	for _, o := range opts {
		if err := o.set(); err != nil {
			unix.Close(fd)
			return nil, errs.New(pkg, "set "+o.name+" on the raw socket", kindOf(err), err)
		}
	}
	c.f = os.NewFile(uintptr(fd), "vrrp")
	if c.rc, err = c.f.SyscallConn(); err != nil {
		c.f.Close()
		return nil, errs.New(pkg, "open raw socket", ErrKernel, err)
	}
	c.iov.Base = &c.buf[0]
	c.iov.SetLen(len(c.buf))
	c.msg.Name = (*byte)(unsafe.Pointer(&c.name))
	c.msg.Iov = &c.iov
	c.msg.Iovlen = 1
	c.msg.Control = &c.oob[0]
	c.readFn = c.readOnce
	c.writeFn = c.writeOnce
	if c.v4 {
		var info [12]byte // struct in_pktinfo: ifindex, spec_dst (the source), addr
		binary.NativeEndian.PutUint32(info[0:4], uint32(ifi.Index))
		s4 := self.As4()
		copy(info[4:8], s4[:])
		c.soob = cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, info[:])
		c.sto = &c.to4
	} else {
		var info [20]byte // struct in6_pktinfo: addr (the source), ifindex
		s16 := self.As16()
		copy(info[0:16], s16[:])
		binary.NativeEndian.PutUint32(info[16:20], uint32(ifi.Index))
		c.soob = cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, info[:])
		c.to6.ZoneId = uint32(ifi.Index)
		c.sto = &c.to6
	}
	return c, nil
}

// cmsg builds one control message.
func cmsg(level, typ int, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = int32(level), int32(typ)
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func (c *rawConn) readOnce(fd uintptr) bool {
	if c.v4 {
		// IPv4 raw sockets deliver the IP header, which has all we need.
		c.n, c.rerr = unix.Read(int(fd), c.buf[:])
		return c.rerr != unix.EAGAIN
	}
	c.msg.Namelen = unix.SizeofSockaddrInet6
	c.msg.SetControllen(len(c.oob))
	r, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.msg)), 0)
	if e == unix.EAGAIN {
		return false
	}
	c.n, c.oobn, c.rerr = int(r), int(c.msg.Controllen), nil
	if e != 0 {
		c.rerr = e
	}
	return true
}

func (c *rawConn) recv() ([]byte, netip.Addr, netip.Addr, int, error) {
	if err := c.rc.Read(c.readFn); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, netip.Addr{}, netip.Addr{}, 0, errDeadline
		}
		return nil, netip.Addr{}, netip.Addr{}, 0, err
	}
	if c.rerr != nil {
		return nil, netip.Addr{}, netip.Addr{}, 0, c.rerr
	}
	b := c.buf[:c.n]
	if c.v4 {
		if len(b) < 20 || b[0]>>4 != 4 || int(b[0]&0x0f)*4 < 20 || int(b[0]&0x0f)*4 > len(b) {
			return nil, netip.Addr{}, netip.Addr{}, 0, nil // not an IPv4 packet: decode drops it as truncated
		}
		hl := int(b[0]&0x0f) * 4
		src := netip.AddrFrom4([4]byte(b[12:16]))
		dst := netip.AddrFrom4([4]byte(b[16:20]))
		return b[hl:], src, dst, int(b[8]), nil
	}
	src := netip.AddrFrom16(c.name.Addr)
	var dst netip.Addr
	hops := -1
	oob := c.oob[:c.oobn]
	for len(oob) >= unix.CmsgLen(0) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.CmsgLen(0) || l > len(oob) {
			break
		}
		data := oob[unix.CmsgLen(0):l]
		if h.Level == unix.IPPROTO_IPV6 {
			switch {
			case h.Type == unix.IPV6_PKTINFO && len(data) >= 20:
				dst = netip.AddrFrom16([16]byte(data[:16]))
			case h.Type == unix.IPV6_HOPLIMIT && len(data) >= 4:
				hops = int(binary.NativeEndian.Uint32(data))
			}
		}
		if sp := unix.CmsgSpace(l - unix.CmsgLen(0)); sp < len(oob) {
			oob = oob[sp:]
		} else {
			break
		}
	}
	return b, src, dst, hops, nil
}

func (c *rawConn) writeOnce(fd uintptr) bool {
	_, c.serr = unix.SendmsgN(int(fd), c.spkt, c.soob, c.sto, 0)
	return c.serr != unix.EAGAIN
}

func (c *rawConn) send(pkt []byte, dst netip.Addr) error {
	if c.v4 {
		c.to4.Addr = dst.As4()
	} else {
		c.to6.Addr = dst.As16()
	}
	c.spkt = pkt
	if err := c.rc.Write(c.writeFn); err != nil {
		return err
	}
	return c.serr
}

func (c *rawConn) setDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

func (c *rawConn) close() error { return c.f.Close() }
