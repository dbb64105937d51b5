package runguard

import (
	"errors"
	"testing"

	"github.com/golvs/lvs/internal/errs"
)

func TestGuard(t *testing.T) {
	var g Guard
	done, err := g.Start("p")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Start("p"); !errors.Is(err, errs.ErrBusy) {
		t.Errorf("second Start: %v, want ErrBusy", err)
	}
	done()
	if done, err = g.Start("p"); err != nil {
		t.Fatalf("Start after done: %v", err)
	}
	done()
	if g.Close() || !g.Closed() || !g.Close() {
		t.Error("Close does not report an earlier Close")
	}
	if _, err := g.Start("p"); !errors.Is(err, errs.ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
}
