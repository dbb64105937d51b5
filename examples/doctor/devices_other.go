//go:build !linux

package main

import (
	"errors"
	"net/netip"
)

type device struct{ name, kind string }

func addressDevices(string) (map[netip.Addr]device, error) {
	return nil, errors.New("doctor needs Linux")
}
