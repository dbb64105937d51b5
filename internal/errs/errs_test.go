package errs

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestErrorMatchesKindAndCause(t *testing.T) {
	e := &Error{Pkg: "ipvs", Op: "create service", Object: "TCP 10.0.0.1:80", Kind: ErrExist, Err: EEXIST}
	if !errors.Is(e, ErrExist) || !errors.Is(e, syscall.Errno(17)) {
		t.Fatalf("%v does not match its kind and errno", e)
	}
	if errors.Is(e, ErrNotExist) {
		t.Fatalf("%v matches another kind", e)
	}
	if got, want := e.Error(), "ipvs: create service TCP 10.0.0.1:80: already exists (EEXIST)"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("agent: %w", e)
	if KindOf(wrapped) != ErrExist {
		t.Fatalf("KindOf(%v) = %v", wrapped, KindOf(wrapped))
	}
	c := New("director", "add VIP", ErrCanceled, context.DeadlineExceeded)
	if !errors.Is(c, context.DeadlineExceeded) || !errors.Is(c, ErrCanceled) {
		t.Fatalf("%v does not match its context cause", c)
	}
	if got, want := c.Error(), "director: add VIP: context deadline exceeded (cancelled)"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	v := Invalid("health", "configure", "10.0.0.2:80", "Check.Interval", "must be positive")
	if got, want := v.Error(), "health: configure 10.0.0.2:80: Check.Interval: must be positive"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}

func TestErrnoKindIsOneSentinel(t *testing.T) {
	for e := syscall.Errno(1); e < 134; e++ {
		k := ErrnoKind(e)
		n := 0
		for _, s := range All() {
			if errors.Is(k, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("errno %d maps to %v, which matches %d sentinels", e, k, n)
		}
	}
	if ErrnoKind(ENOBUFS) != ErrBusy || ErrnoKind(syscall.Errno(200)) != ErrKernel {
		t.Fatal("ENOBUFS or an unknown errno mapped wrongly")
	}
}
