package peers

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
)

// TestKeepalived proves the VM's keepalived runs in a namespace: alone on
// its link, it becomes MASTER and adds the VIP.
func TestKeepalived(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	nstest.Veth(t, a, "eth0", b, "eth0")
	a.AddAddr(t, "eth0", netip.MustParsePrefix("10.0.0.1/24"))
	b.AddAddr(t, "eth0", netip.MustParsePrefix("10.0.0.2/24"))
	k := Keepalived(t, a, `
global_defs {
	router_id lvs-test
}
vrrp_instance VI_1 {
	state BACKUP
	interface eth0
	virtual_router_id 51
	priority 100
	advert_int 1
	virtual_ipaddress {
		10.0.0.100/32 dev eth0
	}
}
`)
	// Master-down timer: 3 adverts + skew, about 3.6 s; generous for TCG.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(a.Exec(t, "ip", "-o", "addr", "show", "dev", "eth0"), "10.0.0.100/32") {
		if exited, err := k.Exited(); exited || time.Now().After(deadline) {
			t.Fatalf("VIP never appeared (exited %v: %v)\n%s", exited, err, k.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(k.Log(), "Entering MASTER STATE") {
		t.Errorf("VIP added but keepalived did not log MASTER:\n%s", k.Log())
	}
	if err := k.Stop(); err != nil {
		t.Errorf("keepalived stop: %v\n%s", err, k.Log())
	}
	if out := a.Exec(t, "ip", "-o", "addr", "show", "dev", "eth0"); strings.Contains(out, "10.0.0.100") {
		t.Errorf("VIP left after keepalived stopped:\n%s", out)
	}
}

// TestBird proves BIRD 2 runs in a namespace and answers birdc: its static
// route reaches the namespace's kernel table.
func TestBird(t *testing.T) {
	ns := nstest.New(t)
	b := Bird(t, ns, `
router id 10.0.0.1;
protocol device { }
protocol kernel { ipv4 { export all; }; }
protocol static { ipv4; route 192.0.2.0/24 blackhole; }
`)
	if out := b.Birdc(t, "show", "status"); !strings.Contains(out, "Daemon is up and running") {
		t.Errorf("birdc show status:\n%s", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := ns.Exec(t, "ip", "route", "show", "192.0.2.0/24")
		if strings.Contains(out, "blackhole 192.0.2.0/24") && strings.Contains(out, "bird") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BIRD's route not in the kernel table: %q\n%s", out, b.Birdc(t, "show", "route"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestNodeExporter proves the node exporter runs in a namespace with only
// its ipvs collector and reports that namespace's IPVS table.
func TestNodeExporter(t *testing.T) {
	ns := nstest.New(t)
	ns.Exec(t, "ipvsadm", "-A", "-t", "10.0.0.100:80", "-s", "rr")
	ns.Exec(t, "ipvsadm", "-a", "-t", "10.0.0.100:80", "-r", "10.0.0.2:80", "-m", "-w", "3")
	_, url := NodeExporter(t, ns, "127.0.0.1:9100")
	resp, err := ns.HTTPClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := `node_ipvs_backend_weight{local_address="10.0.0.100",local_mark="",local_port="80",proto="TCP",remote_address="10.0.0.2",remote_port="80"} 3`
	if !strings.Contains(string(body), want) {
		t.Errorf("scrape lacks %s:\n%s", want, body)
	}
	if strings.Contains(string(body), "node_cpu_seconds_total") {
		t.Errorf("collectors other than ipvs ran:\n%s", body)
	}
}
