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
