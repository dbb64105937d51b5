package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
)

// Director is what a director agent's steps share: the director and IPVS
// clients. Its Open step comes first; its undo, run last, closes them.
type Director struct {
	Host *director.Client
	IPVS *ipvs.Client
}

// Open opens the clients.
func (d *Director) Open(context.Context) (func(context.Context) error, error) {
	var err error
	if d.Host, err = director.New(nil); err != nil {
		return nil, err
	}
	if d.IPVS, err = ipvs.New(nil); err != nil {
		d.Host.Close()
		return nil, err
	}
	return func(context.Context) error { return errors.Join(d.IPVS.Close(), d.Host.Close()) }, nil
}

// Service creates svc with dests. An existing service of that key is
// someone else's: the step fails rather than take it over (and later
// delete it).
func (d *Director) Service(svc ipvs.Service, dests ...ipvs.Destination) Step {
	return func(ctx context.Context) (func(context.Context) error, error) {
		err := d.IPVS.CreateService(ctx, svc)
		if errors.Is(err, ipvs.ErrExist) {
			return nil, fmt.Errorf("%v already exists; not taking over someone else's service", svc.ServiceKey)
		}
		if err != nil {
			return nil, err
		}
		undo := func(ctx context.Context) error { return d.IPVS.DeleteService(ctx, svc.ServiceKey) }
		for _, dest := range dests {
			if err := d.IPVS.CreateDestination(ctx, svc.ServiceKey, dest); err != nil {
				return nil, errors.Join(err, undo(ctx))
			}
		}
		return undo, nil
	}
}

// VIP puts vip on iface and announces it by gratuitous ARP (neighbour
// advertisement for IPv6). It belongs last: once the VIP is announced,
// clients' traffic arrives.
func (d *Director) VIP(vip netip.Addr, iface string) Step {
	return func(ctx context.Context) (func(context.Context) error, error) {
		return teardown(d.Host.AddVIP(ctx, director.VIP{Address: vip, Announce: director.AnnounceARP, Interface: iface}))
	}
}

// RealServer returns the steps of a real-server agent: open a
// realserver.Client and run setup with it.
func RealServer(setup func(context.Context, *realserver.Client) (*realserver.Setup, error)) []Step {
	var c *realserver.Client
	return []Step{
		func(context.Context) (func(context.Context) error, error) {
			var err error
			if c, err = realserver.New(nil); err != nil {
				return nil, err
			}
			return func(context.Context) error { return c.Close() }, nil
		},
		func(ctx context.Context) (func(context.Context) error, error) { return teardown(setup(ctx, c)) },
	}
}

// teardown makes a Step's result of a set-up call's.
func teardown[S interface{ Teardown(context.Context) error }](s S, err error) (func(context.Context) error, error) {
	if err != nil {
		return nil, err
	}
	return s.Teardown, nil
}
