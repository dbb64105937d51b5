package main

import (
	"strings"
	"testing"
)

// Bad command lines exit 2 naming the flag, before any check runs.
func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-dr", "10.0.0.1,nope"}, "nope"},
		{[]string{"-tun", "2001:db8::1"}, "-tun"},
		{[]string{"-tun", "10.0.0.1", "-tun-type", "vxlan"}, "-tun-type"},
		{[]string{"-tun", "10.0.0.1", "-tun-type", "gue"}, "Port"},
		{[]string{"-tun-port", "70000"}, "-tun-port"},
		{[]string{"-rs-gateway", "10.0.0.2"}, "RIP=GW"},
		{[]string{"-rs-gateway", "10.0.0.2=x"}, "-rs-gateway"},
		{[]string{"-timeout", "-1s"}, "-timeout"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var out, errb strings.Builder
		if code := run(tc.args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), tc.want) || out.Len() != 0 {
			t.Errorf("doctor %q: exit %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out.String(), errb.String(), exitUsage, tc.want)
		}
	}
	var out, errb strings.Builder
	if code := run([]string{"-h"}, &out, &errb); code != exitOK || !strings.Contains(errb.String(), "-rs-gateway") {
		t.Errorf("-h: exit %d, stderr %q", code, errb.String())
	}
}
