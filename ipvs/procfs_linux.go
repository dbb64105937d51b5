//go:build linux

package ipvs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/golvs/lvs/internal/netns"
	"github.com/golvs/lvs/internal/undo"
	"golang.org/x/sys/unix"
)

// inNetNS runs f on a thread inside the Client's network namespace, where
// /proc/thread-self/net and /proc/sys/net show that namespace's view. The
// namespace descriptor is duplicated under the transport's lock so that a
// concurrent Close cannot make f run in the wrong namespace.
func (c *Client) inNetNS(ctx context.Context, op string, f func() error) error {
	if err := ctx.Err(); err != nil {
		return newError(op, "", ErrCanceled, err)
	}
	fd := -1
	if t, ok := c.t.(*nlTransport); ok {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return newError(op, "", ErrClosed, errClosed)
		}
		if t.nsfd >= 0 {
			d, err := unix.FcntlInt(uintptr(t.nsfd), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				t.mu.Unlock()
				return kernelError(op, "network namespace", opOther, err)
			}
			fd = d
		}
		t.mu.Unlock()
	}
	if fd >= 0 {
		defer unix.Close(fd)
	}
	return netns.Do(fd, f)
}

// readProc reads a file in the Client's namespace. path is relative to
// /proc/thread-self (net/...) or absolute under /proc/sys.
func (c *Client) readProc(ctx context.Context, op, path string) ([]byte, error) {
	var b []byte
	err := c.inNetNS(ctx, op, func() error {
		var err error
		b, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		return nil, procError(op, path, err)
	}
	return b, nil
}

func procError(op, path string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	switch {
	case errors.Is(err, os.ErrPermission):
		return newError(op, path, ErrPermission, err)
	case errors.Is(err, os.ErrNotExist) && strings.HasPrefix(path, sysctlDir):
		return newError(op, path, ErrNotExist, err)
	case errors.Is(err, os.ErrNotExist):
		// The file comes with the module.
		return newError(op, path, ErrUnavailable, fmt.Errorf("%w: load the ip_vs module (modprobe ip_vs)", err))
	}
	return kernelError(op, path, opOther, err)
}

// Connections returns the connection table of the Client's namespace
// (/proc/net/ip_vs_conn), persistence templates included. The kernel has
// no netlink dump of connections; the file is read on a thread that joins
// the namespace. An empty table is nil, nil.
func (c *Client) Connections(ctx context.Context) ([]Connection, error) {
	b, err := c.readProc(ctx, "read connections", "/proc/thread-self/net/ip_vs_conn")
	if err != nil {
		return nil, err
	}
	conns, err := parseConnections(strings.NewReader(string(b)))
	if err != nil {
		return nil, newError("read connections", "", ErrKernel, err)
	}
	return conns, nil
}

// GlobalStats returns the namespace's totals from /proc/net/ip_vs_stats:
// every packet and connection IPVS handled, across all services.
func (c *Client) GlobalStats(ctx context.Context) (Stats, error) {
	b, err := c.readProc(ctx, "read global stats", "/proc/thread-self/net/ip_vs_stats")
	if err != nil {
		return Stats{}, err
	}
	s, err := parseGlobalStats(strings.NewReader(string(b)))
	if err != nil {
		return Stats{}, newError("read global stats", "", ErrKernel, err)
	}
	return s, nil
}

const sysctlDir = "/proc/sys/net/ipv4/vs/"

// Sysctl returns the value of an IPVS sysctl in the Client's namespace,
// without the trailing newline. A sysctl the kernel lacks is ErrNotExist.
func (c *Client) Sysctl(ctx context.Context, name Sysctl) (string, error) {
	if err := validSysctlName("read sysctl", name); err != nil {
		return "", err
	}
	b, err := c.readProc(ctx, "read sysctl", sysctlDir+string(name))
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// SysctlInts returns a numeric sysctl's value; most hold one integer,
// sync_threshold holds two.
func (c *Client) SysctlInts(ctx context.Context, name Sysctl) ([]int, error) {
	v, err := c.Sysctl(ctx, name)
	if err != nil {
		return nil, err
	}
	n, err := parseSysctlInts(v)
	if err != nil {
		return nil, newError("read sysctl", string(name), ErrKernel, err)
	}
	return n, nil
}

// Sysctls returns every IPVS sysctl of the Client's namespace by name.
func (c *Client) Sysctls(ctx context.Context) (map[Sysctl]string, error) {
	out := map[Sysctl]string{}
	err := c.inNetNS(ctx, "read sysctls", func() error {
		ents, err := os.ReadDir(sysctlDir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			b, err := os.ReadFile(sysctlDir + e.Name())
			if err != nil {
				if errors.Is(err, os.ErrPermission) {
					continue // write-only entries
				}
				return err
			}
			out[Sysctl(e.Name())] = strings.TrimRight(string(b), "\n")
		}
		return nil
	})
	if err != nil {
		return nil, procError("read sysctls", sysctlDir, err)
	}
	return out, nil
}

// SetSysctl writes an IPVS sysctl in the Client's namespace and returns
// its undo, the SDK's one lifecycle (a Setup, as director and realserver
// return): Teardown writes the previous value back, unless the sysctl no
// longer holds value (another owner changed it since; it is left alone).
// A sysctl that already held value is not touched and its Setup has no
// Changes. The kernel validates the value (EINVAL is ErrInvalid).
func (c *Client) SetSysctl(ctx context.Context, name Sysctl, value string) (*Setup, error) {
	const op = "set sysctl"
	if err := validSysctlName(op, name); err != nil {
		return nil, err
	}
	if value == "" || strings.ContainsAny(value, "\n\x00") {
		return nil, invalid(op, "sysctl "+string(name), "value", "must be one non-empty line")
	}
	previous, changed, err := c.swapSysctl(ctx, op, name, "", value)
	if err != nil {
		return nil, err
	}
	if !changed {
		return undo.New(pkgName, op, nil, c.alive, nil), nil
	}
	step := fmt.Sprintf("set %s back to %q", sysctlDir+string(name), previous)
	return undo.New(pkgName, op, []string{step}, c.alive, func(ctx context.Context) error {
		_, _, err := c.swapSysctl(ctx, "tear down "+op, name, value, previous)
		return err
	}), nil
}

// swapSysctl writes value to the sysctl name unless it holds it already,
// and, when only is not empty, only if it holds only. It returns the
// value it found and whether it wrote.
func (c *Client) swapSysctl(ctx context.Context, op string, name Sysctl, only, value string) (previous string, changed bool, err error) {
	path := sysctlDir + string(name)
	err = c.inNetNS(ctx, op, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		previous = strings.TrimRight(string(b), "\n")
		if previous == value || (only != "" && previous != only) {
			return nil
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, werr := f.WriteString(value + "\n")
		cerr := f.Close()
		if werr != nil {
			return werr
		}
		changed = true
		return cerr
	})
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			return "", false, newError(op, string(name), ErrInvalid, err)
		}
		return "", false, procError(op, path, err)
	}
	return previous, changed, nil
}

// alive reports a closed Client, for a Setup's Teardown.
func (c *Client) alive() error {
	if t, ok := c.t.(*nlTransport); ok {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.closed {
			return errClosed
		}
	}
	return nil
}
