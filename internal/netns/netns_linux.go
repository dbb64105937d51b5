//go:build linux

package netns

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Open opens a namespace file such as /run/netns/NAME or /proc/PID/ns/net
// and returns its descriptor (close-on-exec).
func Open(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	return fd, nil
}

// OpenConfig returns a descriptor of its own for the namespace a public
// package's Config names: a duplicate of fd when fd > 0, else path opened,
// else -1 (the caller's namespace). The caller closes it.
func OpenConfig(fd int, path string) (int, error) {
	if fd > 0 {
		d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("network namespace descriptor %d: %w", fd, err)
		}
		return d, nil
	}
	if path != "" {
		return Open(path)
	}
	return -1, nil
}

// Do runs f on a locked OS thread that has joined the network namespace fd;
// fd < 0 runs f in the caller's namespace. f runs on a goroutine of its
// own, so the caller's goroutine is never tied to a thread in another
// namespace; goroutines f starts run elsewhere. The thread returns to its
// own namespace afterwards; if it cannot, its goroutine exits still locked,
// and the runtime discards the thread instead of reusing it in the wrong
// namespace.
func Do(fd int, f func() error) error {
	if fd < 0 {
		return f()
	}
	errc := make(chan error, 1)
	go func() { errc <- do(fd, f) }()
	return <-errc
}

func do(fd int, f func() error) error {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open current network namespace: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("join network namespace: %w", err)
	}
	ferr := f()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("return to network namespace: %w (thread discarded)", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// DoPath is Do for a namespace named by path; "" is the caller's namespace.
func DoPath(path string, f func() error) error {
	if path == "" {
		return f()
	}
	fd, err := Open(path)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return Do(fd, f)
}

// Run runs the program name in the namespace fd (< 0: the caller's) with
// stdin, in the C locale (callers parse its messages), and returns its
// standard output; a failure names the command and carries its standard
// error. The child is started from a thread inside the namespace, which
// it is born in, and waited for outside.
func Run(ctx context.Context, fd int, stdin, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if err := Do(fd, cmd.Start); err != nil {
		return "", err
	}
	if err := cmd.Wait(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
