package enum_test

import (
	"fmt"
	"testing"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/fwmark"
	"github.com/golvs/lvs/internal/diag"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
)

// String methods built on Name, called from another package (as metrics
// labels a series with Protocol.String), directly or through fmt.Stringer,
// allocate nothing.
func TestNameAllocatesNothing(t *testing.T) {
	var sink string
	for _, s := range []fmt.Stringer{ipvs.UDP, ipvs.IPv6, ipvs.DirectRoute, ipvs.GUE,
		ipvs.DaemonBackup, ipvs.OpDeleteDestination, director.BackendIPTables, director.AnnounceRouted,
		fwmark.ProtocolSCTP, fwmark.BackendNFTables, realserver.ARPNone, diag.SeverityBroken} {
		if n := testing.AllocsPerRun(100, func() { sink = s.String() }); n != 0 {
			t.Errorf("%T(%v).String() allocates %v times", s, s, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { sink = ipvs.TCP.String() + ipvs.Masquerade.String() }); n != 1 {
		t.Errorf("direct String calls allocate %v times, want only the concatenation's 1", n)
	}
	_ = sink
}
