//go:build !linux

package netns

import (
	"errors"
	"runtime"
)

var errNotLinux = errors.New("network namespaces are Linux-only, not available on " + runtime.GOOS)

// Open fails outside Linux.
func Open(path string) (int, error) { return -1, errNotLinux }

// Do runs f when fd < 0 and fails otherwise.
func Do(fd int, f func() error) error {
	if fd < 0 {
		return f()
	}
	return errNotLinux
}

// DoPath runs f when path is "" and fails otherwise.
func DoPath(path string, f func() error) error {
	if path == "" {
		return f()
	}
	return errNotLinux
}
