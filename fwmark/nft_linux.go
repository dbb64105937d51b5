package fwmark

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftBackend keeps every rule in the table "inet lvs": one table for both
// families, so that one transaction covers IPv4 and IPv6 and teardown is one
// table deletion that cannot touch anything else.
type nftBackend struct {
	fd     int // network namespace, or -1 for the caller's
	output bool
	// ipt reads legacy iptables for the mixing check (nil: the
	// iptables-legacy tools, if installed).
	ipt *iptBackend
}

var lvsTable = &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName}

func (n *nftBackend) conn(ctx context.Context) (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if n.fd >= 0 {
		opts = append(opts, nftables.WithNetNSFd(n.fd))
	}
	if dl, ok := ctx.Deadline(); ok {
		// google/nftables takes no context: a deadline on the socket at
		// least bounds a stuck receive.
		opts = append(opts, nftables.WithSockOptions(func(c *netlink.Conn) error { return c.SetDeadline(dl) }))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, newErr(ErrUnavailable, "nftables", "", err)
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

// ourChains returns the chains of the lvs table by name; nil when the table
// does not exist.
func ourChains(c *nftables.Conn) (map[string]*nftables.Chain, error) {
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, err
	}
	var out map[string]*nftables.Chain
	for _, ch := range chains {
		if ch.Table.Name == TableName {
			if out == nil {
				out = map[string]*nftables.Chain{}
			}
			out[ch.Name] = ch
		}
	}
	if out == nil {
		// The table may exist without chains (made by someone else).
		tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
		if err != nil {
			return nil, err
		}
		for _, t := range tables {
			if t.Name == TableName {
				out = map[string]*nftables.Chain{}
			}
		}
	}
	return out, nil
}

func (n *nftBackend) present(ctx context.Context) (bool, error) {
	c, err := n.conn(ctx)
	if err != nil {
		return false, err
	}
	chains, err := ourChains(c)
	if err != nil {
		return false, kernelErr("list nftables chains", err)
	}
	return chains != nil, nil
}

func (n *nftBackend) rules(ctx context.Context) ([]Rule, error) {
	c, err := n.conn(ctx)
	if err != nil {
		return nil, err
	}
	chains, err := ourChains(c)
	if err != nil {
		return nil, kernelErr("list rules", err)
	}
	return readRules(c, chains)
}

func readRules(c *nftables.Conn, chains map[string]*nftables.Chain) ([]Rule, error) {
	ch := chains[nftPrerouting]
	if ch == nil {
		return nil, nil
	}
	nrs, err := c.GetRules(lvsTable, ch)
	if err != nil {
		return nil, kernelErr("list rules", err)
	}
	var out []Rule
	for _, nr := range nrs {
		com, _ := userdata.GetString(nr.UserData, userdata.TypeComment)
		if !strings.HasPrefix(com, commentPrefix) {
			return nil, newErr(ErrConflict, "list rules", "", fmt.Errorf("table inet %s chain %s holds rule handle %d not made by this package", TableName, ch.Name, nr.Handle))
		}
		r, err := ParseRule(strings.TrimPrefix(com, commentPrefix))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

func (n *nftBackend) sync(ctx context.Context, rules []Rule) error {
	c, err := n.conn(ctx)
	if err != nil {
		return err
	}
	chains, err := ourChains(c)
	if err != nil {
		return kernelErr("sync", err)
	}
	if len(rules) == 0 {
		if chains == nil {
			return nil
		}
		c.DelTable(lvsTable)
		return kernelErr("sync", c.Flush())
	}
	if chains != nil && len(chains) == 1+b2i(n.output) && chains[nftPrerouting] != nil && (!n.output || chains[nftOutput] != nil) {
		have, err := readRules(c, chains)
		if err == nil && sameRules(have, rules) {
			return nil
		}
	}
	// One transaction: make sure the table exists, delete it with whatever
	// it held, and build it again. Packets see the old rules or the new.
	c.AddTable(lvsTable)
	c.DelTable(lvsTable)
	c.AddTable(lvsTable)
	hooks := []struct {
		name string
		hook *nftables.ChainHook
		typ  nftables.ChainType
	}{{nftPrerouting, nftables.ChainHookPrerouting, nftables.ChainTypeFilter}}
	if n.output {
		// type route: a mark set on a local packet re-routes it, as
		// iptables' mangle OUTPUT does.
		hooks = append(hooks, struct {
			name string
			hook *nftables.ChainHook
			typ  nftables.ChainType
		}{nftOutput, nftables.ChainHookOutput, nftables.ChainTypeRoute})
	}
	accept := nftables.ChainPolicyAccept
	var setIDs uint32
	for _, h := range hooks {
		ch := c.AddChain(&nftables.Chain{
			Name: h.name, Table: lvsTable, Type: h.typ, Hooknum: h.hook,
			Priority: nftables.ChainPriorityMangle, Policy: &accept,
		})
		for _, r := range rules {
			exprs, err := ruleExprs(c, &setIDs, r)
			if err != nil {
				return newErr(ErrKernel, "sync", "", err)
			}
			c.AddRule(&nftables.Rule{
				Table: lvsTable, Chain: ch, Exprs: exprs,
				UserData: userdata.AppendString(nil, userdata.TypeComment, commentPrefix+r.String()),
			})
		}
	}
	return kernelErr("sync", c.Flush())
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (n *nftBackend) remove(ctx context.Context) error {
	c, err := n.conn(ctx)
	if err != nil {
		return err
	}
	// Adding then deleting in one batch removes the table whether or not it
	// exists, without a race between a check and the deletion.
	c.AddTable(lvsTable)
	c.DelTable(lvsTable)
	return kernelErr("remove all", c.Flush())
}

// ruleExprs builds the expressions of one canonical rule, adding the
// anonymous sets it needs to c's batch:
//
//	meta nfproto ipv4 ip daddr { ... } meta l4proto tcp th dport { ... } meta mark set MARK
func ruleExprs(c *nftables.Conn, ids *uint32, r Rule) ([]expr.Any, error) {
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
		lk, err := anonSet(c, ids, keyType, true, elems)
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
		lk, err := anonSet(c, ids, nftables.TypeInetProto, false, []nftables.SetElement{
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
			lk, err := anonSet(c, ids, nftables.TypeInetService, true, elems)
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

// anonSet adds an anonymous set to the batch. It numbers the set itself
// (ids need only be unique within a batch): left to google/nftables, the
// id comes from a package-global counter that concurrent Clients race on.
func anonSet(c *nftables.Conn, ids *uint32, typ nftables.SetDatatype, interval bool, elems []nftables.SetElement) (*expr.Lookup, error) {
	*ids++
	s := &nftables.Set{Table: lvsTable, Anonymous: true, Constant: true, Interval: interval, KeyType: typ,
		ID: *ids, Name: "__set%d"}
	if err := c.AddSet(s, elems); err != nil {
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
