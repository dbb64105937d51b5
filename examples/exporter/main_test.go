package main

import (
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string // substring; "" for success
	}{
		{[]string{"-listen", "127.0.0.1:9101"}, ""},
		{[]string{"-listen", ":9101", "-netns", "/run/netns/x", "-path", "/m"}, ""},
		{nil, "-listen is required"},
		{[]string{"-listen", "9101"}, "want ADDR:PORT"},
		{[]string{"-listen", ":1", "-path", "metrics"}, "must start with /"},
		{[]string{"-listen", ":1", "-timeout", "0s"}, "must be positive"},
		{[]string{"-listen", ":1", "extra"}, "unexpected argument"},
	} {
		_, err := parse(tc.args)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("parse(%q) = %v, want %q", tc.args, err, tc.err)
		}
	}
	if _, err := parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}
