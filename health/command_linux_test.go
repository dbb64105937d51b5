//go:build linux

package health_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/stretchr/testify/require"
)

// survivors lists the processes whose command line is exactly args.
func survivors(args ...string) []string {
	want := []byte{}
	for _, a := range args {
		want = append(want, a...)
		want = append(want, 0)
	}
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err == nil && bytes.Equal(b, want) {
			out = append(out, d)
		}
	}
	return out
}

func noSurvivors(t *testing.T, args ...string) {
	t.Helper()
	var left []string
	// A killed process is gone at once; a moment for the kernel to
	// reap it when its parent was already gone.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if left = survivors(args...); len(left) == 0 {
			return
		}
	}
	t.Fatalf("%q survived the check: %v", args, left)
}

// A command that forks leaves nothing behind, at its timeout or when it
// exits, and the check keeps to its timeout.
func TestCommandKillsItsProcessGroup(t *testing.T) {
	const timeout = 2 * time.Second
	check := func(script string) (error, time.Duration) {
		c := &health.Command{Path: "/bin/sh", Args: []string{"-c", script}}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		err := c.Check(ctx, health.Target{})
		return err, time.Since(start)
	}
	err, took := check("sleep 4242 & sleep 4243")
	require.ErrorIs(t, err, health.ErrCheckFailed)
	require.Contains(t, err.Error(), "timeout")
	t.Logf("killed after %v (timeout %v)", took, timeout)
	// Before, the forked sleep held the output pipe open for the wait
	// delay (1 s) past the timeout.
	require.Less(t, took, timeout+time.Second/2, "the check overran its timeout")
	noSurvivors(t, "sleep", "4242")
	noSurvivors(t, "sleep", "4243")

	err, took = check("sleep 4244 & exit 0")
	require.NoError(t, err)
	require.Less(t, took, timeout)
	noSurvivors(t, "sleep", "4244")

	// Output is bounded however much the command writes.
	err, _ = check("head -c 300000 /dev/zero | tr '\\0' x; exit 1")
	require.ErrorIs(t, err, health.ErrCheckFailed)
	require.Less(t, len(err.Error()), 4096+200)
	require.Contains(t, err.Error(), "status 1")
}
