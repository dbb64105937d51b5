//go:build linux

package director

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/netns"
	"github.com/golvs/lvs/internal/nft"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Names of the rule containers this package owns.
const (
	nftTable      = "golvs_director"
	nftChain      = "snat"
	iptablesChain = "GOLVS-SNAT"
)

const keyVSConntrack = "net/ipv4/vs/conntrack"

func (c *client) oneArmNAT(ctx context.Context, op string, n OneArmNAT) (*Setup, error) {
	if err := validateOneArmNAT(op, n); err != nil {
		return nil, err
	}
	var f Forwarding
	for _, s := range n.Services {
		if s.VIP.Addr().Unmap().Is4() {
			f.IPv4 = true
		} else {
			f.IPv6 = true
		}
	}
	if err := c.checkForwardingKeys(op, f); err != nil {
		return nil, err
	}
	if _, err := c.h.LinkByName(n.Interface); err != nil {
		return nil, wrap(op, err)
	}
	if _, err := c.h.Sysctl(keyVSConntrack); err != nil {
		return nil, &Error{Pkg: pkg, Op: op, Kind: ErrUnavailable,
			Err: fmt.Errorf("%w: ip_vs is not loaded in this namespace; create the virtual service first", err)}
	}
	backend := n.Backend
	if backend == BackendAuto {
		backend = BackendNFTables
		if err := c.nftAvailable(ctx); err != nil {
			backend = BackendIPTables
		}
	}
	if backend == BackendIPTables {
		for _, fam := range families(f) {
			for _, tool := range []string{fam.iptables + "-save", fam.iptables + "-restore"} {
				if _, err := exec.LookPath(tool); err != nil {
					return nil, &Error{Pkg: pkg, Op: op, Field: "OneArmNAT.Backend", Err: err, Kind: ErrUnavailable}
				}
			}
		}
	}
	return c.run(op, func(j *netcfg.Journal) error {
		if err := c.forwarding(j, f); err != nil {
			return err
		}
		if f.IPv4 {
			if err := c.h.ClearConfOr(j, n.Interface, "send_redirects"); err != nil {
				return err
			}
		}
		if err := c.h.SetSysctl(j, keyVSConntrack, "1"); err != nil {
			return err
		}
		for _, fam := range families(f) {
			var svcs []SNATService
			for _, s := range n.Services {
				if s.VIP.Addr().Unmap().Is4() == fam.v4 {
					svcs = append(svcs, SNATService{s.Protocol, netipAddrPortUnmap(s)})
				}
			}
			var err error
			if backend == BackendNFTables {
				err = c.nftAddSNAT(ctx, j, fam, svcs)
			} else {
				err = c.iptAddSNAT(ctx, j, fam, svcs)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

type family struct {
	v4       bool
	nft      nftables.TableFamily
	iptables string
	hostBits string
}

func families(f Forwarding) []family {
	var out []family
	if f.IPv4 {
		out = append(out, family{true, nftables.TableFamilyIPv4, "iptables", "/32"})
	}
	if f.IPv6 {
		out = append(out, family{false, nftables.TableFamilyIPv6, "ip6tables", "/128"})
	}
	return out
}

// tag identifies a rule of ours; it is the rule's comment.
func tag(s SNATService) string { return nftTagPrefix + s.String() }

// ---- nftables ----

// nftTagPrefix starts the comment of each rule of ours (nftables and
// iptables alike).
const nftTagPrefix = "golvs snat "

// nftOwned is the table of family fam: marked as ours and changed through
// internal/nft only, each change one transaction under its host-wide lock.
// The base chain "snat" jumps, by a rule tagged like the service, to a
// regular chain per service ("snat tcp 10.0.0.1:80") holding the service's
// rule: rules with ct direction keys cannot be read back by
// google/nftables v0.3.0 (it parses the u8 NFTA_CT_DIRECTION as a u32),
// jump rules can, so service rules are found and removed by chain name,
// never by parsing them.
func nftOwned(fam family) *nft.Table {
	return &nft.Table{Family: fam.nft, Name: nftTable, Owner: "director",
		Chains: []nft.Chain{{Name: nftChain, Type: nftables.ChainTypeNAT,
			Hook: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource}},
		TagPrefix: nftTagPrefix, ChainPrefix: nftChain + " "}
}

func (c *client) nftAvailable(ctx context.Context) error {
	_, err := nft.HasTable(ctx, c.nsfd(), nftables.TableFamilyIPv4, nftTable)
	return err
}

// nftRuleExprs: meta l4proto P ct original ip daddr VIP ct original
// proto-dst PORT masquerade. The original tuple is the client's view
// (client → VIP:port), which survives IPVS rewriting the packet to the
// real server: the nftables form of xt_ipvs --vaddr/--vport. Only
// connections IPVS forwards reach postrouting with that original
// destination.
func nftRuleExprs(s SNATService) []expr.Any {
	port := make([]byte, 2)
	binary.BigEndian.PutUint16(port, s.VIP.Port())
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(s.Protocol)}},
		&expr.Ct{Register: 1, Key: expr.CtKeyDST, Direction: 0},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: s.VIP.Addr().AsSlice()},
		&expr.Ct{Register: 1, Key: expr.CtKeyPROTODST, Direction: 0},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port},
		&expr.Counter{},
		&expr.Masq{},
	}
}

// nftAddSNAT adds each service's chain and jump through the host's
// ownership records ("nftsnat 4 tcp 10.0.0.1:80"), so that two agents with
// the same service share it, the last one out deletes it, and a killed
// agent's rules are found again by Recover.
func (c *client) nftAddSNAT(ctx context.Context, j *netcfg.Journal, fam family, svcs []SNATService) error {
	t := nftOwned(fam)
	for _, s := range svcs {
		tx, err := nft.View(ctx, c.nsfd(), t)
		if err != nil {
			return nftUnavailable(err)
		}
		there := tx.Has(nftChain, tag(s)) && tx.HasChain(nftChain+" "+s.String())
		err = c.h.Own(j, snatRes("nftsnat", fam, s.String()), "delete nftables rule "+tag(s)+" (and table "+nftTable+" once no one's rule is left)",
			netcfg.Present(there), "1", there, func() (map[string]string, error) {
				return nil, nftUnavailable(nft.Do(ctx, c.nsfd(), t, func(tx *nft.Tx) error {
					ch := tx.AddChain(s.String(), nftRuleExprs(s)) // replaces a leftover without its jump
					if tx.Has(nftChain, tag(s)) {
						return nil
					}
					_, err := tx.Add(nft.Rule{Chain: nftChain, Tag: tag(s),
						Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: ch.Name}}})
					return err
				}))
			}, c.restore)
		if err != nil {
			return err
		}
	}
	return nil
}

func nftUnavailable(err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		return &Error{Pkg: pkg, Op: "nftables NAT rule", Kind: ErrUnavailable, Err: fmt.Errorf("%w (needs nft_chain_nat, nft_ct and nft_masq)", err)}
	}
	return err
}

// nftDelSNAT deletes the service whose String is svc (its jump and its
// chain), and the table once no one's rule is left.
func (c *client) nftDelSNAT(fam family, svc string) error {
	return nft.Do(context.Background(), c.nsfd(), nftOwned(fam), func(tx *nft.Tx) error {
		if err := tx.Del(nftChain, nftTagPrefix+svc); err != nil {
			return err
		}
		tx.DelChain(svc)
		tx.DropIfEmpty()
		return nil
	})
}

// snatRes names a service's source-NAT rule in the host's records,
// "KIND 4|6 SERVICE" (SERVICE is SNATService.String; none for iptnat);
// restoreSNAT parses it.
func snatRes(kind string, fam family, svc string) string {
	v := "6"
	if fam.v4 {
		v = "4"
	}
	if svc == "" {
		return kind + " " + v
	}
	return kind + " " + v + " " + svc
}

// restoreSNAT deletes the rule of a snatRes resource (nftsnat, iptsnat),
// or the nftables table nat iptables-nft made (iptnat), once its last
// owner is gone.
func (c *client) restoreSNAT(res string) error {
	kind, rest, _ := strings.Cut(res, " ")
	v, svc, _ := strings.Cut(rest, " ")
	fam := families(Forwarding{IPv4: v == "4", IPv6: v == "6"})
	if len(fam) != 1 || (svc == "") != (kind == "iptnat") {
		return newError("release "+res, ErrInvalid, errors.New("damaged record"))
	}
	if err := c.h.Err(); err != nil {
		return err
	}
	switch kind {
	case "nftsnat":
		return c.nftDelSNAT(fam[0], svc)
	case "iptsnat":
		return c.iptDelSNAT(context.Background(), fam[0], []string{nftTagPrefix + svc})
	}
	return nft.DropUnownedIfEmpty(context.Background(), c.nsfd(), fam[0].nft, "nat")
}

// ---- iptables ----

// iptNAT is what iptables-save shows of the nat table: our chain, the jump
// to it, and our rules in it by tag with their position (1, 2, ...: what
// -D takes; a saved rule's text does not always parse back as the same
// rule, e.g. xt_ipvs's).
type iptNAT struct {
	chain, jump bool
	rules       map[string]int
	others      int // rules in our chain that are not ours
}

// iptRun runs an iptables tool inside the namespace.
func (c *client) iptRun(ctx context.Context, stdin, name string, args ...string) (string, error) {
	if err := c.h.Err(); err != nil {
		return "", err
	}
	return netns.Run(ctx, c.h.NetNSFd(), stdin, name, args...)
}

func (c *client) iptSave(ctx context.Context, fam family) (iptNAT, error) {
	st := iptNAT{rules: map[string]int{}}
	out, err := c.iptRun(ctx, "", fam.iptables+"-save", "-t", "nat")
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return st, nil
		}
		return st, err
	}
	pos := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == ":"+iptablesChain:
			st.chain = true
		case len(f) == 4 && f[0] == "-A" && f[1] == "POSTROUTING" && f[2] == "-j" && f[3] == iptablesChain:
			st.jump = true
		case len(f) > 1 && f[0] == "-A" && f[1] == iptablesChain:
			pos++
			if i := strings.Index(line, `--comment "`+nftTagPrefix); i >= 0 {
				rest := line[i+len(`--comment "`):]
				st.rules[rest[:strings.IndexByte(rest, '"')]] = pos
			} else {
				st.others++
			}
		}
	}
	return st, nil
}

// iptRestore applies lines to the nat table in one iptables-restore
// --noflush: all or nothing.
func (c *client) iptRestore(ctx context.Context, fam family, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	script := "*nat\n" + strings.Join(lines, "\n") + "\nCOMMIT\n"
	_, err := c.iptRun(ctx, script, fam.iptables+"-restore", "-w", "--noflush")
	return err
}

func iptRuleSpec(fam family, s SNATService) string {
	return fmt.Sprintf(`-m ipvs --vaddr %s%s --vport %d --vproto %d -m comment --comment "%s" -j MASQUERADE`,
		s.VIP.Addr(), fam.hostBits, s.VIP.Port(), int(s.Protocol), tag(s))
}

// iptChange runs one read-decide-write of the nat table: iptables-save,
// plan's lines, one iptables-restore --noflush, under internal/nft's
// host-wide lock, so that two agents' changes never interleave (declaring
// an existing chain in a restore would flush it).
func (c *client) iptChange(ctx context.Context, fam family, plan func(iptNAT) []string) error {
	unlock, err := nft.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := c.iptSave(ctx, fam)
	if err != nil {
		return err
	}
	return c.iptRestore(ctx, fam, plan(st))
}

// iptAddSNAT adds each service's rule (with the chain and its jump when
// missing) through the host's ownership records ("iptsnat 4 tcp
// 10.0.0.1:80"), like nftAddSNAT.
func (c *client) iptAddSNAT(ctx context.Context, j *netcfg.Journal, fam family, svcs []SNATService) error {
	// iptables-nft creates nftables table "nat" on first use and never
	// removes it. If it is missing it becomes a shared resource of ours,
	// recorded before the rules so that it is released after them: the
	// last owner out removes it if it is empty again.
	had, err := nft.HasTable(ctx, c.nsfd(), fam.nft, "nat")
	if err == nil {
		err = c.h.Own(j, snatRes("iptnat", fam, ""), "delete the nftables table nat that iptables-nft created, once empty",
			netcfg.Present(had), "1", had, func() (map[string]string, error) { return nil, nil }, c.restore)
		if err != nil {
			return err
		}
	}
	for _, s := range svcs {
		var there bool
		if err := c.iptChange(ctx, fam, func(st iptNAT) []string { there = st.rules[tag(s)] > 0; return nil }); err != nil {
			return err
		}
		err := c.h.Own(j, snatRes("iptsnat", fam, s.String()), "delete "+fam.iptables+" rule "+tag(s)+" (and chain "+iptablesChain+" with its jump once empty)",
			netcfg.Present(there), "1", there, func() (map[string]string, error) {
				return nil, c.iptChange(ctx, fam, func(st iptNAT) []string {
					var lines []string
					if !st.chain {
						lines = append(lines, ":"+iptablesChain+" - [0:0]")
					}
					if !st.jump {
						lines = append(lines, "-A POSTROUTING -j "+iptablesChain)
					}
					if st.rules[tag(s)] == 0 {
						lines = append(lines, "-A "+iptablesChain+" "+iptRuleSpec(fam, s))
					}
					return lines
				})
			}, c.restore)
		if err != nil {
			return err
		}
	}
	return nil
}

// iptDelSNAT deletes our rules tagged tags, and the chain and its jump
// once no rule is left in it, in one change.
func (c *client) iptDelSNAT(ctx context.Context, fam family, tags []string) error {
	return c.iptChange(ctx, fam, func(st iptNAT) []string {
		var del []int
		for _, t := range tags {
			if pos := st.rules[t]; pos > 0 {
				del = append(del, pos)
				delete(st.rules, t)
			}
		}
		// From the last: each deletion shifts the rules after it.
		slices.Sort(del)
		slices.Reverse(del)
		var lines []string
		for _, pos := range del {
			lines = append(lines, fmt.Sprintf("-D %s %d", iptablesChain, pos))
		}
		if st.chain && len(st.rules) == 0 && st.others == 0 {
			if st.jump {
				lines = append(lines, "-D POSTROUTING -j "+iptablesChain)
			}
			lines = append(lines, "-X "+iptablesChain)
		}
		return lines
	})
}
