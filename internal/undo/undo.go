package undo

import (
	"context"
	"sync"

	"github.com/golvs/lvs/internal/errs"
)

// Setup is what one host change did, and how to undo it.
type Setup struct {
	pkg, op string
	changes []string
	live    func() error
	undo    func(ctx context.Context) error

	mu   sync.Mutex
	done bool
}

// New returns the Setup of pkg's call op. changes describes the steps in
// the order undo runs them; live reports a closed client (nil: never
// closed); undo runs the steps and returns the package's own error.
func New(pkg, op string, changes []string, live func() error, undo func(ctx context.Context) error) *Setup {
	return &Setup{pkg: pkg, op: op, changes: changes, live: live, undo: undo}
}

// Changes describes what Teardown would undo, in the order it would, e.g.
// "release address 10.0.0.100/32 on eth0". Empty when the call changed
// nothing.
func (s *Setup) Changes() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.changes...)
}

// Teardown undoes the set-up; see the package documentation.
func (s *Setup) Teardown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	op := "tear down " + s.op
	if err := ctx.Err(); err != nil {
		return errs.New(s.pkg, op, errs.ErrCanceled, err)
	}
	if s.live != nil {
		if err := s.live(); err != nil {
			return errs.New(s.pkg, op, errs.ErrClosed, err)
		}
	}
	s.done = true
	if s.undo == nil {
		return nil
	}
	return s.undo(ctx)
}
