//go:build !linux

package director

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
)

var errNotLinux = errors.New("the director package needs Linux, not " + runtime.GOOS)

type client struct{}

func newClient(*Config, *Client) (*client, error) {
	return nil, newError("open", ErrNotSupported, errNotLinux)
}

func (c *client) close() error { return nil }

func (c *client) addVIP(context.Context, string, VIP) (*Setup, error) { return nil, errNotLinux }
func (c *client) checkVIP(string, VIP) (Findings, error)              { return nil, errNotLinux }
func (c *client) announceChecked(context.Context, string, string, netip.Addr, Gratuitous) error {
	return errNotLinux
}
func (c *client) enableForwarding(string, Forwarding) (*Setup, error) { return nil, errNotLinux }
func (c *client) natGateway(string, NATGateway) (*Setup, error)       { return nil, errNotLinux }
func (c *client) checkReturnPath(string, []ReturnPath) (Findings, error) {
	return nil, errNotLinux
}
func (c *client) oneArmNAT(context.Context, string, OneArmNAT) (*Setup, error) {
	return nil, errNotLinux
}
func (c *client) applySysctls(string, []Sysctl) (*Setup, error) { return nil, errNotLinux }
func (c *client) recover(string) error                          { return errNotLinux }
