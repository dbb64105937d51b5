//go:build linux

package director

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/golvs/lvs/internal/netcfg"
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
		if err := c.nftAvailable(); err != nil {
			backend = BackendIPTables
		}
	}
	if backend == BackendIPTables {
		for _, fam := range families(f) {
			if _, err := exec.LookPath(fam.iptables); err != nil {
				return nil, &Error{Pkg: pkg, Op: op, Field: "OneArmNAT.Backend", Err: err, Kind: ErrUnavailable}
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
				err = c.nftAddSNAT(j, fam, svcs)
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
func tag(s SNATService) string { return "golvs snat " + s.String() }

// ---- nftables ----

func (c *client) nftConn() (*nftables.Conn, error) {
	if c.nsfd >= 0 {
		return nftables.New(nftables.WithNetNSFd(c.nsfd))
	}
	return nftables.New()
}

func (c *client) nftAvailable() error {
	conn, err := c.nftConn()
	if err != nil {
		return err
	}
	_, err = conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	return err
}

func nftObjects(fam family) (*nftables.Table, *nftables.Chain) {
	t := &nftables.Table{Name: nftTable, Family: fam.nft}
	return t, &nftables.Chain{
		Name: nftChain, Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	}
}

// nftServiceChain is the regular chain holding one service's rule, e.g.
// "snat tcp 10.0.0.1:80". Each service has a chain of its own, jumped to
// from the base chain by a rule carrying the same comment: rules with ct
// direction keys cannot be read back by google/nftables v0.3.0 (it parses
// the u8 NFTA_CT_DIRECTION as a u32), jump rules can, so the service
// rules are found and removed by chain name, never by parsing them.
func nftServiceChain(t *nftables.Table, s SNATService) *nftables.Chain {
	return &nftables.Chain{Name: "snat " + s.String(), Table: t}
}

// nftComment encodes s as the rule comment nft(8) shows (libnftnl udata
// TLV type 0, NUL-terminated).
func nftComment(s string) []byte {
	b := []byte{0, byte(len(s) + 1)}
	return append(append(b, s...), 0)
}

func nftCommentOf(r *nftables.Rule) string {
	if u := r.UserData; len(u) > 3 && u[0] == 0 {
		return string(bytes.TrimRight(u[2:], "\x00"))
	}
	return ""
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

// nftState lists the chains of our table and the jump rules of the base
// chain by comment; a missing table is empty.
func nftState(conn *nftables.Conn, fam family) (chains map[string]bool, jumps map[string]*nftables.Rule, err error) {
	chains, jumps = map[string]bool{}, map[string]*nftables.Rule{}
	all, err := conn.ListChainsOfTableFamily(fam.nft)
	if err != nil {
		return nil, nil, err
	}
	for _, ch := range all {
		if ch.Table.Name == nftTable {
			chains[ch.Name] = true
		}
	}
	if !chains[nftChain] {
		return chains, jumps, nil
	}
	t, base := nftObjects(fam)
	rules, err := conn.GetRules(t, base)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range rules {
		jumps[nftCommentOf(r)] = r
	}
	return chains, jumps, nil
}

func (c *client) nftAddSNAT(j *netcfg.Journal, fam family, svcs []SNATService) error {
	conn, err := c.nftConn()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	chains, jumps, err := nftState(conn, fam)
	if err != nil {
		return fmt.Errorf("nftables: list rules: %w", err)
	}
	t, base := nftObjects(fam)
	var todo []SNATService
	var tags []string
	for _, s := range svcs {
		if jumps[tag(s)] == nil || !chains[nftServiceChain(t, s).Name] {
			todo = append(todo, s)
			tags = append(tags, tag(s))
		}
	}
	if len(todo) == 0 {
		return nil
	}
	// Recorded before the change: undo after a partial failure removes
	// whatever of these exists.
	j.Record("delete nftables rules "+strings.Join(tags, ", ")+" (and table "+nftTable+" once empty)", func() error {
		return c.nftDelete(fam, todo)
	})
	conn.AddTable(t)
	conn.AddChain(base)
	for _, s := range todo {
		ch := nftServiceChain(t, s)
		conn.AddChain(ch)
		if chains[ch.Name] {
			conn.FlushChain(ch) // a leftover without its jump
		}
		conn.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: nftRuleExprs(s), UserData: nftComment(tag(s))})
		if jumps[tag(s)] == nil {
			conn.AddRule(&nftables.Rule{Table: t, Chain: base, UserData: nftComment(tag(s)),
				Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: ch.Name}}})
		}
	}
	if err := conn.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return &Error{Pkg: pkg, Op: "nftables NAT rule", Kind: ErrUnavailable, Err: fmt.Errorf("%w (needs nft_chain_nat, nft_ct and nft_masq)", err)}
		}
		return fmt.Errorf("nftables: %w", err)
	}
	return nil
}

func (c *client) nftDelete(fam family, svcs []SNATService) error {
	conn, err := c.nftConn()
	if err != nil {
		return err
	}
	chains, jumps, err := nftState(conn, fam)
	if err != nil {
		return err
	}
	t, _ := nftObjects(fam)
	for _, s := range svcs {
		if r := jumps[tag(s)]; r != nil {
			if err := conn.DelRule(r); err != nil {
				return err
			}
			delete(jumps, tag(s))
		}
		if ch := nftServiceChain(t, s); chains[ch.Name] {
			conn.FlushChain(ch)
			conn.DelChain(ch)
			delete(chains, ch.Name)
		}
	}
	if len(jumps) == 0 && len(chains) <= 1 {
		conn.DelTable(t) // nothing of anyone's is left in our table
	}
	return conn.Flush()
}

// ---- iptables ----

// ipt runs iptables/ip6tables -w -t nat ARGS inside the namespace: a child
// process inherits the namespace of the thread that starts it.
func (c *client) ipt(ctx context.Context, fam family, args ...string) (string, error) {
	var out []byte
	err := c.h.Do(func() (err error) {
		out, err = exec.CommandContext(ctx, fam.iptables, append([]string{"-w", "-t", "nat"}, args...)...).CombinedOutput()
		return err
	})
	if err != nil {
		return string(out), fmt.Errorf("%s -t nat %s: %w: %s", fam.iptables, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func iptRuleSpec(fam family, s SNATService) []string {
	return []string{
		"-m", "ipvs", "--vaddr", s.VIP.Addr().String() + fam.hostBits, "--vport", strconv.Itoa(int(s.VIP.Port())),
		"--vproto", strconv.Itoa(int(s.Protocol)),
		"-m", "comment", "--comment", tag(s), "-j", "MASQUERADE",
	}
}

func (c *client) iptAddSNAT(ctx context.Context, j *netcfg.Journal, fam family, svcs []SNATService) error {
	_, err := c.ipt(ctx, fam, "-S", iptablesChain)
	haveChain := err == nil
	haveJump := false
	if haveChain {
		_, err := c.ipt(ctx, fam, "-C", "POSTROUTING", "-j", iptablesChain)
		haveJump = err == nil
	}
	var todo []SNATService
	for _, s := range svcs {
		if haveChain {
			if _, err := c.ipt(ctx, fam, append([]string{"-C", iptablesChain}, iptRuleSpec(fam, s)...)...); err == nil {
				continue
			}
		}
		todo = append(todo, s)
	}
	if haveJump && len(todo) == 0 {
		return nil // all in place: nothing to record
	}
	// iptables-nft creates nftables table "nat" on first use and never
	// removes it; undo does, if it was absent before and is empty again.
	if conn, err := c.nftConn(); err == nil {
		if _, err := conn.ListTableOfFamily("nat", fam.nft); err != nil && errors.Is(err, unix.ENOENT) {
			j.Record("delete the nftables table nat that iptables-nft created, once empty", func() error {
				return nftDeleteTableIfEmpty(conn, fam, "nat")
			})
		}
	}
	// Recorded before the rules, so undone after them: the chain and its
	// jump go once no rule is left in the chain.
	j.Record("delete chain "+iptablesChain+" and its jump once empty", func() error {
		return c.iptRemoveChainIfEmpty(context.Background(), fam)
	})
	if !haveChain {
		if _, err := c.ipt(ctx, fam, "-N", iptablesChain); err != nil {
			return err
		}
	}
	if !haveJump {
		if _, err := c.ipt(ctx, fam, "-A", "POSTROUTING", "-j", iptablesChain); err != nil {
			return err
		}
	}
	for _, s := range todo {
		spec := iptRuleSpec(fam, s)
		if _, err := c.ipt(ctx, fam, append([]string{"-A", iptablesChain}, spec...)...); err != nil {
			return err
		}
		j.Record("delete "+fam.iptables+" rule "+tag(s), func() error {
			_, err := c.ipt(context.Background(), fam, append([]string{"-D", iptablesChain}, spec...)...)
			return err
		})
	}
	return nil
}

func (c *client) iptRemoveChainIfEmpty(ctx context.Context, fam family) error {
	out, err := c.ipt(ctx, fam, "-S", iptablesChain)
	if err != nil {
		return nil // gone already
	}
	if strings.Count(strings.TrimSpace(out), "\n") > 0 { // "-N CHAIN" plus rules
		return nil
	}
	if _, err := c.ipt(ctx, fam, "-C", "POSTROUTING", "-j", iptablesChain); err == nil {
		if _, err := c.ipt(ctx, fam, "-D", "POSTROUTING", "-j", iptablesChain); err != nil {
			return err
		}
	}
	_, err = c.ipt(ctx, fam, "-X", iptablesChain)
	return err
}

// nftDeleteTableIfEmpty deletes table name if it exists and none of its
// chains holds a rule (or its rules cannot be read: then it is kept).
func nftDeleteTableIfEmpty(conn *nftables.Conn, fam family, name string) error {
	t, err := conn.ListTableOfFamily(name, fam.nft)
	if err != nil {
		return nil // gone
	}
	chains, err := conn.ListChainsOfTableFamily(fam.nft)
	if err != nil {
		return err
	}
	for _, ch := range chains {
		if ch.Table.Name != name {
			continue
		}
		if rules, err := conn.GetRules(t, ch); err != nil || len(rules) > 0 {
			return nil
		}
	}
	conn.DelTable(t)
	return conn.Flush()
}
