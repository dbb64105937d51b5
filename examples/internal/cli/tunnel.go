package cli

import (
	"fmt"

	"github.com/golvs/lvs/ipvs"
)

// TunnelType parses the value s of flag name: ipip, gue or gre.
func TunnelType(name, s string) (ipvs.TunnelType, error) {
	for _, t := range []ipvs.TunnelType{ipvs.IPIP, ipvs.GUE, ipvs.GRE} {
		if s == t.String() {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%s %q: want ipip, gue or gre", name, s)
}

// Choice parses the value s of flag name, one of the keys of values;
// want lists them for the error ("dr or tun").
func Choice[T any](name, s, want string, values map[string]T) (T, error) {
	v, ok := values[s]
	if !ok {
		return v, fmt.Errorf("%s %q: want %s", name, s, want)
	}
	return v, nil
}
