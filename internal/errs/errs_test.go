package errs

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
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

func TestWrapKeepsKindAndPackage(t *testing.T) {
	low := New("netcfg", "device eth9", ErrNotExist, errors.New("no such device"))
	w := Wrap("director", "add VIP", low)
	var e *Error
	if !errors.As(w, &e) || e.Pkg != "director" || e.Kind != ErrNotExist || !errors.Is(w, ErrNotExist) {
		t.Fatalf("Wrap(%v) = %#v", low, w)
	}
	if Wrap("director", "other", w) != w {
		t.Fatal("Wrap re-wrapped an error of its own package")
	}
	for cause, kind := range map[error]error{
		fmt.Errorf("x: %w", EPERM):              ErrPermission,
		fmt.Errorf("x: %w", context.Canceled):   ErrCanceled,
		errors.New("plain"):                     ErrKernel,
		fmt.Errorf("run: %w", exec.ErrNotFound): ErrUnavailable,
	} {
		if got := KindOf(Wrap("fwmark", "sync", cause)); got != kind {
			t.Errorf("Wrap(%v) kind %v, want %v", cause, got, kind)
		}
	}
	if Wrap("x", "y", nil) != nil {
		t.Fatal("Wrap(nil) is not nil")
	}
}
