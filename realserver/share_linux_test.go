//go:build linux

package realserver_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
)

// Two agents on one real server (issue 15 item 2): stopping the first must
// not lift what the second still relies on. For each backend, agent A
// holds VIP 10.0.0.100 and agent B holds the same VIP (a shared VIP and
// shared arptables rules) plus 10.0.0.101; after A's teardown the director
// still gets both VIPs' traffic split across the real servers and is the
// only one answering ARP for them; after B's, rs1 is exactly as before.
func TestTwoAgentsShareARPSuppression(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLab(t)
	vip2 := netip.MustParseAddr("10.0.0.101")
	before := state(t, l.rs[0])
	arpBefore := l.rs[0].Exec(t, "arptables", "-S")
	for _, backend := range []realserver.ARPBackend{realserver.ARPSysctl, realserver.ARPTables} {
		t.Run(backend.String(), func(t *testing.T) {
			arp := func(i int) realserver.ARP {
				if backend == realserver.ARPSysctl {
					return realserver.ARP{}
				}
				return realserver.ARP{Backend: backend, RIP: rsIPs[i]}
			}
			for _, v := range []netip.Addr{vip, vip2} {
				l.direct(t, v, ipvs.Destination{Forward: ipvs.DirectRoute}) // the director holds both VIPs
			}
			// rs2 is an ordinary real server for both VIPs.
			s2, err := client(t, l.rs[1]).SetupDR(ctx, realserver.DR{VIPs: []netip.Addr{vip, vip2}, ARP: arp(1)})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Teardown(ctx)
			a, err := nstest.Open(realserver.New(&realserver.Config{NetNSPath: l.rs[0].Path, Identity: "rs-a"}))(t).SetupDR(ctx, realserver.DR{VIPs: []netip.Addr{vip}, ARP: arp(0)})
			if err != nil {
				t.Fatal(err)
			}
			b, err := nstest.Open(realserver.New(&realserver.Config{NetNSPath: l.rs[0].Path, Identity: "rs-b"}))(t).SetupDR(ctx, realserver.DR{VIPs: []netip.Addr{vip, vip2}, ARP: arp(0)})
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Changes()) == 0 {
				t.Fatal("agent B's set-up recorded nothing: it would not keep what it relies on")
			}
			t.Logf("agent B's changes: %q", b.Changes())
			if err := a.Teardown(ctx); err != nil {
				t.Fatal(err)
			}
			for _, v := range []netip.Addr{vip, vip2} {
				l.direct(t, v, ipvs.Destination{Forward: ipvs.DirectRoute}) // one service at a time
				const n = 10
				wantSplit(t, l.split(v, n), n)
				l.wantOnlyDirector(t, v)
			}
			if err := b.Teardown(ctx); err != nil {
				t.Fatal(err)
			}
			nstest.SameState(t, "rs1 after both agents", before, state(t, l.rs[0]))
			if got := l.rs[0].Exec(t, "arptables", "-S"); got != arpBefore {
				t.Errorf("arptables rules after both agents:\n%s\nwant:\n%s", got, arpBefore)
			}
		})
	}
}
