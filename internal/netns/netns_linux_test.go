package netns_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/golvs/lvs/internal/netns"
	"github.com/golvs/lvs/internal/nstest"
)

// inode identifies the network namespace of the calling thread.
func inode(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// callerInode is inode taken on a locked thread, so the answer is the
// namespace of the thread the caller's goroutine runs on right now.
func callerInode(t *testing.T) uint64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return inode(t)
}

// TestDo: f runs inside the namespace, the caller's goroutine never leaves
// its own, and that holds under concurrent use.
func TestDo(t *testing.T) {
	ns := nstest.New(t)
	var want unix.Stat_t
	if err := unix.Stat(ns.Path, &want); err != nil {
		t.Fatal(err)
	}
	home := callerInode(t)
	if home == want.Ino {
		t.Fatal("the test namespace is the caller's own: the test could not fail")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				var got uint64
				if err := netns.Do(ns.Fd(), func() error { got = inode(t); return nil }); err != nil {
					t.Error(err)
					return
				}
				if got != want.Ino {
					t.Errorf("f ran in namespace %d, want %d", got, want.Ino)
					return
				}
				if now := callerInode(t); now != home {
					t.Errorf("caller is in namespace %d after Do, want %d", now, home)
					return
				}
			}
		}()
	}
	wg.Wait()

	sentinel := errors.New("from f")
	if err := netns.DoPath(ns.Path, func() error { return sentinel }); err != sentinel {
		t.Errorf("DoPath returned %v, want f's error", err)
	}
	var ran bool
	if err := netns.DoPath("", func() error { ran = inode(t) == home; return nil }); err != nil || !ran {
		t.Errorf("DoPath(\"\") did not run f in the caller's namespace: %v", err)
	}
}

// TestDoErrors: a descriptor that is not a network namespace, or a path
// that does not exist, is an error and f does not run.
func TestDoErrors(t *testing.T) {
	nstest.New(t) // skips outside the VM, as the other kernel tests do
	f, err := os.Open("/proc/self/ns/uts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ran := false
	if err := netns.Do(int(f.Fd()), func() error { ran = true; return nil }); err == nil || ran {
		t.Errorf("Do with a UTS namespace: err %v, f ran %v", err, ran)
	}
	if err := netns.DoPath("/run/netns/no-such-namespace", func() error { ran = true; return nil }); !errors.Is(err, os.ErrNotExist) || ran {
		t.Errorf("DoPath with a missing path: err %v, f ran %v", err, ran)
	}
}

// Run hands back standard output, in the C locale, and names the command
// and its standard error when it fails.
func TestRun(t *testing.T) {
	out, err := netns.Run(context.Background(), -1, "in", "sh", "-c", `cat; echo " $LC_ALL"`)
	if err != nil || out != "in C\n" {
		t.Errorf("Run: %q, %v; want %q", out, err, "in C\n")
	}
	out, err = netns.Run(context.Background(), -1, "", "sh", "-c", "echo out; echo oops >&2; exit 3")
	if err == nil || out != "out\n" || !strings.HasPrefix(err.Error(), "sh -c echo out; echo oops >&2; exit 3: exit status 3: oops") {
		t.Errorf("failing Run: %q, %v", out, err)
	}
}
