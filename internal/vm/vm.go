package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ErrNotSupported is returned on systems where the harness cannot run.
var ErrNotSupported = errors.New("vm: not supported on this system")

// ErrNoBoot is wrapped by Run's error when the guest ended before the
// script started: a kernel that crashed while booting (rare under TCG,
// which runs the kernel's boot-time code patching on several emulated
// CPUs at once), not an answer from the script.
var ErrNoBoot = errors.New("vm: the guest ended before the script started")

// Kernels lists the kernel names the project tests on, oldest first.
func Kernels() []string { return []string{"6.1", "6.12"} }

// metaPackage maps a kernel name to the Debian meta package whose single
// "Depends:" names today's image package. Resolving it at run time keeps the
// harness working when Debian publishes a new ABI.
func metaPackage(kernel string) (string, error) {
	switch kernel {
	case "6.1":
		return "linux-image-cloud-amd64", nil
	case "6.12":
		return "linux-image-6.12-cloud-amd64", nil
	}
	return "", fmt.Errorf("vm: unknown kernel %q (want one of %v)", kernel, Kernels())
}

// Image is a prepared kernel: its vmlinuz and a cached base initramfs holding
// busybox, the reference tools and the kernel's modules.
type Image struct {
	Kernel  string // the name asked for, "6.1"
	Release string // uname -r in the guest, "6.1.0-56-cloud-amd64"
	Vmlinuz string // host path
	Initrd  string // host path of the cached base initramfs
}

// File places a host file or directory (copied recursively) in the guest.
type File struct {
	Host  string // path on the host
	Guest string // absolute path in the guest; not under /tmp, /run, /proc, /sys or /dev
}

// RunOptions describes one boot.
type RunOptions struct {
	// Script is run by bash as /lvs/run.sh with the working directory /lvs.
	// Its exit status is the run's ExitCode.
	Script string
	// Files are added to the guest. Dynamically linked ELF files bring their
	// shared libraries along (resolved with ldd on the host).
	Files []File
	// Env is exported to the script in addition to LVS_VM=1, LVS_VM_KERNEL,
	// LVS_VM_RELEASE, LVS_VM_OUT and LVS_VM_AUTOLOAD (1, or 0 with NoAutoload).
	Env map[string]string
	// NoAutoload boots with module autoloading off: no module is loaded at
	// boot and /proc/sys/kernel/modprobe names a program that does not
	// exist, so every request_module in the kernel fails. The script loads
	// what it needs with modprobe, so a hidden dependency on a module shows.
	NoAutoload bool
	// Output receives the guest console (kernel messages and the script's
	// stdout and stderr) live, with "\r\n" turned into "\n". Nil discards it.
	Output io.Writer
	// OutDir, if set, receives what the guest wrote under $LVS_VM_OUT.
	OutDir string
	// Timeout bounds the whole boot; 0 means 30 minutes.
	Timeout time.Duration
	// MemoryMiB and CPUs size the guest; 0 means 4096 and 2. The guest's
	// root file system is the initramfs in RAM (half of it at most): the
	// race-built test binaries of every package, the tools and the peers
	// outgrew 2048 (a silent "Initramfs unpacking failed: write error").
	MemoryMiB int
	CPUs      int
	// KernelArgs are added to the kernel's command line, e.g. nohz_full=1
	// for exact user and system times on CPU 1 (see ipvsbench).
	KernelArgs []string
}

// Result reports how a boot ended.
type Result struct {
	ExitCode int           // the script's exit status
	Boot     time.Duration // from qemu's start to the script's start
	Total    time.Duration // from qemu's start to its exit
}

// CacheDir is where kernels and base images are kept: $LVS_VM_CACHE, else
// $XDG_CACHE_HOME/golvs-vm, else ~/.cache/golvs-vm.
func CacheDir() (string, error) {
	if d := os.Getenv("LVS_VM_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("vm: no cache directory (set LVS_VM_CACHE): %w", err)
	}
	return filepath.Join(d, "golvs-vm"), nil
}

// Build compiles the Go packages into dir as static linux/amd64 programs
// (cgo off, so they need nothing from the guest's libc), the go command's
// output going to w, and returns them as files for /lvs/bin on the guest
// (the guest's PATH), each named after the last element of its import
// path.
func Build(ctx context.Context, dir string, w io.Writer, pkgs ...string) ([]File, error) {
	var files []File
	for _, pkg := range pkgs {
		name := filepath.Base(pkg)
		bin := filepath.Join(dir, name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go build %s: %w", pkg, err)
		}
		files = append(files, File{Host: bin, Guest: "/lvs/bin/" + name})
	}
	return files, nil
}
