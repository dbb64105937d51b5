// Package agent is the life cycle the example programs share: run set-up
// steps in order, print "ready", wait for SIGINT or SIGTERM, and undo the
// steps in reverse order. A failing step undoes the ones before it, so a
// failed start leaves nothing behind.
package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Step is one set-up step; it returns its undo.
type Step func(ctx context.Context) (func(context.Context) error, error)

// Serve runs steps as described in the package doc and returns the exit
// status: 0 after a clean teardown, 1 when set-up or teardown failed. name
// prefixes the messages on standard error.
func Serve(name string, steps []Step) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var undo []func(context.Context) error
	teardown := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i](ctx))
		}
		return errors.Join(errs...)
	}
	for _, s := range steps {
		u, err := s(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, name+": set-up failed:", err)
			if err := teardown(); err != nil {
				fmt.Fprintln(os.Stderr, name+": rollback:", err)
			}
			return 1
		}
		undo = append(undo, u)
	}
	fmt.Println("ready")
	<-ctx.Done()
	if err := teardown(); err != nil {
		fmt.Fprintln(os.Stderr, name+": teardown:", err)
		return 1
	}
	return 0
}
