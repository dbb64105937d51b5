//go:build linux

package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// oldKernel passes requests to a real kernel with the tunnel attributes
// of destination writes left out: what a kernel before 5.2 makes of them,
// an IPIP tunnel and no error. It frames batches itself (no batchEncode),
// so the requests can be rewritten.
type oldKernel struct{ t *nlTransport }

func (o oldKernel) do(ctx context.Context, req request, fn func(uint8, []byte) error) error {
	return o.t.do(ctx, o.strip(req), fn)
}

func (o oldKernel) batch(ctx context.Context, reqs []request) ([]error, error) {
	out := make([]request, len(reqs))
	for i, r := range reqs {
		out[i] = o.strip(r)
	}
	return o.t.batch(ctx, out)
}

func (o oldKernel) close() error { return o.t.close() }

func (oldKernel) strip(r request) request {
	if r.cmd != cmdNewDest && r.cmd != cmdSetDest {
		return r
	}
	var w attrWriter
	_ = attrs(r.attrs, func(typ uint16, v []byte) error {
		start := w.begin(typ)
		_ = attrs(v, func(at uint16, av []byte) error {
			if typ != attrDest || at < dstTunType {
				w.bytes(at, av)
			}
			return nil
		})
		w.end(start)
		return nil
	})
	r.attrs = w.b
	return r
}

// TestKernelBatchTunnelReadBack: Batch and Apply report a GUE or GRE
// destination that the kernel turned into IPIP, as CreateDestination
// does, and leave no IPIP destination behind; on a kernel that honours
// them (6.1 and 6.12) the same writes succeed and read back exactly.
func TestKernelBatchTunnelReadBack(t *testing.T) {
	c := nsClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	vip := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	gue := Destination{Address: netip.MustParseAddr("192.168.1.2"), Port: 80, Forward: Tunnel, Weight: 1, TunnelType: GUE, TunnelPort: 6080}
	gre := Destination{Address: netip.MustParseAddr("192.168.1.3"), Port: 80, Forward: Tunnel, Weight: 1, TunnelType: GRE, TunnelFlags: TunnelChecksum}
	dr := Destination{Address: netip.MustParseAddr("192.168.1.4"), Port: 80, Forward: DirectRoute, Weight: 1}
	kernelDests := func() map[netip.Addr]Destination {
		t.Helper()
		ds, err := c.Destinations(ctx, vip)
		if err != nil {
			t.Fatal(err)
		}
		m := map[netip.Addr]Destination{}
		for _, d := range ds {
			m[d.Address] = d.Destination
		}
		return m
	}

	// An old kernel: the tunnel writes fail with ErrNotSupported and are
	// undone; the service and the DR destination stand.
	old := &Client{t: oldKernel{c.t.(*nlTransport)}}
	res, err := old.Batch().CreateService(Service{ServiceKey: vip}).CreateDestination(vip, gue).CreateDestination(vip, dr).
		CreateDestination(vip, gre).Commit(ctx)
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Commit on an old kernel: %v, want ErrNotSupported", err)
	}
	for i, want := range []bool{false, true, false, true} {
		if got := errors.Is(res.Errs[i], ErrNotSupported); got != want {
			t.Errorf("write %v: error %v", res.Changes[i], res.Errs[i])
		}
	}
	if m := kernelDests(); len(m) != 1 || m[dr.Address] != dr {
		t.Fatalf("kernel holds %v, want only the DR destination", m)
	}

	// Apply likewise, every time (nothing is marked verified), for a
	// creation and for an update of an IPIP destination to GRE.
	ipip := gre
	ipip.TunnelType, ipip.TunnelFlags = IPIP, 0
	if err := c.CreateDestination(ctx, vip, ipip); err != nil {
		t.Fatal(err)
	}
	desired := State{Services: []ServiceState{{Service: Service{ServiceKey: vip}, Destinations: []Destination{gue, gre, dr}}}}
	for i := 0; i < 2; i++ {
		ares, err := old.Apply(ctx, desired, nil)
		failed, _ := ares.Failed()
		if !errors.Is(err, ErrNotSupported) || len(failed) != 2 || len(ares.Applied()) != 0 {
			t.Fatalf("Apply %d on an old kernel: %v; applied %v, failed %v", i, err, ares.Applied(), failed)
		}
		if m := kernelDests(); len(m) != 2 || m[dr.Address] != dr || m[gre.Address] != ipip {
			t.Fatalf("Apply %d: kernel holds %v, want the DR destination and the IPIP one", i, m)
		}
	}
	if old.tunnelsVerified.Load() {
		t.Fatal("a downgrading kernel was marked verified")
	}

	// The real kernel honours both: Apply succeeds, the read-back agrees.
	ares, err := c.Apply(ctx, desired, nil)
	if err != nil || ares.Writes() != 2 {
		t.Fatalf("Apply: %v, %d writes (want 2: create GUE, update to GRE)", err, ares.Writes())
	}
	if m := kernelDests(); len(m) != 3 || m[gue.Address] != gue || m[gre.Address] != gre || m[dr.Address] != dr {
		t.Fatalf("kernel holds %v", m)
	}
	if !c.tunnelsVerified.Load() {
		t.Fatal("the tunnels were not read back")
	}
	if ares, err := c.Apply(ctx, desired, nil); err != nil || ares.Writes() != 0 {
		t.Fatalf("second Apply: %v, %d writes", err, ares.Writes())
	}
}
