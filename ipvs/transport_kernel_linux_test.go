package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
)

// TestKernelReceiveHonoursContext blocks in a real receive with nothing to
// read and checks that a deadline or a cancellation ends it promptly, and
// that the client works afterwards.
func TestKernelReceiveHonoursContext(t *testing.T) {
	t.Parallel()
	ns := nstest.New(t)
	c, err := New(&Config{NetNSPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr := c.t.(*nlTransport)

	blockedRecv := func(ctx context.Context) (error, time.Duration) {
		conn, err := tr.get()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = conn.guard(ctx, func() error {
			_, err := conn.recv() // the kernel has nothing for us: blocks
			return err
		})
		tr.put(conn, err)
		return err, time.Since(start)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err, took := blockedRecv(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || took > 3*time.Second {
		t.Fatalf("deadline: %v after %v, want context.DeadlineExceeded within ~200ms", err, took)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	err, took = blockedRecv(ctx)
	if !errors.Is(err, context.Canceled) || took > 3*time.Second {
		t.Fatalf("cancel: %v after %v, want context.Canceled within ~200ms", err, took)
	}

	// Through the public API: an expired or cancelled context fails at
	// once, without touching the kernel.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	k := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	if err := c.CreateService(ctx, Service{ServiceKey: k}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled create: %v", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := c.Services(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expired list: %v", err)
	}

	// The client still works, on a fresh socket where one was discarded.
	bg := context.Background()
	if svcs, err := c.Services(bg); err != nil || len(svcs) != 0 {
		t.Fatalf("after cancellations: %v, %v", svcs, err)
	}
	if err := c.CreateService(bg, Service{ServiceKey: k, Scheduler: RoundRobin}); err != nil {
		t.Fatal(err)
	}
	if s, err := c.Service(bg, k); err != nil || s.Scheduler != RoundRobin {
		t.Fatalf("after cancellations: %+v, %v", s, err)
	}
}
