//go:build linux

package realserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/undo"
	"github.com/golvs/lvs/ipvs"
	"github.com/vishvananda/netlink"
)

// Client configures real-server mode in one network namespace. It is safe
// for concurrent use, but concurrent set-ups of overlapping configuration
// race like any two administrators would.
type Client struct {
	h *netcfg.Host
}

// New opens a Client for the namespace cfg names (nil: the caller's).
func New(cfg *Config) (*Client, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	h, err := netcfg.OpenConfig(cfg.NetNS, cfg.NetNSPath, cfg.Identity)
	if err != nil {
		return nil, wrap("open", err)
	}
	return &Client{h: h}, nil
}

// Close releases the Client's sockets. Setups it returned can no longer be
// torn down afterwards (ErrClosed).
func (c *Client) Close() error { return c.h.Close() }

// change runs a set-up under the host-wide lock with a journal of the
// host's ownership records (netcfg.Host.Change): rolled back on failure,
// the Setup on success.
func (c *Client) change(op string, f func(j *netcfg.Journal) error) (*Setup, error) {
	j, err := c.h.Change(pkg, op, f)
	if err != nil {
		return nil, wrap(op, err)
	}
	return undo.New(pkg, op, j.Steps(), c.h.Err, func(context.Context) error {
		return wrap("tear down", j.Teardown())
	}), nil
}

// Recover undoes what a previous process with this Client's
// Config.Identity set up in the namespace and did not tear down (it was
// killed): the host's records of those set-ups, written before each
// change, say what to restore; shared changes other owners still rely on
// stay. Call it before setting up again. It refuses (ErrConflict) while
// another live process holds the identity, and does nothing without an
// identity or without records.
func (c *Client) Recover(ctx context.Context) error {
	const op = "recover"
	if err := ctx.Err(); err != nil {
		return newErr(op, ErrCanceled, err)
	}
	return wrap(op, c.h.Recover(pkg, c.restore))
}

// SetupDR configures the namespace as a direct-routing real server: ARP
// suppression first, then the VIPs on lo or the dummy device. It is
// idempotent: what is already in place is left alone and not recorded. On
// failure what was done is rolled back and nothing has changed.
func (c *Client) SetupDR(ctx context.Context, d DR) (*Setup, error) {
	const op = "set up DR"
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if err := c.h.Err(); err != nil {
		return nil, wrap(op, err)
	}
	dev := d.Device
	if dev == "" {
		dev = "lo"
	}
	// Checks that need the host, before any change.
	link, err := c.h.LinkByName(dev)
	switch {
	case errors.Is(err, ErrNotExist):
		if dev == "lo" {
			return nil, wrap(op, err)
		}
		link = nil // created below as a dummy
	case err != nil:
		return nil, wrap(op, err)
	case dev != "lo" && link.Type() != "dummy":
		return nil, invalid(op, "Device", "%s is a %s device; DR VIPs belong on lo or a dummy device, which never answer ARP themselves", dev, link.Type())
	}
	arp, err := c.vipsAndARP(ctx, op, dev, d.VIPs, d.ARP)
	if err != nil {
		return nil, err
	}
	return c.change(op, func(j *netcfg.Journal) error {
		if err := arp.apply(ctx, j); err != nil {
			return err
		}
		if dev != "lo" {
			if _, err := c.h.AddLink(j, &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: dev}}); err != nil {
				return err
			}
		}
		if err := c.h.SetLinkUp(j, dev); err != nil {
			return err
		}
		return c.addVIPs(ctx, j, dev, hostPrefixes(d.VIPs))
	})
}

// SetupTUN configures the namespace as a tunnelling real server: ARP
// suppression, the fou port (GUE), the tunnel device up with the VIPs on it,
// and reverse-path filtering relaxed to loose on the tunnel device if (and
// only if) strict mode would drop the decapsulated packets. Idempotent and
// rolled back on failure like SetupDR.
func (c *Client) SetupTUN(ctx context.Context, t TUN) (*Setup, error) {
	const op = "set up TUN"
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if err := c.h.Err(); err != nil {
		return nil, wrap(op, err)
	}
	dev := t.Device()
	var want netlink.Link = &netlink.Iptun{LinkAttrs: netlink.LinkAttrs{Name: dev}}
	if t.Type == ipvs.GRE {
		// An IPv4 wildcard local address makes this "gre", not "ip6gre".
		want = &netlink.Gretun{LinkAttrs: netlink.LinkAttrs{Name: dev}, Local: net.IPv4zero}
	}
	link, err := c.h.LinkByName(dev)
	switch {
	case errors.Is(err, ErrNotExist):
		link = nil // the module is missing, or fallback devices are off in this namespace
	case err != nil:
		return nil, wrap(op, err)
	case link.Type() != want.Type():
		return nil, newErr(op, ErrConflict, fmt.Errorf("device %s is a %s device, not %s", dev, link.Type(), want.Type()))
	}
	if t.Type == ipvs.GUE {
		if _, err := c.h.Fous(); err != nil {
			return nil, wrap(op, err)
		}
	}
	if t.MSS != 0 {
		if err := newMSSClamp(c.h).probe(ctx); err != nil {
			return nil, wrap(op, err)
		}
	}
	arp, err := c.vipsAndARP(ctx, op, dev, t.VIPs, t.ARP)
	if err != nil {
		return nil, err
	}
	return c.change(op, func(j *netcfg.Journal) error {
		if err := arp.apply(ctx, j); err != nil {
			return err
		}
		if t.Type == ipvs.GUE {
			if err := c.h.AddFou(j, netcfg.Fou{Port: t.Port, GUE: true}); err != nil {
				return err
			}
		}
		if link == nil {
			if _, err := c.h.AddLink(j, want); err != nil {
				if errors.Is(err, ErrUnavailable) {
					return newErr(op, ErrUnavailable, fmt.Errorf("device %s: %s tunnels need the kernel module(s) %s loaded (modprobe -a %s): %w", dev, t.Type, t.module(), t.module(), err))
				}
				return err
			}
		}
		if err := c.h.SetLinkUp(j, dev); err != nil {
			return err
		}
		if err := c.addVIPs(ctx, j, dev, hostPrefixes(t.VIPs)); err != nil {
			return err
		}
		if t.MSS != 0 {
			if err := newMSSClamp(c.h).own(ctx, j, "nftmss", mssRules(hostPrefixes(t.VIPs), t.MSS)); err != nil {
				return err
			}
		}
		// With an IPv4 address on the device, strict mode (1) drops
		// decapsulated packets whose source routes via another device and
		// loose mode (2) passes them; 0 passes too. Only the tunnel
		// device is touched, so the host keeps its strict filter elsewhere.
		rp, err := c.h.EffectiveConf(dev, "rp_filter")
		if err != nil {
			return err
		}
		if rp.Effective == 1 {
			return c.h.SetConf(j, dev, "rp_filter", 2)
		}
		return nil
	})
}

// vipsAndARP checks that vips can go on dev (precheckVIPs) and picks the
// ARP suppression a's backend needs for them.
func (c *Client) vipsAndARP(ctx context.Context, op, dev string, vips []netip.Addr, a ARP) (arpApplier, error) {
	if err := c.precheckVIPs(op, dev, hostPrefixes(vips)); err != nil {
		return nil, err
	}
	return c.arpBackend(ctx, op, a, hostPrefixes(vips))
}

// precheckVIPs refuses VIPs already configured elsewhere, before any change.
func (c *Client) precheckVIPs(op, dev string, vips []netip.Prefix) error {
	for i, p := range vips {
		have, err := c.h.FindAddr(p.Addr())
		if err != nil {
			return wrap(op, err)
		}
		for _, x := range have {
			if x.Dev != dev || x.Prefix != p {
				return &Error{Pkg: pkg, Op: op, Field: "VIPs[" + strconv.Itoa(i) + "]",
					Err: fmt.Errorf("%s is already configured as %s on %s; remove it first", p.Addr(), x.Prefix, x.Dev), Kind: ErrConflict}
			}
		}
	}
	return nil
}

func (c *Client) addVIPs(ctx context.Context, j *netcfg.Journal, dev string, vips []netip.Prefix) error {
	for _, p := range vips {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.h.AddAddr(j, dev, p); err != nil {
			return err
		}
	}
	return nil
}
