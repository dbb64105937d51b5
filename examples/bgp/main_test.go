package main

import (
	"strings"
	"testing"
)

// TestBadFlags: every bad command line exits 2 before anything is set up
// (no root needed: nothing is touched).
func TestBadFlags(t *testing.T) {
	ok := []string{"director", "-vip", "10.9.0.10:80", "-rs", "10.0.0.21", "-asn", "65001", "-router-id", "10.0.0.11", "-peer", "10.0.0.1", "-peer-asn", "65000"}
	with := func(flag, value string) []string {
		out := append([]string(nil), ok...)
		for i := range out {
			if out[i] == flag {
				out[i+1] = value
				return out
			}
		}
		return append(out, flag, value)
	}
	bad := map[string][]string{
		"no role":            {},
		"unknown role":       {"realserver"},
		"asn 0":              with("-asn", "0"),
		"asn AS_TRANS":       with("-asn", "23456"),
		"asn text":           with("-asn", "x"),
		"peer asn reserved":  with("-peer-asn", "65535"),
		"router id v6":       with("-router-id", "2001:db8::1"),
		"router id missing":  with("-router-id", ""),
		"peer family":        with("-peer", "2001:db8::1"),
		"peer missing":       with("-peer", ""),
		"vip no port":        with("-vip", "10.9.0.10"),
		"rs family":          with("-rs", "2001:db8::21"),
		"rs is vip":          with("-rs", "10.9.0.10"),
		"hold too short":     with("-hold", "2s"),
		"hold fraction":      with("-hold", "3500ms"),
		"forward":            with("-forward", "nat"),
		"wait":               with("-wait", "0s"),
		"drain":              with("-drain", "-1s"),
		"password too long":  with("-password", strings.Repeat("x", 81)),
		"positional":         append(append([]string(nil), ok...), "extra"),
		"vip multicast":      with("-vip", "239.1.1.1:80"),
		"vip unspecified":    with("-vip", "0.0.0.0:80"),
		"bfd with bad value": with("-bfd", "maybe"),
	}
	for name, args := range bad {
		if _, err := parse(args[min(1, len(args)):]); err == nil && len(args) > 0 && args[0] == "director" {
			t.Errorf("%s: parse accepted %q", name, args)
		}
		if code := run(args); code != 2 {
			t.Errorf("%s: %q exited %d, want 2", name, args, code)
		}
	}
	if _, err := parse(ok[1:]); err != nil {
		t.Errorf("good command line refused: %v", err)
	}
	if code := run([]string{"-h"}); code != 0 {
		t.Errorf("-h exited %d", code)
	}
}
