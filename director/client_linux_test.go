//go:build linux

package director

import (
	"context"
	"errors"
	"testing"

	"github.com/golvs/lvs/internal/undo"
)

// A Setup whose Client is closed fails cleanly instead of using closed
// sockets; a closed Client refuses calls.
func TestClosedClient(t *testing.T) {
	c, err := New(nil)
	if err != nil {
		t.Skip("no netlink here:", err)
	}
	ran := false
	s := undo.New("director", "test", []string{"test step"}, c.live, func(context.Context) error { ran = true; return nil })
	c.Close()
	if err := s.Teardown(context.Background()); !errors.Is(err, ErrClosed) || ran {
		t.Errorf("Teardown after Close: %v (step ran: %v)", err, ran)
	}
	if _, err := c.EnableForwarding(context.Background(), Forwarding{IPv4: true}); !errors.Is(err, ErrClosed) {
		t.Errorf("call after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	var nilSetup *Setup
	if err := nilSetup.Teardown(context.Background()); err != nil {
		t.Errorf("nil Setup: %v", err)
	}
}
