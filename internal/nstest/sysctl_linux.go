package nstest

import (
	"os"
	"strings"
	"testing"
)

// Sysctl writes sysctls inside n, given as name, value pairs; a name is
// dotted as sysctl(8) writes it ("net.ipv4.ip_forward") or a path under
// /proc/sys ("net/ipv4/conf/eth0.1/rp_filter", for interface names with
// dots). No exec, which is slow under TCG. It fails the test on error.
func (n *NS) Sysctl(t testing.TB, kv ...string) {
	t.Helper()
	if len(kv)%2 != 0 {
		t.Fatalf("Sysctl: %d arguments, want name, value pairs", len(kv))
	}
	err := n.Do(func() error {
		for i := 0; i < len(kv); i += 2 {
			name := kv[i]
			if !strings.Contains(name, "/") {
				name = strings.ReplaceAll(name, ".", "/")
			}
			if err := os.WriteFile("/proc/sys/"+name, []byte(kv[i+1]), 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("in %s: %v", n.Name, err)
	}
}
