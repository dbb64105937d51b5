package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/errs"
)

// guardKernel answers Apply's reads with n services (ports 1..n) and no
// destinations, and records writes.
func guardKernel(n int) (*fakeTransport, func() int) {
	f := &fakeTransport{}
	f.replies = func(req request) ([][]byte, error) {
		if req.cmd != cmdGetService || !req.dump {
			return nil, nil
		}
		var out [][]byte
		for p := 1; p <= n; p++ {
			var w attrWriter
			serviceAttr(&w, &Service{ServiceKey: guardKey(p), Scheduler: RoundRobin})
			out = append(out, w.b)
		}
		return out, nil
	}
	writes := func() int {
		n := 0
		for _, r := range f.reqs {
			if !r.dump {
				n++
			}
		}
		return n
	}
	return f, writes
}

func guardKey(port int) ServiceKey {
	return ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: uint16(port)}
}

// keep is a desired state with the kernel's services of ports 1..n.
func keep(n int) State {
	var st State
	for p := 1; p <= n; p++ {
		st.Services = append(st.Services, ServiceState{Service: Service{ServiceKey: guardKey(p), Scheduler: RoundRobin}})
	}
	return st
}

func TestApplyDeleteGuard(t *testing.T) {
	tests := []struct {
		name    string
		owned   int
		desired State
		opts    *ApplyOptions
		// refused: the error's text must contain it; "" means allowed,
		// with deletes writes.
		refused string
		deletes int
	}{
		{"empty desired state", 10, State{}, nil, "delete all 10 of the services it owns: the desired state is empty", 0},
		{"empty desired state, one service owned", 1, State{}, nil, "delete all 1 of the services", 0},
		{"empty desired state, share 1", 10, State{}, &ApplyOptions{MaxDeleteShare: 1}, "desired state is empty", 0},
		{"empty desired state, allowed", 10, State{}, &ApplyOptions{AllowMassDelete: true}, "", 10},
		{"empty desired state, nothing owned", 0, State{}, nil, "", 0},
		{"half deleted", 10, keep(5), nil, "", 5},
		{"more than half", 10, keep(4), nil, "6 of the 10 services it owns (60%, above MaxDeleteShare 50%)", 0},
		{"more than half, allowed", 10, keep(4), &ApplyOptions{AllowMassDelete: true}, "", 6},
		{"share raised", 10, keep(1), &ApplyOptions{MaxDeleteShare: 0.9}, "", 9},
		{"share lowered", 10, keep(8), &ApplyOptions{MaxDeleteShare: 0.1}, "2 of the 10 services it owns (20%, above MaxDeleteShare 10%)", 0},
		{"one may always go", 2, keep(1), &ApplyOptions{MaxDeleteShare: 0.1}, "", 1},
		{"a service replaced by another", 1, State{Services: []ServiceState{{Service: Service{ServiceKey: guardKey(99)}}}}, nil, "", 1},
		{"only owned services count", 10, keep(0), &ApplyOptions{Owns: func(k ServiceKey) bool { return k.Port <= 2 }}, "delete all 2 of the services", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, writes := guardKernel(tt.owned)
			res, err := newFake(f).Apply(context.Background(), tt.desired, tt.opts)
			if tt.refused == "" {
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, ch := range res.Applied() {
					if ch.Op == OpDeleteService {
						n++
					}
				}
				if n != tt.deletes {
					t.Fatalf("%d services deleted, want %d (%v)", n, tt.deletes, res)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, errs.ErrConflict) || errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an *Error matching ErrConflict only", err)
			}
			if !strings.Contains(err.Error(), tt.refused) || !strings.Contains(err.Error(), "AllowMassDelete") {
				t.Fatalf("got %q, want it to say %q and name AllowMassDelete", err, tt.refused)
			}
			if writes() != 0 || res.Writes() != 0 {
				t.Fatalf("%d writes sent despite the refusal", writes())
			}
		})
	}
}

func TestApplyDeleteGuardOptions(t *testing.T) {
	for _, share := range []float64{-0.1, 1.5, 2} {
		f, _ := guardKernel(3)
		_, err := newFake(f).Apply(context.Background(), State{}, &ApplyOptions{MaxDeleteShare: share})
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) || e.Field != "MaxDeleteShare" || len(f.reqs) != 0 {
			t.Errorf("share %v: got %v, want ErrInvalid on MaxDeleteShare before any request", share, err)
		}
	}
}

// Services already draining were counted when their drain began: later
// Applies that finish the drain are not refused.
func TestApplyDeleteGuardCountsDrainsOnce(t *testing.T) {
	w := newDrainWorld(t)
	w.opts.DrainServices = true
	var snap []ServiceSnapshot
	for p := 1; p <= 4; p++ {
		snap = append(snap, ServiceSnapshot{
			ServiceInfo:  ServiceInfo{Service: Service{ServiceKey: guardKey(p), Scheduler: RoundRobin}},
			Destinations: []DestinationInfo{kdest(rs(byte(p), uint16(p), 1), 1, 0)},
		})
	}
	check := func(desired State) error {
		ix, err := indexState(desired)
		if err != nil {
			t.Fatal(err)
		}
		p := planner{ix: ix, opts: w.opts, now: w.drains.clock(),
			oldDests: w.drains.dests, oldSvcs: w.drains.svcs,
			newDests: map[drainKey]time.Time{}, newSvcs: map[ServiceKey]time.Time{}}
		p.plan(snap)
		w.drains.dests, w.drains.svcs = p.newDests, p.newSvcs
		return p.checkDeletes(len(snap))
	}
	// Two of four begin draining: allowed (50%).
	if err := check(keep(2)); err != nil {
		t.Fatal(err)
	}
	// Still draining, and one more leaves: three of four leaving, but only
	// one begins now.
	w.now = w.now.Add(time.Second)
	if err := check(keep(1)); err != nil {
		t.Fatalf("drains in progress counted again: %v", err)
	}
	// A fresh record (an agent restarted mid-drain) counts them all.
	w.drains = Drains{now: w.drains.now}
	w.opts.Drains = &w.drains
	if err := check(keep(1)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d of the %d", 3, 4)) {
		t.Fatalf("got %v, want a refusal of 3 of the 4", err)
	}
}
