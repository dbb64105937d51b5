package health

import (
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Built-in checkers share a check when their parameters are equal, even as
// separate values; anything that changes the check separates them.
func TestCheckKeys(t *testing.T) {
	tm := Timing{Interval: time.Second, Timeout: time.Second}
	target := Target{Addr: netip.MustParseAddrPort("10.0.0.1:80"), Server: netip.MustParseAddrPort("10.0.0.1:80")}
	key := func(c Checker, tg Target, tm Timing) probeKey {
		return keyOf(&member{cfg: Server{Checker: c}, target: tg, timing: tm})
	}
	same := func(a, b Checker) bool { return key(a, target, tm) == key(b, target, tm) }
	require.True(t, same(&HTTP{Path: "/h", Body: regexp.MustCompile("ok")}, &HTTP{Path: "/h", Body: regexp.MustCompile("ok")}))
	require.False(t, same(&HTTP{Path: "/h"}, &HTTP{Path: "/x"}))
	require.False(t, same(&HTTP{Path: "/h"}, &HTTP{Path: "/h", Status: []StatusRange{{200, 200}}}))
	require.True(t, same(TCP{}, TCP{}))
	require.False(t, same(TCP{}, &UDP{}))
	require.True(t, same(&DNS{Name: "a."}, &DNS{Name: "a."}))
	require.True(t, same(&Command{Path: "/bin/true", Args: []string{"a"}}, &Command{Path: "/bin/true", Args: []string{"a"}}))
	require.False(t, same(&Command{Path: "/bin/true", Args: []string{"a b"}}, &Command{Path: "/bin/true", Args: []string{"a", "b"}}))
	f := CheckFunc(nil)
	require.False(t, same(f, f), "functions are not comparable: never shared")
	other := target
	other.Addr = netip.MustParseAddrPort("10.0.0.1:443")
	require.NotEqual(t, key(TCP{}, target, tm), key(TCP{}, other, tm))
	tm2 := tm
	tm2.Timeout = time.Second / 2
	require.NotEqual(t, key(TCP{}, target, tm), key(TCP{}, target, tm2))
}
