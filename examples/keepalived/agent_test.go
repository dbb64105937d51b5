package main

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/examples/keepalived/internal/conf"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvstest"
)

// listen starts a TCP server on 127.0.0.1 that accepts and closes.
func listen(t *testing.T) (net.Listener, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveClose(t, ln)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return ln, port
}

// serveClose accepts and closes connections on ln until the test ends: a
// real server that TCP checks find up.
func serveClose(t *testing.T, ln net.Listener) {
	nstest.Serve(ln, nstest.CloseConn)
	t.Cleanup(func() { ln.Close() })
}

// startAgent runs an agent on the configuration text against a fake IPVS
// until the test ends.
func startAgent(t *testing.T, text string) (*agent, *ipvstest.Client) {
	fake := ipvstest.New()
	ctx, cancel := context.WithCancel(context.Background())
	c := parse(t, text)
	a := newAgent(ctx, fake, &logger{w: io.Discard}, c)
	t.Cleanup(func() {
		a.shutdown()
		cancel()
	})
	if err := a.configure(c); err != nil {
		t.Fatal(err)
	}
	return a, fake
}

// twoReals starts two real servers and puts their ports for P1 and P2
// into conf.
func twoReals(t *testing.T, conf string) (text string, lns [2]net.Listener, p1, p2 string) {
	lns[0], p1 = listen(t)
	lns[1], p2 = listen(t)
	return strings.NewReplacer("P1", p1, "P2", p2).Replace(conf), lns, p1, p2
}

// parse parses the configuration text, which must parse.
func parse(t *testing.T, text string) *conf.Config {
	t.Helper()
	f := filepath.Join(t.TempDir(), "k.conf")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, probs := conf.Parse(f)
	if c == nil {
		t.Fatalf("parse: %v", probs)
	}
	return c
}

// dump is the fake table as "service: dest/weight ..." lines.
func dump(t *testing.T, c *ipvstest.Client) string {
	svcs, err := c.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, s := range svcs {
		b.WriteString(s.ServiceKey.String() + " " + string(s.Scheduler) + ":")
		ds, err := c.Destinations(context.Background(), s.ServiceKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			b.WriteString(" " + d.String() + "/" + strconv.Itoa(int(d.Weight)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// waitFor applies until the table reads want (bounded).
func waitFor(t *testing.T, a *agent, c *ipvstest.Client, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		a.apply()
		if got = dump(t, c); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("table:\n%s\nwant:\n%s", got, want)
}

const agentConf = `virtual_server 10.0.0.1 80 {
  protocol TCP
  delay_loop 1
  connect_timeout 0.5
  lb_algo wrr
  inhibit_on_failure
  real_server 127.0.0.1 P1 {
    weight 3
    TCP_CHECK {
      retry 0
    }
  }
  real_server 127.0.0.1 P2 {
    weight W2
    TCP_CHECK {
      retry 0
    }
  }
}
`

// TestReloadWritesOnlyTheChange: start-up writes keepalived's start state,
// a stopped server goes to weight 0 (inhibit_on_failure), and a reload
// that changes one real server's weight makes exactly one IPVS write,
// leaving the other server's check and state alone.
func TestReloadWritesOnlyTheChange(t *testing.T) {
	text, lns, p1, p2 := twoReals(t, agentConf)
	a, fake := startAgent(t, strings.Replace(text, "W2", "1", 1))
	// The kernel (and ipvstest) list the newest destination first.
	svc := "TCP 10.0.0.1:80 wrr:"
	waitFor(t, a, fake, svc+" 127.0.0.1:"+p2+"/1 127.0.0.1:"+p1+"/3\n")

	lns[0].Close()
	waitFor(t, a, fake, svc+" 127.0.0.1:"+p2+"/1 127.0.0.1:"+p1+"/0\n")

	before := fake.Writes()
	if err := a.configure(parse(t, strings.Replace(text, "W2", "4", 1))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, fake, svc+" 127.0.0.1:"+p2+"/4 127.0.0.1:"+p1+"/0\n")
	time.Sleep(2500 * time.Millisecond) // two more check rounds: nothing flaps
	a.apply()
	if n := fake.Writes() - before; n != 1 {
		t.Errorf("the reload made %d writes, want 1", n)
	}

	// Shutdown removes what the agent made.
	a.shutdown()
	if got := dump(t, fake); got != "" {
		t.Errorf("after shutdown:\n%s", got)
	}
}

// TestStartAdoptsTheTableLeft: an agent started on the table a previous
// one left (-I, or SIGKILL) takes it over as it is: a server that was
// down (inhibited at weight 0) is not given its weight back before its
// checks pass, and nothing is written while the checks agree with the
// table (keepalived's start state, every server up, would write twice).
func TestStartAdoptsTheTableLeft(t *testing.T) {
	text, lns, p1, p2 := twoReals(t, agentConf)
	text = strings.Replace(text, "W2", "1", 1)
	lns[1].Close() // P2 is down, and the table left says so
	fake := ipvstest.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	if err := fake.CreateService(ctx, ipvs.Service{ServiceKey: k, Scheduler: "wrr"}); err != nil {
		t.Fatal(err)
	}
	// inhibit_on_failure: the down server is left at weight 0.
	for _, d := range []struct {
		port   string
		weight uint32
	}{{p1, 3}, {p2, 0}} {
		port, _ := strconv.Atoi(d.port)
		if err := fake.CreateDestination(ctx, k, ipvs.Destination{Address: netip.MustParseAddr("127.0.0.1"), Port: uint16(port), Weight: d.weight}); err != nil {
			t.Fatal(err)
		}
	}
	left := dump(t, fake)
	before := fake.Writes()
	c := parse(t, text)
	a := newAgent(ctx, fake, &logger{w: io.Discard}, c)
	defer a.shutdown()
	if err := a.configure(c); err != nil {
		t.Fatal(err)
	}
	for range 25 { // two and a half check rounds
		a.apply()
		time.Sleep(100 * time.Millisecond)
	}
	if got := dump(t, fake); got != left {
		t.Errorf("table:\n%s\nwant as left:\n%s", got, left)
	}
	if n := fake.Writes() - before; n != 0 {
		t.Errorf("%d writes on the table left, want none", n)
	}
}

const sorryConf = `virtual_server 10.0.0.2 80 {
  protocol TCP
  delay_loop 1
  connect_timeout 0.5
  lb_algo rr
  quorum Q
  sorry_server 10.0.9.9 80
  real_server 127.0.0.1 P1 {
    TCP_CHECK {
      retry 0
    }
  }
  real_server 127.0.0.1 P2 {
    TCP_CHECK {
      retry 0
    }
  }
}
virtual_server 10.0.0.3 53 {
  protocol UDP
  lb_algo rr
  ops
  real_server 10.0.8.1 53 {
  }
}
`

// TestQuorumSorryServer: below quorum the sorry server replaces every real
// server (keepalived.conf(5): "all real servers will be brought down");
// a reload lowering the quorum brings the live one back and removes the
// sorry server, and a real server without checkers is always in.
func TestQuorumSorryServer(t *testing.T) {
	text, lns, p1, p2 := twoReals(t, sorryConf)
	a, fake := startAgent(t, strings.Replace(text, "Q", "2", 1))
	udp := "UDP 10.0.0.3:53 rr: 10.0.8.1:53/1\n"
	waitFor(t, a, fake, "TCP 10.0.0.2:80 rr: 127.0.0.1:"+p2+"/1 127.0.0.1:"+p1+"/1\n"+udp)
	lns[1].Close()
	waitFor(t, a, fake, "TCP 10.0.0.2:80 rr: 10.0.9.9:80/1\n"+udp)
	if err := a.configure(parse(t, strings.Replace(text, "Q", "1", 1))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, fake, "TCP 10.0.0.2:80 rr: 127.0.0.1:"+p1+"/1\n"+udp)
}

// TestReloadDrainsRemovedServer: a real server a reload removes is drained
// (weight 0 while IPVS counts connections to it), then deleted.
func TestReloadDrainsRemovedServer(t *testing.T) {
	text, _, p1, p2 := twoReals(t, agentConf)
	a, fake := startAgent(t, strings.Replace(text, "W2", "2", 1))
	svc := "TCP 10.0.0.1:80 wrr:"
	waitFor(t, a, fake, svc+" 127.0.0.1:"+p2+"/2 127.0.0.1:"+p1+"/3\n")
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	rs2 := netip.MustParseAddrPort("127.0.0.1:" + p2)
	if err := fake.SetConnections(k, rs2, 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	// The same file without the second real server.
	i := strings.Index(text, "  real_server 127.0.0.1 "+p2)
	if err := a.configure(parse(t, text[:i]+"}\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, fake, svc+" 127.0.0.1:"+p2+"/0 127.0.0.1:"+p1+"/3\n")
	time.Sleep(1500 * time.Millisecond)
	waitFor(t, a, fake, svc+" 127.0.0.1:"+p2+"/0 127.0.0.1:"+p1+"/3\n")
	if err := fake.SetConnections(k, rs2, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, fake, svc+" 127.0.0.1:"+p1+"/3\n")
}

// TestMiscDynamicWeight: MISC_CHECK with misc_dynamic sets the weight from
// the exit status (status − 2), and exit 1 takes the server out.
func TestMiscDynamicWeight(t *testing.T) {
	dir := t.TempDir()
	status := filepath.Join(dir, "status")
	if err := os.WriteFile(status, []byte("12"), 0o644); err != nil {
		t.Fatal(err)
	}
	text := `global_defs {
  enable_script_security
}
virtual_server 10.0.0.4 80 {
  protocol TCP
  delay_loop 1
  lb_algo wrr
  real_server 10.0.7.1 80 {
    weight 1
    MISC_CHECK {
      misc_path "/bin/sh -c 'exit $(cat ` + status + `)'"
      misc_timeout 1
      misc_dynamic
    }
  }
}
`
	a, fake := startAgent(t, text)
	waitFor(t, a, fake, "TCP 10.0.0.4:80 wrr: 10.0.7.1:80/10\n")
	if err := os.WriteFile(status, []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, fake, "TCP 10.0.0.4:80 wrr:\n")
}
