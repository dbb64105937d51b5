package ipvs

import (
	"errors"
	"net/netip"
	"testing"
)

// errorsIsInvalidField reports whether err is ErrInvalid naming field.
func errorsIsInvalidField(err error, field string) bool {
	var e *Error
	return errors.Is(err, ErrInvalid) && errors.As(err, &e) && e.Field == field
}

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

// TestMappedIPv6Kept: Family IPv6 set explicitly keeps a service or a
// destination at an IPv4-mapped address IPv6 (as ipvsadm's
// [::ffff:a.b.c.d] does): validated, canonical as the kernel reports it,
// sent as 16 bytes of family AF_INET6, and another key than the IPv4 one.
// Without it nothing changes (TestServiceKeyCanonical).
func TestMappedIPv6Kept(t *testing.T) {
	a := netip.MustParseAddr("::ffff:1.1.4.11")
	k := ServiceKey{Family: IPv6, Protocol: TCP, Address: a, Port: 80}
	if err := k.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if got := k.Canonical(); got != k {
		t.Errorf("canonical %+v, want %+v", got, k)
	}
	if v4 := (ServiceKey{Protocol: TCP, Address: a, Port: 80}).Canonical(); v4 == k.Canonical() || v4.Family != IPv4 {
		t.Errorf("the IPv4 service %+v should differ from %+v", v4, k)
	}
	if got, want := k.String(), "TCP [::ffff:1.1.4.11]:80"; got != want {
		t.Errorf("String %q, want %q", got, want)
	}
	s, err := decodeService(encode(func(w *attrWriter) { serviceKeyAttr(w, k) }))
	if err != nil || s.ServiceKey != k {
		t.Errorf("round trip: %+v, %v", s.ServiceKey, err)
	}
	// Refused: IPv6 with an IPv4 address, IPv4 with an IPv6 one.
	for _, bad := range []ServiceKey{
		{Family: IPv6, Protocol: TCP, Address: netip.MustParseAddr("1.1.4.11"), Port: 80},
		{Family: IPv4, Protocol: TCP, Address: netip.MustParseAddr("2001:db8::1"), Port: 80},
	} {
		if err := bad.Validate(); !errorsIsInvalidField(err, "Family") {
			t.Errorf("%+v: %v, want ErrInvalid on Family", bad, err)
		}
	}

	d := Destination{Family: IPv6, Address: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 80, Forward: Masquerade, Weight: 1}
	if err := d.Validate(k); err != nil {
		t.Fatalf("destination: %v", err)
	}
	if got := d.Canonical(); got != d {
		t.Errorf("canonical %+v", got)
	}
	// Without the family the same address is an IPv4 destination: mixed,
	// which needs a tunnel.
	plain := d
	plain.Family = 0
	if got := plain.Canonical(); got.Address != netip.MustParseAddr("10.0.0.1") || got.Family != 0 {
		t.Errorf("canonical %+v", got)
	}
	if err := plain.Validate(k); !errorsIsInvalidField(err, "Address") {
		t.Errorf("IPv4 masquerade destination of an IPv6 service: %v", err)
	}
	if err := (Destination{Family: IPv6, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}).Validate(k); !errorsIsInvalidField(err, "Family") {
		t.Errorf("IPv6 family, IPv4 address: %v", err)
	}
	got, err := decodeDestination(encode(func(w *attrWriter) { destAttr(w, d) }), IPv6)
	if err != nil || got.Destination != d {
		t.Errorf("round trip: %+v, %v", got.Destination, err)
	}
}
