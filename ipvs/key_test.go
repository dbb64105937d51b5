package ipvs

import (
	"net/netip"
	"testing"
)

// TestServiceKeyCanonical: every spelling of one service has one
// canonical form, which is the form the kernel reports, and different
// services stay different.
func TestServiceKeyCanonical(t *testing.T) {
	v4 := ServiceKey{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	for _, k := range []ServiceKey{
		{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80},
		{Protocol: TCP, Address: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 80},
		{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 80},
		v4,
	} {
		if got := k.Canonical(); got != v4 {
			t.Errorf("%+v: canonical %+v, want %+v", k, got, v4)
		}
	}
	v6 := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("2001:db8::1"), Port: 80}
	if got := v6.Canonical(); got.Family != IPv6 || got.Address != v6.Address {
		t.Errorf("IPv6: %+v", got)
	}
	fwm := ServiceKey{Family: IPv6, Fwmark: 7}
	if got := fwm.Canonical(); got != fwm {
		t.Errorf("fwmark: %+v", got)
	}
	// As map keys.
	m := map[ServiceKey]int{v4.Canonical(): 1, v6.Canonical(): 2, fwm.Canonical(): 3}
	mapped := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 80}
	if m[mapped.Canonical()] != 1 || len(m) != 3 {
		t.Errorf("map: %v", m)
	}
	// What the decoder returns is canonical already.
	s, err := decodeService(encode(func(w *attrWriter) { serviceKeyAttr(w, mapped) }))
	if err != nil || s.ServiceKey != s.ServiceKey.Canonical() || s.ServiceKey != v4 {
		t.Errorf("decoded %+v, %v", s.ServiceKey, err)
	}
}
