//go:build linux

package realserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/golvs/lvs/internal/netcfg"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// arpApplier applies one ARP-suppression backend, recording undo steps.
type arpApplier interface {
	apply(ctx context.Context, j *netcfg.Journal) error
}

type arpNone struct{}

func (arpNone) apply(context.Context, *netcfg.Journal) error { return nil }

type arpSysctl struct{ h *netcfg.Host }

// apply raises conf/all only: the effective value on an interface is
// max(all, IFACE), so all covers every ARP-facing interface, present or
// future, and a higher value already set stays.
func (a arpSysctl) apply(_ context.Context, j *netcfg.Journal) error {
	if err := a.h.RaiseConfAll(j, "arp_ignore", 1); err != nil {
		return err
	}
	return a.h.RaiseConfAll(j, "arp_announce", 2)
}

// arpBackend validates a backend against the host (tool present, kernel
// support, RIP local) before anything changes.
func (c *Client) arpBackend(op string, a ARP, vips []netip.Prefix) (arpApplier, error) {
	var v4 []netip.Addr
	for _, p := range vips {
		if p.Addr().Is4() {
			v4 = append(v4, p.Addr())
		}
	}
	if len(v4) == 0 || a.Backend == ARPNone {
		return arpNone{}, nil
	}
	if a.Backend == ARPSysctl {
		return arpSysctl{c.h}, nil
	}
	have, err := c.h.FindAddr(a.RIP)
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(have) == 0 {
		return nil, invalid(op, "ARP.RIP", "%s is not an address of this host", a.RIP)
	}
	switch a.Backend {
	case ARPTables:
		t := &arptables{h: c.h, vips: v4, rip: a.RIP}
		if err := t.probe(); err != nil {
			return nil, wrap(op, err)
		}
		return t, nil
	case ARPNftables:
		n := &nftARP{h: c.h, vips: v4, rip: a.RIP}
		if err := n.probe(); err != nil {
			return nil, wrap(op, err)
		}
		return n, nil
	}
	return nil, invalid(op, "ARP.Backend", "unknown backend %d", int(a.Backend))
}

// arptables drives the arptables command inside the namespace.
type arptables struct {
	h    *netcfg.Host
	path string
	vips []netip.Addr
	rip  netip.Addr
}

func (t *arptables) run(args ...string) (string, error) {
	var out bytes.Buffer
	err := t.h.Do(func() error {
		// The child inherits the namespace of this locked thread.
		cmd := exec.Command(t.path, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		return cmd.Run()
	})
	return strings.TrimSpace(out.String()), err
}

func (t *arptables) probe() error {
	p, err := exec.LookPath("arptables")
	if err != nil {
		return fmt.Errorf("the arptables backend needs the arptables command, which is not installed (%v); install arptables or use the sysctl or nftables backend: %w", err, ErrNoTool)
	}
	t.path = p
	if out, err := t.run("-L", "-n"); err != nil {
		return fmt.Errorf("arptables cannot list the kernel's ARP rules (%s: %v); load the arp_tables, arptable_filter and arpt_mangle modules (or nf_tables for arptables-nft): %w", out, err, netcfg.ErrNoModule)
	}
	return nil
}

func (t *arptables) rules() [][]string {
	var rs [][]string
	for _, v := range t.vips {
		rs = append(rs,
			[]string{"INPUT", "-d", v.String(), "-j", "DROP"},
			[]string{"OUTPUT", "-s", v.String(), "-j", "mangle", "--mangle-ip-s", t.rip.String()})
	}
	return rs
}

func (t *arptables) apply(ctx context.Context, j *netcfg.Journal) error {
	// arptables-nft creates table arp filter with empty INPUT and OUTPUT
	// chains on first use; if it did so for us, remove them again once our
	// rules are gone (and only if no one else's rules live there).
	// The table step goes into j before the rule steps so that it runs
	// after them. With arptables-legacy there is no such table.
	filter := &nftARP{h: t.h}
	existed, herr := filter.hasTable("filter")
	var rules netcfg.Journal
	defer func() {
		if now, err := filter.hasTable("filter"); herr == nil && err == nil && now && !existed {
			j.Record("delete nftables table arp filter (created by arptables-nft) if empty", func() error {
				return filter.dropIfEmpty(&nftables.Table{Name: "filter", Family: nftables.TableFamilyARP}, nil)
			})
		}
		j.Append(&rules)
	}()
	for _, r := range t.rules() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := t.run(append([]string{"-C"}, r...)...); err == nil {
			continue // already there: not ours to remove
		}
		if out, err := t.run(append([]string{"-A"}, r...)...); err != nil {
			return fmt.Errorf("arptables -A %s: %s: %w", strings.Join(r, " "), out, err)
		}
		rules.Record("arptables -D "+strings.Join(r, " "), func() error {
			if out, err := t.run(append([]string{"-D"}, r...)...); err != nil {
				return fmt.Errorf("%s: %w", out, err)
			}
			return nil
		})
	}
	return nil
}

// nftARP keeps its rules in table arp lvs, chains "in" and "out", each rule
// tagged with user data so it is found again without handles.
type nftARP struct {
	h    *netcfg.Host
	vips []netip.Addr
	rip  netip.Addr
}

const nftTable = "lvs"

// The ARP family's hooks are NF_ARP_IN (0) and NF_ARP_OUT (1), not the
// NF_INET_* values nftables.ChainHookInput/Output carry.
var (
	nftARPIn  = nftables.ChainHookRef(0)
	nftARPOut = nftables.ChainHookRef(1)
)

func (n *nftARP) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if fd := n.h.NetNSFd(); fd >= 0 {
		opts = append(opts, nftables.WithNetNSFd(fd))
	}
	return nftables.New(opts...)
}

func nftErr(err error) error {
	return fmt.Errorf("nftables arp family (%v); the kernel needs nf_tables with CONFIG_NF_TABLES_ARP: load the nf_tables module: %w", err, netcfg.ErrNoModule)
}

func (n *nftARP) probe() error {
	c, err := n.conn()
	if err != nil {
		return nftErr(err)
	}
	defer c.CloseLasting()
	if _, err := c.ListTablesOfFamily(nftables.TableFamilyARP); err != nil {
		return nftErr(err)
	}
	return nil
}

// hasTable reports whether the arp family has a table of that name.
func (n *nftARP) hasTable(name string) (bool, error) {
	c, err := n.conn()
	if err != nil {
		return false, nftErr(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyARP)
	if err != nil {
		return false, nftErr(err)
	}
	for _, t := range tables {
		if t.Name == name {
			return true, nil
		}
	}
	return false, nil
}

func (n *nftARP) apply(ctx context.Context, j *netcfg.Journal) error {
	c, err := n.conn()
	if err != nil {
		return nftErr(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyARP)
	if err != nil {
		return nftErr(err)
	}
	table := &nftables.Table{Name: nftTable, Family: nftables.TableFamilyARP}
	haveTable := false
	for _, t := range tables {
		haveTable = haveTable || t.Name == nftTable
	}
	if !haveTable {
		c.AddTable(table)
		if err := c.Flush(); err != nil {
			return nftErr(err)
		}
		j.Record("delete nftables table arp "+nftTable+" if empty", func() error { return n.dropIfEmpty(table, nil) })
	}
	chains := map[string]*nftables.Chain{}
	for _, ch := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"in", nftARPIn}, {"out", nftARPOut}} {
		chain, err := c.ListChain(table, ch.name)
		if err != nil {
			accept := nftables.ChainPolicyAccept
			chain = c.AddChain(&nftables.Chain{Name: ch.name, Table: table, Type: nftables.ChainTypeFilter,
				Hooknum: ch.hook, Priority: nftables.ChainPriorityFilter, Policy: &accept})
			if err := c.Flush(); err != nil {
				return fmt.Errorf("nftables: add chain arp %s %s: %w", nftTable, ch.name, err)
			}
			if haveTable {
				j.Record("delete nftables chain arp "+nftTable+" "+ch.name+" if empty", func() error { return n.dropIfEmpty(table, chain) })
			}
		}
		chains[ch.name] = chain
	}
	for _, r := range n.specs() {
		if err := ctx.Err(); err != nil {
			return err
		}
		chain := chains[r.chain]
		if rule, err := n.find(c, table, chain, r.tag); err != nil {
			return err
		} else if rule != nil {
			continue
		}
		c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: r.exprs, UserData: r.tag})
		if err := c.Flush(); err != nil {
			return fmt.Errorf("nftables: add rule to arp %s %s: %w", nftTable, r.chain, err)
		}
		j.Record("delete nftables rule arp "+nftTable+" "+r.chain+" for "+r.vip.String(), func() error {
			c, err := n.conn()
			if err != nil {
				return err
			}
			rule, err := n.find(c, table, chain, r.tag)
			if err != nil || rule == nil {
				return err
			}
			if err := c.DelRule(rule); err != nil {
				return err
			}
			return c.Flush()
		})
	}
	return nil
}

type nftRule struct {
	chain string
	vip   netip.Addr
	tag   []byte
	exprs []expr.Any
}

// specs are the rules, as `nft` would write them:
//
//	chain in  { arp daddr ip VIP drop }
//	chain out { arp saddr ip VIP arp saddr ip set RIP }
func (n *nftARP) specs() []nftRule {
	var rs []nftRule
	for _, v := range n.vips {
		rs = append(rs,
			nftRule{"in", v, []byte("golvs realserver in " + v.String()),
				append(arpMatch(24, v), &expr.Verdict{Kind: expr.VerdictDrop})},
			nftRule{"out", v, []byte("golvs realserver out " + v.String()),
				append(arpMatch(14, v),
					&expr.Immediate{Register: 1, Data: n.rip.AsSlice()},
					&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1,
						Base: expr.PayloadBaseNetworkHeader, Offset: 14, Len: 4})})
	}
	return rs
}

// missing describes the rules not in place.
func (n *nftARP) missing(ctx context.Context) ([]string, error) {
	c, err := n.conn()
	if err != nil {
		return nil, nftErr(err)
	}
	table := &nftables.Table{Name: nftTable, Family: nftables.TableFamilyARP}
	var out []string
	for _, r := range n.specs() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		desc := fmt.Sprintf("table arp %s chain %s for %s", nftTable, r.chain, r.vip)
		chain, err := c.ListChain(table, r.chain)
		if err != nil {
			out = append(out, desc)
			continue
		}
		if rule, err := n.find(c, table, chain, r.tag); err != nil || rule == nil {
			out = append(out, desc)
		}
	}
	return out, nil
}

// arpMatch matches Ethernet/IPv4 ARP (hardware length 6, protocol length 4)
// whose IPv4 address at off (14 sender, 24 target) is a.
func arpMatch(off uint32, a netip.Addr) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 4, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6, 4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
	}
}

func (n *nftARP) find(c *nftables.Conn, t *nftables.Table, ch *nftables.Chain, tag []byte) (*nftables.Rule, error) {
	rules, err := c.GetRules(t, ch)
	if err != nil {
		return nil, fmt.Errorf("nftables: list arp %s %s: %w", t.Name, ch.Name, err)
	}
	for _, r := range rules {
		if bytes.Equal(r.UserData, tag) {
			return r, nil
		}
	}
	return nil, nil
}

// dropIfEmpty deletes the chain (or, for nil, the table) unless someone
// else's rules live in it.
func (n *nftARP) dropIfEmpty(t *nftables.Table, ch *nftables.Chain) error {
	c, err := n.conn()
	if err != nil {
		return err
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyARP)
	if err != nil {
		return err
	}
	for _, x := range chains {
		if x.Table.Name != t.Name || (ch != nil && x.Name != ch.Name) {
			continue
		}
		rules, err := c.GetRules(t, x)
		if err != nil {
			return err
		}
		if len(rules) > 0 {
			return nil
		}
	}
	if ch != nil {
		c.DelChain(ch)
	} else {
		c.DelTable(t)
	}
	err = c.Flush()
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
