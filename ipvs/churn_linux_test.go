//go:build linux

package ipvs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/ipvs"
)

// TestKernelListingUnderChurn: the kernel resumes a services dump by
// position in a table shared by every namespace, so a neighbour that keeps
// adding and deleting hundreds of services makes a dump of ours skip and
// repeat services. Services, Snapshot and Apply must never return or act
// on a wrong listing: each either gives exactly our 600 services (and a
// no-op Apply writes nothing) or fails with an error matching ErrBusy
// that the caller can retry. Not parallel: the churn would disturb the
// other tests' listings.
func TestKernelListingUnderChurn(t *testing.T) {
	a, _ := newClient(t)
	b, _ := newClient(t)
	const n, churn = 600, 300
	want := map[ipvs.ServiceKey]bool{}
	var desired ipvs.State
	batch := a.Batch()
	for i := range n {
		k := key4(ipvs.TCP, "10.1.0.1", uint16(1000+i))
		s := ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin}
		want[k] = true
		desired.Services = append(desired.Services, ipvs.ServiceState{Service: s})
		batch.CreateService(s)
	}
	_, err := batch.Commit(tctx(t))
	must(t, err)

	// The neighbour: add 300 services, delete them, again and again.
	ctx, stop := context.WithCancel(context.Background())
	var (
		wg     sync.WaitGroup
		cycles int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for cycles = 0; ctx.Err() == nil && cycles < 10000; cycles++ {
			add, del := b.Batch(), b.Batch()
			for i := range churn {
				k := key4(ipvs.UDP, fmt.Sprintf("10.2.%d.%d", cycles%200, i/250), uint16(1+i))
				add.CreateService(ipvs.Service{ServiceKey: k, Scheduler: ipvs.RoundRobin})
				del.DeleteService(k)
			}
			if _, err := add.Commit(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("neighbour's creates: %v", err)
				return
			}
			if _, err := del.Commit(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("neighbour's deletes: %v", err)
				return
			}
			// Bursts with a short pause: back to back, a fast neighbour
			// interrupted every listing of a run (30 of 30 ErrBusy on
			// 6.12; 21 and 25 in others). With 25 ms, 10 to 19 of 30
			// in 8 runs on both kernels: still heavy churn.
			select {
			case <-ctx.Done():
			case <-time.After(25 * time.Millisecond):
			}
		}
	}()

	const rounds = 30 // each proving listing makes up to six dumps of 600 services
	busy := 0
	check := func(round int, what string, got []ipvs.ServiceKey, err error) {
		if err != nil {
			if errors.Is(err, errs.ErrBusy) {
				busy++
				return
			}
			t.Errorf("round %d: %s: %v", round, what, err)
			return
		}
		seen := map[ipvs.ServiceKey]bool{}
		var bad []ipvs.ServiceKey
		for _, k := range got {
			if seen[k] || !want[k] {
				bad = append(bad, k)
			}
			seen[k] = true
		}
		if len(bad) > 0 || len(seen) != n {
			t.Errorf("round %d: %s returned %d distinct services of our %d, %d listed twice or not ours, and no error", round, what, len(seen), n, len(bad))
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for round := 0; round < rounds && time.Now().Before(deadline); round++ {
		switch round % 3 {
		case 0:
			svcs, err := a.Services(tctx(t))
			var keys []ipvs.ServiceKey
			for _, s := range svcs {
				keys = append(keys, s.ServiceKey)
			}
			check(round, "Services", keys, err)
		case 1:
			snap, err := a.Snapshot(tctx(t))
			var keys []ipvs.ServiceKey
			for _, s := range snap {
				keys = append(keys, s.ServiceKey)
			}
			check(round, "Snapshot", keys, err)
		case 2:
			res, err := a.Apply(tctx(t), desired, nil)
			switch {
			case errors.Is(err, errs.ErrBusy):
				busy++
			case err != nil:
				t.Errorf("round %d: no-op Apply: %v (%v)", round, err, res)
			case res.Writes() != 0:
				t.Errorf("round %d: no-op Apply wrote: %v", round, res)
			}
		}
	}
	stop()
	wg.Wait()
	if cycles < 3 {
		t.Errorf("the neighbour made only %d cycles while we listed: the test proved little", cycles)
	}
	if busy == rounds {
		t.Errorf("every listing was ErrBusy: correct, but useless under churn")
	}
	t.Logf("%d neighbour cycles of %d creates and deletes; %d of %d listings ErrBusy", cycles, churn, busy, rounds)
	// Our services are intact.
	svcs, err := a.Services(tctx(t))
	must(t, err)
	equal(t, "services after the churn", len(svcs), n)
}
