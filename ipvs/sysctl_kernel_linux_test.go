//go:build linux

package ipvs_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/golvs/lvs/ipvs"
)

// TestKernelSetSysctlSetup: SetSysctl returns the SDK's undo lifecycle. Its
// Teardown restores the value it found, once; a second identical set-up
// records nothing; a value another owner wrote since is left alone; a
// done ctx and a closed client are refused before anything is undone.
func TestKernelSetSysctlSetup(t *testing.T) {
	c, ns := newClient(t)
	ctx := tctx(t)
	const name = ipvs.SysctlExpireNodestConn
	read := func() string {
		t.Helper()
		return strings.TrimSpace(ns.Exec(t, "cat", "/proc/sys/net/ipv4/vs/"+string(name)))
	}
	if v := read(); v != "0" {
		t.Fatalf("a fresh namespace has %s=%q", name, v)
	}
	set, err := c.SetSysctl(ctx, name, "1")
	if err != nil || len(set.Changes()) != 1 || read() != "1" {
		t.Fatalf("SetSysctl: %v, %v; now %q", set.Changes(), err, read())
	}
	again, err := c.SetSysctl(ctx, name, "1")
	if err != nil || len(again.Changes()) != 0 {
		t.Fatalf("second SetSysctl: %v, %v", again.Changes(), err)
	}
	if err := again.Teardown(ctx); err != nil || read() != "1" {
		t.Fatalf("the second set-up's Teardown: %v; now %q", err, read())
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := set.Teardown(done); !errors.Is(err, ipvs.ErrCanceled) || read() != "1" {
		t.Fatalf("Teardown with a done ctx: %v; now %q", err, read())
	}
	if err := set.Teardown(ctx); err != nil || read() != "0" {
		t.Fatalf("Teardown: %v; now %q", err, read())
	}
	ns.Sysctl(t, "net.ipv4.vs."+string(name), "1")
	if err := set.Teardown(ctx); err != nil || read() != "1" {
		t.Fatalf("a second Teardown: %v; now %q (it must do nothing)", err, read())
	}

	// Another owner's value is left alone: am_droprate changed by us,
	// then by someone else.
	cur, err := strconv.Atoi(strings.TrimSpace(ns.Exec(t, "cat", "/proc/sys/net/ipv4/vs/am_droprate")))
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := strconv.Itoa(cur+10), strconv.Itoa(cur+20)
	set, err = c.SetSysctl(ctx, ipvs.SysctlAMDropRate, ours)
	if err != nil || len(set.Changes()) != 1 {
		t.Fatalf("SetSysctl am_droprate %s (was %d): %v, %v", ours, cur, set.Changes(), err)
	}
	ns.Sysctl(t, "net.ipv4.vs.am_droprate", theirs)
	if err := set.Teardown(ctx); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if v := strings.TrimSpace(ns.Exec(t, "cat", "/proc/sys/net/ipv4/vs/am_droprate")); v != theirs {
		t.Errorf("am_droprate is %q after Teardown, want another owner's %s", v, theirs)
	}

	// A closed client (expire_nodest_conn was left at 1 above).
	ns.Sysctl(t, "net.ipv4.vs."+string(name), "0")
	c2, err := ipvs.New(&ipvs.Config{NetNSPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	set, err = c2.SetSysctl(ctx, name, "1")
	if err != nil || len(set.Changes()) != 1 {
		t.Fatalf("SetSysctl: %v, %v", set.Changes(), err)
	}
	c2.Close()
	if err := set.Teardown(ctx); !errors.Is(err, ipvs.ErrClosed) || read() != "1" {
		t.Fatalf("Teardown after Close: %v; now %q", err, read())
	}
}
