package netcfg

import "fmt"

// Fou is a foo-over-UDP receive port (`ip fou add port PORT gue|ipproto N`).
type Fou struct {
	Port     uint16
	IPv6     bool  // the port listens on IPv6
	GUE      bool  // generic UDP encapsulation; otherwise direct with Protocol
	Protocol uint8 // the inner IP protocol for direct encapsulation (4 = IPIP)
}

func (f Fou) String() string {
	fam := "ipv4"
	if f.IPv6 {
		fam = "ipv6"
	}
	if f.GUE {
		return fmt.Sprintf("%d/%s gue", f.Port, fam)
	}
	return fmt.Sprintf("%d/%s ipproto %d", f.Port, fam, f.Protocol)
}
