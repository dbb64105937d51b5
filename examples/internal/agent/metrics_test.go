package agent

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// -metrics takes ADDR:PORT or :PORT with an IP literal and a port, and a
// bad one fails the flag's parsing (exit 2, before any step runs) naming
// the flag.
func TestMetricsFlag(t *testing.T) {
	for _, tc := range []struct {
		arg, err string // err: substring; "" for success
	}{
		{"127.0.0.1:9101", ""},
		{":9101", ""},
		{"[::1]:9101", ""},
		{"[fd00::1]:80", ""},
		{"9101", "want ADDR:PORT"},
		{"127.0.0.1", "want ADDR:PORT"},
		{"localhost:9101", "not an IP address"},
		{"127.0.0.1:0", "want 1..65535"},
		{"127.0.0.1:65536", "want 1..65535"},
		{"127.0.0.1:http", "want 1..65535"},
		{"", "want ADDR:PORT"},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		addr := MetricsFlag(fs)
		err := fs.Parse([]string{"-metrics", tc.arg})
		switch {
		case tc.err == "" && (err != nil || *addr != tc.arg):
			t.Errorf("-metrics %q: %v, value %q", tc.arg, err, *addr)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "-metrics")):
			t.Errorf("-metrics %q: error %v, want one naming -metrics and saying %q", tc.arg, err, tc.err)
		case tc.err != "" && *addr != "":
			t.Errorf("-metrics %q refused, yet the value is %q", tc.arg, *addr)
		}
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	if addr := MetricsFlag(fs); fs.Parse(nil) != nil || *addr != "" {
		t.Errorf("no -metrics: %q, want none", *addr)
	}
}
