package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad command lines and rules exit 2 naming what is wrong, before any
// kernel access (these run unprivileged on the host).
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -w nine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-f is required"},
		{[]string{"-f", filepath.Join(dir, "missing")}, "-f: open"},
		{[]string{"-f", bad}, "line 2"},
		{[]string{"-f", bad, "extra"}, `unexpected argument "extra"`},
		{[]string{"-f", "-", "-timeout", "0s"}, "-timeout 0s"},
		{[]string{"-nosuch"}, "-nosuch"},
	} {
		var out, errb strings.Builder
		if code := run(tc.args, strings.NewReader(""), &out, &errb); code != exitUsage || !strings.Contains(errb.String(), tc.want) || out.Len() != 0 {
			t.Errorf("plan %q: exit %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out.String(), errb.String(), exitUsage, tc.want)
		}
	}
	var out, errb strings.Builder
	if code := run([]string{"-h"}, nil, &out, &errb); code != 0 || !strings.Contains(errb.String(), "-apply") {
		t.Errorf("-h: exit %d, stderr %q; want 0 and the usage", code, errb.String())
	}
}
