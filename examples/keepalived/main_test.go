package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golvs/lvs/internal/nstest"
)

// TestMain runs up to three tests at once: the kernel tests mostly wait on
// check intervals and VRRP adverts (the guest was a third busy with two).
func TestMain(m *testing.M) {
	nstest.Parallel(3)
	os.Exit(m.Run())
}

// TestConfigTestExitCodes checks -t's exit codes and messages, keepalived's
// (keepalived(8) "Exit status").
func TestConfigTestExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		conf string
		code int
		want string
	}{
		{"virtual_server 10.0.0.1 80 {\n  protocol TCP\n  real_server 10.0.1.1 80 {\n  }\n}\n", exitOK, ""},
		{"virtual_server 10.0.0.1 80 {\n  protocol TCP\n  snmp_name web\n}\n", exitTestWarning, "x.conf:3: warning:"},
		{"virtual_server 10.0.0.1 80 {\n  protocol TCP\n  lb_algo nope\n}\n", exitTestErrors, "x.conf:3: error: lb_algo \"nope\""},
		{"virtual_server 10.0.0.1 80 {\n  protocol TCP\n  quorum_up /bin/true\n}\n", exitTestScripts, "enable_script_security"},
		{"global_defs {\n  enable_script_security\n}\nvirtual_server 10.0.0.1 80 {\n  protocol TCP\n  quorum_up /bin/true\n}\n", exitOK, ""},
	} {
		f := filepath.Join(dir, "x.conf")
		if err := os.WriteFile(f, []byte(tc.conf), 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if code := run([]string{"-t", "-f", f}, &out); code != tc.code || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%q: exit %d, output %q; want %d and %q", tc.conf, code, out.String(), tc.code, tc.want)
		}
	}
	var out bytes.Buffer
	if code := run([]string{"-t", "-f", filepath.Join(dir, "missing.conf")}, &out); code != exitTestErrors {
		t.Errorf("missing file: exit %d, want %d (%s)", code, exitTestErrors, out.String())
	}
	if code := run([]string{"-P", "-C"}, &out); code != exitFlags {
		t.Errorf("-P -C: exit %d, want %d", code, exitFlags)
	}
}

// TestStartRefusesBadVRRP: a VRRP side this agent cannot run as written
// is refused before anything changes (exit 1), each problem with its
// file:line; -C runs without it.
func TestStartRefusesBadVRRP(t *testing.T) {
	f := filepath.Join(t.TempDir(), "k.conf")
	conf := "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.1/24 dev eth0 label eth0:1\n  }\n}\n"
	if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run([]string{"-f", f}, &out); code != exitStart || !strings.Contains(out.String(), "k.conf:5: error: virtual_ipaddress 10.0.0.1/24: only host addresses") {
		t.Errorf("exit %d, output %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"-t", "-f", f}, &out); code != exitTestErrors || !strings.Contains(out.String(), "k.conf:5: error:") {
		t.Errorf("-t: exit %d, output %q", code, out.String())
	}
}
