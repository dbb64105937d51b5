package main

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/internal/peers"
	"github.com/golvs/lvs/ipvs/ipvstest"
)

// ours is where vmtest puts this program: last on the guest's PATH, so
// "keepalived" alone is the real one.
const ours = "/lvs/bin/keepalived"

// oracleCase is one configuration run by real keepalived and by this
// agent side by side: the IPVS tables must match after start-up, after a
// real server stops, and after a SIGHUP with reload.
type oracleCase struct {
	// name names the configurations, testdata/oracle/NAME.conf for
	// start-up and NAME.reload.conf for step 3.
	name  string
	reals []string // ADDR:PORT listeners in the real servers' namespace
	stop  string   // the real server stopped in step 2 ("" for none)
	// writes is how many IPVS changes our reload must make (-1: any); its
	// case checks every 2 s with 2 s timeouts, as a check timing out
	// under the VM's load would write too.
	writes int
	// keep runs both with -I (--dont-release-ipvs): SIGTERM leaves the
	// table, and ours restarted on it takes it over unchanged.
	keep bool
}

var oracleCases = []oracleCase{{
	name:   "wrr-nat-thresholds",
	reals:  []string{"10.0.1.1:80", "10.0.1.2:8080"},
	stop:   "10.0.1.2:8080",
	writes: 1,
}, {
	name:   "dr-persistent-inhibit",
	reals:  []string{"10.0.1.1:443", "10.0.1.2:443", "10.0.1.3:443"},
	stop:   "10.0.1.1:443",
	writes: 1,
}, {
	name:   "quorum-sorry",
	reals:  []string{"10.0.1.1:80", "10.0.1.2:80"},
	stop:   "10.0.1.2:80",
	writes: -1,
	keep:   true,
}, {
	name:   "group-fwmark-tun-udp",
	reals:  []string{"10.0.1.1:80", "10.0.1.2:80"},
	stop:   "10.0.1.1:80",
	writes: -1,
}}

// confs reads the case's start-up and reload configurations.
func (c oracleCase) confs(t *testing.T) (start, reload string) {
	var out [2]string
	for i, f := range []string{c.name + ".conf", c.name + ".reload.conf"} {
		b, err := os.ReadFile(filepath.Join("testdata", "oracle", f))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out[0], out[1]
}

// side is one director with its real servers.
type side struct {
	dir, rs *nstest.NS
	lns     map[string]net.Listener
}

func newSide(t *testing.T, reals []string) *side {
	s := &side{dir: nstest.New(t), rs: nstest.New(t), lns: map[string]net.Listener{}}
	nstest.Veth(t, s.dir, "eth0", s.rs, "eth0")
	s.dir.AddAddr(t, "eth0", netip.MustParsePrefix("10.0.1.254/24"))
	var addrs []netip.Prefix
	for i := 1; i <= 9; i++ {
		addrs = append(addrs, netip.MustParsePrefix("10.0.1."+strconv.Itoa(i)+"/24"))
	}
	s.rs.AddAddr(t, "eth0", addrs...)
	for _, a := range reals {
		ln, err := s.rs.Listen("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		serveClose(t, ln)
		s.lns[a] = ln
	}
	return s
}

// ipvsTable is `ipvsadm -Sn` with its services in a stable order: IPVS lists
// services in hash order, and the hash includes the namespace, so the same
// services come out in a different order in two namespaces. Each service
// keeps its destinations in the order the kernel lists them.
func ipvsTable(t *testing.T, ns *nstest.NS) string {
	out := ns.Exec(t, "ipvsadm", "-Sn")
	var blocks []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.HasPrefix(l, "-A ") || len(blocks) == 0 {
			blocks = append(blocks, l)
			continue
		}
		blocks[len(blocks)-1] += "\n" + l
	}
	slices.Sort(blocks)
	return strings.Join(blocks, "\n") + "\n"
}

// settle waits (bounded) until both tables are equal, differ from prev when
// changed is set, and stay so for three reads a second apart.
func settle(t *testing.T, step string, k, o *nstest.NS, prev string, changed bool) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last, tk, to string
	same := 0
	for time.Now().Before(deadline) {
		tk, to = ipvsTable(t, k), ipvsTable(t, o)
		if tk == to && (!changed || tk != prev) && tk == last {
			same++
			if same >= 3 {
				return tk
			}
		} else {
			same = 0
		}
		last = tk
		time.Sleep(time.Second)
	}
	t.Fatalf("%s: the tables did not settle equal (changed from before: %v) within 60s\nkeepalived:\n%s\nours:\n%s\nbefore:\n%s", step, changed, tk, to, prev)
	return ""
}

func pidOf(t *testing.T, file string) int {
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s: %v", file, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestOracle runs real keepalived 2.2.7 and this agent on the same
// configurations, each in its own namespace with identical interfaces and
// real servers, and compares their IPVS tables (ipvsadm -Sn) after
// start-up, after a real server stops and the checks settle, and after a
// SIGHUP with a changed configuration.
func TestOracle(t *testing.T) {
	for _, tc := range oracleCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conf, reload := tc.confs(t)
			k, o := newSide(t, tc.reals), newSide(t, tc.reals)
			var extra []string
			if tc.keep {
				extra = []string{"--dont-release-ipvs"}
			}
			kp := peers.Keepalived(t, k.dir, conf, extra...)
			dir := t.TempDir()
			cf := filepath.Join(dir, "keepalived.conf")
			if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			op := peers.Start(t, o.dir, dir, ours, append([]string{"-n", "-l", "-D", "-C", "-f", cf, "-p", filepath.Join(dir, "ours.pid")}, extra...)...)

			start := settle(t, "start-up", k.dir, o.dir, "", false)
			if !strings.Contains(start, "-A ") {
				t.Fatalf("start-up: no service at all:\n%s", start)
			}
			t.Logf("start-up:\n%s", start)

			prev := start
			if tc.stop != "" {
				k.lns[tc.stop].Close()
				o.lns[tc.stop].Close()
				prev = settle(t, "after stopping "+tc.stop, k.dir, o.dir, start, true)
				t.Logf("after stopping %s:\n%s", tc.stop, prev)
			}

			before := strings.Count(op.Log(), "IPVS: ")
			if err := os.WriteFile(filepath.Join(kp.Dir, "keepalived.conf"), []byte(reload), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cf, []byte(reload), 0o644); err != nil {
				t.Fatal(err)
			}
			syscall.Kill(pidOf(t, filepath.Join(kp.Dir, "keepalived.pid")), syscall.SIGHUP)
			syscall.Kill(pidOf(t, filepath.Join(dir, "ours.pid")), syscall.SIGHUP)
			after := settle(t, "after SIGHUP", k.dir, o.dir, prev, true)
			t.Logf("after SIGHUP:\n%s", after)
			if n := strings.Count(op.Log(), "IPVS: ") - before; tc.writes >= 0 && n != tc.writes {
				t.Errorf("the reload made %d IPVS changes, want %d; log:\n%s", n, tc.writes, op.Log())
			}

			// SIGTERM: both remove what they made, or with -I both
			// leave it.
			if err := op.Stop(); err != nil {
				t.Errorf("ours on SIGTERM: %v\n%s", err, op.Log())
			}
			if err := kp.Stop(); err != nil {
				t.Errorf("keepalived on SIGTERM: %v", err)
			}
			a, b := ipvsTable(t, k.dir), ipvsTable(t, o.dir)
			if a != b {
				t.Errorf("after SIGTERM:\nkeepalived:\n%s\nours:\n%s", a, b)
			}
			if left := strings.Contains(b, "-A "); left != tc.keep {
				t.Errorf("after SIGTERM (-I %v), ours left:\n%s", tc.keep, b)
			}
			if !tc.keep {
				return
			}
			// Ours restarted on the table it left converges to the
			// same (keepalived's, left as it was) and makes no change.
			op = peers.Start(t, o.dir, dir, ours, "-n", "-l", "-D", "-C", "-f", cf, "-p", filepath.Join(dir, "ours.pid"))
			if got := settle(t, "restarted on the table left", k.dir, o.dir, "", false); got != b {
				t.Errorf("restarted: ours\n%s\nwant as left\n%s", got, b)
			}
			if n := strings.Count(op.Log(), "IPVS: "); n != 0 {
				t.Errorf("restarted on its own table, ours made %d IPVS changes:\n%s", n, op.Log())
			}
		})
	}
}

// TestOracleCasesConfigure checks, without a kernel, that every oracle
// configuration parses cleanly and makes valid pools and IPVS state.
func TestOracleCasesConfigure(t *testing.T) {
	for _, tc := range oracleCases {
		conf, reload := tc.confs(t)
		for _, text := range []string{conf, reload} {
			c := parse(t, text)
			fake := ipvstest.New()
			ctx, cancel := context.WithCancel(context.Background())
			a := newAgent(ctx, fake, &logger{w: io.Discard}, c)
			if err := a.configure(c); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			a.apply()
			if got := dump(t, fake); !strings.Contains(got, "10.0.0.") {
				t.Errorf("%s: table %q", tc.name, got)
			}
			a.shutdown()
			cancel()
		}
	}
}
