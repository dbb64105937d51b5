//go:build linux

package ipvs_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
)

// TestKernelPermission runs a client in a child process that is root only
// in a user namespace of its own (with its own network namespace): IPVS
// wants CAP_NET_ADMIN in the initial user namespace, so every call must
// fail with ErrPermission (EPERM).
func TestKernelPermission(t *testing.T) {
	t.Parallel()
	if os.Getenv("LVS_IPVS_EPERM_CHILD") == "1" {
		permissionChild(t)
		return
	}
	nstest.New(t) // root and IPVS, or skip (fail in the VM)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKernelPermission$", "-test.v")
	cmd.Env = append(os.Environ(), "LVS_IPVS_EPERM_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "permission child: ok") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "permission child:") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

// permissionChild is the child's side: root in its user namespace, not in
// the initial one.
func permissionChild(t *testing.T) {
	c, err := ipvs.New(nil)
	if errors.Is(err, ipvs.ErrPermission) {
		t.Log("permission child: ok (New)")
		return
	}
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Services(ctx); !errors.Is(err, ipvs.ErrPermission) || !errors.Is(err, syscall.EPERM) {
		t.Fatalf("Services without CAP_NET_ADMIN: %v", err)
	}
	if _, err := c.Info(ctx); !errors.Is(err, ipvs.ErrPermission) {
		t.Fatalf("Info without CAP_NET_ADMIN: %v", err)
	}
	if err := c.Flush(ctx); !errors.Is(err, ipvs.ErrPermission) {
		t.Fatalf("Flush without CAP_NET_ADMIN: %v", err)
	}
	t.Log("permission child: ok")
}
