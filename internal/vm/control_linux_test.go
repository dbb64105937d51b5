package vm

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseControl(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ctl")
	os.WriteFile(p, []byte("noise\r\nLVS-EXIT 7\r\n"), 0o644)
	code, out, err := parseControl(p)
	if err != nil || code != 7 || out != nil {
		t.Errorf("got %d %v %v", code, out, err)
	}
	os.WriteFile(p, []byte("garbage"), 0o644)
	if _, _, err := parseControl(p); err != errNoStatus {
		t.Errorf("err = %v, want errNoStatus", err)
	}
}
