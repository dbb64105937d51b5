package main

import (
	"net/netip"

	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/netns"
	"github.com/vishvananda/netlink"
)

// device is where an address is configured.
type device struct{ name, kind string }

// addressDevices maps each address of the namespace to its device.
func addressDevices(path string) (map[netip.Addr]device, error) {
	out := map[netip.Addr]device{}
	err := netns.DoPath(path, func() error {
		links, err := netcfg.Dump(netlink.LinkList)
		if err != nil {
			return err
		}
		for _, l := range links {
			as, err := netcfg.Dump(func() ([]netlink.Addr, error) { return netlink.AddrList(l, netlink.FAMILY_ALL) })
			if err != nil {
				return err
			}
			for _, a := range as {
				if ip, ok := netip.AddrFromSlice(a.IP); ok {
					out[ip.Unmap()] = device{l.Attrs().Name, l.Type()}
				}
			}
		}
		return nil
	})
	return out, err
}
