package bgp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// Gate tells whether the director can serve a VIP now: nil if it can, else
// the reason it cannot.
type Gate func(ctx context.Context) error

// ServiceGate is open while the IPVS service key exists and has at least
// quorum destinations of non-zero weight (a health checker sets a failed
// server's weight to 0 or removes it, so this is the pool's quorum);
// quorum 0 means 1.
func ServiceGate(c *ipvs.Client, key ipvs.ServiceKey, quorum int) Gate {
	if quorum < 1 {
		quorum = 1
	}
	return func(ctx context.Context) error {
		if _, err := c.Service(ctx, key); err != nil {
			return fmt.Errorf("IPVS service %v: %w", key, err)
		}
		ds, err := c.Destinations(ctx, key)
		if err != nil {
			return fmt.Errorf("IPVS service %v: %w", key, err)
		}
		n := 0
		for _, d := range ds {
			if d.Weight > 0 {
				n++
			}
		}
		if n < quorum {
			return fmt.Errorf("IPVS service %v has %d serving destinations, quorum %d", key, n, quorum)
		}
		return nil
	}
}

// InterfaceGate is open while the named interface (of the calling
// goroutine's network namespace) exists and is up.
func InterfaceGate(name string) Gate {
	return func(context.Context) error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return fmt.Errorf("interface %s: %w", name, err)
		}
		if ifi.Flags&net.FlagUp == 0 {
			return fmt.Errorf("interface %s is down", name)
		}
		return nil
	}
}

// All is open while every gate is; it reports the first closed one.
func All(gates ...Gate) Gate {
	return func(ctx context.Context) error {
		for _, g := range gates {
			if err := g(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}

// Follow announces r while gate is open and withdraws it while it is
// closed, checking every interval (0 means 1 s), until ctx ends. Then it
// withdraws r, waiting up to 5 s for the withdrawal to be sent, and
// returns: nil when the withdrawal was sent, else the error. So a director
// that stops following before removing its IPVS service never leaves its
// VIP announced without a working service, and one that dies takes its
// route with its BGP sessions. Peers that come up later get r as long as
// it is announced.
func (c *Client) Follow(ctx context.Context, r Route, gate Gate, interval time.Duration) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := c.cfg.checkFamily(r); err != nil {
		return err
	}
	if gate == nil {
		return pkg.Invalid("configure", r.VIP.String(), "gate", "nil gate")
	}
	if interval <= 0 {
		interval = time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	announced := false
	var closedWhy string
	for {
		if err := gate(ctx); err != nil && ctx.Err() == nil {
			if why := err.Error(); why != closedWhy {
				closedWhy = why
				c.emit(Event{Kind: EventGateClosed, VIP: r.VIP, Reason: why})
			}
			if announced {
				// A failed send is retried on the next tick.
				if werr := c.withdraw(ctx, r.VIP, closedWhy); werr == nil || errors.Is(werr, ErrNotExist) {
					announced = false
				} else if errors.Is(werr, ErrClosed) {
					return werr
				}
			}
		} else if err == nil && !announced {
			closedWhy = ""
			if aerr := c.Announce(ctx, r); aerr == nil {
				announced = true
			} else if errors.Is(aerr, ErrClosed) {
				return aerr
			}
		}
		select {
		case <-ctx.Done():
			if !announced {
				return nil
			}
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return c.withdraw(wctx, r.VIP, "shutting down")
		case <-tick.C:
		}
	}
}
