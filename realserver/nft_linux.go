//go:build linux

package realserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/golvs/lvs/internal/netcfg"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// nftOwned manages rules in one nftables table over netlink. Each rule is
// tagged with user data, so it is found again without handles; the table
// and chains are created when missing and removed on undo only if they are
// empty by then, so rules someone else added are never lost.
type nftOwned struct {
	h      *netcfg.Host
	table  *nftables.Table
	chains []nftChain
}

type nftChain struct {
	name string
	hook *nftables.ChainHook
	prio *nftables.ChainPriority
}

type nftRule struct {
	chain string
	desc  string
	tag   []byte
	exprs []expr.Any
}

func (o *nftOwned) conn() (*nftables.Conn, error) {
	if err := o.h.Err(); err != nil {
		return nil, err
	}
	var opts []nftables.ConnOption
	if fd := o.h.NetNSFd(); fd >= 0 {
		opts = append(opts, nftables.WithNetNSFd(fd))
	}
	return nftables.New(opts...)
}

func (o *nftOwned) where() string {
	fam := map[nftables.TableFamily]string{nftables.TableFamilyARP: "arp", nftables.TableFamilyIPv4: "ip"}[o.table.Family]
	return "nftables table " + fam + " " + o.table.Name
}

func (o *nftOwned) errNoKernel(err error) error {
	return fmt.Errorf("%s: %v; the kernel needs nf_tables (for ARP rules built with CONFIG_NF_TABLES_ARP): load the nf_tables module: %w", o.where(), err, ErrUnavailable)
}

// hasTable reports whether the table exists; an error means the kernel
// cannot do nftables for the family.
func (o *nftOwned) hasTable() (bool, error) {
	c, err := o.conn()
	if err != nil {
		return false, o.errNoKernel(err)
	}
	tables, err := c.ListTablesOfFamily(o.table.Family)
	if err != nil {
		return false, o.errNoKernel(err)
	}
	for _, t := range tables {
		if t.Name == o.table.Name {
			return true, nil
		}
	}
	return false, nil
}

func (o *nftOwned) apply(ctx context.Context, j *netcfg.Journal, rules []nftRule) error {
	c, err := o.conn()
	if err != nil {
		return o.errNoKernel(err)
	}
	have, err := o.hasTable()
	if err != nil {
		return err
	}
	if !have {
		c.AddTable(o.table)
		if err := c.Flush(); err != nil {
			return o.errNoKernel(err)
		}
		j.Record("delete "+o.where()+" if empty", func() error { return o.dropIfEmpty(nil) })
	}
	chains := map[string]*nftables.Chain{}
	for _, ch := range o.chains {
		chain, err := c.ListChain(o.table, ch.name)
		if err != nil {
			accept := nftables.ChainPolicyAccept
			chain = c.AddChain(&nftables.Chain{Name: ch.name, Table: o.table, Type: nftables.ChainTypeFilter,
				Hooknum: ch.hook, Priority: ch.prio, Policy: &accept})
			if err := c.Flush(); err != nil {
				return fmt.Errorf("%s: add chain %s: %w", o.where(), ch.name, err)
			}
			if have { // a new table goes with its chains
				j.Record("delete chain "+ch.name+" of "+o.where()+" if empty", func() error { return o.dropIfEmpty(chain) })
			}
		}
		chains[ch.name] = chain
	}
	for _, r := range rules {
		if err := ctx.Err(); err != nil {
			return err
		}
		chain := chains[r.chain]
		if rule, err := o.find(c, chain, r.tag); err != nil {
			return err
		} else if rule != nil {
			continue
		}
		c.AddRule(&nftables.Rule{Table: o.table, Chain: chain, Exprs: r.exprs, UserData: r.tag})
		if err := c.Flush(); err != nil {
			return fmt.Errorf("%s: add rule (%s) to chain %s: %w", o.where(), r.desc, r.chain, err)
		}
		j.Record("delete rule ("+r.desc+") from "+o.where()+" chain "+r.chain, func() error {
			c, err := o.conn()
			if err != nil {
				return err
			}
			rule, err := o.find(c, chain, r.tag)
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

// missing describes the rules not in place.
func (o *nftOwned) missing(ctx context.Context, rules []nftRule) ([]string, error) {
	c, err := o.conn()
	if err != nil {
		return nil, o.errNoKernel(err)
	}
	var out []string
	for _, r := range rules {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		desc := fmt.Sprintf("%s chain %s: %s", o.where(), r.chain, r.desc)
		chain, err := c.ListChain(o.table, r.chain)
		if err != nil {
			out = append(out, desc)
			continue
		}
		if rule, err := o.find(c, chain, r.tag); err != nil || rule == nil {
			out = append(out, desc)
		}
	}
	return out, nil
}

func (o *nftOwned) find(c *nftables.Conn, ch *nftables.Chain, tag []byte) (*nftables.Rule, error) {
	rules, err := c.GetRules(o.table, ch)
	if err != nil {
		return nil, fmt.Errorf("%s: list chain %s: %w", o.where(), ch.Name, err)
	}
	for _, r := range rules {
		if bytes.Equal(r.UserData, tag) {
			return r, nil
		}
	}
	return nil, nil
}

// dropIfEmpty deletes the chain (or, for nil, the table) unless rules live
// in it.
func (o *nftOwned) dropIfEmpty(ch *nftables.Chain) error {
	c, err := o.conn()
	if err != nil {
		return err
	}
	chains, err := c.ListChainsOfTableFamily(o.table.Family)
	if err != nil {
		return err
	}
	for _, x := range chains {
		if x.Table.Name != o.table.Name || (ch != nil && x.Name != ch.Name) {
			continue
		}
		rules, err := c.GetRules(o.table, x)
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
		c.DelTable(o.table)
	}
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}
