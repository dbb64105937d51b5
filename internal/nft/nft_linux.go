package nft

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golvs/lvs/internal/errs"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Prefix starts the name of every table of the SDK's.
const Prefix = "golvs_"

// markerChain holds the ownership marker rule.
const markerChain = "golvs_owner"

// markerTag starts the marker rule's comment.
const markerTag = "golvs owner "

// LockPath is the host-wide lock every change to an SDK table holds.
var LockPath = "/run/golvs/nft.lock"

const pkg = "nft"

// Table describes one table of the SDK's own.
type Table struct {
	Family nftables.TableFamily
	// Name starts with Prefix.
	Name string
	// Owner is the package, written into the marker ("realserver").
	Owner string
	// Chains are the chains rules go to, made with the table (base chains
	// with Hook set, or regular chains).
	Chains []Chain
	// TagPrefix starts the comment of every rule of ours in Chains.
	TagPrefix string
	// ChainPrefix, if set, starts the name of regular chains the owner
	// adds with AddChain (their rules are not read: see Tx.AddChain).
	ChainPrefix string
}

// Chain is a chain of a Table.
type Chain struct {
	Name     string
	Type     nftables.ChainType      // base chains
	Hook     *nftables.ChainHook     // nil: a regular chain
	Priority *nftables.ChainPriority // base chains
}

// Rule is one rule of ours.
type Rule struct {
	Chain string
	// Tag identifies the rule in its table; it is its comment and starts
	// with the Table's TagPrefix.
	Tag   string
	Exprs []expr.Any
}

// Comment encodes s as the rule comment nft(8) shows.
func Comment(s string) []byte { return userdata.AppendString(nil, userdata.TypeComment, s) }

// CommentOf returns a rule's comment, or "".
func CommentOf(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return strings.TrimRight(s, "\x00")
}

// Dial opens a netlink connection to nf_tables in the namespace fd (-1:
// the caller's); a deadline bounds a stuck receive (google/nftables takes
// no context). A kernel without nf_tables is errs.ErrUnavailable.
func Dial(fd int, deadline time.Time) (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if fd >= 0 {
		opts = append(opts, nftables.WithNetNSFd(fd))
	}
	if !deadline.IsZero() {
		opts = append(opts, nftables.WithSockOptions(func(c *netlink.Conn) error { return c.SetDeadline(deadline) }))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, unavailable(err)
	}
	return c, nil
}

func unavailable(err error) error {
	return &errs.Error{Pkg: pkg, Op: "nftables", Kind: errs.ErrUnavailable,
		Err: fmt.Errorf("%w; the kernel needs nf_tables: load the nf_tables module", err)}
}

// kernelErr classifies the error of a netlink exchange; ENOENT and
// EOPNOTSUPP on a listing mean nf_tables (or the family) is missing.
func kernelErr(op string, err error, listing bool) error {
	if err == nil {
		return nil
	}
	if listing && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPROTONOSUPPORT)) {
		return unavailable(err)
	}
	return &errs.Error{Pkg: pkg, Op: op, Kind: errs.Classify(err), Err: err}
}

// Lock takes the host-wide lock, waiting until ctx is done.
func Lock(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(LockPath), 0o700); err != nil {
		return nil, &errs.Error{Pkg: pkg, Op: "lock", Kind: errs.Classify(err), Err: err}
	}
	f, err := os.OpenFile(LockPath, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &errs.Error{Pkg: pkg, Op: "lock", Kind: errs.Classify(err), Err: err}
	}
	wait := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, &errs.Error{Pkg: pkg, Op: "lock " + LockPath, Kind: errs.Classify(err), Err: err}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, &errs.Error{Pkg: pkg, Op: "lock " + LockPath, Kind: errs.ErrCanceled, Err: ctx.Err()}
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// Tx is one transaction on one Table: what was read, and the changes
// queued, sent by Do as one batch.
type Tx struct {
	c  *nftables.Conn
	t  *Table
	nt *nftables.Table

	exists bool
	// chains of the table by name (read, then as queued).
	chains map[string]*nftables.Chain
	// rules of ours in Table.Chains by chain and tag (read, then as
	// queued; queued ones have no handle).
	rules map[string]map[string]*nftables.Rule
	// foreign objects: rules without our tag, chains not ours, named sets.
	foreign []string
	sets    uint32 // anonymous set ids handed out in this batch
	dirty   bool
}

// Do runs f on t in the namespace fd as one transaction under the
// host-wide lock: it reads the table, refuses with errs.ErrConflict a table
// of t's name without our marker (changing nothing), lets f queue changes,
// and sends them in one batch. f's error discards the batch.
func Do(ctx context.Context, fd int, t *Table, f func(*Tx) error) error {
	unlock, err := Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	tx, err := read(ctx, fd, t)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return err
	}
	if !tx.dirty {
		return nil
	}
	return kernelErr("change table "+tx.String(), tx.c.Flush(), false)
}

// View reads t without the lock and without changing anything, for
// checks; the same ownership rule applies.
func View(ctx context.Context, fd int, t *Table) (*Tx, error) { return read(ctx, fd, t) }

func famName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return fmt.Sprint(int(f))
}

// String is "table FAMILY NAME".
func (tx *Tx) String() string { return "table " + famName(tx.t.Family) + " " + tx.t.Name }

func read(ctx context.Context, fd int, t *Table) (*Tx, error) {
	if !strings.HasPrefix(t.Name, Prefix) {
		return nil, &errs.Error{Pkg: pkg, Op: "table " + t.Name, Kind: errs.ErrInvalid, Err: errors.New("not a name of ours (" + Prefix + "…)")}
	}
	dl, _ := ctx.Deadline()
	c, err := Dial(fd, dl)
	if err != nil {
		return nil, err
	}
	tx := &Tx{c: c, t: t, nt: &nftables.Table{Family: t.Family, Name: t.Name},
		chains: map[string]*nftables.Chain{}, rules: map[string]map[string]*nftables.Rule{}}
	tables, err := c.ListTablesOfFamily(t.Family)
	if err != nil {
		return nil, kernelErr("list tables", err, true)
	}
	for _, x := range tables {
		tx.exists = tx.exists || x.Name == t.Name
	}
	if !tx.exists {
		return tx, nil
	}
	chains, err := c.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return nil, kernelErr("list chains of "+tx.String(), err, true)
	}
	known := map[string]bool{markerChain: true}
	for _, ch := range t.Chains {
		known[ch.Name] = true
	}
	for _, ch := range chains {
		if ch.Table.Name != t.Name {
			continue
		}
		tx.chains[ch.Name] = ch
		if !known[ch.Name] && (t.ChainPrefix == "" || !strings.HasPrefix(ch.Name, t.ChainPrefix)) {
			tx.foreign = append(tx.foreign, "chain "+ch.Name)
		}
	}
	owned := false
	if m := tx.chains[markerChain]; m != nil {
		rules, err := c.GetRules(tx.nt, m)
		if err != nil {
			return nil, kernelErr("list rules of "+tx.String(), err, false)
		}
		for _, r := range rules {
			if strings.HasPrefix(CommentOf(r), markerTag) {
				owned = true
			} else {
				tx.foreign = append(tx.foreign, fmt.Sprintf("rule handle %d in chain %s", r.Handle, markerChain))
			}
		}
	}
	if !owned {
		return nil, &errs.Error{Pkg: pkg, Op: "use " + tx.String(), Kind: errs.ErrConflict,
			Err: fmt.Errorf("the table exists but was not made by this SDK (no chain %s with its marker): it is left alone; rename or remove it", markerChain)}
	}
	for _, ch := range t.Chains {
		x := tx.chains[ch.Name]
		if x == nil {
			continue
		}
		rules, err := c.GetRules(tx.nt, x)
		if err != nil {
			return nil, kernelErr("list rules of "+tx.String(), err, false)
		}
		tx.rules[ch.Name] = map[string]*nftables.Rule{}
		for _, r := range rules {
			if tag := CommentOf(r); t.TagPrefix != "" && strings.HasPrefix(tag, t.TagPrefix) {
				tx.rules[ch.Name][tag] = r
			} else {
				tx.foreign = append(tx.foreign, fmt.Sprintf("rule handle %d in chain %s", r.Handle, ch.Name))
			}
		}
	}
	sets, err := c.GetSets(tx.nt)
	if err != nil {
		return nil, kernelErr("list sets of "+tx.String(), err, false)
	}
	for _, s := range sets {
		if !s.Anonymous && !strings.HasPrefix(s.Name, "__set") {
			tx.foreign = append(tx.foreign, "set "+s.Name)
		}
	}
	return tx, nil
}

// Conn is the connection the batch is queued on (for anonymous sets).
func (tx *Tx) Conn() *nftables.Conn { return tx.c }

// Table is the kernel table, for rules and sets queued by the caller.
func (tx *Tx) Table() *nftables.Table { return tx.nt }

// Exists reports whether the table exists (after the queued changes).
func (tx *Tx) Exists() bool { return tx.exists }

// Foreign lists the objects in the table that are not ours.
func (tx *Tx) Foreign() []string { return tx.foreign }

// HasChain reports whether chain exists (after the queued changes).
func (tx *Tx) HasChain(name string) bool { return tx.chains[name] != nil }

// Has reports whether the rule tagged tag is in chain.
func (tx *Tx) Has(chain, tag string) bool { return tx.rules[chain][tag] != nil }

// Rules returns the rules of ours in chain as read (not as queued).
func (tx *Tx) Rules(chain string) []*nftables.Rule {
	var out []*nftables.Rule
	for _, r := range tx.rules[chain] {
		if r.Handle != 0 {
			out = append(out, r)
		}
	}
	return out
}

// ensure queues the table with its marker and chains when missing.
func (tx *Tx) ensure() {
	if tx.exists {
		return
	}
	tx.c.AddTable(tx.nt)
	m := tx.c.AddChain(&nftables.Chain{Name: markerChain, Table: tx.nt})
	tx.c.AddRule(&nftables.Rule{Table: tx.nt, Chain: m, UserData: Comment(markerTag + tx.t.Owner + ": made by github.com/golvs/lvs, removed when empty")})
	tx.chains[markerChain] = m
	tx.exists, tx.dirty = true, true
}

func (tx *Tx) chain(name string) *nftables.Chain {
	if ch := tx.chains[name]; ch != nil {
		return ch
	}
	tx.ensure()
	for _, c := range tx.t.Chains {
		if c.Name == name {
			ch := &nftables.Chain{Name: c.Name, Table: tx.nt}
			if c.Hook != nil {
				accept := nftables.ChainPolicyAccept
				ch.Type, ch.Hooknum, ch.Priority, ch.Policy = c.Type, c.Hook, c.Priority, &accept
			}
			tx.chains[name] = tx.c.AddChain(ch)
			tx.rules[name] = map[string]*nftables.Rule{}
			tx.dirty = true
			return tx.chains[name]
		}
	}
	return nil
}

// EnsureChain queues the table (with its marker) and the chain, one of
// Table.Chains, when missing: before sets or rules that need them.
func (tx *Tx) EnsureChain(name string) error {
	if tx.chain(name) == nil {
		return &errs.Error{Pkg: pkg, Op: "add chain", Kind: errs.ErrInvalid, Err: fmt.Errorf("chain %q is not one of %s", name, tx)}
	}
	return nil
}

// Add queues r unless a rule with its tag is in its chain; it makes the
// table and the chain when missing. It reports whether it queued r.
func (tx *Tx) Add(r Rule) (bool, error) {
	if !strings.HasPrefix(r.Tag, tx.t.TagPrefix) || tx.t.TagPrefix == "" {
		return false, &errs.Error{Pkg: pkg, Op: "add rule", Kind: errs.ErrInvalid, Err: fmt.Errorf("tag %q lacks the prefix %q", r.Tag, tx.t.TagPrefix)}
	}
	if tx.Has(r.Chain, r.Tag) {
		return false, nil
	}
	ch := tx.chain(r.Chain)
	if ch == nil {
		return false, &errs.Error{Pkg: pkg, Op: "add rule", Kind: errs.ErrInvalid, Err: fmt.Errorf("chain %q is not one of %s", r.Chain, tx)}
	}
	tx.rules[r.Chain][r.Tag] = tx.c.AddRule(&nftables.Rule{Table: tx.nt, Chain: ch, Exprs: r.Exprs, UserData: Comment(r.Tag)})
	tx.dirty = true
	return true, nil
}

// Del queues the deletion of the rule tagged tag in chain, if it is there.
func (tx *Tx) Del(chain, tag string) error {
	r := tx.rules[chain][tag]
	if r == nil {
		return nil
	}
	delete(tx.rules[chain], tag)
	if r.Handle == 0 { // queued in this batch
		return &errs.Error{Pkg: pkg, Op: "delete rule", Kind: errs.ErrInvalid, Err: errors.New("rule added in the same transaction")}
	}
	tx.dirty = true
	return kernelErr("delete rule", tx.c.DelRule(r), false)
}

// AddChain queues a regular chain named ChainPrefix+suffix holding the
// given rules (not tagged: such chains are the owner's as a whole and are
// never read back, e.g. because google/nftables cannot parse their
// expressions), replacing its contents if it exists. It returns the chain.
func (tx *Tx) AddChain(suffix string, rules ...[]expr.Any) *nftables.Chain {
	name := tx.t.ChainPrefix + suffix
	tx.ensure()
	ch := tx.chains[name]
	if ch == nil {
		ch = tx.c.AddChain(&nftables.Chain{Name: name, Table: tx.nt})
		tx.chains[name] = ch
	} else {
		tx.c.FlushChain(ch)
	}
	for _, e := range rules {
		tx.c.AddRule(&nftables.Rule{Table: tx.nt, Chain: ch, Exprs: e, UserData: Comment(tx.t.TagPrefix + suffix)})
	}
	tx.dirty = true
	return ch
}

// DelChain queues the deletion of the regular chain ChainPrefix+suffix and
// its rules, if it exists.
func (tx *Tx) DelChain(suffix string) {
	name := tx.t.ChainPrefix + suffix
	ch := tx.chains[name]
	if ch == nil || tx.t.ChainPrefix == "" {
		return
	}
	tx.c.FlushChain(ch)
	tx.c.DelChain(ch)
	delete(tx.chains, name)
	tx.dirty = true
}

// empty reports whether, after the queued changes, no rule or chain of
// ours but the marker, and nothing foreign, is left.
func (tx *Tx) empty() bool {
	if len(tx.foreign) > 0 {
		return false
	}
	for name := range tx.chains {
		if len(tx.rules[name]) > 0 || (tx.t.ChainPrefix != "" && strings.HasPrefix(name, tx.t.ChainPrefix)) {
			return false
		}
	}
	return true
}

// DropIfEmpty queues the deletion of the table when, after the queued
// changes, nothing but our empty chains and the marker is left in it.
func (tx *Tx) DropIfEmpty() {
	if !tx.exists || !tx.empty() {
		return
	}
	tx.c.DelTable(tx.nt)
	tx.exists, tx.dirty = false, true
	tx.chains = map[string]*nftables.Chain{}
	tx.rules = map[string]map[string]*nftables.Rule{}
}

// Rebuild queues the deletion of the table with everything in it and a
// fresh one (marker and chains made on the next Add), so that the batch
// replaces the table's contents atomically. A table holding foreign
// objects is refused with errs.ErrConflict.
func (tx *Tx) Rebuild() error {
	if len(tx.foreign) > 0 {
		return &errs.Error{Pkg: pkg, Op: "replace " + tx.String(), Kind: errs.ErrConflict,
			Err: fmt.Errorf("it holds objects not made by this SDK (%s): they are left alone; remove them first", strings.Join(tx.foreign, ", "))}
	}
	if tx.exists {
		tx.c.DelTable(tx.nt)
		tx.exists, tx.dirty = false, true
		tx.chains = map[string]*nftables.Chain{}
		tx.rules = map[string]map[string]*nftables.Rule{}
	}
	return nil
}

// NewSetID returns the next anonymous set id of the batch: google/nftables'
// own counter is package-global and racy between concurrent batches.
func (tx *Tx) NewSetID() uint32 { tx.sets++; return tx.sets }

// DropUnownedIfEmpty deletes table name of family in the namespace fd when
// it exists and none of its chains holds a rule, under the lock, in one
// transaction: for tables a tool created on our behalf (iptables-nft's
// "nat", arptables-nft's "filter"), which carry no marker. A table with
// rules, or whose rules cannot be read, is kept.
func DropUnownedIfEmpty(ctx context.Context, fd int, family nftables.TableFamily, name string) error {
	unlock, err := Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	dl, _ := ctx.Deadline()
	c, err := Dial(fd, dl)
	if err != nil {
		return err
	}
	t, err := c.ListTableOfFamily(name, family)
	if err != nil {
		return nil // gone
	}
	chains, err := c.ListChainsOfTableFamily(family)
	if err != nil {
		return kernelErr("list chains", err, true)
	}
	for _, ch := range chains {
		if ch.Table.Name != name {
			continue
		}
		if rules, err := c.GetRules(t, ch); err != nil || len(rules) > 0 {
			return nil
		}
	}
	if sets, err := c.GetSets(t); err != nil || len(sets) > 0 {
		return nil
	}
	c.DelTable(t)
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return kernelErr("delete "+famName(family)+" table "+name, err, false)
	}
	return nil
}

// HasTable reports whether table name of family exists in the namespace
// fd; an error means nf_tables cannot be asked (errs.ErrUnavailable).
func HasTable(ctx context.Context, fd int, family nftables.TableFamily, name string) (bool, error) {
	dl, _ := ctx.Deadline()
	c, err := Dial(fd, dl)
	if err != nil {
		return false, err
	}
	tables, err := c.ListTablesOfFamily(family)
	if err != nil {
		return false, kernelErr("list tables", err, true)
	}
	for _, t := range tables {
		if t.Name == name {
			return true, nil
		}
	}
	return false, nil
}
