package health

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// Validation: every field is checked before anything runs, and the error
// names it.

// checkTiming validates t; partial is a pool default, whose zero fields
// are filled in later, so only signs are checked.
func checkTiming(obj, field string, t Timing, partial bool) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", t.Interval}, {"Timeout", t.Timeout}, {"RetryDelay", t.RetryDelay}, {"Warmup", t.Warmup}} {
		if d.v < 0 {
			return pkg.Invalid("configure", obj, field+"."+d.name, "negative; 0 takes the default")
		}
	}
	switch {
	case t.Rise < 0:
		return pkg.Invalid("configure", obj, field+".Rise", "must be at least 1; 0 takes the default")
	case t.Fall < 0:
		return pkg.Invalid("configure", obj, field+".Fall", "must be at least 1; 0 takes the default")
	case t.Retries < 0:
		return pkg.Invalid("configure", obj, field+".Retries", "negative")
	case partial:
		return nil
	case t.Timeout > t.Interval:
		return pkg.Invalid("configure", obj, field+".Timeout", fmt.Sprintf("%v is longer than the interval %v: a check would still run at its next slot", t.Timeout, t.Interval))
	}
	return nil
}

func family(a netip.Addr) ipvs.Family { return ipvs.FamilyOf(a) }

// serviceFamily is the family of k: its address's, or a firewall-mark
// service's own.
func serviceFamily(k ipvs.ServiceKey) ipvs.Family {
	if k.Fwmark != 0 {
		if k.Family == 0 {
			return ipvs.IPv4
		}
		return k.Family
	}
	return family(k.Address)
}

func checkService(sc ServiceConfig) error {
	svc := sc.Service.String()
	switch {
	case sc.Service.Fwmark == 0 && !sc.Service.Address.IsValid():
		return pkg.Invalid("configure", svc, "Service", "needs an address or a firewall mark")
	case sc.Service.Fwmark == 0 && sc.Service.Family != 0 && sc.Service.Family != family(sc.Service.Address):
		return pkg.Invalid("configure", svc, "Service.Family", "not the family of the service's address")
	case sc.OnFailure != Inhibit && sc.OnFailure != Remove:
		return pkg.Invalid("configure", svc, "OnFailure", "neither Inhibit nor Remove")
	case sc.Drain < 0 || (sc.Drain > 0 && sc.OnFailure != Remove):
		return pkg.Invalid("configure", svc, "Drain", "only with OnFailure: Remove (Inhibit already drains), and not negative")
	case sc.Quorum < 0:
		return pkg.Invalid("configure", svc, "Quorum", "negative")
	case sc.Hysteresis < 0:
		return pkg.Invalid("configure", svc, "Hysteresis", "negative")
	case sc.Sorry != nil && !sc.Sorry.Address.IsValid():
		return pkg.Invalid("configure", svc, "Sorry", "has no address")
	case sc.Sorry != nil && !familyFits(sc.Service, *sc.Sorry):
		return pkg.Invalid("configure", svc, "Sorry.Address", "of another family than the service (only tunnelled servers may be)")
	}
	return nil
}

// familyFits: IPVS takes a destination of the other family only for
// tunnelling.
func familyFits(k ipvs.ServiceKey, d ipvs.Destination) bool {
	return d.Forward == ipvs.Tunnel || family(d.Address) == serviceFamily(k)
}

func checkServer(sc ServiceConfig, s Server, field string, passive bool) error {
	svc := sc.Service.String()
	if !s.Destination.Address.IsValid() {
		return pkg.Invalid("configure", svc, field+"Destination.Address", "missing")
	}
	obj := netip.AddrPortFrom(s.Destination.Address.Unmap(), s.Destination.Port).String()
	switch {
	case !familyFits(sc.Service, s.Destination):
		return pkg.Invalid("configure", obj, field+"Destination.Address", "of another family than the service "+svc+" (only tunnelled servers may be)")
	case s.Checker == nil || isNil(s.Checker):
		return pkg.Invalid("configure", obj, field+"Checker", "missing")
	case s.ViaVIP && s.Mark == 0:
		return pkg.Invalid("configure", obj, field+"Mark", "ViaVIP needs a socket mark that the director routes to this server")
	case s.ViaVIP && passive:
		return pkg.Invalid("configure", obj, field+"ViaVIP", "a passive pool writes nothing, and ViaVIP needs a probe service written")
	case s.ViaVIP && sc.Service.Fwmark != 0:
		return pkg.Invalid("configure", obj, field+"ViaVIP", "needs an address service (a firewall-mark service has no single VIP)")
	case sc.Sorry != nil && netip.AddrPortFrom(s.Destination.Address.Unmap(), s.Destination.Port) == netip.AddrPortFrom(sc.Sorry.Address.Unmap(), sc.Sorry.Port):
		return pkg.Invalid("configure", obj, field+"Sorry", "is also a real server")
	}
	checked := s.Destination.Address
	if s.Connect.IsValid() {
		checked = s.Connect.Addr()
	}
	if s.ViaVIP {
		checked = sc.Service.Address
	}
	if s.Source.IsValid() && family(s.Source) != family(checked) {
		return pkg.Invalid("configure", obj, field+"Source", "of another family than the address checked, "+checked.String())
	}
	if v, ok := s.Checker.(interface{ validate() (string, string) }); ok {
		if f, msg := v.validate(); f != "" {
			return pkg.Invalid("configure", obj, field+"Checker."+f, msg)
		}
	}
	return nil
}

// isNil reports a typed nil checker, such as (*HTTP)(nil).
func isNil(c Checker) bool {
	v := reflect.ValueOf(c)
	switch v.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Slice, reflect.Interface, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// The built-in checkers' validation and keys.

func (h *HTTP) validate() (string, string) {
	for i, r := range h.Status {
		f := "Status[" + itoa(i) + "]"
		switch {
		case r.Min < 100 || r.Max > 599:
			return f, fmt.Sprintf("%d-%d outside the HTTP status codes 100-599", r.Min, r.Max)
		case r.Min > r.Max:
			return f, fmt.Sprintf("%d-%d: Min above Max", r.Min, r.Max)
		}
	}
	if h.MaxBody < 0 {
		return "MaxBody", "negative"
	}
	if _, err := hex.DecodeString(h.Digest); h.Digest != "" && (err != nil || len(h.Digest) != 32) {
		return "Digest", "not an MD5 in hex (32 hex digits)"
	}
	if strings.ContainsAny(h.Path, " \r\n") {
		return "Path", "contains white space"
	}
	return "", ""
}

func (h *HTTP) key() any {
	type k struct {
		path, host string
		tls        bool
		cfg        any
		status     string
		body       string
		digest     string
		maxBody    int64
		hasBody    bool
	}
	body, hasBody := pattern(h.Body)
	return k{h.Path, h.Host, h.TLS, h.TLSConfig, fmt.Sprint(h.Status), body, strings.ToLower(h.Digest), h.MaxBody, hasBody}
}

func (u *UDP) validate() (string, string) { return "", "" }

func (u *UDP) key() any {
	type k struct {
		payload      string
		requireReply bool
		reply        string
		hasReply     bool
	}
	reply, hasReply := pattern(u.Reply)
	return k{string(u.Payload), u.RequireReply, reply, hasReply}
}

// pattern is a regular expression's source, for keys.
func pattern(re *regexp.Regexp) (string, bool) {
	if re == nil {
		return "", false
	}
	return re.String(), true
}

func (d *DNS) validate() (string, string) {
	if d.MinAnswers < 0 {
		return "MinAnswers", "negative"
	}
	if _, err := encodeDNSQuery(0, d.Name, 1); err != nil {
		return "Name", err.Error()
	}
	return "", ""
}

func (d *DNS) key() any { return *d }

func (c *Command) validate() (string, string) {
	if c.Path == "" {
		return "Path", "missing"
	}
	return "", ""
}

func (c *Command) key() any {
	type k struct {
		path, args, env string
		dynamic         bool
	}
	return k{c.Path, strings.Join(c.Args, "\x00"), strings.Join(c.Env, "\x00"), c.DynamicWeight}
}
