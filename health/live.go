package health

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// do runs a live change: in Run's goroutine while the pool runs (f's
// running is true: it may write IPVS, and its writes follow at once),
// else directly on the configuration.
func (p *Pool) do(ctx context.Context, opName string, f func(ctx context.Context, running bool) error) error {
	for {
		p.runMu.Lock()
		if p.ops == nil {
			defer p.runMu.Unlock()
			return f(ctx, false)
		}
		ops, done := p.ops, p.done
		p.runMu.Unlock()
		o := &op{f: func(ctx context.Context) error { return f(ctx, true) }, err: make(chan error, 1)}
		select {
		case ops <- o:
			select {
			case err := <-o.err:
				return err
			case <-ctx.Done():
				return wrap(opName, "", ctx.Err())
			}
		case <-done:
			// Run ended: try again on the configuration.
		case <-ctx.Done():
			return wrap(opName, "", ctx.Err())
		}
	}
}

func (p *Pool) service(op string, k ipvs.ServiceKey) (*service, error) {
	if s := p.find(k); s != nil {
		return s, nil
	}
	return nil, pkg.New(op, k.String(), ErrNotExist, errors.New("not a service of the pool"))
}

// server returns service k and its server at a, which must not be
// leaving.
func (p *Pool) server(op string, k ipvs.ServiceKey, a netip.AddrPort) (*service, *member, error) {
	s, err := p.service(op, k)
	if err != nil {
		return nil, nil, err
	}
	m, err := s.present(op, k, a)
	return s, m, err
}

// AddService adds a service to the pool. While the pool runs, its
// destinations are read and adopted as Run does (see Config.Start) and its
// checks start; the other services are not touched. It fails, changing
// nothing, if the configuration is invalid, the pool has the service, or
// (while running) IPVS does not.
func (p *Pool) AddService(ctx context.Context, sc ServiceConfig) error {
	s, err := p.newService(sc)
	if err != nil {
		return err
	}
	return p.do(ctx, "add service", func(ctx context.Context, running bool) error {
		if p.find(sc.Service) != nil {
			return pkg.New("add service", sc.Service.String(), ErrExist, errors.New("the pool has it"))
		}
		if running {
			if err := p.startService(ctx, s); err != nil {
				p.dropMembers(ctx, s.members)
				return err
			}
		}
		p.mu.Lock()
		p.svcs = append(p.svcs, s)
		p.mu.Unlock()
		return nil
	})
}

// RemoveService stops checking a service. Its destinations stay as last
// written, as when Run ends: the service belongs to whoever made it; a
// check shared with other services goes on for them.
func (p *Pool) RemoveService(ctx context.Context, k ipvs.ServiceKey) error {
	return p.do(ctx, "remove service", func(ctx context.Context, running bool) error {
		s, err := p.service("remove service", k)
		if err != nil {
			return err
		}
		if running {
			p.dropMembers(ctx, s.members)
		}
		p.mu.Lock()
		p.svcs = slices.DeleteFunc(p.svcs, func(o *service) bool { return o == s })
		p.mu.Unlock()
		return nil
	})
}

// dropMembers ends the checks and probe services of ms (Run's goroutine).
func (p *Pool) dropMembers(ctx context.Context, ms []*member) {
	for _, m := range ms {
		p.detach(m)
		p.removeProbeService(ctx, m)
	}
}

// AddServer adds a real server to service k. While the pool runs it is
// adopted like the servers Run starts with (up if IPVS serves it with its
// configured weight, see Config.Start) and its checks start; a check the
// pool already runs for the same target is shared.
func (p *Pool) AddServer(ctx context.Context, k ipvs.ServiceKey, srv Server) error {
	return p.do(ctx, "add server", func(ctx context.Context, running bool) error {
		s, m, err := p.prepare("add server", k, srv)
		if err != nil {
			return err
		}
		if o := s.member(m.addr); o != nil {
			return pkg.New("add server", m.addr.String(), ErrExist, errors.New("already a server of "+k.String()))
		}
		if running {
			have, err := p.destinations(ctx, k)
			if err != nil {
				return err
			}
			if err := p.startMember(ctx, m, have); err != nil {
				p.dropMembers(ctx, []*member{m})
				return err
			}
		}
		p.mu.Lock()
		s.members = append(s.members, m)
		s.requorum = true
		p.mu.Unlock()
		return nil
	})
}

// prepare validates srv as a server of service k, for op.
func (p *Pool) prepare(op string, k ipvs.ServiceKey, srv Server) (*service, *member, error) {
	s, err := p.service(op, k)
	if err != nil {
		return nil, nil, err
	}
	m, err := p.newMember(s, srv, "")
	if err != nil {
		return nil, nil, err
	}
	if err := s.markFree(m); err != nil {
		return nil, nil, err
	}
	return s, m, nil
}

func (p *Pool) destinations(ctx context.Context, k ipvs.ServiceKey) (map[netip.AddrPort]ipvs.Destination, error) {
	ds, err := p.cfg.IPVS.Destinations(ctx, k)
	if err != nil {
		return nil, wrap("read destinations", k.String(), err)
	}
	have := make(map[netip.AddrPort]ipvs.Destination, len(ds))
	for _, d := range ds {
		d.Address = d.Address.Unmap()
		have[netip.AddrPortFrom(d.Address, d.Port)] = d.Destination
	}
	return have, nil
}

// RemoveServer removes a real server from service k and stops checking
// it (a check shared with other servers goes on for them). While the pool
// runs, the server is drained first: weight 0, deleted once IPVS counts
// none of its connections or after the service's Drain (or
// DefaultRemoveDrain), so established connections are not dropped; UDP
// and SCTP servers are deleted at once. ServerState.Leaving marks it until
// then.
func (p *Pool) RemoveServer(ctx context.Context, k ipvs.ServiceKey, server netip.AddrPort) error {
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	return p.do(ctx, "remove server", func(ctx context.Context, running bool) error {
		s, m, err := p.server("remove server", k, server)
		if err != nil {
			return err
		}
		if !running {
			p.mu.Lock()
			s.members = slices.DeleteFunc(s.members, func(o *member) bool { return o == m })
			p.mu.Unlock()
			return nil
		}
		p.dropMembers(ctx, []*member{m})
		d := s.cfg.Drain
		if d == 0 {
			d = DefaultRemoveDrain
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		m.st.Leaving, m.dirty, s.requorum = true, true, true
		m.drainID++
		m.st.Draining = false
		p.startDrain(m, time.Now(), d)
		return nil
	})
}

// UpdateServer replaces the configuration of a server of service k (the
// one with srv's address and port): weight, forwarding, checker, timing.
// Its health carries over; a changed check starts (or joins) the check for
// its new key and the old one stops if nothing else uses it. ViaVIP and
// Mark cannot change while running: remove and add the server instead.
func (p *Pool) UpdateServer(ctx context.Context, k ipvs.ServiceKey, srv Server) error {
	return p.do(ctx, "update server", func(ctx context.Context, running bool) error {
		s, nm, err := p.prepare("update server", k, srv)
		if err != nil {
			return err
		}
		m, err := s.present("update server", k, nm.addr)
		if err != nil {
			return err
		}
		if running && (srv.ViaVIP != m.cfg.ViaVIP || srv.Mark != m.cfg.Mark) {
			return pkg.Invalid("configure", nm.addr.String(), "Mark", "ViaVIP and Mark cannot change while the pool runs: remove and add the server")
		}
		p.mu.Lock()
		oldCfg, oldTiming := m.cfg, m.timing
		m.cfg, m.timing = nm.cfg, nm.timing
		p.mu.Unlock()
		if !running {
			return nil
		}
		// The target follows the new configuration; its ViaVIP source
		// stays (the mark and route are the same).
		t := Target{Server: m.addr, Mark: srv.Mark, Addr: m.addr, Source: srv.Source, ns: p.ns}
		if srv.Connect.IsValid() {
			t.Addr = srv.Connect
		}
		if srv.ViaVIP {
			t.Addr = m.target.Addr
			if !srv.Source.IsValid() {
				t.Source = m.target.Source
			}
		}
		if oldCfg.Checker != srv.Checker || oldTiming != nm.timing || t != m.target || keyOf(m) != m.probe.key {
			p.detach(m)
			p.mu.Lock()
			m.target = t
			p.mu.Unlock()
			p.attach(m)
		}
		p.mu.Lock()
		m.dirty, s.requorum = true, true
		p.mu.Unlock()
		return nil
	})
}

// SetMaintenance puts a server of service k in maintenance (on) or takes
// it out. In maintenance the server is written with weight 0, so it takes
// no new connections while established ones go on, and its checks go on,
// so its health is known when it comes back; its weight does not count
// toward quorum. Back from maintenance an up server gets its weight again.
func (p *Pool) SetMaintenance(ctx context.Context, k ipvs.ServiceKey, server netip.AddrPort, on bool) error {
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	return p.do(ctx, "set maintenance", func(ctx context.Context, running bool) error {
		s, m, err := p.server("set maintenance", k, server)
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if m.st.Maintenance != on {
			m.st.Maintenance = on
			m.dirty, s.requorum = true, true
		}
		return nil
	})
}
