package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/examples/internal/cli"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
)

// OneService returns the steps of a director with one TCP service on
// c.VIP, scheduled by c.Sched, whose real servers are c.RS, each forwarded
// as dest says (its Address and Port are filled in), and the VIP on
// c.Iface. role and id make the agent's identity (see ID).
func OneService(role, id, metrics string, c *cli.Director, dest ipvs.Destination) []Step {
	vip := c.VIP
	var dests []ipvs.Destination
	for _, a := range c.RS {
		dest.Address, dest.Port = a, vip.Port()
		dests = append(dests, dest)
	}
	d := Director{ID: ID(id, role, vip), Metrics: metrics}
	svc := ipvs.Service{ServiceKey: ipvs.ServiceKey{Protocol: ipvs.TCP, Address: vip.Addr(), Port: vip.Port()}, Scheduler: c.Sched}
	return []Step{d.Open, d.Service(svc, dests...), d.VIP(vip.Addr(), c.Iface)}
}

// Director is what a director agent's steps share: its identity, the
// director and IPVS clients. Its Open step comes first; its undo, run last,
// closes them.
type Director struct {
	// ID is the agent's identity on the host (see ID).
	ID   string
	Host *director.Client
	IPVS *ipvs.Client
	// Metrics, when set, is the ADDR:PORT Open serves the IPVS table's
	// Prometheus metrics on (see MetricsFlag), until the agent stops.
	Metrics string
	// rec holds the agent's own records (its IPVS services).
	rec     *records
	metrics *Setup
}

// Open opens the clients and undoes what a killed agent of the same
// identity left: its VIP, sysctls and services; then serves the metrics
// when d.Metrics is set (a port already taken fails the step).
func (d *Director) Open(ctx context.Context) (*Setup, error) {
	var err error
	if d.Host, err = director.New(&director.Config{Identity: d.ID}); err != nil {
		return nil, err
	}
	if d.IPVS, err = ipvs.New(nil); err == nil {
		d.rec, err = openRecords(d.ID, d.IPVS)
	}
	closeAll := func(ctx context.Context) error {
		var errs []error
		if d.metrics != nil {
			errs = append(errs, d.metrics.Teardown(ctx))
		}
		if d.rec != nil {
			errs = append(errs, d.rec.Close())
		}
		if d.IPVS != nil {
			errs = append(errs, d.IPVS.Close())
		}
		return errors.Join(append(errs, d.Host.Close())...)
	}
	if err == nil {
		err = d.Host.Recover(ctx)
	}
	if err == nil {
		err = d.rec.recover()
	}
	if err == nil && d.Metrics != "" {
		d.metrics, err = ServeMetrics(d.IPVS, d.Metrics, "/metrics", 5*time.Second)
	}
	if err != nil {
		return nil, errors.Join(err, closeAll(ctx))
	}
	return Undo("close clients", closeAll), nil
}

// Service creates svc with dests. An existing service of that key is
// someone else's (a killed predecessor's was removed by Open): the step
// fails rather than take it over (and later delete it). The service is
// recorded on the host before it is created.
func (d *Director) Service(svc ipvs.Service, dests ...ipvs.Destination) Step {
	return func(ctx context.Context) (*Setup, error) {
		if _, err := d.IPVS.Service(ctx, svc.ServiceKey); err == nil {
			return nil, fmt.Errorf("%v already exists; not taking over someone else's service", svc.ServiceKey)
		}
		return d.rec.createService(ctx, svc, dests)
	}
}

// VIP puts vip on iface and announces it by gratuitous ARP (neighbour
// advertisement for IPv6). It belongs last: once the VIP is announced,
// clients' traffic arrives.
func (d *Director) VIP(vip netip.Addr, iface string) Step {
	return func(ctx context.Context) (*Setup, error) {
		return d.Host.AddVIP(ctx, director.VIP{Address: vip, Announce: director.AnnounceARP, Interface: iface})
	}
}

// RealServer returns the steps of a real-server agent with identity id:
// open a realserver.Client, undo what a killed agent of that identity left,
// and run setup with it.
func RealServer(id string, setup func(context.Context, *realserver.Client) (*realserver.Setup, error)) []Step {
	var c *realserver.Client
	return []Step{
		func(ctx context.Context) (*Setup, error) {
			var err error
			if c, err = realserver.New(&realserver.Config{Identity: id}); err != nil {
				return nil, err
			}
			if err := c.Recover(ctx); err != nil {
				return nil, errors.Join(err, c.Close())
			}
			return Undo("close client", func(context.Context) error { return c.Close() }), nil
		},
		func(ctx context.Context) (*Setup, error) { return setup(ctx, c) },
	}
}
