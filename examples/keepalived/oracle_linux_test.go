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
	name   string
	conf   string
	reals  []string // ADDR:PORT listeners in the real servers' namespace
	stop   string   // the real server stopped in step 2 ("" for none)
	reload string   // the configuration of step 3
	// writes is how many IPVS changes our reload must make (-1: any); its
	// case checks every 2 s with 2 s timeouts, as a check timing out
	// under the VM's load would write too.
	writes int
}

var oracleCases = []oracleCase{{
	name: "wrr-nat-thresholds",
	conf: `virtual_server 10.0.0.100 80 {
  delay_loop 2
  lb_algo wrr
  lb_kind NAT
  protocol TCP
  real_server 10.0.1.1 80 {
    weight 3
    TCP_CHECK {
      connect_timeout 2
    }
  }
  real_server 10.0.1.2 8080 {
    weight 1
    uthreshold 100
    lthreshold 10
    TCP_CHECK {
      connect_timeout 2
      retry 0
    }
  }
}
`,
	reals: []string{"10.0.1.1:80", "10.0.1.2:8080"},
	stop:  "10.0.1.2:8080",
	reload: `virtual_server 10.0.0.100 80 {
  delay_loop 2
  lb_algo wrr
  lb_kind NAT
  protocol TCP
  real_server 10.0.1.1 80 {
    weight 5
    TCP_CHECK {
      connect_timeout 2
    }
  }
  real_server 10.0.1.2 8080 {
    weight 1
    uthreshold 100
    lthreshold 10
    TCP_CHECK {
      connect_timeout 2
      retry 0
    }
  }
}
`,
	writes: 1,
}, {
	name: "dr-persistent-inhibit",
	conf: `virtual_server 10.0.0.101 443 {
  delay_loop 1
  lvs_sched sh
  sh-port
  lvs_method DR
  persistence_timeout
  persistence_granularity 255.255.255.0
  inhibit_on_failure
  real_server 10.0.1.1 443 {
    weight 2
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 10.0.1.2 443 {
    weight 4
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`,
	reals: []string{"10.0.1.1:443", "10.0.1.2:443", "10.0.1.3:443"},
	stop:  "10.0.1.1:443",
	reload: `virtual_server 10.0.0.101 443 {
  delay_loop 1
  lvs_sched sh
  sh-port
  lvs_method DR
  persistence_timeout
  persistence_granularity 255.255.255.0
  inhibit_on_failure
  real_server 10.0.1.1 443 {
    weight 2
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 10.0.1.2 443 {
    weight 4
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 10.0.1.3 443 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`,
	writes: 1,
}, {
	name: "quorum-sorry",
	conf: `virtual_server 10.0.0.102 80 {
  delay_loop 1
  lb_algo rr
  quorum 2
  sorry_server 10.0.1.9 80
  real_server 10.0.1.1 80 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 10.0.1.2 80 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`,
	reals: []string{"10.0.1.1:80", "10.0.1.2:80"},
	stop:  "10.0.1.2:80",
	reload: `virtual_server 10.0.0.102 80 {
  delay_loop 1
  lb_algo rr
  quorum 1
  sorry_server 10.0.1.9 80
  real_server 10.0.1.1 80 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 10.0.1.2 80 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`,
	writes: -1,
}, {
	name: "group-fwmark-tun-udp",
	conf: `virtual_server_group web {
  10.0.0.110-111 80
  fwmark 5
}
virtual_server group web {
  delay_loop 1
  lb_algo lc
  lb_kind TUN
  real_server 10.0.1.1 80 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 10.0.1.2 80 {
    weight 7
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
virtual_server 10.0.0.120 53 {
  delay_loop 1
  lb_algo rr
  protocol UDP
  ops
  real_server 10.0.1.1 53 {
  }
  real_server 10.0.1.2 53 {
    weight 2
  }
}
`,
	reals: []string{"10.0.1.1:80", "10.0.1.2:80"},
	stop:  "10.0.1.1:80",
	reload: `virtual_server_group web {
  10.0.0.110-111 80
  fwmark 5
}
virtual_server group web {
  delay_loop 1
  lb_algo lc
  lb_kind TUN
  real_server 10.0.1.1 80 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 10.0.1.2 80 {
    weight 7
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
virtual_server 10.0.0.120 53 {
  delay_loop 1
  lb_algo wlc
  protocol UDP
  ops
  real_server 10.0.1.1 53 {
  }
}
`,
	writes: -1,
}}

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
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		s.lns[a] = ln
		t.Cleanup(func() { ln.Close() })
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
			k, o := newSide(t, tc.reals), newSide(t, tc.reals)
			kp := peers.Keepalived(t, k.dir, tc.conf)
			dir := t.TempDir()
			cf := filepath.Join(dir, "keepalived.conf")
			if err := os.WriteFile(cf, []byte(tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			op := peers.Start(t, o.dir, dir, ours, "-n", "-l", "-D", "-C", "-f", cf, "-p", filepath.Join(dir, "ours.pid"))

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
			if err := os.WriteFile(filepath.Join(kp.Dir, "keepalived.conf"), []byte(tc.reload), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cf, []byte(tc.reload), 0o644); err != nil {
				t.Fatal(err)
			}
			syscall.Kill(pidOf(t, filepath.Join(kp.Dir, "keepalived.pid")), syscall.SIGHUP)
			syscall.Kill(pidOf(t, filepath.Join(dir, "ours.pid")), syscall.SIGHUP)
			after := settle(t, "after SIGHUP", k.dir, o.dir, prev, true)
			t.Logf("after SIGHUP:\n%s", after)
			if n := strings.Count(op.Log(), "IPVS: ") - before; tc.writes >= 0 && n != tc.writes {
				t.Errorf("the reload made %d IPVS changes, want %d; log:\n%s", n, tc.writes, op.Log())
			}

			// SIGTERM: both remove what they made.
			if err := op.Stop(); err != nil {
				t.Errorf("ours on SIGTERM: %v\n%s", err, op.Log())
			}
			if err := kp.Stop(); err != nil {
				t.Errorf("keepalived on SIGTERM: %v", err)
			}
			if a, b := ipvsTable(t, k.dir), ipvsTable(t, o.dir); a != b {
				t.Errorf("after SIGTERM:\nkeepalived:\n%s\nours:\n%s", a, b)
			}
		})
	}
}

// TestOracleCasesConfigure checks, without a kernel, that every oracle
// configuration parses cleanly and makes valid pools and IPVS state.
func TestOracleCasesConfigure(t *testing.T) {
	for _, tc := range oracleCases {
		for _, text := range []string{tc.conf, tc.reload} {
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
