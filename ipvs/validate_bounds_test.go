package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Each bound the kernel does not enforce, or enforces with an errno that
// says nothing: the largest value accepted is sent, the first one past it
// is refused before anything is sent, naming the field and why. The
// kernel tests (TestKernelBounds) prove the same bounds against the real
// kernels.
func TestValidationBounds(t *testing.T) {
	vip := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}
	vip6 := ServiceKey{Protocol: TCP, Address: netip.MustParseAddr("2001:db8::1"), Port: 80}
	persist := func(d time.Duration) func(c *Client) error {
		return func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: vip, Flags: FlagPersistent, Timeout: d})
		}
	}
	dest := func(k ServiceKey, d Destination) func(c *Client) error {
		return func(c *Client) error { return c.CreateDestination(context.Background(), k, d) }
	}
	rs := netip.MustParseAddr("192.168.1.2")
	thresh := func(u, l uint32) Destination {
		return Destination{Address: rs, Port: 80, Weight: 1, UpperThreshold: u, LowerThreshold: l}
	}
	rs6 := func(a string) Destination {
		return Destination{Address: netip.MustParseAddr(a), Port: 80, Forward: Masquerade, Weight: 1}
	}
	timeouts := func(t Timeouts) func(c *Client) error {
		return func(c *Client) error { return c.SetTimeouts(context.Background(), t) }
	}
	daemon := func(d Daemon) func(c *Client) error {
		return func(c *Client) error { return c.StartDaemon(context.Background(), d) }
	}
	group6 := netip.MustParseAddr("ff02::81")
	tests := []struct {
		name string
		ok   func(c *Client) error // the largest value accepted
		bad  func(c *Client) error // the first one refused
		// field and a part of the message the refusal must carry
		field, why string
	}{
		{"persistence timeout", persist(MaxPersistTimeout), persist(MaxPersistTimeout + time.Second), "Timeout", "31 days"},
		{"persistence timeout far above (wraps in the kernel)", persist(MaxPersistTimeout), persist(5000 * time.Hour), "Timeout", "wraps"},
		{"timeout of a non-persistent service", func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: vip, Timeout: MaxPersistTimeout})
		}, func(c *Client) error {
			return c.CreateService(context.Background(), Service{ServiceKey: vip, Timeout: MaxPersistTimeout + time.Second})
		}, "Timeout", "31 days"},
		{"lower threshold without upper", dest(vip, thresh(0, 0)), dest(vip, thresh(0, 1)), "LowerThreshold", "no limit"},
		{"lower threshold above upper", dest(vip, thresh(5, 5)), dest(vip, thresh(5, 6)), "LowerThreshold", "above UpperThreshold 5"},
		{"upper threshold", dest(vip, thresh(maxWeight, maxWeight)), dest(vip, thresh(maxWeight+1, 0)), "UpperThreshold", "above"},
		{"lower threshold", dest(vip, thresh(maxWeight, maxWeight)), dest(vip, thresh(maxWeight, maxWeight+1)), "LowerThreshold", "above"},
		{"IPv6 link-local, top of fe80::/10", dest(vip6, rs6("fec0::1")), dest(vip6, rs6("febf:ffff::1")), "Address", "link-local"},
		{"IPv6 link-local, bottom of fe80::/10", dest(vip6, rs6("fe7f:ffff::1")), dest(vip6, rs6("fe80::1")), "Address", "link-local"},
		{"IPv6 link-local tunnel for an IPv4 service", dest(vip, Destination{Address: netip.MustParseAddr("2001:db8::2"), Port: 80, Forward: Tunnel}),
			dest(vip, Destination{Address: netip.MustParseAddr("fe80::2"), Port: 80, Forward: Tunnel}), "Address", "EINVAL"},
		{"TCP timeout", timeouts(Timeouts{TCP: MaxProtocolTimeout}), timeouts(Timeouts{TCP: MaxProtocolTimeout + time.Second}), "TCP", "INT_MAX/HZ"},
		{"TCP FIN timeout", timeouts(Timeouts{TCPFin: MaxProtocolTimeout}), timeouts(Timeouts{TCPFin: MaxProtocolTimeout + time.Second}), "TCPFin", "INT_MAX/HZ"},
		{"UDP timeout", timeouts(Timeouts{UDP: MaxProtocolTimeout}), timeouts(Timeouts{UDP: MaxProtocolTimeout + time.Second}), "UDP", "INT_MAX/HZ"},
		{"UDP timeout of INT_MAX/250 (Debian's HZ)", timeouts(Timeouts{UDP: MaxProtocolTimeout}), timeouts(Timeouts{UDP: (1<<31 - 1) / 250 * time.Second}), "UDP", "31 days"},
		{"master MaxLen, IPv4 group", daemon(Daemon{State: DaemonMaster, Interface: "eth0", MaxLen: 65507}),
			daemon(Daemon{State: DaemonMaster, Interface: "eth0", MaxLen: 65508}), "MaxLen", "largest UDP payload"},
		{"master MaxLen, IPv6 group (the kernel lowers it to 65487, as ipvsadm lets it)", daemon(Daemon{State: DaemonMaster, Interface: "eth0", Group: group6, MaxLen: 65507}),
			daemon(Daemon{State: DaemonMaster, Interface: "eth0", Group: group6, MaxLen: 65508}), "MaxLen", "above 65507"},
		{"backup MaxLen (the kernel raises one below 1024, as ipvsadm lets it)", daemon(Daemon{State: DaemonBackup, Interface: "eth0", MaxLen: 1}),
			daemon(Daemon{State: DaemonBackup, Interface: "eth0", MaxLen: 65508}), "MaxLen", "above 65507"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTransport{}
			if err := tt.ok(newFake(f)); err != nil {
				t.Fatalf("largest accepted value refused: %v", err)
			}
			if len(f.reqs) != 1 {
				t.Fatalf("largest accepted value: %d requests sent, want 1", len(f.reqs))
			}
			f = &fakeTransport{}
			err := tt.bad(newFake(f))
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an *Error matching ErrInvalid", err)
			}
			if e.Field != tt.field || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("got field %q, %q; want field %q and a message saying %q", e.Field, err, tt.field, tt.why)
			}
			if len(f.reqs) != 0 {
				t.Fatalf("sent %d requests despite invalid input", len(f.reqs))
			}
		})
	}
}

// Apply validates with the same checks: a desired state past a bound is
// refused before anything is read.
func TestApplyValidatesBounds(t *testing.T) {
	f := &fakeTransport{}
	st := State{Services: []ServiceState{{Service: Service{ServiceKey: tcpKey, Flags: FlagPersistent, Timeout: 5000 * time.Hour}}}}
	_, err := newFake(f).Apply(context.Background(), st, nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) || e.Field != "Timeout" || len(f.reqs) != 0 {
		t.Fatalf("got %v after %d requests, want ErrInvalid on Timeout before any request", err, len(f.reqs))
	}
	st = State{Services: []ServiceState{{Service: Service{ServiceKey: tcpKey}, Destinations: []Destination{{Address: rs(1, 80, 1).Address, Port: 80, Forward: DirectRoute, LowerThreshold: 3}}}}}
	_, err = newFake(f).Apply(context.Background(), st, nil)
	if !errors.As(err, &e) || e.Field != "LowerThreshold" || len(f.reqs) != 0 {
		t.Fatalf("got %v, want ErrInvalid on LowerThreshold before any request", err)
	}
}

// The exported Validate methods are the calls' own checks, with Op
// "validate".
func TestValidateMethods(t *testing.T) {
	bad := []error{
		ServiceKey{Fwmark: 1}.Validate(),
		Service{ServiceKey: tcpKey, Timeout: MaxPersistTimeout + time.Second}.Validate(),
		Destination{Address: netip.MustParseAddr("192.168.1.2"), Port: 80, LowerThreshold: 1}.Validate(tcpKey),
		Daemon{State: DaemonBackup, Interface: "eth0", MaxLen: 65508}.Validate(),
		Timeouts{TCP: MaxProtocolTimeout + time.Second}.Validate(),
		ServiceState{Service: Service{ServiceKey: tcpKey}, Destinations: []Destination{rs(1, 80, 1), rs(1, 80, 2)}}.Validate(),
		State{Services: []ServiceState{{Service: Service{ServiceKey: tcpKey}}, {Service: Service{ServiceKey: tcpKey}}}}.Validate(),
	}
	fields := []string{"Family", "Timeout", "LowerThreshold", "MaxLen", "TCP", "Destinations", "Services"}
	for i, err := range bad {
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) || e.Op != "validate" || e.Field != fields[i] {
			t.Errorf("%d: got %v, want ErrInvalid from validate on %s", i, err, fields[i])
		}
	}
	good := []error{
		tcpKey.Validate(),
		Service{ServiceKey: tcpKey, Flags: FlagPersistent, Timeout: MaxPersistTimeout}.Validate(),
		rs(1, 80, 1).Validate(tcpKey),
		Daemon{State: DaemonBackup, Interface: "eth0", MaxLen: 1024}.Validate(),
		Timeouts{TCP: MaxProtocolTimeout}.Validate(),
		State{Services: []ServiceState{{Service: Service{ServiceKey: tcpKey}, Destinations: []Destination{rs(1, 80, 1)}}}}.Validate(),
	}
	for i, err := range good {
		if err != nil {
			t.Errorf("%d: %v", i, err)
		}
	}
}
