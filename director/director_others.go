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

func newClient(*Config) (*client, error) { return nil, newError("open", ErrNotSupported, errNotLinux) }

func (c *client) close() error { return nil }

func (c *client) addVIP(context.Context, string, VIP) (*Undo, error) { return nil, errNotLinux }
func (c *client) checkVIP(string, VIP) ([]Finding, error)            { return nil, errNotLinux }
func (c *client) announceChecked(context.Context, string, string, netip.Addr, Gratuitous) error {
	return errNotLinux
}
func (c *client) enableForwarding(string, Forwarding) (*Undo, error) { return nil, errNotLinux }
func (c *client) natGateway(string, NATGateway) (*Undo, error)       { return nil, errNotLinux }
func (c *client) checkReturnPath(string, []ReturnPath) ([]Finding, error) {
	return nil, errNotLinux
}
func (c *client) oneArmNAT(context.Context, string, OneArmNAT) (*Undo, error) {
	return nil, errNotLinux
}
func (c *client) applySysctls(string, []Sysctl) (*Undo, error) { return nil, errNotLinux }
