package failover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/hostrec"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/ipvs"
	"github.com/vishvananda/netlink"
)

// linuxHost makes the changes through director (VIPs, announcements),
// ipvs (daemons) and netcfg (the daemons' host records, link states).
type linuxHost struct {
	cfg *Config
	nc  *netcfg.Host
	dir *director.Client

	mu      sync.Mutex // ipvs is opened on first use
	ipvs    *ipvs.Client
	vips    []*director.Setup
	daemons map[ipvs.DaemonState]*netcfg.Journal
}

func openHost(cfg *Config) (host, error) {
	nc, err := netcfg.OpenConfig(0, cfg.NetNSPath, cfg.Identity)
	if err != nil {
		return nil, wrapField(err, "NetNSPath")
	}
	h := &linuxHost{cfg: cfg, nc: nc, daemons: map[ipvs.DaemonState]*netcfg.Journal{}}
	// Every interface must exist before anything changes.
	names := cfg.interfaces()
	if cfg.Sync.Mode != SyncOff {
		names = append(names, cfg.Sync.Interface)
	}
	for _, n := range names {
		if _, err := nc.LinkByName(n); err != nil {
			nc.Close()
			field := "Interface"
			switch {
			case n == cfg.Sync.Interface && n != cfg.Interface:
				field = "Sync.Interface"
			case n != cfg.Interface:
				field = "TrackInterfaces"
			}
			return nil, &Error{Pkg: pkg, Op: "configure", Object: n, Field: field, Kind: errs.KindOf(err), Err: err}
		}
	}
	if h.dir, err = director.New(&director.Config{NetNSPath: cfg.NetNSPath, Identity: cfg.Identity}); err == nil {
		err = h.checkVIPs()
	}
	if err == nil {
		err = h.dir.Recover(context.Background())
	}
	if err == nil {
		err = nc.Recover(pkg, h.restore)
	}
	if err != nil {
		return nil, errors.Join(err, h.close())
	}
	return h, nil
}

// checkVIPs refuses, before anything changes, a VIP that AddVIP would
// refuse on becoming MASTER (director.CheckVIP's broken findings: say an
// IPv6 VIP on a device without neighbour discovery): found only then, the
// node would hold part of its VIPs as master.
func (h *linuxHost) checkVIPs() error {
	for _, a := range h.cfg.VIPs {
		fs, err := h.dir.CheckVIP(context.Background(), director.VIP{Address: a, Announce: director.AnnounceARP, Interface: h.cfg.Interface})
		if err != nil {
			return err
		}
		if !fs.OK() {
			return &Error{Pkg: pkg, Op: "configure", Object: a.String(), Field: "VIPs", Kind: ErrIneffective, Err: errors.New(fs.String())}
		}
	}
	return nil
}

func wrapField(err error, field string) error {
	var e *Error
	if errors.As(err, &e) && e.Kind == ErrNotExist {
		return &Error{Pkg: pkg, Op: "configure", Field: field, Kind: ErrNotExist, Err: err}
	}
	return errs.Wrap(pkg, "open", err)
}

func (h *linuxHost) close() error {
	var errl []error
	if h.dir != nil {
		errl = append(errl, h.dir.Close())
	}
	h.mu.Lock()
	if h.ipvs != nil {
		errl = append(errl, h.ipvs.Close())
	}
	h.mu.Unlock()
	return errors.Join(append(errl, h.nc.Close())...)
}

func (h *linuxHost) ipvsClient() (*ipvs.Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ipvs == nil {
		c, err := ipvs.New(&ipvs.Config{NetNSPath: h.cfg.NetNSPath})
		if err != nil {
			return nil, err
		}
		h.ipvs = c
	}
	return h.ipvs, nil
}

func (h *linuxHost) addVIPs(ctx context.Context, g director.Gratuitous) error {
	if len(h.vips) > 0 {
		return nil
	}
	var errl []error
	for _, a := range h.cfg.VIPs {
		s, err := h.dir.AddVIP(ctx, director.VIP{Address: a, Announce: director.AnnounceARP, Interface: h.cfg.Interface, Gratuitous: g})
		if err != nil {
			errl = append(errl, err)
			continue
		}
		h.vips = append(h.vips, s)
	}
	return errors.Join(errl...)
}

func (h *linuxHost) removeVIPs(ctx context.Context) error {
	var errl []error
	for i := len(h.vips) - 1; i >= 0; i-- {
		errl = append(errl, h.vips[i].Teardown(ctx))
	}
	h.vips = nil
	return errors.Join(errl...)
}

func (h *linuxHost) announce(ctx context.Context, g director.Gratuitous) error {
	if len(h.vips) == 0 {
		return nil
	}
	var errl []error
	for _, a := range h.cfg.VIPs {
		errl = append(errl, h.dir.Announce(ctx, h.cfg.Interface, a, g))
	}
	return errors.Join(errl...)
}

// daemonRes names a daemon in the host's records; restore parses it.
func daemonRes(s ipvs.DaemonState) string { return "ipvs-daemon " + strconv.Itoa(int(s)) }

// restore stops a daemon of our records (Teardown, and Recover after a
// crash).
func (h *linuxHost) restore(res string, _ *hostrec.Resource) error {
	n, err := strconv.Atoi(strings.TrimPrefix(res, "ipvs-daemon "))
	if err != nil {
		return fmt.Errorf("record %q: %w", res, err)
	}
	c, err := h.ipvsClient()
	if err != nil {
		return err
	}
	err = c.StopDaemon(context.Background(), ipvs.DaemonState(n))
	if errors.Is(err, ipvs.ErrNotExist) {
		return nil
	}
	return err
}

func (h *linuxHost) startDaemon(ctx context.Context, d ipvs.Daemon) error {
	c, err := h.ipvsClient()
	if err != nil {
		return err
	}
	ds, err := c.Daemons(ctx)
	if err != nil {
		return err
	}
	for _, o := range ds {
		if o.State == d.State {
			return &Error{Pkg: pkg, Op: "start sync daemon", Object: d.State.String(), Kind: ErrConflict,
				Err: fmt.Errorf("a %s daemon (sync ID %d on %s) runs already and is not ours", o.State, o.SyncID, o.Interface)}
		}
	}
	res := daemonRes(d.State)
	j, err := h.nc.Change(pkg, "start sync daemon", func(j *netcfg.Journal) error {
		return h.nc.Own(j, res, "stop "+d.State.String()+" sync daemon", "", "1", false,
			func() (map[string]string, error) { return nil, c.StartDaemon(ctx, d) }, h.restore)
	})
	if err != nil {
		return err
	}
	h.daemons[d.State] = j
	return nil
}

func (h *linuxHost) stopDaemon(_ context.Context, s ipvs.DaemonState) error {
	j := h.daemons[s]
	if j == nil {
		return nil
	}
	delete(h.daemons, s)
	return j.Teardown()
}

// linkUp: the interface exists, is administratively up and its carrier
// is not down (a veth whose peer is down has none).
func (h *linuxHost) linkUp(name string) error {
	l, err := h.nc.LinkByName(name)
	if err != nil {
		return err
	}
	a := l.Attrs()
	if a.Flags&net.FlagUp == 0 {
		return errors.New("administratively down")
	}
	switch a.OperState {
	case netlink.OperUp, netlink.OperUnknown:
		return nil
	}
	return fmt.Errorf("operational state %s", a.OperState)
}
