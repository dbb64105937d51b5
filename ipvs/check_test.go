package ipvs

import (
	"net/netip"
	"strings"
	"testing"
)

func TestServiceFindings(t *testing.T) {
	web := ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	dns := ServiceKey{Family: IPv4, Protocol: UDP, Address: netip.MustParseAddr("10.0.0.2"), Port: 53}
	mark := ServiceKey{Family: IPv4, Fwmark: 7}
	d := func(w uint32) DestinationInfo {
		return DestinationInfo{Destination: Destination{Address: netip.MustParseAddr("192.168.1.2"), Port: 80, Weight: w}}
	}
	snap := []ServiceSnapshot{
		{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: web}}, Destinations: []DestinationInfo{d(0), d(1)}},  // healthy
		{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: dns}}},                                               // no destinations, not local
		{ServiceInfo: ServiceInfo{Service: Service{ServiceKey: mark}}, Destinations: []DestinationInfo{d(0), d(0)}}, // all weight 0
	}
	got := serviceFindings(snap, func(a string) bool { return a == "10.0.0.1" })
	want := []string{
		"broken: service UDP 10.0.0.2:53: its address 10.0.0.2 is not an address of this host",
		"broken: service UDP 10.0.0.2:53: it has no destinations: its connections are refused or dropped; fix: add real servers (ipvsadm -a -u 10.0.0.2:53 -r RIP)",
		"broken: service FWM 7: all 2 of its destinations have weight 0",
	}
	if len(got) != len(want) {
		t.Fatalf("findings:\n%v\nwant %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i].String(), want[i]) {
			t.Errorf("finding %d: %q\nwant prefix %q", i, got[i], want[i])
		}
	}
}

func TestReuseFindings(t *testing.T) {
	for _, tc := range []struct {
		release           string
		reuse, nodest, ct int
		want              []string
	}{
		{"6.1.0-28-cloud-amd64", 1, 0, 1, nil},
		{"6.1.0-28-cloud-amd64", 0, 1, 0, nil},
		{"6.12.9", 0, 0, 0, []string{"conn_reuse_mode=0 and expire_nodest_conn=0"}},
		{"5.4.0-150-generic", 1, 1, 1, []string{"conn_reuse_mode=1 with conntrack=1 on kernel 5.4.0-150-generic (before 5.9)"}},
		{"5.4.0-150-generic", 1, 1, 0, nil}, // without conntrack, no drop
		{"5.8.18", 3, 0, 1, []string{"conn_reuse_mode=3 with conntrack=1 on kernel 5.8.18"}},
		{"5.4.0", 0, 0, 1, []string{"conn_reuse_mode=0 and expire_nodest_conn=0"}},
		{"5.9.0", 1, 0, 1, nil},
		{"4.0.9", 1, 0, 1, nil}, // before 4.1 conn_reuse_mode did not exist
		{"garbage", 1, 0, 1, nil},
	} {
		got := reuseFindings(tc.release, tc.reuse, tc.nodest, tc.ct)
		if len(got) != len(tc.want) {
			t.Errorf("%s reuse=%d nodest=%d: %v, want %q", tc.release, tc.reuse, tc.nodest, got, tc.want)
			continue
		}
		for i := range got {
			if !strings.Contains(got[i].Problem, tc.want[i]) || got[i].Severity != SeverityWarning {
				t.Errorf("%s reuse=%d nodest=%d: %v, want a warning with %q", tc.release, tc.reuse, tc.nodest, got[i], tc.want[i])
			}
		}
	}
}

func TestDaemonFindings(t *testing.T) {
	ds := []Daemon{{State: DaemonMaster, Interface: "eth0", SyncID: 1}, {State: DaemonBackup, Interface: "eth1"}, {State: DaemonBackup, Interface: "gone", SyncID: 2}}
	got := daemonFindings(ds, func(n string) (bool, bool) { return n != "gone", n == "eth0" })
	if len(got) != 2 || !strings.Contains(got[0].Problem, "eth1 is down") || !strings.Contains(got[1].Problem, "gone no longer exists") || got.OK() {
		t.Errorf("findings: %v", got)
	}
}
