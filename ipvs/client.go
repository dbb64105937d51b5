package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
)

// Config configures a Client. The zero value (or nil) talks to the caller's
// network namespace.
type Config struct {
	// NetNS is an open file descriptor of a network namespace, such as
	// one from /run/netns/NAME; 0 means the caller's namespace. The
	// Client duplicates it, so the caller may close it after New.
	NetNS int
	// NetNSPath names a network namespace by path, e.g. /run/netns/blue
	// or /proc/PID/ns/net. At most one of NetNS and NetNSPath is set.
	NetNSPath string
}

// Client manages the IPVS table of one network namespace through generic
// netlink. It is safe for concurrent use by many goroutines: each call
// borrows a netlink socket of its own from a small pool.
type Client struct {
	t transport
	// tunnelsVerified is set once the kernel has been seen to honour a
	// GUE or GRE destination, so later ones need not be read back.
	tunnelsVerified atomic.Bool
}

// request is one generic netlink request of the IPVS family.
type request struct {
	cmd   uint8
	dump  bool
	attrs []byte
	// onDatagram, if set, is called with the length of each datagram
	// of the answer, before its messages.
	onDatagram func(n int)
}

// transport carries requests to the kernel; the Linux one uses netlink
// sockets, tests use a fake.
type transport interface {
	// do sends req and calls fn with the command and attributes of each
	// reply message; b is only valid during the call. A kernel error is
	// returned as a syscall.Errno.
	do(ctx context.Context, req request, fn func(cmd uint8, b []byte) error) error
	// batch sends reqs, none of them a dump, without waiting for each
	// acknowledgement, and returns one error (or nil) per request. The
	// second result is an error that stopped the batch as a whole; the
	// requests whose fate is unknown then carry it too.
	batch(ctx context.Context, reqs []request) ([]error, error)
	close() error
}

// sizedDumper is implemented by transports that can run a dump on a
// socket of its own whose datagrams hold size bytes (see Services and
// goodSize); others run it as any dump.
type sizedDumper interface {
	dumpSized(ctx context.Context, req request, size int, fn func(cmd uint8, b []byte) error) error
}

// Close releases the client's sockets. Calls in flight fail.
func (c *Client) Close() error {
	if c == nil || c.t == nil {
		return nil
	}
	return c.t.close()
}

func encode(fill func(w *attrWriter)) []byte {
	w := attrWriter{b: make([]byte, 0, 256)}
	fill(&w)
	return w.b
}

// exec runs a request that returns nothing but an acknowledgement.
func (c *Client) exec(ctx context.Context, op, obj string, k opKind, cmd uint8, fill func(w *attrWriter)) error {
	req := request{cmd: cmd}
	if fill != nil {
		req.attrs = encode(fill)
	}
	if err := c.t.do(ctx, req, func(uint8, []byte) error { return nil }); err != nil {
		return kernelError(op, obj, k, err)
	}
	return nil
}

// Service returns one service; ErrNotExist if there is none with key k.
func (c *Client) Service(ctx context.Context, k ServiceKey) (ServiceInfo, error) {
	const op = "get service"
	if err := checkKey(op, k); err != nil {
		return ServiceInfo{}, err
	}
	var (
		s     ServiceInfo
		found bool
	)
	req := request{cmd: cmdGetService, attrs: encode(func(w *attrWriter) { serviceKeyAttr(w, k) })}
	err := c.t.do(ctx, req, func(_ uint8, b []byte) error {
		var err error
		s, err = decodeService(b)
		found = err == nil
		return err
	})
	if err != nil {
		return ServiceInfo{}, kernelError(op, k.String(), opOther, err)
	}
	if !found {
		return ServiceInfo{}, newError(op, k.String(), ErrNotExist, eSRCH)
	}
	return s, nil
}

// CreateService adds a virtual service; ErrExist if it is there already,
// ErrUnavailable if the kernel has no module for its scheduler or
// persistence engine.
func (c *Client) CreateService(ctx context.Context, s Service) error {
	const op = "create service"
	if err := checkService(op, s); err != nil {
		return err
	}
	return moduleError(c.exec(ctx, op, s.ServiceKey.String(), opServiceWrite, cmdNewService, func(w *attrWriter) { serviceAttr(w, &s) }), &s)
}

// UpdateService replaces every field of the service with key s.ServiceKey:
// a field left zero is reset, as with ipvsadm -E. ErrNotExist if there is
// no such service.
func (c *Client) UpdateService(ctx context.Context, s Service) error {
	const op = "update service"
	if err := checkService(op, s); err != nil {
		return err
	}
	return moduleError(c.exec(ctx, op, s.ServiceKey.String(), opServiceWrite, cmdSetService, func(w *attrWriter) { serviceAttr(w, &s) }), &s)
}

// DeleteService removes a service and its destinations.
func (c *Client) DeleteService(ctx context.Context, k ServiceKey) error {
	const op = "delete service"
	if err := checkKey(op, k); err != nil {
		return err
	}
	return c.exec(ctx, op, k.String(), opOther, cmdDelService, func(w *attrWriter) { serviceKeyAttr(w, k) })
}

// Flush removes every service of the namespace.
func (c *Client) Flush(ctx context.Context) error {
	return c.exec(ctx, "flush", "", opOther, cmdFlush, nil)
}

// Destinations lists the destinations of a service; ErrNotExist if the
// service does not exist (the kernel answers that with an empty list, so
// an empty list costs one more request to tell the two apart).
func (c *Client) Destinations(ctx context.Context, k ServiceKey) ([]DestinationInfo, error) {
	const op = "list destinations"
	if err := checkKey(op, k); err != nil {
		return nil, err
	}
	out, err := c.destinations(ctx, k)
	if err != nil {
		return nil, kernelError(op, k.String(), opOther, err)
	}
	if len(out) == 0 {
		if _, err := c.Service(ctx, k); err != nil {
			if e, ok := err.(*Error); ok {
				e.Op = op
			}
			return nil, err
		}
	}
	return out, nil
}

func (c *Client) destinations(ctx context.Context, k ServiceKey) ([]DestinationInfo, error) {
	var out []DestinationInfo
	fam := k.family()
	req := request{cmd: cmdGetDest, dump: true, attrs: encode(func(w *attrWriter) { serviceKeyAttr(w, k) })}
	err := c.t.do(ctx, req, func(_ uint8, b []byte) error {
		d, err := decodeDestination(b, fam)
		if err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	return out, err
}

// CreateDestination adds a real server to a service. ErrNotExist if the
// service does not exist, ErrExist if the destination does;
// ErrNotSupported if the kernel ignored the tunnel type (GUE needs 5.2,
// GRE 5.3), in which case nothing is left behind.
func (c *Client) CreateDestination(ctx context.Context, k ServiceKey, d Destination) error {
	const op = "create destination"
	obj, err := c.writeDestination(ctx, op, cmdNewDest, k, d)
	if err != nil {
		return err
	}
	if err := c.verifyTunnel(ctx, op, obj, k, d); err != nil {
		// Leave nothing behind: the kernel created an IPIP tunnel the
		// caller did not ask for.
		_ = c.exec(ctx, op, obj, opDestWrite, cmdDelDest, func(w *attrWriter) {
			serviceKeyAttr(w, k)
			destKeyAttr(w, d)
		})
		return err
	}
	return nil
}

// UpdateDestination replaces every field of the destination d.Address,
// d.Port: a field left zero is reset (a zero Weight quiesces it). ErrNotExist
// if the service or the destination does not exist.
func (c *Client) UpdateDestination(ctx context.Context, k ServiceKey, d Destination) error {
	const op = "update destination"
	obj, err := c.writeDestination(ctx, op, cmdSetDest, k, d)
	if err != nil {
		return err
	}
	return c.verifyTunnel(ctx, op, obj, k, d)
}

// writeDestination checks d and sends it with cmd (create or update); it
// returns the object the errors of op name.
func (c *Client) writeDestination(ctx context.Context, op string, cmd uint8, k ServiceKey, d Destination) (string, error) {
	if err := checkDestination(op, k, d); err != nil {
		return "", err
	}
	obj := k.String() + " -> " + d.String()
	return obj, c.exec(ctx, op, obj, opDestWrite, cmd, func(w *attrWriter) {
		serviceKeyAttr(w, k)
		destAttr(w, d)
	})
}

// verifyTunnel reads a GUE or GRE destination back once per client: kernels
// before 5.2 and 5.3 ignore the attributes and make an IPIP tunnel.
func (c *Client) verifyTunnel(ctx context.Context, op, obj string, k ServiceKey, d Destination) error {
	if !needsReadBack(d) || c.tunnelsVerified.Load() {
		return nil
	}
	ds, err := c.destinations(ctx, k)
	if err != nil {
		return kernelError(op, obj, opOther, err)
	}
	for _, got := range ds {
		if destID(got.Destination) != destID(d) {
			continue
		}
		if err := tunnelIgnored(op, obj, d, got.Destination); err != nil {
			return err
		}
		c.tunnelsVerified.Store(true)
		return nil
	}
	return newError(op, obj, ErrNotExist, eNOENT)
}

// DeleteDestination removes a real server from a service.
// An IPv4-mapped dest names the IPv4 destination; an IPv6 one at a mapped
// address (Destination.Family) is removed through Batch or Apply.
func (c *Client) DeleteDestination(ctx context.Context, k ServiceKey, dest netip.AddrPort) error {
	const op = "delete destination"
	if err := checkKey(op, k); err != nil {
		return err
	}
	obj := k.String() + " -> " + dest.String()
	if !dest.Addr().IsValid() {
		return invalid(op, obj, "Address", "missing")
	}
	return c.exec(ctx, op, obj, opDestWrite, cmdDelDest, func(w *attrWriter) {
		serviceKeyAttr(w, k)
		destKeyAttr(w, Destination{Address: dest.Addr(), Port: dest.Port()})
	})
}

// Daemons lists the running sync daemons (at most a master and a backup).
func (c *Client) Daemons(ctx context.Context) ([]Daemon, error) {
	return dumpAll(ctx, c, "list daemons", request{cmd: cmdGetDaemon, dump: true}, decodeDaemon)
}

// dumpAll sends the dump req and decodes every reply.
func dumpAll[T any](ctx context.Context, c *Client, op string, req request, decode func([]byte) (T, error)) ([]T, error) {
	var out []T
	err := c.t.do(ctx, req, func(_ uint8, b []byte) error {
		v, err := decode(b)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, kernelError(op, "", opOther, err)
	}
	return out, nil
}

// StartDaemon starts a connection-synchronisation daemon; ErrExist if one
// in that role runs already.
func (c *Client) StartDaemon(ctx context.Context, d Daemon) error {
	const op = "start daemon"
	if err := checkDaemon(op, d); err != nil {
		return err
	}
	return c.exec(ctx, op, d.State.String(), opOther, cmdNewDaemon, func(w *attrWriter) { daemonAttr(w, d) })
}

// StopDaemon stops the sync daemon in role s; ErrNotExist if none runs.
// The kernel acknowledges nothing when it stops a daemon whose thread has
// not run yet; StopDaemon then lists the daemons to confirm the stop.
func (c *Client) StopDaemon(ctx context.Context, s DaemonState) error {
	const op = "stop daemon"
	if s != DaemonMaster && s != DaemonBackup {
		return invalid(op, s.String(), "State", "must be DaemonMaster or DaemonBackup")
	}
	err := c.exec(ctx, op, s.String(), opOther, cmdDelDaemon, func(w *attrWriter) { daemonStateAttr(w, s) })
	if errors.Is(err, errNoReply) {
		// The kernel stopped a daemon whose thread had not run yet and,
		// as kthread_stop then returns EINTR, acknowledged nothing. The
		// stop worked if the daemon is gone.
		ds, lerr := c.Daemons(ctx)
		if lerr != nil {
			return err
		}
		for _, d := range ds {
			if d.State == s {
				return err
			}
		}
		return nil
	}
	return err
}

// Timeouts returns the TCP, TCP FIN and UDP timeouts.
func (c *Client) Timeouts(ctx context.Context) (Timeouts, error) {
	return getOne(ctx, c, "get timeouts", cmdGetConfig, decodeTimeouts)
}

// getOne sends the request cmd, which has one reply, and decodes it.
func getOne[T any](ctx context.Context, c *Client, op string, cmd uint8, decode func([]byte) (T, error)) (T, error) {
	var v T
	err := c.t.do(ctx, request{cmd: cmd}, func(_ uint8, b []byte) (err error) {
		v, err = decode(b)
		return err
	})
	if err != nil {
		var zero T
		return zero, kernelError(op, "", opOther, err)
	}
	return v, nil
}

// SetTimeouts sets the protocol timeouts; zero fields are left unchanged.
func (c *Client) SetTimeouts(ctx context.Context, t Timeouts) error {
	const op = "set timeouts"
	if err := checkTimeouts(op, t); err != nil {
		return err
	}
	return c.exec(ctx, op, "", opOther, cmdSetConfig, func(w *attrWriter) { timeoutsAttrs(w, t) })
}

// Info returns the IPVS version and the connection table size.
func (c *Client) Info(ctx context.Context) (Info, error) {
	return getOne(ctx, c, "get info", cmdGetInfo, decodeInfo)
}

// Zero resets the counters of every service and destination and the
// global statistics.
func (c *Client) Zero(ctx context.Context) error {
	return c.exec(ctx, "zero", "", opOther, cmdZero, nil)
}

// ZeroService resets the counters of one service and its destinations.
func (c *Client) ZeroService(ctx context.Context, k ServiceKey) error {
	const op = "zero service"
	if err := checkKey(op, k); err != nil {
		return err
	}
	return c.exec(ctx, op, k.String(), opOther, cmdZero, func(w *attrWriter) { serviceKeyAttr(w, k) })
}
