package fwmark

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/golvs/lvs/internal/nft"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// nftBackend keeps every rule in the table "inet golvs_fwmark": one table
// for both families, so that one transaction covers IPv4 and IPv6. The
// table is marked as ours and changed through internal/nft only: each
// change is one batch under its host-wide lock, a table of that name we
// did not make is refused with ErrConflict, and objects someone else put
// into ours are never deleted.
type nftBackend struct {
	fd     int // network namespace, or -1 for the caller's
	output bool
	// ipt reads legacy iptables for the mixing check (nil: the
	// iptables-legacy tools, if installed).
	ipt *iptBackend
}

// fwTable is our table; both chains are named, so that a client without
// Output does not take another's output chain for a stranger's.
var fwTable = &nft.Table{Family: nftables.TableFamilyINet, Name: TableName, Owner: "fwmark",
	Chains: []nft.Chain{
		{Name: nftPrerouting, Type: nftables.ChainTypeFilter, Hook: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle},
		// type route: a mark set on a local packet re-routes it, as
		// iptables' mangle OUTPUT does.
		{Name: nftOutput, Type: nftables.ChainTypeRoute, Hook: nftables.ChainHookOutput, Priority: nftables.ChainPriorityMangle},
	},
	TagPrefix: commentPrefix}

func (n *nftBackend) conn(ctx context.Context) (*nftables.Conn, error) {
	dl, _ := ctx.Deadline()
	c, err := nft.Dial(n.fd, dl)
	if err != nil {
		return nil, wrap("nftables", err)
	}
	return c, nil
}

// kernelErr classifies an error of a netlink exchange.
func kernelErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return newErr(nil, op, "", err)
}

func (n *nftBackend) present(ctx context.Context) (bool, error) {
	ok, err := nft.HasTable(ctx, n.fd, nftables.TableFamilyINet, TableName)
	return ok, wrap("list nftables tables", err)
}

func (n *nftBackend) rules(ctx context.Context) ([]Rule, error) {
	tx, err := nft.View(ctx, n.fd, fwTable)
	if err != nil {
		return nil, wrap("list rules", err)
	}
	return readRules(tx)
}

// readRules parses our rules of the prerouting chain (output holds the same).
func readRules(tx *nft.Tx) ([]Rule, error) {
	for _, f := range tx.Foreign() {
		if strings.HasPrefix(f, "rule ") {
			return nil, newErr(ErrConflict, "list rules", "", fmt.Errorf("%s: %s not made by this package", tx, f))
		}
	}
	var out []Rule
	for _, nr := range tx.Rules(nftPrerouting) {
		r, err := ParseRule(strings.TrimPrefix(nft.CommentOf(nr), commentPrefix))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

// update reads the installed rules, lets f compute the new ones
// (canonical, sorted) and installs them, as one transaction under the
// host-wide lock: another agent's change cannot come between the read and
// the write. The table is rebuilt in the same batch (packets see the old
// rules or the new); no rules left deletes it, unless objects of someone
// else's are in it.
func (n *nftBackend) update(ctx context.Context, op string, f func(have []Rule) ([]Rule, error)) error {
	err := nft.Do(ctx, n.fd, fwTable, func(tx *nft.Tx) error {
		have, err := readRules(tx)
		if err != nil {
			return err
		}
		want, err := f(have)
		if err != nil {
			return err
		}
		chains := []string{nftPrerouting}
		if n.output {
			chains = append(chains, nftOutput)
		}
		if len(want) == 0 {
			for _, ch := range []string{nftPrerouting, nftOutput} {
				for _, r := range tx.Rules(ch) {
					if err := tx.Del(ch, nft.CommentOf(r)); err != nil {
						return err
					}
				}
			}
			tx.DropIfEmpty()
			return nil
		}
		if sameRules(have, want) && tx.HasChain(nftOutput) == n.output && tx.HasChain(nftPrerouting) &&
			(!n.output || len(tx.Rules(nftOutput)) == len(want)) {
			return nil
		}
		if err := tx.Rebuild(); err != nil {
			return err
		}
		for _, ch := range chains {
			if err := tx.EnsureChain(ch); err != nil {
				return err
			}
		}
		for _, ch := range chains {
			for _, r := range want {
				exprs, err := ruleExprs(tx, r)
				if err != nil {
					return newErr(ErrKernel, op, "", err)
				}
				if _, err := tx.Add(nft.Rule{Chain: ch, Tag: commentPrefix + r.String(), Exprs: exprs}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return wrap(op, err)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (n *nftBackend) remove(ctx context.Context) error {
	return n.update(ctx, "remove all", func([]Rule) ([]Rule, error) { return nil, nil })
}

// ruleExprs builds the expressions of one canonical rule, adding the
// anonymous sets it needs to c's batch:
//
//	meta nfproto ipv4 ip daddr { ... } meta l4proto tcp th dport { ... } meta mark set MARK
func ruleExprs(tx setAdder, r Rule) ([]expr.Any, error) {
	proto, off, alen, keyType := byte(unix.NFPROTO_IPV4), uint32(16), uint32(4), nftables.TypeIPAddr
	if r.Is6() {
		proto, off, alen, keyType = unix.NFPROTO_IPV6, 24, 16, nftables.TypeIP6Addr
	}
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
	dsts := r.Destinations
	switch {
	case len(dsts) == 1 && dsts[0].Bits() == 0:
		// The whole family: no address match.
	case len(dsts) == 1:
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: alen})
		if p := dsts[0]; p.Bits() < int(alen*8) {
			e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: alen,
				Mask: prefixMask(p), Xor: make([]byte, alen)})
		}
		e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dsts[0].Addr().AsSlice()})
	default:
		var elems []nftables.SetElement
		for _, rg := range addrRanges(dsts) {
			elems = append(elems, nftables.SetElement{Key: rg[0].AsSlice()})
			if next := rg[1].Next(); next.IsValid() {
				elems = append(elems, nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
			}
		}
		lk, err := anonSet(tx, keyType, true, elems)
		if err != nil {
			return nil, err
		}
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: alen}, lk)
	}
	switch {
	case r.Protocol != ProtocolAny:
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(r.Protocol)}})
	case len(r.Ports) > 0:
		lk, err := anonSet(tx, nftables.TypeInetProto, false, []nftables.SetElement{
			{Key: []byte{byte(ProtocolTCP)}}, {Key: []byte{byte(ProtocolUDP)}}, {Key: []byte{byte(ProtocolSCTP)}}})
		if err != nil {
			return nil, err
		}
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, lk)
	}
	if len(r.Ports) > 0 {
		// th dport: the destination port sits at offset 2 of TCP, UDP and
		// SCTP headers alike.
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
		be := func(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }
		switch p := r.Ports; {
		case len(p) == 1 && p[0].From == p[0].To:
			e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be(p[0].From)})
		case len(p) == 1:
			e = append(e, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: be(p[0].From), ToData: be(p[0].To)})
		default:
			var elems []nftables.SetElement
			for _, pr := range p {
				elems = append(elems, nftables.SetElement{Key: be(pr.From)})
				if pr.To < 65535 {
					elems = append(elems, nftables.SetElement{Key: be(pr.To + 1), IntervalEnd: true})
				}
			}
			lk, err := anonSet(tx, nftables.TypeInetService, true, elems)
			if err != nil {
				return nil, err
			}
			e = append(e, lk)
		}
	}
	return append(e,
		&expr.Immediate{Register: 1, Data: binary.NativeEndian.AppendUint32(nil, r.Mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	), nil
}

// setAdder is where anonymous sets go: an nft.Tx.
type setAdder interface {
	Conn() *nftables.Conn
	Table() *nftables.Table
	NewSetID() uint32
}

// anonSet adds an anonymous set to the batch. The batch numbers its sets
// itself (ids need only be unique within a batch): left to
// google/nftables, the id comes from a package-global counter that
// concurrent Clients race on.
func anonSet(tx setAdder, typ nftables.SetDatatype, interval bool, elems []nftables.SetElement) (*expr.Lookup, error) {
	s := &nftables.Set{Table: tx.Table(), Anonymous: true, Constant: true, Interval: interval, KeyType: typ,
		ID: tx.NewSetID(), Name: "__set%d"}
	if err := tx.Conn().AddSet(s, elems); err != nil {
		return nil, err
	}
	return &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}, nil
}

func prefixMask(p netip.Prefix) []byte {
	b := make([]byte, p.Addr().BitLen()/8)
	for i := 0; i < p.Bits(); i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return b
}

// addrRanges turns sorted masked prefixes into merged inclusive ranges:
// interval sets reject overlapping elements.
func addrRanges(ps []netip.Prefix) [][2]netip.Addr {
	var out [][2]netip.Addr
	for _, p := range ps {
		lo, hi := p.Addr(), lastAddr(p)
		if n := len(out); n > 0 {
			last := &out[n-1]
			if next := last[1].Next(); !next.IsValid() || lo.Compare(next) <= 0 {
				if hi.Compare(last[1]) > 0 {
					last[1] = hi
				}
				continue
			}
		}
		out = append(out, [2]netip.Addr{lo, hi})
	}
	return out
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// conflicts walks every ip, ip6 and inet table but ours: base chains on
// prerouting, input before IPVS (priority < 98) and, with Output, output,
// and the chains they jump to, looking for rules that write the mark. The
// mangle tables of legacy iptables (x_tables), which run in the same
// hooks but which nftables cannot see, are read too (legacyConflicts).
func (n *nftBackend) conflicts(ctx context.Context) ([]conflict, error) {
	c, err := n.conn(ctx)
	if err != nil {
		return nil, err
	}
	out, err := nftConflicts(c, n.output)
	if err != nil {
		return nil, err
	}
	legacy, err := legacyConflicts(ctx, n.fd, n.output)
	if err != nil {
		return nil, err
	}
	out = append(out, legacy...)
	slices.SortFunc(out, func(a, b conflict) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

func nftConflicts(c *nftables.Conn, output bool) ([]conflict, error) {
	chains, err := c.ListChains()
	if err != nil {
		return nil, kernelErr("conflicts", err)
	}
	famName := map[nftables.TableFamily]string{
		nftables.TableFamilyIPv4: "ip", nftables.TableFamilyIPv6: "ip6", nftables.TableFamilyINet: "inet"}
	type tkey struct {
		fam  nftables.TableFamily
		name string
	}
	byTable := map[tkey]map[string]*nftables.Chain{}
	for _, ch := range chains {
		k := tkey{ch.Table.Family, ch.Table.Name}
		if famName[k.fam] == "" || (k.fam == nftables.TableFamilyINet && k.name == TableName) {
			continue
		}
		if byTable[k] == nil {
			byTable[k] = map[string]*nftables.Chain{}
		}
		byTable[k][ch.Name] = ch
	}
	var out []conflict
	for k, tchains := range byTable {
		for _, base := range tchains {
			if base.Hooknum == nil || base.Priority == nil {
				continue
			}
			prio := int32(*base.Priority)
			var hook string
			order := orderUnknown
			switch *base.Hooknum {
			case *nftables.ChainHookPrerouting:
				hook = "prerouting"
				order = orderOf(prio)
			case *nftables.ChainHookInput:
				if prio >= 98 { // IPVS has taken the packet by then
					continue
				}
				hook, order = "input", orderAfter
			case *nftables.ChainHookOutput:
				if !output {
					continue
				}
				hook = "output"
				order = orderOf(prio)
			default:
				continue
			}
			// Walk the chains reachable from this base chain.
			seen := map[string]bool{base.Name: true}
			queue := []*nftables.Chain{base}
			for len(queue) > 0 {
				ch := queue[0]
				queue = queue[1:]
				rules, err := c.GetRules(ch.Table, ch)
				if err != nil {
					return nil, kernelErr("conflicts", err)
				}
				for _, r := range rules {
					for _, e := range r.Exprs {
						if what := writesMark(e); what != "" {
							out = append(out, conflict{Family: famName[k.fam], Table: k.name, Chain: ch.Name,
								Hook: hook, Priority: prio, Order: order, Rule: fmt.Sprintf("handle %d: %s", r.Handle, what)})
						}
						if v, ok := e.(*expr.Verdict); ok && v.Chain != "" && !seen[v.Chain] && tchains[v.Chain] != nil {
							seen[v.Chain] = true
							queue = append(queue, tchains[v.Chain])
						}
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b conflict) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

func orderOf(prio int32) markOrder {
	switch {
	case prio < -150:
		return orderBefore
	case prio > -150:
		return orderAfter
	}
	return orderUnknown
}

// writesMark names what e does to the packet mark, or "".
func writesMark(e expr.Any) string {
	switch e := e.(type) {
	case *expr.Meta:
		if e.SourceRegister && e.Key == expr.MetaKeyMARK {
			return "meta mark set"
		}
	case *expr.Target: // iptables-nft's xt targets
		if e.Name == "MARK" || e.Name == "CONNMARK" {
			return "xt target " + e.Name
		}
	}
	return ""
}

// iptablesNFTChain reports whether iptables-nft holds ChainName (in the ip
// or ip6 mangle table), seen through netlink without any binary.
func iptablesNFTChain(c *nftables.Conn) (bool, error) {
	chains, err := c.ListChains()
	if err != nil {
		return false, err
	}
	for _, ch := range chains {
		f := ch.Table.Family
		if ch.Name == ChainName && ch.Table.Name == "mangle" && (f == nftables.TableFamilyIPv4 || f == nftables.TableFamilyIPv6) {
			return true, nil
		}
	}
	return false, nil
}
