//go:build linux

package director

import (
	"context"
	"errors"
	"testing"

	"github.com/golvs/lvs/internal/netcfg"
)

// A Setup whose Client is closed fails cleanly instead of using closed
// sockets; a closed Client refuses calls.
func TestClosedClient(t *testing.T) {
	c, err := New(nil)
	if err != nil {
		t.Skip("no netlink here:", err)
	}
	j := new(netcfg.Journal)
	ran := false
	j.Record("test step", func() error { ran = true; return nil })
	s := &Setup{op: "test", j: j, c: c}
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
