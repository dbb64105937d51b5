package main

import (
	"regexp"
	"strings"
	"sync"
)

// failureLines keeps, from one kernel's console, the essential lines of
// the failure report the guest script prints at the end of its run (which
// tests failed and their messages). The two kernels finish at different
// times and CI keeps only the tail of the output, so vmtest repeats every
// kernel's failures after the last one has finished.
type failureLines struct {
	mu    sync.Mutex
	in    bool
	lines []string
}

// maxFailureLines bounds what one kernel adds to the final tail: enough to
// name every failed test and its first messages.
const maxFailureLines = 40

var failureLine = regexp.MustCompile(`--- FAIL|^\s+\S+_test\.go:[0-9]+: |^(panic:|fatal error:)|^vmtest: FAIL`)

// Write receives whole lines (from a vm.LineWriter), prefixed or not.
func (f *failureLines) Write(b []byte) (int, error) {
	line := strings.TrimRight(string(b), "\r\n")
	if i := strings.Index(line, "] "); i >= 0 && strings.HasPrefix(line, "[") {
		line = line[i+2:]
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case strings.HasPrefix(line, "=== vmtest: ") && strings.HasSuffix(line, "its failures again:"):
		f.in = true
		f.add(strings.TrimSuffix(strings.TrimPrefix(line, "=== vmtest: "), "; its failures again:") + ":")
	case !f.in:
	case strings.HasPrefix(line, "vmtest: FAIL on "):
		f.in = false
	case failureLine.MatchString(line):
		f.add(line)
	}
	return len(b), nil
}

func (f *failureLines) add(l string) {
	if len(f.lines) < maxFailureLines {
		f.lines = append(f.lines, l)
	} else if len(f.lines) == maxFailureLines {
		f.lines = append(f.lines, "  ... (more in the kernel's own report above)")
	}
}

// Lines returns what was kept.
func (f *failureLines) Lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lines...)
}
