package ipvs

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestKernelABIOps asks the running kernel which commands its IPVS family
// has and how many top-level attributes it takes: exactly the commands the
// package sends (SET_INFO is only a reply) and the top-level attributes it
// knows. The uapi header check (TestABIMatchesUAPIHeader) covers the rest
// on the host.
func TestKernelABIOps(t *testing.T) {
	t.Parallel()
	c := nsClient(t)
	tr := c.t.(*nlTransport)
	conn, err := tr.get()
	if err != nil {
		t.Fatal(err)
	}
	var w attrWriter
	w.str(unix.CTRL_ATTR_FAMILY_NAME, "IPVS")
	var (
		ops     []int
		maxAttr uint32
	)
	err = conn.roundTrip(unix.GENL_ID_CTRL, request{cmd: unix.CTRL_CMD_GETFAMILY, attrs: w.b}, func(_ uint8, b []byte) error {
		return attrs(b, func(typ uint16, v []byte) error {
			switch typ {
			case unix.CTRL_ATTR_MAXATTR:
				maxAttr, _ = getU32(v)
			case unix.CTRL_ATTR_OPS:
				return attrs(v, func(_ uint16, op []byte) error {
					return attrs(op, func(typ uint16, v []byte) error {
						if typ == unix.CTRL_ATTR_OP_ID {
							id, err := getU32(v)
							ops = append(ops, int(id))
							return err
						}
						return nil
					})
				})
			}
			return nil
		})
	})
	tr.put(conn, err)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ops)
	want := []int{cmdNewService, cmdSetService, cmdDelService, cmdGetService, cmdNewDest, cmdSetDest, cmdDelDest, cmdGetDest,
		cmdNewDaemon, cmdDelDaemon, cmdGetDaemon, cmdSetConfig, cmdGetConfig, cmdGetInfo, cmdZero, cmdFlush}
	if !slices.Equal(ops, want) {
		t.Errorf("the kernel's IPVS commands are %v, the package's %v", ops, want)
	}
	if maxAttr != attrTimeoutUDP {
		t.Errorf("the kernel's IPVS family takes attributes up to %d, the package knows up to %d", maxAttr, attrTimeoutUDP)
	}
}
