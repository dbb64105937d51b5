package ipvstest

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/golvs/lvs/ipvs"
)

// IPVS is every method *ipvs.Client and *Client share. Programs usually
// declare a smaller interface of their own with the calls they make.
type IPVS interface {
	Close() error
	Services(ctx context.Context) ([]ipvs.ServiceInfo, error)
	Service(ctx context.Context, k ipvs.ServiceKey) (ipvs.ServiceInfo, error)
	CreateService(ctx context.Context, s ipvs.Service) error
	UpdateService(ctx context.Context, s ipvs.Service) error
	DeleteService(ctx context.Context, k ipvs.ServiceKey) error
	Flush(ctx context.Context) error
	Destinations(ctx context.Context, k ipvs.ServiceKey) ([]ipvs.DestinationInfo, error)
	CreateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error
	UpdateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error
	DeleteDestination(ctx context.Context, k ipvs.ServiceKey, dest netip.AddrPort) error
	Snapshot(ctx context.Context) ([]ipvs.ServiceSnapshot, error)
	Daemons(ctx context.Context) ([]ipvs.Daemon, error)
	StartDaemon(ctx context.Context, d ipvs.Daemon) error
	StopDaemon(ctx context.Context, s ipvs.DaemonState) error
	Timeouts(ctx context.Context) (ipvs.Timeouts, error)
	SetTimeouts(ctx context.Context, t ipvs.Timeouts) error
	Info(ctx context.Context) (ipvs.Info, error)
	Zero(ctx context.Context) error
	ZeroService(ctx context.Context, k ipvs.ServiceKey) error
	Apply(ctx context.Context, desired ipvs.State, opts *ipvs.ApplyOptions) (ipvs.ApplyResult, error)
	Plan(ctx context.Context, desired ipvs.State, opts *ipvs.ApplyOptions) (*ipvs.Plan, error)
	ApplyPlan(ctx context.Context, p *ipvs.Plan) (ipvs.ApplyResult, error)
}

var (
	_ IPVS = (*ipvs.Client)(nil)
	_ IPVS = (*Client)(nil)
)

// Client is an in-memory IPVS table: one network namespace's services,
// destinations, sync daemons and timeouts. It is safe for concurrent use.
type Client struct {
	mu       sync.Mutex
	closed   bool
	svcs     map[ipvs.ServiceKey]*service
	daemons  map[ipvs.DaemonState]ipvs.Daemon
	timeouts ipvs.Timeouts
	ifaces   map[string]int // name: MTU
	mixed    int            // destinations of another family than their service's
	writes   int
	fault    func(op, object string) error
}

type service struct {
	s     ipvs.Service
	dests []ipvs.DestinationInfo // newest first, as the kernel lists them
}

// New returns an empty table with the kernel's default timeouts and one
// network interface, lo.
func New() *Client {
	return &Client{
		svcs:     map[ipvs.ServiceKey]*service{},
		daemons:  map[ipvs.DaemonState]ipvs.Daemon{},
		timeouts: ipvs.Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second},
		ifaces:   map[string]int{"lo": 65536},
	}
}

// Close makes every later call fail, as a closed ipvs.Client's do.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

// AddInterface adds a network interface sync daemons can use, with its MTU.
func (c *Client) AddInterface(name string, mtu int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ifaces[name] = mtu
}

// SetConnections sets the active, inactive and persistent connection
// counts a destination reports. ErrNotExist if there is no such
// destination.
func (c *Client) SetConnections(k ipvs.ServiceKey, dest netip.AddrPort, active, inactive, persistent uint32) error {
	const op = "set connections"
	c.mu.Lock()
	defer c.mu.Unlock()
	obj := k.String() + " -> " + dest.String()
	s, ok := c.svcs[k.Canonical()]
	if !ok {
		return noService(op, obj)
	}
	i := s.find(netip.AddrPortFrom(dest.Addr().Unmap(), dest.Port()))
	if i < 0 {
		return noDest(op, obj)
	}
	d := &s.dests[i]
	d.ActiveConns, d.InactiveConns, d.PersistentConns = active, inactive, persistent
	return nil
}

// SetFault makes f decide the fate of every later write that passes
// validation: op is the operation as errors name it ("create
// destination"), object what it is about ("TCP 10.0.0.1:80 ->
// 10.0.0.2:80"). A non-nil error is returned as the call's, and the table
// is left unchanged. nil removes the fault.
func (c *Client) SetFault(f func(op, object string) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fault = f
}

// Writes is the number of writes received: those that passed validation,
// whether the table took them or refused them.
func (c *Client) Writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// write starts a write once validated: the client must be open and the
// context alive; then it counts, and the fault may refuse it.
func (c *Client) write(ctx context.Context, op, obj string) error {
	if err := callError(ctx, c.closed, op, obj); err != nil {
		return err
	}
	c.writes++
	if c.fault != nil {
		return c.fault(op, obj)
	}
	return nil
}

// writeCall runs a write: refused with verr (its validation) if not
// nil, else f runs under the lock once the write may start (see write).
func (c *Client) writeCall(ctx context.Context, op, obj string, verr error, f func() error) error {
	if verr != nil {
		return validated(op, verr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.write(ctx, op, obj); err != nil {
		return err
	}
	return f()
}

// normalService is a service as the kernel reports it.
func normalService(s ipvs.Service) ipvs.Service {
	s.ServiceKey = s.ServiceKey.Canonical()
	if s.Scheduler == "" {
		s.Scheduler = ipvs.WeightedLeastConnection
	}
	if s.Netmask.IsFull() {
		s.Netmask = ipvs.Netmask{}
	}
	return s
}

// listDests copies the destinations; none is nil, as ipvs.Client reads it.
func (s *service) listDests() []ipvs.DestinationInfo {
	if len(s.dests) == 0 {
		return nil
	}
	return slices.Clone(s.dests)
}

// find finds the destination at a, a canonical address (an IPv4-mapped one
// only for an IPv6 destination, see ipvs.Destination.Family).
func (s *service) find(a netip.AddrPort) int {
	for i, d := range s.dests {
		if d.Address == a.Addr() && d.Port == a.Port() {
			return i
		}
	}
	return -1
}

// hasScheduler reports whether the kernel has the scheduler's module:
// every mainline one does here.
func hasScheduler(s ipvs.Scheduler) bool {
	switch s {
	case ipvs.RoundRobin, ipvs.WeightedRoundRobin, ipvs.LeastConnection, ipvs.WeightedLeastConnection,
		ipvs.LocalityBasedLeastConn, ipvs.LocalityBasedLeastConnRepl, ipvs.DestinationHashing,
		ipvs.SourceHashing, ipvs.ShortestExpectedDelay, ipvs.NeverQueue, ipvs.WeightedFailover,
		ipvs.WeightedOverflow, ipvs.MaglevHashing, ipvs.TwoRandomChoices, ipvs.NoScheduler:
		return true
	}
	return false
}

// modules checks that the scheduler and persistence engine exist, as the
// kernel does on NEW_SERVICE and SET_SERVICE.
func modules(op string, s ipvs.Service) error {
	if !hasScheduler(s.Scheduler) || (s.PersistenceEngine != "" && s.PersistenceEngine != ipvs.PersistenceEngineSIP) {
		return noModule(op, s)
	}
	return nil
}

// readCall runs a read: refused with verr (its validation) if not nil,
// else f runs under the lock if the client is open and ctx alive.
func readCall[T any](ctx context.Context, c *Client, op, obj string, verr error, f func() (T, error)) (T, error) {
	var zero T
	if verr != nil {
		return zero, validated(op, verr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := callError(ctx, c.closed, op, obj); err != nil {
		return zero, err
	}
	return f()
}

// sortedServices returns the services in key order.
func (c *Client) sortedServices() []*service {
	out := make([]*service, 0, len(c.svcs))
	for _, s := range c.svcs {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *service) int { return compareKeys(a.s.ServiceKey, b.s.ServiceKey) })
	return out
}

// compareKeys orders keys as ipvsadm lists them: fwmark, family,
// protocol, address, port.
func compareKeys(a, b ipvs.ServiceKey) int {
	return cmp.Or(cmp.Compare(a.Fwmark, b.Fwmark), cmp.Compare(a.Family, b.Family),
		cmp.Compare(a.Protocol, b.Protocol), a.Address.Compare(b.Address), cmp.Compare(a.Port, b.Port))
}

// Services lists every service, in key order.
func (c *Client) Services(ctx context.Context) ([]ipvs.ServiceInfo, error) {
	return readCall(ctx, c, "list services", "", nil, func() ([]ipvs.ServiceInfo, error) {
		var out []ipvs.ServiceInfo
		for _, s := range c.sortedServices() {
			out = append(out, ipvs.ServiceInfo{Service: s.s})
		}
		return out, nil
	})
}

// Service returns one service; ErrNotExist if there is none with key k.
func (c *Client) Service(ctx context.Context, k ipvs.ServiceKey) (ipvs.ServiceInfo, error) {
	const op = "get service"
	return readCall(ctx, c, op, k.String(), k.Validate(), func() (ipvs.ServiceInfo, error) {
		s, ok := c.svcs[k.Canonical()]
		if !ok {
			return ipvs.ServiceInfo{}, noService(op, k.String())
		}
		return ipvs.ServiceInfo{Service: s.s}, nil
	})
}

// CreateService adds a service; ErrExist if it is there already,
// ErrUnavailable for a scheduler or persistence engine the kernel lacks.
func (c *Client) CreateService(ctx context.Context, s ipvs.Service) error {
	return c.writeService(ctx, "create service", s)
}

// UpdateService replaces every field of the service with key
// s.ServiceKey; ErrNotExist if there is none.
func (c *Client) UpdateService(ctx context.Context, s ipvs.Service) error {
	return c.writeService(ctx, "update service", s)
}

// writeService creates or updates a service, with the kernel's checks in
// its order: the service must be new, or exist; then its modules.
func (c *Client) writeService(ctx context.Context, op string, s ipvs.Service) error {
	obj := s.ServiceKey.String()
	return c.writeCall(ctx, op, obj, s.Validate(), func() error {
		ns := normalService(s)
		cur, ok := c.svcs[ns.ServiceKey]
		switch {
		case op == "create service" && ok:
			return exists(op, obj)
		case op == "update service" && !ok:
			return noService(op, obj)
		}
		if err := modules(op, ns); err != nil {
			return err
		}
		if ok {
			cur.s = ns
		} else {
			c.svcs[ns.ServiceKey] = &service{s: ns}
		}
		return nil
	})
}

// DeleteService removes a service and its destinations.
func (c *Client) DeleteService(ctx context.Context, k ipvs.ServiceKey) error {
	const op = "delete service"
	return c.writeCall(ctx, op, k.String(), k.Validate(), func() error {
		nk := k.Canonical()
		s, ok := c.svcs[nk]
		if !ok {
			return noService(op, k.String())
		}
		c.drop(s)
		delete(c.svcs, nk)
		return nil
	})
}

// drop forgets the destinations of s in the count of mixed-family ones.
func (c *Client) drop(s *service) {
	for _, d := range s.dests {
		if d.EffectiveFamily() != s.s.Family {
			c.mixed--
		}
	}
}

// Flush removes every service.
func (c *Client) Flush(ctx context.Context) error {
	return c.writeCall(ctx, "flush", "", nil, func() error {
		for k, s := range c.svcs {
			c.drop(s)
			delete(c.svcs, k)
		}
		return nil
	})
}

// Destinations lists the destinations of a service, newest first;
// ErrNotExist if the service does not exist.
func (c *Client) Destinations(ctx context.Context, k ipvs.ServiceKey) ([]ipvs.DestinationInfo, error) {
	const op = "list destinations"
	return readCall(ctx, c, op, k.String(), k.Validate(), func() ([]ipvs.DestinationInfo, error) {
		s, ok := c.svcs[k.Canonical()]
		if !ok {
			return nil, noService(op, k.String())
		}
		return s.listDests(), nil
	})
}

// CreateDestination adds a real server to a service. ErrNotExist if the
// service does not exist, ErrExist if the destination does.
func (c *Client) CreateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	return c.writeDest(ctx, "create destination", k, d)
}

// UpdateDestination replaces every field of the destination d.Address,
// d.Port but its connection counts. ErrNotExist if the service or the
// destination does not exist.
func (c *Client) UpdateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	return c.writeDest(ctx, "update destination", k, d)
}

// writeDest creates or updates a destination, with the kernel's checks in
// its order: the service exists; a destination of another family (a
// tunnel) is refused while a sync daemon runs; then the destination must
// be new, or exist.
func (c *Client) writeDest(ctx context.Context, op string, k ipvs.ServiceKey, d ipvs.Destination) error {
	obj := k.String() + " -> " + d.String()
	return c.writeCall(ctx, op, obj, d.Validate(k), func() error { return c.putDest(op, obj, k, d) })
}

func (c *Client) putDest(op, obj string, k ipvs.ServiceKey, d ipvs.Destination) error {
	s, ok := c.svcs[k.Canonical()]
	if !ok {
		return noService(op, obj)
	}
	d = d.Canonical()
	mixed := d.EffectiveFamily() != s.s.Family
	if mixed && len(c.daemons) > 0 {
		return kernelInvalid(op, obj)
	}
	i := s.find(netip.AddrPortFrom(d.Address, d.Port))
	switch {
	case op == "update destination" && i < 0:
		return noDest(op, obj)
	case op == "update destination":
		s.dests[i].Destination = d
	case i >= 0:
		return exists(op, obj)
	case d.Family == ipvs.IPv6:
		// An IPv6 destination at a mapped address: the kernel's
		// ipv6_addr_type() does not call it unicast, and it refuses it
		// unless the address is the director's own, which none is here.
		return kernelInvalid(op, obj)
	default:
		if mixed {
			c.mixed++
		}
		s.dests = slices.Insert(s.dests, 0, ipvs.DestinationInfo{Destination: d})
	}
	return nil
}

// DeleteDestination removes a real server from a service.
func (c *Client) DeleteDestination(ctx context.Context, k ipvs.ServiceKey, dest netip.AddrPort) error {
	return c.deleteDest(ctx, k, ipvs.Destination{Address: dest.Addr(), Port: dest.Port()})
}

// deleteDest removes the destination at d's address, port and family.
func (c *Client) deleteDest(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error {
	const op = "delete destination"
	obj := k.String() + " -> " + d.String()
	verr := ipvs.Change{Op: ipvs.OpDeleteDestination, Service: ipvs.Service{ServiceKey: k}, Destination: d}.Validate()
	return c.writeCall(ctx, op, obj, verr, func() error {
		s, ok := c.svcs[k.Canonical()]
		if !ok {
			return noService(op, obj)
		}
		d = d.Canonical()
		i := s.find(netip.AddrPortFrom(d.Address, d.Port))
		if i < 0 {
			return noDest(op, obj)
		}
		if s.dests[i].EffectiveFamily() != s.s.Family {
			c.mixed--
		}
		s.dests = slices.Delete(s.dests, i, i+1)
		return nil
	})
}

// Snapshot returns every service, in key order, with its destinations.
func (c *Client) Snapshot(ctx context.Context) ([]ipvs.ServiceSnapshot, error) {
	return readCall(ctx, c, "list services", "", nil, func() ([]ipvs.ServiceSnapshot, error) {
		out := make([]ipvs.ServiceSnapshot, 0, len(c.svcs))
		for _, s := range c.sortedServices() {
			out = append(out, ipvs.ServiceSnapshot{ServiceInfo: ipvs.ServiceInfo{Service: s.s}, Destinations: s.listDests()})
		}
		return out, nil
	})
}

// Daemons lists the running sync daemons, master first.
func (c *Client) Daemons(ctx context.Context) ([]ipvs.Daemon, error) {
	return readCall(ctx, c, "list daemons", "", nil, func() ([]ipvs.Daemon, error) {
		var out []ipvs.Daemon
		for _, s := range []ipvs.DaemonState{ipvs.DaemonMaster, ipvs.DaemonBackup} {
			if d, ok := c.daemons[s]; ok {
				out = append(out, d)
			}
		}
		return out, nil
	})
}

// StartDaemon starts a sync daemon; ErrExist if one in that role runs,
// ErrInvalid matching ENODEV for an interface not added with
// AddInterface, ErrInvalid matching EINVAL while a destination's family
// differs from its service's.
func (c *Client) StartDaemon(ctx context.Context, d ipvs.Daemon) error {
	const op = "start daemon"
	obj := d.State.String()
	return c.writeCall(ctx, op, obj, d.Validate(), func() error {
		if c.mixed > 0 {
			return kernelInvalid(op, obj)
		}
		mtu, ok := c.ifaces[d.Interface]
		if !ok {
			return noDevice(op, obj)
		}
		if _, ok := c.daemons[d.State]; ok {
			return exists(op, obj)
		}
		c.daemons[d.State] = daemonDefaults(d, mtu)
		return nil
	})
}

// daemonDefaults fills in what the kernel does for a daemon on an
// interface of that MTU.
func daemonDefaults(d ipvs.Daemon, mtu int) ipvs.Daemon {
	if !d.Group.IsValid() {
		d.Group = netip.AddrFrom4([4]byte{224, 0, 0, 81})
	}
	d.Group = d.Group.Unmap()
	if d.Port == 0 {
		d.Port = 8848
	}
	if d.TTL == 0 {
		d.TTL = 1
	}
	hdr := 20 + 8
	if d.Group.Is6() {
		hdr = 40 + 8
	}
	if d.MaxLen == 0 {
		m := 1500
		if d.State == ipvs.DaemonBackup {
			m = min(max(mtu, 1500), 65535)
		}
		d.MaxLen = uint16(m - hdr)
	}
	// The kernel raises a backup's below 1024 and lowers one above the
	// largest UDP payload of the group's family.
	if d.State == ipvs.DaemonBackup && d.MaxLen < 1024 {
		d.MaxLen = 1024
	}
	if d.MaxLen > uint16(65535-hdr) {
		d.MaxLen = uint16(65535 - hdr)
	}
	return d
}

// StopDaemon stops the sync daemon in role s; ErrNotExist if none runs.
func (c *Client) StopDaemon(ctx context.Context, s ipvs.DaemonState) error {
	const op = "stop daemon"
	var verr error
	if s != ipvs.DaemonMaster && s != ipvs.DaemonBackup {
		verr = invalid(op, s.String(), "State", "must be DaemonMaster or DaemonBackup")
	}
	return c.writeCall(ctx, op, s.String(), verr, func() error {
		if _, ok := c.daemons[s]; !ok {
			return noService(op, s.String())
		}
		delete(c.daemons, s)
		return nil
	})
}

// Timeouts returns the TCP, TCP FIN and UDP timeouts.
func (c *Client) Timeouts(ctx context.Context) (ipvs.Timeouts, error) {
	return readCall(ctx, c, "get timeouts", "", nil, func() (ipvs.Timeouts, error) { return c.timeouts, nil })
}

// SetTimeouts sets the protocol timeouts; zero fields are left unchanged.
func (c *Client) SetTimeouts(ctx context.Context, t ipvs.Timeouts) error {
	return c.writeCall(ctx, "set timeouts", "", t.Validate(), func() error {
		for _, f := range []struct{ to, from *time.Duration }{{&c.timeouts.TCP, &t.TCP}, {&c.timeouts.TCPFin, &t.TCPFin}, {&c.timeouts.UDP, &t.UDP}} {
			if *f.from != 0 {
				*f.to = *f.from
			}
		}
		return nil
	})
}

// Info returns what Debian's kernels report: IPVS 1.2.1, 4096 entries.
func (c *Client) Info(ctx context.Context) (ipvs.Info, error) {
	return readCall(ctx, c, "get info", "", nil, func() (ipvs.Info, error) {
		return ipvs.Info{Version: 0x010201, ConnTableSize: 4096}, nil
	})
}

// Zero resets every counter (they are always zero here).
func (c *Client) Zero(ctx context.Context) error {
	return c.writeCall(ctx, "zero", "", nil, func() error { return nil })
}

// ZeroService resets the counters of one service; ErrNotExist if there
// is no such service.
func (c *Client) ZeroService(ctx context.Context, k ipvs.ServiceKey) error {
	const op = "zero service"
	return c.writeCall(ctx, op, k.String(), k.Validate(), func() error {
		if _, ok := c.svcs[k.Canonical()]; !ok {
			return noService(op, k.String())
		}
		return nil
	})
}
