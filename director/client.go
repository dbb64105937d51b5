package director

import (
	"context"
	"net/netip"
	"sync"
)

// Client configures the director side of IPVS in one network namespace.
// It is safe for concurrent use; set-up calls run one at a time.
type Client struct {
	mu sync.Mutex
	c  *client
}

// New returns a Client for the namespace cfg names (nil: the caller's).
// It opens netlink sockets in the namespace; Close releases them.
func New(cfg *Config) (*Client, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	o := &Client{}
	c, err := newClient(cfg, o)
	if err != nil {
		return nil, err
	}
	o.c = c
	return o, nil
}

// Close releases the Client's sockets. Setups made by the Client
// need it open.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		return nil
	}
	err := c.c.close()
	c.c = nil
	return err
}

// setup runs a set-up call.
func (c *Client) setup(ctx context.Context, op string, f func(*client) (*Setup, error)) (*Setup, error) {
	var s *Setup
	err := c.do(ctx, op, func(cl *client) (err error) {
		s, err = f(cl)
		return err
	})
	return s, err
}

// live reports a closed Client, for Setups' Teardown.
func (c *Client) live() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		return ErrClosed
	}
	return nil
}

// Recover undoes what a previous process with this Client's
// Config.Identity set up in the namespace and did not tear down (it was
// killed, or its host rebooted its agent): the host's records of those
// set-ups, written before each change, say what to restore; shared changes
// other owners still rely on stay. Call it before setting up again. It
// refuses (ErrConflict) while another live process holds the identity, and
// does nothing without an identity or without records.
func (c *Client) Recover(ctx context.Context) error {
	const op = "recover"
	return c.do(ctx, op, func(cl *client) error { return cl.recover(op) })
}

func (c *Client) do(ctx context.Context, op string, f func(*client) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		return newError(op, ErrClosed, nil)
	}
	if err := ctx.Err(); err != nil {
		return newError(op, nil, err)
	}
	return f(c.c)
}

// AddVIP makes v a local address of the director, announced as v.Announce
// says. An existing VIP is not an error (and is announced again in ARP
// mode); the Setup's Teardown removes only what this call added: the address if it
// was not there, the dummy device if it created it and no other address
// remains on it.
//
// Before changing anything it runs CheckVIP and refuses, with ErrIneffective,
// a VIP that would not be reachable (e.g. ARP mode on a dummy device, or
// arp_ignore=2 with a /32 VIP). In ARP mode it sends v.Gratuitous packets
// and returns when they are sent; a cancelled ctx stops the burst and rolls
// the VIP back.
func (c *Client) AddVIP(ctx context.Context, v VIP) (*Setup, error) {
	const op = "add VIP"
	return c.setup(ctx, op, func(cl *client) (*Setup, error) { return cl.addVIP(ctx, op, v) })
}

// CheckVIP reports why v would not work, or only partly, with the devices
// and sysctls in effect, without changing anything. Findings of severity
// SeverityBroken make AddVIP fail.
func (c *Client) CheckVIP(ctx context.Context, v VIP) (Findings, error) {
	const op = "check VIP"
	var f Findings
	err := c.do(ctx, op, func(cl *client) (err error) {
		if err := validateVIP(op, v); err != nil {
			return err
		}
		f, err = cl.checkVIP(op, v)
		return err
	})
	return f, err
}

// Announce sends gratuitous ARP (IPv4) or unsolicited neighbour
// advertisements (IPv6) for addr, which must be configured on iface, e.g.
// again after a failover. It returns when the burst is sent.
func (c *Client) Announce(ctx context.Context, iface string, addr netip.Addr, g Gratuitous) error {
	const op = "announce"
	return c.do(ctx, op, func(cl *client) error {
		return cl.announceChecked(ctx, op, iface, addr, g)
	})
}

// EnableForwarding turns on forwarding for the families f selects. Writing
// net.ipv4.ip_forward also rewrites every interface's forwarding and
// conf/all/accept_redirects; Teardown restores those too. For IPv6 it
// first sets accept_ra=2 on every interface with accept_ra=1 (and on
// conf/default): with forwarding on, 1 would make them ignore router
// advertisements and lose their default route; Teardown puts 1 back.
// Forwarding is shared with other owners on the host (another director,
// in this or another process using the SDK): it is turned off only when
// the last of them is torn down.
func (c *Client) EnableForwarding(ctx context.Context, f Forwarding) (*Setup, error) {
	const op = "enable forwarding"
	return c.setup(ctx, op, func(cl *client) (*Setup, error) { return cl.enableForwarding(op, f) })
}

// NATGateway prepares a two-arm NAT director: forwarding on, send_redirects
// off on conf/all and on g.Interfaces. The real servers must use the
// director as their default gateway; CheckReturnPath verifies that.
func (c *Client) NATGateway(ctx context.Context, g NATGateway) (*Setup, error) {
	const op = "NAT gateway"
	return c.setup(ctx, op, func(cl *client) (*Setup, error) { return cl.natGateway(op, g) })
}

// CheckReturnPath reports real servers whose replies would not come back
// through the director, which NAT needs: the director reaching them
// through a router, a gateway that is not the director, clients on the
// real servers' own subnet, or forwarding off. It changes nothing.
func (c *Client) CheckReturnPath(ctx context.Context, paths ...ReturnPath) (Findings, error) {
	const op = "check return path"
	var f Findings
	err := c.do(ctx, op, func(cl *client) (err error) {
		f, err = cl.checkReturnPath(op, paths)
		return err
	})
	return f, err
}

// OneArmNAT installs source NAT for the forwarded traffic of n.Services,
// with the sysctls it needs (see OneArmNAT). Rules live in a table (or
// chain) of this package's own: nftables table "golvs_director" (family ip
// or ip6), base chain "snat" and a chain per service; iptables chain GOLVS-SNAT in the nat table, jumped
// to from POSTROUTING. Other rules are never touched. Existing identical
// rules are not added twice; Teardown deletes the rules this call added,
// and the table or chain once no rule of ours is left in it.
//
// net.ipv4.vs.conntrack exists only once ip_vs is loaded, which creating
// the first virtual service does. A service of each family gets its own
// table (ip or ip6) or iptables/ip6tables chain.
func (c *Client) OneArmNAT(ctx context.Context, n OneArmNAT) (*Setup, error) {
	const op = "one-arm NAT"
	return c.setup(ctx, op, func(cl *client) (*Setup, error) { return cl.oneArmNAT(ctx, op, n) })
}

// ApplySysctls sets each setting (names and ranges from Sysctls; see the
// Preset functions) and returns a Setup whose Teardown restores the previous values.
func (c *Client) ApplySysctls(ctx context.Context, s ...Sysctl) (*Setup, error) {
	const op = "apply sysctls"
	return c.setup(ctx, op, func(cl *client) (*Setup, error) { return cl.applySysctls(op, s) })
}
