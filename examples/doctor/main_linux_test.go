package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/golvs/lvs/internal/nstest"
)

var (
	vip      = netip.MustParsePrefix("10.0.0.100/32")
	lbAddr   = netip.MustParsePrefix("192.168.1.1/24")
	rsAddr   = netip.MustParsePrefix("192.168.1.2/24")
	rsGwFlag = "-rs-gateway=192.168.1.2=192.168.1.1"
)

// natLab is a healthy NAT director lb (VIP on eth0, forwarding on, one
// masquerading real server) and its real server rs, whose default gateway
// is the director.
func natLab(t *testing.T) (lb, rs *nstest.NS) {
	t.Helper()
	lb, rs = nstest.New(t), nstest.New(t)
	nstest.Veth(t, lb, "eth0", rs, "eth0")
	lb.AddAddr(t, "eth0", lbAddr, vip)
	rs.AddAddr(t, "eth0", rsAddr)
	rs.Exec(t, "ip", "route", "add", "default", "via", "192.168.1.1")
	lb.Sysctl(t, "net.ipv4.ip_forward", "1")
	lb.Exec(t, "ipvsadm", "-A", "-t", "10.0.0.100:80", "-s", "rr")
	lb.Exec(t, "ipvsadm", "-a", "-t", "10.0.0.100:80", "-r", "192.168.1.2:80", "-m", "-w", "1")
	return lb, rs
}

// doctor runs the command on ns and returns its exit status and output.
func doctor(t *testing.T, ns *nstest.NS, args ...string) (int, string) {
	t.Helper()
	var out, errb strings.Builder
	code := run(append([]string{"-netns", ns.Path}, args...), &out, &errb)
	if errb.Len() > 0 {
		t.Logf("stderr: %s", errb.String())
	}
	return code, out.String()
}

// A healthy director and a healthy DR real server show no findings.
func TestHealthyHostsShowNone(t *testing.T) {
	lb, _ := natLab(t)
	if code, out := doctor(t, lb, rsGwFlag); code != exitOK || out != "doctor: no findings\n" {
		t.Errorf("healthy NAT director: exit %d, output:\n%s", code, out)
	}
	rs := nstest.New(t)
	peer := nstest.New(t)
	nstest.Veth(t, rs, "eth0", peer, "eth0")
	rs.AddAddr(t, "eth0", rsAddr)
	rs.AddAddr(t, "lo", vip)
	rs.Sysctl(t, "net.ipv4.conf.all.arp_ignore", "1", "net.ipv4.conf.all.arp_announce", "2")
	rs.Exec(t, "ip", "route", "add", "default", "via", "192.168.1.1")
	if code, out := doctor(t, rs, "-dr", "10.0.0.100", "-client", "198.51.100.7"); code != exitOK || out != "doctor: no findings\n" {
		t.Errorf("healthy DR real server: exit %d, output:\n%s", code, out)
	}
}

// Each broken host, built in namespaces, shows its finding with its
// severity; the exit status is 1 when one is broken.
func TestBrokenHosts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(t *testing.T) (*nstest.NS, []string)
		code  int
		want  string // a line of the output begins with it
	}{
		{"service without destinations", func(t *testing.T) (*nstest.NS, []string) {
			lb, _ := natLab(t)
			lb.Exec(t, "ipvsadm", "-A", "-t", "10.0.0.100:443", "-s", "rr")
			return lb, []string{rsGwFlag}
		}, exitBroken, "broken: service TCP 10.0.0.100:443: it has no destinations"},
		{"all weights 0", func(t *testing.T) (*nstest.NS, []string) {
			lb, _ := natLab(t)
			lb.Exec(t, "ipvsadm", "-e", "-t", "10.0.0.100:80", "-r", "192.168.1.2:80", "-m", "-w", "0")
			return lb, []string{rsGwFlag}
		}, exitBroken, "broken: service TCP 10.0.0.100:80: all 1 of its destinations have weight 0"},
		{"VIP not local", func(t *testing.T) (*nstest.NS, []string) {
			lb, _ := natLab(t)
			lb.Exec(t, "ipvsadm", "-A", "-t", "10.0.0.200:80", "-s", "rr")
			lb.Exec(t, "ipvsadm", "-a", "-t", "10.0.0.200:80", "-r", "192.168.1.2:80", "-m")
			return lb, []string{rsGwFlag}
		}, exitBroken, "broken: service TCP 10.0.0.200:80: its address 10.0.0.200 is not an address of this host"},
		{"sync daemon on a down interface", func(t *testing.T) (*nstest.NS, []string) {
			lb, _ := natLab(t)
			lb.Exec(t, "ip", "link", "add", "sync0", "type", "dummy")
			lb.Exec(t, "ip", "link", "set", "sync0", "multicast", "on")
			lb.AddAddr(t, "sync0", netip.MustParsePrefix("192.168.77.1/24"))
			lb.Exec(t, "ipvsadm", "--start-daemon", "master", "--mcast-interface", "sync0", "--syncid", "3")
			lb.Exec(t, "ip", "link", "set", "sync0", "down") // the daemon keeps running
			return lb, []string{rsGwFlag}
		}, exitBroken, "broken: master sync daemon (syncid 3): its interface sync0 is down"},
		{"connection reuse", func(t *testing.T) (*nstest.NS, []string) {
			lb, _ := natLab(t)
			lb.Sysctl(t, "net.ipv4.vs.conn_reuse_mode", "0", "net.ipv4.vs.expire_nodest_conn", "0")
			return lb, []string{rsGwFlag}
		}, exitOK, "warning: net.ipv4.vs.conn_reuse_mode: conn_reuse_mode=0 and expire_nodest_conn=0"},
		{"VIP never answered (director.CheckVIP)", func(t *testing.T) (*nstest.NS, []string) {
			lb, _ := natLab(t)
			lb.Sysctl(t, "net.ipv4.conf.all.arp_ignore", "2")
			return lb, []string{rsGwFlag}
		}, exitBroken, "broken: VIP 10.0.0.100 on eth0 (arp mode): arp_ignore=2"},
		{"forwarding off (director.CheckReturnPath)", func(t *testing.T) (*nstest.NS, []string) {
			lb, _ := natLab(t)
			lb.Sysctl(t, "net.ipv4.ip_forward", "0")
			return lb, []string{rsGwFlag}
		}, exitBroken, "broken: real server 192.168.1.2: forwarding is off"},
		{"real server's gateway not the director", func(t *testing.T) (*nstest.NS, []string) {
			lb, _ := natLab(t)
			return lb, []string{"-rs-gateway", "192.168.1.2=192.168.1.254"}
		}, exitBroken, "broken: real server 192.168.1.2: its gateway 192.168.1.254 is not an address of this director"},
		{"client on the real servers' segment", func(t *testing.T) (*nstest.NS, []string) {
			lb, _ := natLab(t)
			return lb, []string{rsGwFlag, "-client", "192.168.1.50"}
		}, exitBroken, "broken: real server 192.168.1.2: client 192.168.1.50 is on the real server's own segment"},
		{"fwmark rule of another owner (fwmark.Conflicts)", func(t *testing.T) (*nstest.NS, []string) {
			lb, _ := natLab(t)
			lb.Exec(t, "ipvsadm", "-A", "-f", "7", "-s", "rr")
			lb.Exec(t, "ipvsadm", "-a", "-f", "7", "-r", "192.168.1.2", "-m")
			lb.Exec(t, "nft", "add table inet theirs; add chain inet theirs pre { type filter hook prerouting priority -150; }; add rule inet theirs pre meta mark set 0x5")
			return lb, []string{rsGwFlag}
		}, exitOK, "warning: inet theirs/pre: rule"},
		{"DR VIP missing and ARP answered (realserver.CheckDR)", func(t *testing.T) (*nstest.NS, []string) {
			rs := nstest.New(t)
			peer := nstest.New(t)
			nstest.Veth(t, rs, "eth0", peer, "eth0")
			rs.AddAddr(t, "eth0", rsAddr)
			return rs, []string{"-dr", "10.0.0.100"}
		}, exitBroken, "broken: VIP 10.0.0.100: VIP 10.0.0.100 is not configured on lo"},
		{"TUN strict rp_filter (realserver.CheckTUN)", func(t *testing.T) (*nstest.NS, []string) {
			rs := nstest.New(t)
			rs.Exec(t, "ip", "link", "set", "tunl0", "up")
			rs.AddAddr(t, "tunl0", vip)
			rs.Sysctl(t, "net.ipv4.conf.all.rp_filter", "1")
			return rs, []string{"-tun", "10.0.0.100"}
		}, exitBroken, "broken: device tunl0: strict reverse-path filtering on tunl0"},
		{"several default gateways", func(t *testing.T) (*nstest.NS, []string) {
			rs := twoHomed(t)
			rs.Exec(t, "ip", "route", "add", "default", "via", "192.168.2.1", "metric", "200")
			return rs, nil
		}, exitOK, "warning: IPv4 default routes: 2 default gateways (192.168.1.1 on eth0, 192.168.2.1 on eth1)"},
		{"static route for clients", func(t *testing.T) (*nstest.NS, []string) {
			rs := twoHomed(t)
			rs.Exec(t, "ip", "route", "add", "198.51.100.0/24", "via", "192.168.2.1")
			return rs, []string{"-client", "198.51.100.7"}
		}, exitOK, "warning: route 198.51.100.0/24: replies to client(s) 198.51.100.7 leave through 192.168.2.1 on eth1"},
		{"strict rp_filter off the default route", func(t *testing.T) (*nstest.NS, []string) {
			rs := twoHomed(t)
			rs.Sysctl(t, "net.ipv4.conf.eth1.rp_filter", "1")
			return rs, nil
		}, exitOK, "warning: device eth1: strict reverse-path filtering on eth1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, args := tc.build(t)
			code, out := doctor(t, ns, args...)
			found := false
			for _, l := range strings.Split(out, "\n") {
				found = found || strings.HasPrefix(l, tc.want)
			}
			if code != tc.code || !found {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and a line beginning %q", code, out, tc.code, tc.want)
			}
		})
	}
}

// twoHomed is a host on two segments, its default route through eth0.
func twoHomed(t *testing.T) *nstest.NS {
	rs, a, b := nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Veth(t, rs, "eth0", a, "eth0")
	nstest.Veth(t, rs, "eth1", b, "eth0")
	rs.AddAddr(t, "eth0", rsAddr)
	rs.AddAddr(t, "eth1", netip.MustParsePrefix("192.168.2.2/24"))
	rs.Sysctl(t, "net.ipv4.conf.all.rp_filter", "0", "net.ipv4.conf.eth0.rp_filter", "0", "net.ipv4.conf.eth1.rp_filter", "0")
	rs.Exec(t, "ip", "route", "add", "default", "via", "192.168.1.1")
	return rs
}
