package main

import (
	"fmt"
	"strings"
	"testing"
)

// A console excerpt as the guest prints it (from a CI run that failed).
const failedConsole = `[6.12] ok   bgp 12.2s
[6.12] === vmtest: examples/ha failed on 6.12; its failures again:
[6.12] --- FAIL: TestKeepalivedMasterHABackup (28.56s)
[6.12]     main_linux_test.go:319: crash: keepalived -> ha: new master's first advert 3.218s
[6.12]     main_linux_test.go:345: nstest: the session failed after 163 echoes: connection reset by peer
[6.12]     peers_linux.go:54: keepalived's output:
[6.12]         Mon Dec  7 21:48:19 2026: Starting Keepalived v2.2.7 (01/16,2022)
[6.12] --
[6.12] FAIL
[6.12] vmtest: FAIL on 6.12: examples/ha
[6.12] --- FAIL: not part of the report
`

func TestFailureLines(t *testing.T) {
	var f failureLines
	for _, l := range strings.SplitAfter(failedConsole, "\n") {
		if l != "" {
			f.Write([]byte(l))
		}
	}
	got := strings.Join(f.Lines(), "\n")
	want := `examples/ha failed on 6.12:
--- FAIL: TestKeepalivedMasterHABackup (28.56s)
    main_linux_test.go:319: crash: keepalived -> ha: new master's first advert 3.218s
    main_linux_test.go:345: nstest: the session failed after 163 echoes: connection reset by peer`
	if got != want {
		t.Errorf("kept:\n%s\nwant:\n%s", got, want)
	}
}

func TestFailureLinesBounded(t *testing.T) {
	var f failureLines
	f.Write([]byte("=== vmtest: x failed on 6.1; its failures again:\n"))
	for i := range 2 * maxFailureLines {
		f.Write([]byte(fmt.Sprintf("--- FAIL: Test%d (1.00s)\n", i)))
	}
	if l := f.Lines(); len(l) != maxFailureLines+1 || !strings.Contains(l[maxFailureLines], "more") {
		t.Errorf("kept %d lines, last %q", len(l), l[len(l)-1])
	}
}
