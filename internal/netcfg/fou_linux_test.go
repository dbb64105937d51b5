//go:build linux

package netcfg

import (
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func TestParseFou(t *testing.T) {
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(fouAttrPort, []byte{0x15, 0xb3})
	ae.Uint8(fouAttrAF, unix.AF_INET6)
	ae.Uint8(fouAttrType, fouEncapGUE)
	b, _ := ae.Encode()
	f, err := parseFou(b)
	if err != nil || f != (Fou{Port: 5555, IPv6: true, GUE: true}) {
		t.Fatalf("%+v %v", f, err)
	}
	if f.String() != "5555/ipv6 gue" {
		t.Fatal(f.String())
	}
}

func FuzzParseFou(f *testing.F) {
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(fouAttrPort, []byte{0x15, 0xb3})
	ae.Uint8(fouAttrAF, unix.AF_INET)
	ae.Uint8(fouAttrIPProto, 4)
	b, _ := ae.Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) { parseFou(b) })
}
