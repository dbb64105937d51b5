package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golvs/lvs/internal/nstest"
)

// plan shows the diff of a rules file against a namespace's table and
// exits 1, writing nothing; -apply makes the changes and exits 0; then the
// table holds the rules: no diff, exit 0.
func TestPlanRulesFile(t *testing.T) {
	ns := nstest.New(t)
	ns.Exec(t, "ipvsadm", "-A", "-t", "10.0.0.1:80", "-s", "rr")
	ns.Exec(t, "ipvsadm", "-a", "-t", "10.0.0.1:80", "-r", "192.168.1.2:80", "-m", "-w", "1")
	ns.Exec(t, "ipvsadm", "-a", "-t", "10.0.0.1:80", "-r", "192.168.1.3:80", "-m", "-w", "1")
	ns.Exec(t, "ipvsadm", "-A", "-u", "10.0.0.1:53", "-s", "rr")
	ns.Exec(t, "ipvsadm", "-A", "-t", "10.0.0.1:443", "-s", "rr")
	rules := `-A -t 10.0.0.1:80 -s wlc
-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 4
-a -t 10.0.0.1:80 -r 192.168.1.4:80 -m -w 1
-A -t 10.0.0.1:443 -s rr
`
	file := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(file, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	before := ns.Exec(t, "ipvsadm", "-Sn")

	var out, errb strings.Builder
	code := run([]string{"-f", file, "-netns", ns.Path}, nil, &out, &errb)
	want := `- -d -t 10.0.0.1:80 -r 192.168.1.3:80  # was: -m -w 1
- -D -u 10.0.0.1:53  # was: -s rr
~ -E -t 10.0.0.1:80 -s wlc  # was: -s rr
~ -e -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 4  # was: -m -w 1
+ -a -t 10.0.0.1:80 -r 192.168.1.4:80 -m -w 1
`
	if code != exitPending || out.String() != want {
		t.Fatalf("plan: exit %d, stdout:\n%s\nstderr: %s\nwant exit %d and:\n%s", code, out.String(), errb.String(), exitPending, want)
	}
	if got := ns.Exec(t, "ipvsadm", "-Sn"); got != before {
		t.Fatalf("plan without -apply wrote:\n%s", got)
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"-f", file, "-netns", ns.Path, "-apply"}, nil, &out, &errb); code != exitInSync || out.String() != want {
		t.Fatalf("plan -apply: exit %d, stdout:\n%s\nstderr: %s", code, out.String(), errb.String())
	}
	if got := ns.Exec(t, "ipvsadm", "-Sn"); got != rules {
		t.Fatalf("after -apply the table is:\n%s\nwant:\n%s", got, rules)
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"-f", "-", "-netns", ns.Path}, strings.NewReader(rules), &out, &errb); code != exitInSync || out.Len() != 0 {
		t.Fatalf("plan of the rules the table holds: exit %d, stdout %q, stderr %q; want 0 and no diff", code, out.String(), errb.String())
	}

	// An empty rules file would delete everything: refused, nothing written.
	out.Reset()
	errb.Reset()
	if code := run([]string{"-f", "-", "-netns", ns.Path, "-apply"}, strings.NewReader(""), &out, &errb); code != exitFailed || !strings.Contains(errb.String(), "AllowMassDelete") {
		t.Fatalf("empty rules: exit %d, stderr %q; want %d and the deletion guard", code, errb.String(), exitFailed)
	}
	if got := ns.Exec(t, "ipvsadm", "-Sn"); got != rules {
		t.Fatalf("a refused plan wrote:\n%s", got)
	}
}
