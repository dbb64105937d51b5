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

	"github.com/golvs/lvs/internal/hostrec"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/nft"
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
func (c *Client) arpBackend(ctx context.Context, op string, a ARP, vips []netip.Prefix) (arpApplier, error) {
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
	case ARPNFTables:
		n := newNftARP(c.h, v4, a.RIP)
		if err := n.probe(ctx); err != nil {
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
		return fmt.Errorf("the arptables backend needs the arptables command, which is not installed (%v); install arptables or use the sysctl or nftables backend: %w", err, ErrUnavailable)
	}
	t.path = p
	if out, err := t.run("-L", "-n"); err != nil {
		return fmt.Errorf("arptables cannot list the kernel's ARP rules (%s: %v); load the arp_tables, arptable_filter and arpt_mangle modules (or nf_tables for arptables-nft): %w", out, err, ErrUnavailable)
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
		existed, err := nft.HasTable(ctx, t.h.NetNSFd(), nftables.TableFamilyARP, "filter")
		if err != nil {
			return err
		}
		err = t.h.Own(j, "arpfilter", "delete nftables table arp filter (created by arptables-nft) if empty", netcfg.Present(existed), "1", existed,
			func() (map[string]string, error) { return nil, nil }, func(string, *hostrec.Resource) error { return dropARPFilter(t.h) })
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
		err := t.h.Own(rules, "arptables "+strings.Join(r, " "), "arptables -D "+strings.Join(r, " "), netcfg.Present(there), "1", there,
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

// dropARPFilter deletes table arp filter (which arptables-nft made on our
// behalf) if no one's rules live there.
func dropARPFilter(h *netcfg.Host) error {
	if err := h.Err(); err != nil {
		return err
	}
	return nft.DropUnownedIfEmpty(context.Background(), h.NetNSFd(), nftables.TableFamilyARP, "filter")
}

func noRestorer(res string) error {
	return newErr("release "+res, ErrInvalid, errors.New("no restorer for this kind of resource"))
}

// restore deletes an arptables rule of the host's records once its last
// owner is gone.
func (t *arptables) restore(res string, _ *hostrec.Resource) error {
	rule, ok := strings.CutPrefix(res, "arptables ")
	if !ok {
		return noRestorer(res)
	}
	args := strings.Fields(rule)
	if _, err := t.run(append([]string{"-C"}, args...)...); err != nil {
		return nil // gone
	}
	if out, err := t.run(append([]string{"-D"}, args...)...); err != nil {
		return newErr("arptables -D "+rule, nil, fmt.Errorf("%s: %w", out, err))
	}
	return nil
}

// restore undoes the package's own resource kinds for Recover.
func (c *Client) restore(res string, r *hostrec.Resource) error {
	if strings.HasPrefix(res, "nftarp ") || strings.HasPrefix(res, "nftmss ") {
		return restoreNft(c.h, res)
	}
	if res == "arpfilter" {
		return dropARPFilter(c.h)
	}
	t := &arptables{h: c.h}
	p, err := exec.LookPath("arptables")
	if err != nil {
		return newErr("release "+res, ErrUnavailable, err)
	}
	t.path = p
	return t.restore(res, r)
}

// nftARP keeps its rules in table arp golvs_realserver, chains "in" and
// "out".
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
	return &nftARP{o: newOwned(h, nftables.TableFamilyARP,
		nft.Chain{Name: "in", Type: nftables.ChainTypeFilter, Hook: nftARPIn, Priority: nftables.ChainPriorityFilter},
		nft.Chain{Name: "out", Type: nftables.ChainTypeFilter, Hook: nftARPOut, Priority: nftables.ChainPriorityFilter},
	), vips: vips, rip: rip}
}

func (n *nftARP) probe(ctx context.Context) error { return n.o.probe(ctx) }

// apply adds each rule through the host's ownership records (see
// nftOwned.own).
func (n *nftARP) apply(ctx context.Context, j *netcfg.Journal) error {
	return n.o.own(ctx, j, "nftarp", n.specs())
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
			nftRule{"drop ARP for " + v.String(), nft.Rule{Chain: "in", Tag: nftTagPrefix + "in " + v.String(),
				Exprs: append(arpMatch(24, v), &expr.Verdict{Kind: expr.VerdictDrop})}},
			nftRule{"ARP sender " + v.String() + " → " + n.rip.String(), nft.Rule{Chain: "out", Tag: nftTagPrefix + "out " + v.String(),
				Exprs: append(arpMatch(14, v),
					&expr.Immediate{Register: 1, Data: n.rip.AsSlice()},
					&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1,
						Base: expr.PayloadBaseNetworkHeader, Offset: 14, Len: 4})}})
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
