package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReadModules(t *testing.T) {
	p := filepath.Join(t.TempDir(), "modules.txt")
	os.WriteFile(p, []byte("# what the tests need\nip_vs   # IPVS\n\nxt_MASQUERADE\nip_vs_rr\nnft-expr-ct\n"), 0o644)
	got, err := readModules(p)
	if want := []string{"ip_vs", "xt_MASQUERADE", "ip_vs_rr", "nft-expr-ct"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	os.WriteFile(p, []byte("ip_vs ip_vs_rr\n"), 0o644)
	if _, err := readModules(p); err == nil {
		t.Error("two names on a line: no error")
	}
	if got, err := readModules(filepath.Join(t.TempDir(), "none")); got != nil || err != nil {
		t.Errorf("missing file: %q, %v", got, err)
	}
}
