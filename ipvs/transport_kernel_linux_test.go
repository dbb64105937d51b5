package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"golang.org/x/sys/unix"
)

// nsClient is a client of a namespace of the test's own, closed when the
// test ends.
func nsClient(t *testing.T) *Client {
	t.Helper()
	return nstest.Open(New(&Config{NetNSPath: nstest.New(t).Path}))(t)
}

// TestKernelReceiveHonoursContext blocks in a real receive with nothing to
// read and checks that a deadline or a cancellation ends it promptly, and
// that the client works afterwards.
func TestKernelReceiveHonoursContext(t *testing.T) {
	t.Parallel()
	c := nsClient(t)
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

// TestKernelDumpsStopWhenAsked: the destination dumps of a snapshot run
// outside the runtime's poller, so they check the context and Close
// themselves: a cancellation or a Close midway ends them with that reason,
// and the client (after a cancellation) works afterwards. Close waits for
// the dumps to stop.
func TestKernelDumpsStopWhenAsked(t *testing.T) {
	t.Parallel()
	c := nsClient(t)
	bg := context.Background()
	const n = 300
	b := c.Batch()
	var reqs []request
	for i := range n {
		k := ServiceKey{Protocol: TCP, Address: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 80}
		b.CreateService(Service{ServiceKey: k})
		b.CreateDestination(k, Destination{Address: netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}), Port: 80, Forward: Masquerade, Weight: 1})
		reqs = append(reqs, request{cmd: cmdGetDest, dump: true, attrs: encode(func(w *attrWriter) { serviceKeyAttr(w, k) })})
	}
	if _, err := b.Commit(bg); err != nil {
		t.Fatal(err)
	}
	tr := c.t.(*nlTransport)

	all := 0
	if err := tr.dumpMany(bg, reqs, func(int, []byte) error { all++; return nil }); err != nil || all != n {
		t.Fatalf("every dump: %d destinations, %v", all, err)
	}

	ctx, cancel := context.WithCancel(bg)
	seen := 0
	err := tr.dumpMany(ctx, reqs, func(i int, _ []byte) error {
		seen++
		if i == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || seen >= n {
		t.Fatalf("cancelled after dump 10: %v after %d destinations", err, seen)
	}
	if snap, err := c.Snapshot(bg); err != nil || len(snap) != n {
		t.Fatalf("after the cancellation: %d services, %v", len(snap), err)
	}

	seen = 0
	closed := make(chan error, 1)
	err = tr.dumpMany(bg, reqs, func(i int, _ []byte) error {
		seen++
		if i == 10 {
			go func() { closed <- c.Close() }()
			// Wait until the client is marked closed before going on.
			for tr.stopped(bg) == nil {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	})
	if !errors.Is(err, errClosed) || seen >= n {
		t.Fatalf("closed after dump 10: %v after %d destinations", err, seen)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the dumps stopped")
	}
}

// TestKernelSnapshotSmallDatagrams: Snapshot reads destination dumps into
// buffers just under a page (dumpBufSize), relying on the kernel never
// sending more than that to a socket that reads no more; a service with
// many destinations makes the kernel split them over many datagrams, each
// of which must arrive whole, and Snapshot must read what Destinations
// (64 KiB reads) reads, IPv6 included.
func TestKernelSnapshotSmallDatagrams(t *testing.T) {
	t.Parallel()
	c := nsClient(t)
	ctx := context.Background()
	b := c.Batch()
	counts := []int{1, 11, 40, 200}
	var keys []ServiceKey
	for i, n := range counts {
		k := ServiceKey{Protocol: TCP, Address: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), Port: 80}
		if i%2 == 1 {
			k.Address = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})
		}
		keys = append(keys, k)
		b.CreateService(Service{ServiceKey: k})
		for j := range n {
			a := netip.AddrFrom4([4]byte{192, 168, byte(j >> 8), byte(j + 1)})
			if i%2 == 1 {
				a = netip.AddrFrom16([16]byte{0xfd, 15: byte(j + 1), 14: byte(j >> 8)})
			}
			b.CreateDestination(k, Destination{Address: a, Port: 8080, Forward: Masquerade, Weight: uint32(j + 1), UpperThreshold: 9})
		}
	}
	if _, err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	snap, err := c.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap) != len(counts) {
		t.Fatalf("%d services, want %d", len(snap), len(counts))
	}
	for _, s := range snap {
		want, err := c.Destinations(ctx, s.ServiceKey)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(keys, func(k ServiceKey) bool { return k.Address == s.Address })
		if i < 0 || len(s.Destinations) != counts[i] || !slices.Equal(s.Destinations, want) {
			t.Errorf("%v: Snapshot has %d destinations, Destinations %d, want %d (or they differ)", s.ServiceKey, len(s.Destinations), len(want), counts[max(i, 0)])
		}
	}
}

// TestKernelBatchFailuresFitReceiveBuffer: when every request of a batch
// fails (destinations of a service that does not exist), each must come
// back with its own error, none lost to ENOBUFS: with the buffers the
// kernel grants root, and with a small receive buffer, as a container's
// user namespace gets (no SO_RCVBUFFORCE, the default rmem_max).
func TestKernelBatchFailuresFitReceiveBuffer(t *testing.T) {
	t.Parallel()
	for _, small := range []bool{false, true} {
		c := nsClient(t)
		if small {
			tr := c.t.(*nlTransport)
			conn, err := tr.get()
			if err != nil {
				t.Fatal(err)
			}
			var serr error
			err = conn.rc.Control(func(fd uintptr) {
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<10); serr != nil {
					return
				}
				rcv, err1 := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
				snd, err2 := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
				serr = errors.Join(err1, err2)
				conn.batchBytes, conn.batchReqs = batchLimits(rcv, snd)
			})
			if err = errors.Join(err, serr); err != nil {
				t.Fatal(err)
			}
			tr.put(conn, nil)
		}
		const n = 6000
		k := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
		b := c.Batch()
		for i := range n {
			b.CreateDestination(k, Destination{Address: netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}), Port: 80, Forward: Masquerade, Weight: 1})
		}
		res, err := b.Commit(context.Background())
		if !errors.Is(err, ErrNotExist) || len(res.Errs) != n {
			t.Fatalf("small buffer %v: %v, %d results", small, err, len(res.Errs))
		}
		for i, e := range res.Errs {
			if !errors.Is(e, ErrNotExist) {
				t.Fatalf("small buffer %v: request %d: %v", small, i, e)
			}
		}
	}
}

// TestKernelServicesDumpSizes checks what Services reasons with (see
// servicesDump) against the running kernel: no service's message, with an
// IPv6 key, scheduler and engine names, persistence and both stats nests,
// is longer than maxServiceMessage; a few services come whole in one
// datagram; a dump of many comes in datagrams of the size asked for, each
// but the last filled to within one service of it: 32 KiB on a pooled
// socket, any size through dumpSized, NLMSG_GOODSIZE (within
// goodSizeBounds) with goodSize; and Services lists them all.
func TestKernelServicesDumpSizes(t *testing.T) {
	t.Parallel()
	c := nsClient(t)
	ctx := context.Background()
	b := c.Batch()
	long := ServiceKey{Protocol: UDP, Address: netip.MustParseAddr("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), Port: 5060}
	nm, err := NetmaskBits(IPv6, 32)
	if err != nil {
		t.Fatal(err)
	}
	b.CreateService(Service{ServiceKey: long, Scheduler: "lblcr", PersistenceEngine: PersistenceEngineSIP, Flags: FlagPersistent, Timeout: 300 * time.Second, Netmask: nm})
	if _, err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := c.listServices(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !d.whole() || len(d.msgs) != 1 || d.msgs[0] > maxServiceMessage {
		t.Errorf("one service: whole %v, message lengths %v (maxServiceMessage %d)", d.whole(), d.msgs, maxServiceMessage)
	}
	b = c.Batch()
	const n = 600
	for i := range n {
		k := ServiceKey{Protocol: UDP, Address: netip.MustParseAddr("10.3.0.1"), Port: uint16(1 + i)}
		b.CreateService(Service{ServiceKey: k, Scheduler: RoundRobin})
		for j := range 4 { // the shape the benchmarks use, for the figures below
			b.CreateDestination(k, Destination{Address: netip.AddrFrom4([4]byte{10, 4, 0, byte(j + 1)}), Port: 53, Forward: Masquerade, Weight: 1})
		}
	}
	if _, err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The package's other tests change their namespaces' services
	// meanwhile, which can make one dump repeat or skip: each size's
	// figures come from a dump that listed all n+1 once each.
	lo, hi := goodSizeBounds()
	for _, size := range []int{0, 20000, 7000, goodSize} {
		var grams []int
		count := 0
		for try := 0; try < 10 && count != n+1; try++ {
			grams, count = nil, 0
			req := request{cmd: cmdGetService, dump: true, onDatagram: func(n int) { grams = append(grams, n) }}
			fn := func(uint8, []byte) error { count++; return nil }
			if size == 0 {
				err = c.t.do(ctx, req, fn)
			} else {
				err = c.t.(sizedDumper).dumpSized(ctx, req, size, fn)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if count != n+1 || len(grams) < 3 {
			t.Fatalf("size %d: %d services in datagrams %v: want %d in several", size, count, grams, n+1)
		}
		full, most := size, size
		switch size {
		case 0:
			full, most = largeDatagram, 32768
		case goodSize:
			full, most = lo, hi
		}
		for _, g := range grams[:len(grams)-2] { // the last carries the rest, then DONE
			if g <= full-maxServiceMessage || g > most {
				t.Errorf("size %d: a full datagram of %d bytes, want (%d, %d]: %v", size, g, full-maxServiceMessage, most, grams)
			}
		}
		d, err := c.listServices(ctx, size)
		if err != nil || len(d.svcs) > n+1 || d.whole() {
			t.Errorf("size %d: listed %d services (whole %v), %v", size, len(d.svcs), d.whole(), err)
		}
	}
	listed, err := c.Services(ctx)
	if err != nil || len(listed) != n+1 {
		t.Errorf("Services: %d services, %v; want %d", len(listed), err, n+1)
	}
	// What proving a listing costs beside the dump (a figure for the
	// log, not an assertion).
	const rounds = 5
	var dump, whole time.Duration
	for range rounds {
		t0 := time.Now()
		_, err1 := c.listServices(ctx, 0)
		t1 := time.Now()
		_, err2 := c.Services(ctx)
		t2 := time.Now()
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		dump, whole = dump+t1.Sub(t0), whole+t2.Sub(t1)
	}
	t.Logf("%d services, mean of %d: one dump %v, Services %v", n+1, rounds, dump/rounds, whole/rounds)
}
