package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/golvs/lvs/internal/nstest"
)

// A watch is an rtnetlink listener inside a namespace: every route or link
// change the kernel announces, stamped when it arrives. The tests time the
// router's FIB from these notifications, not by running `ip route` in a
// loop (a fork and exec per look, 0.1 s and more under TCG, added to every
// figure).
type watch struct {
	fd   int
	done chan struct{}

	mu       sync.Mutex
	routes   []routeEvent
	links    []linkEvent
	overflow bool // the socket dropped notifications (ENOBUFS)
}

// routeEvent is the VIP's route in the main table after one notification:
// its next hops, none once deleted.
type routeEvent struct {
	Time time.Time
	Hops []string
}

// linkEvent is a device's administrative state after one notification.
type linkEvent struct {
	Time time.Time
	Name string
	Up   bool
}

// watchNS starts listening in ns to IPv4 route and link notifications
// until the test's cleanup.
func watchNS(t *testing.T, ns *nstest.NS) *watch {
	t.Helper()
	fd := -1
	err := ns.Do(func() (err error) {
		fd, err = watchSocket()
		return err
	})
	if err != nil {
		t.Fatalf("rtnetlink listener in %s: %v", ns.Name, err)
	}
	return startWatch(t, fd)
}

// watchSocket opens a netlink socket in the calling thread's namespace,
// subscribed to IPv4 route and link changes.
func watchSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, err
	}
	err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	if err == nil {
		// A bounded wait per read, so that the loop sees the cleanup.
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_LINK})
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// startWatch reads fd's notifications until the test's cleanup.
func startWatch(t *testing.T, fd int) *watch {
	w := &watch{fd: fd, done: make(chan struct{})}
	stopped := make(chan struct{})
	go w.loop(stopped)
	t.Cleanup(func() {
		close(w.done)
		<-stopped
		unix.Close(w.fd)
	})
	return w
}

func (w *watch) loop(stopped chan<- struct{}) {
	defer close(stopped)
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-w.done:
			return
		default:
		}
		n, _, err := unix.Recvfrom(w.fd, buf, 0)
		now := time.Now()
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.ENOBUFS):
				w.mu.Lock()
				w.overflow = true
				w.mu.Unlock()
				continue
			}
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			w.add(now, m)
		}
	}
}

func (w *watch) add(now time.Time, m syscall.NetlinkMessage) {
	switch m.Header.Type {
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		hops, ok := vipRoute(m)
		if !ok {
			return
		}
		if m.Header.Type == unix.RTM_DELROUTE {
			hops = nil
		}
		w.mu.Lock()
		w.routes = append(w.routes, routeEvent{Time: now, Hops: hops})
		w.mu.Unlock()
	case unix.RTM_NEWLINK:
		if len(m.Data) < unix.SizeofIfInfomsg {
			return
		}
		flags := binary.NativeEndian.Uint32(m.Data[8:12])
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return
		}
		for _, a := range attrs {
			if a.Attr.Type == unix.IFLA_IFNAME {
				name := strings.TrimRight(string(a.Value), "\x00")
				w.mu.Lock()
				w.links = append(w.links, linkEvent{Time: now, Name: name, Up: flags&unix.IFF_UP != 0})
				w.mu.Unlock()
			}
		}
	}
}

// vipRoute returns the next hops of a main-table route notification for
// the VIP's /32, and whether m is one.
func vipRoute(m syscall.NetlinkMessage) ([]string, bool) {
	if len(m.Data) < unix.SizeofRtMsg {
		return nil, false
	}
	if m.Data[0] != unix.AF_INET || m.Data[1] != 32 {
		return nil, false
	}
	table := uint32(m.Data[4])
	attrs, err := syscall.ParseNetlinkRouteAttr(&m)
	if err != nil {
		return nil, false
	}
	isVIP := false
	var hops []string
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.RTA_TABLE:
			if len(a.Value) >= 4 {
				table = binary.NativeEndian.Uint32(a.Value)
			}
		case unix.RTA_DST:
			isVIP = len(a.Value) == 4 && netip.AddrFrom4([4]byte(a.Value)).String() == vip
		case unix.RTA_GATEWAY:
			if len(a.Value) == 4 {
				hops = append(hops, netip.AddrFrom4([4]byte(a.Value)).String())
			}
		case unix.RTA_MULTIPATH:
			hops = append(hops, multipathHops(a.Value)...)
		}
	}
	if !isVIP || table != unix.RT_TABLE_MAIN {
		return nil, false
	}
	slices.Sort(hops)
	return hops, true
}

// multipathHops reads the gateways of RTA_MULTIPATH: rtnexthop headers
// (length, flags, hops, ifindex), each followed by its attributes.
func multipathHops(b []byte) []string {
	var hops []string
	for len(b) >= unix.SizeofRtNexthop {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < unix.SizeofRtNexthop || l > len(b) {
			break
		}
		attrs := b[unix.SizeofRtNexthop:l]
		for len(attrs) >= unix.SizeofRtAttr {
			al := int(binary.NativeEndian.Uint16(attrs[0:2]))
			at := binary.NativeEndian.Uint16(attrs[2:4])
			if al < unix.SizeofRtAttr || al > len(attrs) {
				break
			}
			if at == unix.RTA_GATEWAY && al == unix.SizeofRtAttr+4 {
				hops = append(hops, netip.AddrFrom4([4]byte(attrs[4:8])).String())
			}
			attrs = attrs[(al+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1):]
		}
		b = b[(l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1):]
	}
	return hops
}

// routeAt waits (up to limit) until a notification at or after since
// leaves the VIP's route with the next hops want, and returns its time.
func (w *watch) routeAt(t *testing.T, since time.Time, limit time.Duration, want ...string) time.Time {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(limit)
	for {
		w.mu.Lock()
		overflow := w.overflow
		var at time.Time
		for _, e := range w.routes {
			if !e.Time.Before(since) && slices.Equal(e.Hops, want) {
				at = e.Time
				break
			}
		}
		w.mu.Unlock()
		switch {
		case overflow:
			t.Fatal("the rtnetlink listener dropped notifications (ENOBUFS): the timing is not known")
		case !at.IsZero():
			return at
		case time.Now().After(deadline):
			t.Fatalf("timed out after %v waiting for router next hops %v; notifications: %s", limit, want, w.routeLog())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// downAt waits (up to limit) for the notification, at or after since, of
// link name going administratively down, and returns its time.
func (w *watch) downAt(t *testing.T, since time.Time, limit time.Duration, name string) time.Time {
	t.Helper()
	var at time.Time
	waitFor(t, limit, name+" down", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, e := range w.links {
			if !e.Time.Before(since) && e.Name == name && !e.Up {
				at = e.Time
				return true
			}
		}
		return false
	})
	return at
}

// lost reports whether a notification in [from, to) left the VIP's route
// without next hop hop: a session that went down on its own.
func (w *watch) lost(from, to time.Time, hop string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.routes {
		if !e.Time.Before(from) && e.Time.Before(to) && !slices.Contains(e.Hops, hop) {
			return true
		}
	}
	return false
}

// routeLog is the route notifications so far, for a failure message.
func (w *watch) routeLog() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for _, e := range w.routes {
		fmt.Fprintf(&b, "%s %v; ", e.Time.Format("15:04:05.000"), e.Hops)
	}
	return b.String()
}
