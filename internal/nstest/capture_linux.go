package nstest

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Frame is one captured Ethernet frame and the kernel's time of its
// arrival.
type Frame struct {
	Time time.Time
	Data []byte
}

// Capture records every frame a namespace's interface receives, with the
// kernel's receive timestamps, so that a test can time what happened on
// the wire (e.g. a VRRP failover) instead of when it polled.
type Capture struct {
	fd     int
	mu     sync.Mutex
	frames []Frame
	done   chan struct{}
}

// Capture starts recording on dev (a packet socket in promiscuous mode)
// until the test's cleanup.
func (n *NS) Capture(t testing.TB, dev string) *Capture {
	t.Helper()
	c := &Capture{fd: -1, done: make(chan struct{})}
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		c.fd = fd
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			return err
		}
		mr := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
		t.Fatalf("nstest: capturing on %s in %s: %v", dev, n.Name, err)
	}
	stopped := make(chan struct{})
	go c.loop(stopped)
	t.Cleanup(func() {
		close(c.done)
		<-stopped
		unix.Close(c.fd)
	})
	return c
}

func (c *Capture) loop(stopped chan<- struct{}) {
	defer close(stopped)
	buf := make([]byte, 2048)
	oob := make([]byte, 128)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		nr, oobn, _, _, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		f := Frame{Time: time.Now(), Data: append([]byte(nil), buf[:nr]...)}
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
					sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
					nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
					f.Time = time.Unix(sec, nsec)
				}
			}
		}
		c.mu.Lock()
		c.frames = append(c.frames, f)
		c.mu.Unlock()
	}
}

// Frames returns the frames so far, in order of arrival.
func (c *Capture) Frames() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

// VRRP is a VRRP advertisement seen in a frame.
type VRRP struct {
	Time     time.Time
	Src      netip.Addr
	VRID     int
	Priority int
}

// Announce is a gratuitous ARP (IPv4) or unsolicited neighbour
// advertisement (IPv6) seen in a frame: From (a MAC) says Addr is its.
type Announce struct {
	Time time.Time
	From string
	Addr netip.Addr
}

// VRRP returns the VRRP advertisements captured at or after since.
func (c *Capture) VRRP(since time.Time) []VRRP {
	var out []VRRP
	for _, f := range c.Frames() {
		if f.Time.Before(since) {
			continue
		}
		src, payload, proto, ok := ipPayload(f.Data)
		if ok && proto == 112 && len(payload) >= 8 {
			out = append(out, VRRP{Time: f.Time, Src: src, VRID: int(payload[1]), Priority: int(payload[2])})
		}
	}
	return out
}

// Announces returns the gratuitous ARPs and unsolicited neighbour
// advertisements captured at or after since.
func (c *Capture) Announces(since time.Time) []Announce {
	var out []Announce
	for _, f := range c.Frames() {
		if f.Time.Before(since) || len(f.Data) < 14 {
			continue
		}
		b := f.Data
		from := net.HardwareAddr(b[6:12]).String()
		switch binary.BigEndian.Uint16(b[12:14]) {
		case unix.ETH_P_ARP:
			a := b[14:]
			// Ethernet/IPv4, sender IP = target IP: gratuitous.
			if len(a) >= 28 && binary.BigEndian.Uint16(a[0:2]) == 1 && binary.BigEndian.Uint16(a[2:4]) == unix.ETH_P_IP {
				spa, tpa := netip.AddrFrom4([4]byte(a[14:18])), netip.AddrFrom4([4]byte(a[24:28]))
				if spa == tpa {
					out = append(out, Announce{Time: f.Time, From: from, Addr: spa})
				}
			}
		case unix.ETH_P_IPV6:
			_, p, proto, ok := ipPayload(b)
			// ICMPv6 neighbour advertisement (136) to all nodes, unsolicited
			// (S flag clear).
			if ok && proto == 58 && len(p) >= 24 && p[0] == 136 && p[4]&0x40 == 0 {
				out = append(out, Announce{Time: f.Time, From: from, Addr: netip.AddrFrom16([16]byte(p[8:24]))})
			}
		}
	}
	return out
}

// ipPayload returns an Ethernet frame's IP source, payload and protocol
// (IPv6: the first header's next header, without extension headers).
func ipPayload(b []byte) (netip.Addr, []byte, int, bool) {
	if len(b) < 14 {
		return netip.Addr{}, nil, 0, false
	}
	ip := b[14:]
	switch binary.BigEndian.Uint16(b[12:14]) {
	case unix.ETH_P_IP:
		if len(ip) < 20 {
			return netip.Addr{}, nil, 0, false
		}
		hl := int(ip[0]&0x0f) * 4
		if hl < 20 || len(ip) < hl {
			return netip.Addr{}, nil, 0, false
		}
		return netip.AddrFrom4([4]byte(ip[12:16])), ip[hl:], int(ip[9]), true
	case unix.ETH_P_IPV6:
		if len(ip) < 40 {
			return netip.Addr{}, nil, 0, false
		}
		return netip.AddrFrom16([16]byte(ip[8:24])), ip[40:], int(ip[6]), true
	}
	return netip.Addr{}, nil, 0, false
}

// Reset is a TCP reset seen in a frame: From (a MAC) sent it from Src to
// Dst.
type Reset struct {
	Time     time.Time
	From     string
	Src, Dst netip.AddrPort
}

// Resets returns the TCP resets captured at or after since: which host
// ended a connection that should have survived.
func (c *Capture) Resets(since time.Time) []Reset {
	var out []Reset
	for _, f := range c.Frames() {
		if f.Time.Before(since) || len(f.Data) < 14 {
			continue
		}
		src, p, proto, ok := ipPayload(f.Data)
		if !ok || proto != unix.IPPROTO_TCP || len(p) < 14 || p[13]&0x04 == 0 {
			continue
		}
		var dst netip.Addr
		if src.Is4() {
			dst = netip.AddrFrom4([4]byte(f.Data[14+16 : 14+20]))
		} else {
			dst = netip.AddrFrom16([16]byte(f.Data[14+24 : 14+40]))
		}
		out = append(out, Reset{
			Time: f.Time,
			From: net.HardwareAddr(f.Data[6:12]).String(),
			Src:  netip.AddrPortFrom(src, binary.BigEndian.Uint16(p[0:2])),
			Dst:  netip.AddrPortFrom(dst, binary.BigEndian.Uint16(p[2:4])),
		})
	}
	return out
}
