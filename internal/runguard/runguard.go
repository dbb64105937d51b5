// Package runguard holds the state of the SDK's objects with a Run and a
// Close (failover.Client, vrrp.Node): Run may not start after Close, nor
// while another Run runs.
package runguard

import (
	"errors"
	"sync/atomic"

	"github.com/golvs/lvs/internal/errs"
)

// Guard is that state; the zero value is open and idle.
type Guard struct {
	running, closed atomic.Bool
}

// Close marks the object closed and reports whether it already was.
func (g *Guard) Close() (already bool) { return g.closed.Swap(true) }

// Closed reports whether Close was called.
func (g *Guard) Closed() bool { return g.closed.Load() }

// Running reports whether a Run runs.
func (g *Guard) Running() bool { return g.running.Load() }

// Start starts a Run of package pkg's object: ErrClosed after Close,
// ErrBusy while another Run runs. The caller calls done when its Run
// returns.
func (g *Guard) Start(pkg string) (done func(), err error) {
	if g.closed.Load() {
		return nil, errs.New(pkg, "run", errs.ErrClosed, nil)
	}
	if !g.running.CompareAndSwap(false, true) {
		return nil, errs.New(pkg, "run", errs.ErrBusy, errors.New("already running"))
	}
	return func() { g.running.Store(false) }, nil
}
