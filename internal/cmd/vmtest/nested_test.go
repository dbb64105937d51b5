package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestByModule: "./..." reaches nested modules with tests, a path inside
// one goes to it relative to its root, the rest stays in the core module.
func TestByModule(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"go.mod", "a/a_test.go", "bgp/go.mod", "bgp/x_test.go", "ex/bgp/go.mod", "ex/bgp/m_test.go", "bench/go.mod", "bench/main.go"} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bgp, ex := filepath.Join(root, "bgp"), filepath.Join(root, "ex", "bgp")
	for _, tc := range []struct {
		pkgs []string
		want string
	}{
		{[]string{"./..."}, fmt.Sprintf("[{%s [./...]} {%s [./...]} {%s [./...]}]", root, ex, bgp)},
		{[]string{"./a", "./bgp", "./ex/bgp/..."}, fmt.Sprintf("[{%s [./a]} {%s [./...]} {%s [.]}]", root, ex, bgp)},
		{[]string{"./bench"}, fmt.Sprintf("[{%s [./bench]}]", root)},
	} {
		got, err := byModule(root, tc.pkgs)
		if err != nil {
			t.Fatal(err)
		}
		if s := fmt.Sprint(got); s != tc.want {
			t.Errorf("byModule(%v) = %s, want %s", tc.pkgs, s, tc.want)
		}
	}
	if dir, pkg := buildTarget(root, "./ex/bgp"); dir != ex || pkg != "." {
		t.Errorf("buildTarget(./ex/bgp) = %s %s", dir, pkg)
	}
	if dir, pkg := buildTarget(root, "./examples/nat"); dir != root || pkg != "./examples/nat" {
		t.Errorf("buildTarget(./examples/nat) = %s %s", dir, pkg)
	}
}
