package vm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Run boots the image with the per-run files and script, streams the console
// to opts.Output and returns the script's exit status. A non-nil error means
// the run itself failed (qemu, timeout, no status); a failing script is
// reported through Result.ExitCode only.
func (im *Image) Run(ctx context.Context, opts RunOptions) (*Result, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Minute
	}
	if opts.MemoryMiB <= 0 {
		opts.MemoryMiB = 4096
	}
	if opts.CPUs <= 0 {
		opts.CPUs = 2
	}
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	work, err := os.MkdirTemp("", "golvs-vm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	initrd := filepath.Join(work, "initrd")
	if err := im.writeInitrd(ctx, initrd, opts); err != nil {
		return nil, err
	}
	ctl := filepath.Join(work, "ctl")
	qemu, err := lookTool("qemu-system-x86_64")
	if err != nil {
		return nil, err
	}
	args := []string{
		"-accel", "tcg,thread=multi", "-cpu", "max",
		"-smp", strconv.Itoa(opts.CPUs), "-m", strconv.Itoa(opts.MemoryMiB),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", im.Vmlinuz, "-initrd", initrd,
		"-append", strings.Join(append([]string{"console=ttyS0 quiet panic=-1 oops=panic rdinit=/init"}, opts.KernelArgs...), " "),
		"-serial", "stdio", "-serial", "file:" + ctl,
	}
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.WaitDelay = 5 * time.Second
	console := &consoleWriter{w: out}
	cmd.Stdout = console
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	console.start = start
	err = cmd.Run()
	console.Flush()
	res := &Result{Total: time.Since(start), Boot: console.boot()}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return res, fmt.Errorf("vm: %s: timed out after %v: %w", im.Kernel, opts.Timeout, ctx.Err())
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("vm: %s: %w", im.Kernel, ctx.Err())
	}
	if err != nil {
		return res, fmt.Errorf("vm: qemu: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	code, outData, err := parseControl(ctl)
	if err != nil {
		if res.Boot == 0 {
			err = fmt.Errorf("%w: %w", ErrNoBoot, err)
		}
		return res, err
	}
	res.ExitCode = code
	if opts.OutDir != "" && outData != nil {
		if err := untar(outData, opts.OutDir); err != nil {
			return res, fmt.Errorf("vm: unpacking the guest's out directory: %w", err)
		}
	}
	return res, nil
}

// writeInitrd writes the base image followed by the per-run archive: the
// kernel unpacks concatenated archives in order.
func (im *Image) writeInitrd(ctx context.Context, dst string, opts RunOptions) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	base, err := os.Open(im.Initrd)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, base)
	base.Close()
	if err != nil {
		return err
	}
	// The kernel recognizes an uncompressed archive only at a 4-byte
	// aligned offset, and skips the zeros before it.
	if pad := (4 - n%4) % 4; pad != 0 {
		if _, err := f.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	// The per-run archive stays uncompressed: it is mostly fresh test
	// binaries, and copying is faster than compressing them here and
	// decompressing them under emulation.
	c := newCPIOWriter(f)
	c.Dir("/lvs/bin", 0o755)
	c.Bytes(guestScript, 0o755, []byte(opts.Script))
	c.Bytes(guestEnv, 0o644, []byte(envScript(im.Kernel, opts.NoAutoload, opts.Env)))
	var hostFiles []string
	for _, fl := range opts.Files {
		g := path.Clean("/" + fl.Guest)
		for _, bad := range []string{"/tmp", "/run", "/proc", "/sys", "/dev"} {
			if g == bad || strings.HasPrefix(g, bad+"/") {
				return fmt.Errorf("vm: guest path %s is hidden by a mount at boot", fl.Guest)
			}
		}
		st, err := os.Stat(fl.Host)
		if err != nil {
			return err
		}
		if st.IsDir() {
			err = c.Tree(g, fl.Host)
		} else {
			err = c.File(g, fl.Host)
			hostFiles = append(hostFiles, fl.Host)
		}
		if err != nil {
			return err
		}
	}
	libs, err := sharedLibs(ctx, hostFiles, nil)
	if err != nil {
		return err
	}
	for _, l := range libs {
		if err := c.File(libGuestPath(l), l); err != nil {
			return err
		}
	}
	if err := c.Close(); err != nil {
		return err
	}
	return f.Close()
}

// parseControl reads the ttyS1 channel: an optional base64 tar.gz block and
// the exit line.
func parseControl(p string) (code int, out []byte, err error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, nil, err
	}
	b = bytes.ReplaceAll(b, []byte("\r"), nil)
	var (
		inOut bool
		b64   strings.Builder
		found bool
	)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == outBegin:
			inOut = true
		case line == outEnd:
			inOut = false
			out, err = base64.StdEncoding.DecodeString(b64.String())
			if err != nil {
				return 0, nil, fmt.Errorf("vm: out directory stream: %w", err)
			}
		case inOut:
			b64.WriteString(line)
		case strings.HasPrefix(line, exitPrefix):
			code, err = strconv.Atoi(strings.TrimPrefix(line, exitPrefix))
			if err != nil {
				return 0, nil, fmt.Errorf("vm: bad status line %q", line)
			}
			found = true
		}
	}
	if !found {
		return 0, nil, errNoStatus
	}
	return code, out, nil
}

// untar unpacks a tar.gz stream into dir, refusing paths that escape it.
func untar(data []byte, dir string) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + h.Name)
		if name == "/" {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode)&0o777|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// consoleWriter passes the console through line by line without carriage
// returns and notes when the guest reported that the script starts.
type consoleWriter struct {
	mu      sync.Mutex
	w       io.Writer
	buf     []byte
	start   time.Time
	readyAt time.Time
}

func (c *consoleWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range p {
		if b == '\r' {
			continue
		}
		c.buf = append(c.buf, b)
		if b == '\n' {
			c.line()
		}
	}
	return len(p), nil
}

func (c *consoleWriter) line() {
	if c.readyAt.IsZero() && bytes.HasPrefix(c.buf, []byte(readyMarker)) {
		c.readyAt = time.Now()
	}
	c.w.Write(c.buf)
	c.buf = c.buf[:0]
}

// Flush writes a last unterminated line.
func (c *consoleWriter) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) > 0 {
		c.buf = append(c.buf, '\n')
		c.line()
	}
}

func (c *consoleWriter) boot() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readyAt.IsZero() {
		return 0
	}
	return c.readyAt.Sub(c.start)
}
