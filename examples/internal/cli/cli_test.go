package cli

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestList(t *testing.T) {
	parse := func(s string) (netip.Addr, error) { return netip.ParseAddr(s) }
	got, err := List("-rs", "10.0.0.1, 10.0.0.2", "ADDR", parse)
	require.NoError(t, err)
	assert.Len(t, got, 2)
	for list, msg := range map[string]string{
		"":                           "-rs is required: ADDR",
		"10.0.0.1,,10.0.0.2":         `-rs entry 2 "": want ADDR`,
		"10.0.0.1,10.0.0.x":          `-rs entry 2 "10.0.0.x": want ADDR`,
		"10.0.0.1,10.0.0.2,10.0.0.1": `-rs entry 3 "10.0.0.1": given twice`,
	} {
		_, err := List("-rs", list, "ADDR", parse)
		assert.EqualError(t, err, msg, list)
	}
}

func TestAddr(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "255.255.255.255", "::", "224.0.0.1", "127.0.0.1", "169.254.1.1", "fe80::1", "ff02::1"} {
		_, err := ParseAddr("-vip", s)
		assert.Error(t, err, s)
	}
	a, err := ParseAddr("-vip", "::ffff:192.0.2.1")
	require.NoError(t, err)
	assert.True(t, a.Is4())
	_, err = AddrPort("-vip", "192.0.2.1:0")
	assert.Error(t, err)
	assert.Error(t, RealServers("NAT", netip.MustParseAddr("192.0.2.1"), true, netip.MustParseAddr("2001:db8::1")))
	assert.Error(t, RealServers("NAT", netip.MustParseAddr("192.0.2.1"), true, netip.MustParseAddr("192.0.2.1")))
}

func TestScheduler(t *testing.T) {
	_, err := Scheduler("rr")
	assert.NoError(t, err)
	_, err = Scheduler("bogus")
	assert.ErrorContains(t, err, `-sched "bogus": unknown scheduler`)
	assert.True(t, Help([]string{"-h"}, "usage"))
	assert.False(t, Help([]string{"director", "-h"}, "usage"))
}

func TestChoice(t *testing.T) {
	values := map[string]int{"dr": 1, "tun": 2}
	v, err := Choice("-forward", "tun", "dr or tun", values)
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	_, err = Choice("-forward", "nat", "dr or tun", values)
	assert.EqualError(t, err, `-forward "nat": want dr or tun`)
}
