package undo

import (
	"context"
	"errors"
	"testing"

	"github.com/golvs/lvs/internal/errs"
)

// The one lifecycle: a done ctx and a closed client are refused before
// anything runs and can be retried; otherwise undo runs once.
func TestTeardownSemantics(t *testing.T) {
	var nilSetup *Setup
	if err := nilSetup.Teardown(context.Background()); err != nil || nilSetup.Changes() != nil {
		t.Errorf("nil Setup: %v", err)
	}
	runs := 0
	closed := errors.New("client is closed")
	var liveErr error
	s := New("director", "add VIP", []string{"remove address"}, func() error { return liveErr },
		func(context.Context) error { runs++; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Teardown(ctx); !errors.Is(err, errs.ErrCanceled) || !errors.Is(err, context.Canceled) || runs != 0 {
		t.Errorf("done ctx: %v, runs %d", err, runs)
	}
	liveErr = closed
	err := s.Teardown(context.Background())
	var e *errs.Error
	if !errors.Is(err, errs.ErrClosed) || !errors.As(err, &e) || e.Pkg != "director" || runs != 0 {
		t.Errorf("closed client: %v, runs %d", err, runs)
	}
	liveErr = nil
	for i := 0; i < 2; i++ {
		if err := s.Teardown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if runs != 1 {
		t.Errorf("undo ran %d times, want once", runs)
	}
	if c := s.Changes(); len(c) != 1 || c[0] != "remove address" {
		t.Errorf("Changes %q", c)
	}
}
