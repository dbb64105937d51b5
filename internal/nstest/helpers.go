package nstest

import (
	"net/netip"
	"testing"
)

// Open hands a client to a test: Open(director.New(cfg))(t) fails t when
// New failed and closes the client when the test ends. The one helper for
// every package's "a client of this namespace" in tests.
func Open[C interface{ Close() error }](c C, err error) func(t testing.TB) C {
	return func(t testing.TB) C {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// Addrs parses addresses written in a test; a malformed one panics.
func Addrs(s ...string) []netip.Addr { return parseAll(s, netip.MustParseAddr) }

// Prefixes parses prefixes written in a test; a malformed one panics.
func Prefixes(s ...string) []netip.Prefix { return parseAll(s, netip.MustParsePrefix) }

func parseAll[T any](s []string, parse func(string) T) []T {
	var out []T
	for _, x := range s {
		out = append(out, parse(x))
	}
	return out
}
