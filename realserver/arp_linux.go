//go:build linux

package realserver

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/golvs/lvs/internal/hostrec"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
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
		n := newNftARP(c.h, v4, a.RIP)
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
	nft  bool // arptables-nft, which keeps its rules in nftables table arp filter
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
	v, _ := t.run("-V")
	t.nft = strings.Contains(v, "nf_tables")
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
	// chains on first use. If it is missing, it becomes a shared resource
	// of ours, recorded before the rules so that it is released after
	// them: the last owner out removes it if no one's rules live there.
	// With arptables-legacy there is no such table.
	if t.nft {
		filter := &nftOwned{h: t.h, table: &nftables.Table{Name: "filter", Family: nftables.TableFamilyARP}}
		existed, err := filter.hasTable()
		if err != nil {
			return err
		}
		err = t.h.Own(j, "arpfilter", "delete nftables table arp filter (created by arptables-nft) if empty", present(existed), "1", existed,
			func() (map[string]string, error) { return nil, nil }, func(string, *hostrec.Resource) error { return filter.dropIfEmpty(nil) })
		if err != nil {
			return err
		}
	}
	rules := j
	for _, r := range t.rules() {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, cerr := t.run(append([]string{"-C"}, r...)...)
		there := cerr == nil
		// A rule already there is someone else's unless an owner recorded
		// it; then we join its owners, and the last one out deletes it.
		err := t.h.Own(rules, "arptables "+strings.Join(r, " "), "arptables -D "+strings.Join(r, " "), present(there), "1", there,
			func() (map[string]string, error) {
				if out, err := t.run(append([]string{"-A"}, r...)...); err != nil {
					return nil, fmt.Errorf("arptables -A %s: %s: %w", strings.Join(r, " "), out, err)
				}
				return nil, nil
			}, t.restore)
		if err != nil {
			return err
		}
	}
	return nil
}

func present(ok bool) string {
	if ok {
		return "1"
	}
	return ""
}

// restore deletes an arptables rule of the host's records once its last
// owner is gone.
func (t *arptables) restore(res string, _ *hostrec.Resource) error {
	rule, ok := strings.CutPrefix(res, "arptables ")
	if !ok {
		return fmt.Errorf("no restorer for %q", res)
	}
	args := strings.Fields(rule)
	if _, err := t.run(append([]string{"-C"}, args...)...); err != nil {
		return nil // gone
	}
	if out, err := t.run(append([]string{"-D"}, args...)...); err != nil {
		return fmt.Errorf("arptables -D %s: %s: %w", rule, out, err)
	}
	return nil
}

// restore undoes the package's own resource kinds for Recover.
func (c *Client) restore(res string, r *hostrec.Resource) error {
	if strings.HasPrefix(res, "nftarp ") {
		return restoreNftARP(c.h, res)
	}
	if res == "arpfilter" {
		filter := &nftOwned{h: c.h, table: &nftables.Table{Name: "filter", Family: nftables.TableFamilyARP}}
		return filter.dropIfEmpty(nil)
	}
	t := &arptables{h: c.h}
	p, err := exec.LookPath("arptables")
	if err != nil {
		return fmt.Errorf("%s: %w", res, err)
	}
	t.path = p
	return t.restore(res, r)
}

// nftARP keeps its rules in table arp lvs, chains "in" and "out".
type nftARP struct {
	o    *nftOwned
	vips []netip.Addr
	rip  netip.Addr
}

// The ARP family's hooks are NF_ARP_IN (0) and NF_ARP_OUT (1), not the
// NF_INET_* values nftables.ChainHookInput/Output carry.
var (
	nftARPIn  = nftables.ChainHookRef(0)
	nftARPOut = nftables.ChainHookRef(1)
)

func newNftARP(h *netcfg.Host, vips []netip.Addr, rip netip.Addr) *nftARP {
	return &nftARP{o: &nftOwned{h: h,
		table: &nftables.Table{Name: "lvs", Family: nftables.TableFamilyARP},
		chains: []nftChain{
			{"in", nftARPIn, nftables.ChainPriorityFilter},
			{"out", nftARPOut, nftables.ChainPriorityFilter},
		}}, vips: vips, rip: rip}
}

func (n *nftARP) probe() error { _, err := n.o.hasTable(); return err }

// apply adds each rule through the host's ownership records, so that two
// agents with the same rule share it and a killed agent's rules are found
// again (by their tag) by Recover or a later set-up.
func (n *nftARP) apply(ctx context.Context, j *netcfg.Journal) error {
	for _, r := range n.specs() {
		there, err := n.o.hasRule(r)
		if err != nil {
			return err
		}
		err = n.o.h.Own(j, "nftarp "+string(r.tag), "delete rule ("+r.desc+") from "+n.o.where()+" chain "+r.chain, present(there), "1", there,
			func() (map[string]string, error) {
				// The table and chains are removed with the last rule
				// (restoreNftARP), not by steps of their own.
				return nil, n.o.apply(ctx, new(netcfg.Journal), []nftRule{r})
			}, func(res string, _ *hostrec.Resource) error { return restoreNftARP(n.o.h, res) })
		if err != nil {
			return err
		}
	}
	return nil
}

// hasRule reports whether r (by its tag) is in its chain.
func (o *nftOwned) hasRule(r nftRule) (bool, error) {
	c, err := o.conn()
	if err != nil {
		return false, o.errNoKernel(err)
	}
	ch, err := c.ListChain(o.table, r.chain)
	if err != nil {
		return false, nil // no chain, no rule
	}
	rule, err := o.find(c, ch, r.tag)
	return rule != nil, err
}

// restoreNftARP deletes the rule that resource res ("nftarp TAG") names
// from table arp lvs, then the chain and the table if nothing else is
// left in them.
func restoreNftARP(h *netcfg.Host, res string) error {
	tag, ok := strings.CutPrefix(res, "nftarp ")
	if !ok {
		return fmt.Errorf("no restorer for %q", res)
	}
	o := newNftARP(h, nil, netip.Addr{}).o
	chain := "in"
	if f := strings.Fields(tag); len(f) > 2 {
		chain = f[2]
	}
	c, err := o.conn()
	if err != nil {
		return err
	}
	ch, err := c.ListChain(o.table, chain)
	if err != nil {
		return nil // gone with its chain
	}
	rule, err := o.find(c, ch, []byte(tag))
	if err != nil {
		return err
	}
	if rule != nil {
		if err := c.DelRule(rule); err != nil {
			return err
		}
		if err := c.Flush(); err != nil {
			return err
		}
	}
	if err := o.dropIfEmpty(ch); err != nil {
		return err
	}
	for _, x := range o.chains {
		if x.name != chain {
			if other, err := c.ListChain(o.table, x.name); err == nil {
				if err := o.dropIfEmpty(other); err != nil {
					return err
				}
			}
		}
	}
	return o.dropIfEmpty(nil)
}

func (n *nftARP) missing(ctx context.Context) ([]string, error) {
	return n.o.missing(ctx, n.specs())
}

// specs are the rules, as `nft` would write them:
//
//	chain in  { arp daddr ip VIP drop }
//	chain out { arp saddr ip VIP arp saddr ip set RIP }
func (n *nftARP) specs() []nftRule {
	var rs []nftRule
	for _, v := range n.vips {
		rs = append(rs,
			nftRule{"in", "drop ARP for " + v.String(), []byte("golvs realserver in " + v.String()),
				append(arpMatch(24, v), &expr.Verdict{Kind: expr.VerdictDrop})},
			nftRule{"out", "ARP sender " + v.String() + " → " + n.rip.String(), []byte("golvs realserver out " + v.String()),
				append(arpMatch(14, v),
					&expr.Immediate{Register: 1, Data: n.rip.AsSlice()},
					&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1,
						Base: expr.PayloadBaseNetworkHeader, Offset: 14, Len: 4})})
	}
	return rs
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
