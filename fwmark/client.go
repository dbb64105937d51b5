package fwmark

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/golvs/lvs/internal/undo"
)

// Client installs and removes this package's mark rules in one network
// namespace through one backend. It is safe for concurrent use; writes are
// serialised.
type Client struct {
	b       backend
	backend Backend
	closeFn func() error
	// closeOnce makes a second Close a no-op: closing the namespace
	// descriptor twice would close whatever file took its number.
	closeOnce sync.Once
	closeErr  error
	mu        sync.Mutex
	// h is the namespace on the host (internal/netcfg): its records own
	// the rules Add installs, under Config.Identity, and its host-wide lock
	// makes read-modify-writes of the rules host-wide.
	h *host
}

// backend is one way of holding the rules.
type backend interface {
	// rules returns the installed rules, canonical and sorted.
	rules(ctx context.Context) ([]Rule, error)
	// update is a read-modify-write: f gets the installed rules and
	// returns the new set (canonical, sorted, checked for overlaps), made
	// the installed rules in one atomic step per family (or nothing
	// changes and it fails), all
	// under the SDK's host-wide lock, so that agents in other processes
	// cannot interleave.
	update(ctx context.Context, op string, f func(have []Rule) ([]Rule, error)) error
	// remove deletes everything the package owns.
	remove(ctx context.Context) error
	// conflicts lists other owners' mark-setting rules.
	conflicts(ctx context.Context) ([]conflict, error)
	// checkOther fails with ErrConflict when the other backend holds this
	// package's rules in the namespace.
	checkOther(ctx context.Context, op string) error
}

// Setup is what an Add changed; Teardown removes exactly the rules it
// added, once no other Add (in any process using the SDK) relies on them.
// It is the SDK's one undo type (director.Setup and realserver.Setup are
// the same type): Changes is empty when the rules were already there; a
// done ctx is refused (ErrCanceled) before anything is removed; a nil Setup
// or a second call does nothing.
type Setup = undo.Setup

// locked runs f under the client's lock and the namespace's host-wide
// lock, which every process using the SDK takes for its changes there.
func (c *Client) locked(op string, f func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wrap(op, c.h.Locked(f))
}

// ruleRes names a rule in the host's ownership records.
func ruleRes(r Rule) string { return "fwmark " + r.String() }

// Backend returns the backend in use (never BackendAuto).
func (c *Client) Backend() Backend { return c.backend }

// Close releases the client's resources. It leaves the rules in place.
// Closing again does nothing.
func (c *Client) Close() error {
	if c == nil || c.closeFn == nil {
		return nil
	}
	c.closeOnce.Do(func() { c.closeErr = c.closeFn() })
	return c.closeErr
}

// Rules lists the installed rules in canonical form, sorted by their text.
// No rules is nil, nil.
func (c *Client) Rules(ctx context.Context) ([]Rule, error) {
	if err := ctx.Err(); err != nil {
		return nil, newErr(ErrCanceled, "list rules", "", err)
	}
	return c.b.rules(ctx)
}

// Sync makes the installed rules exactly desired: missing ones are added,
// others removed. It validates everything first (a rule that is invalid, or
// that overlaps another with a different mark, changes nothing) and is a
// no-op when the rules are already in place. An empty desired removes
// everything, like RemoveAll. It fails with ErrConflict, changing nothing,
// when the other backend holds this package's rules.
func (c *Client) Sync(ctx context.Context, desired []Rule) error {
	want, err := canonicalRules("sync", desired)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return newErr(ErrCanceled, "sync", "", err)
	}
	return c.locked("sync", func() error {
		if len(want) > 0 {
			if err := c.b.checkOther(ctx, "sync"); err != nil {
				return err
			}
		}
		return c.b.update(ctx, "sync", func([]Rule) ([]Rule, error) { return want, nil })
	})
}

// Add installs rules next to the installed ones; rules already installed
// are left alone, so adding twice leaves one copy. The Setup's Teardown
// removes exactly the rules this call added, and only once no other Add
// relying on them (in this or another process using the SDK) is left: a
// rule another Add installed is shared, not taken over. Changes is empty
// when every rule was already there from this Client's owner or from
// someone who did not use the SDK. Each rule is owned through the host's
// records (internal/netcfg's Own), written before the rule, so that with
// Config.Identity a later process can Recover what a killed one added.
func (c *Client) Add(ctx context.Context, rules ...Rule) (*Setup, error) {
	add, err := canonicalRules("add", rules)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, newErr(ErrCanceled, "add", "", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.add(ctx, add)
}

// Recover undoes what a previous process with this Client's
// Config.Identity added and did not tear down (it was killed): the host's
// records, written before each rule, say which rules it relied on; a rule
// another owner still relies on stays. Call it before adding again. It
// refuses (ErrConflict) while another live process holds the identity, and
// does nothing without an identity or without records.
func (c *Client) Recover(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return newErr(ErrCanceled, "recover", "", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recover(ctx)
}

// restore deletes the rule a record of the host's names once no owner
// relies on it; the caller holds the host-wide lock.
func (c *Client) restore(ctx context.Context, res string) error {
	r, err := ParseRule(strings.TrimPrefix(res, "fwmark "))
	if err != nil {
		return newErr(ErrInvalid, "release "+res, "", err)
	}
	return c.deleteLocked(ctx, []Rule{r})
}

// Delete removes the given rules (compared in canonical form); rules not
// installed are ignored. It removes them whoever added them.
func (c *Client) Delete(ctx context.Context, rules ...Rule) error {
	del, err := canonicalRules("delete", rules)
	if err != nil {
		return err
	}
	return c.locked("delete", func() error { return c.deleteLocked(ctx, del) })
}

func (c *Client) deleteLocked(ctx context.Context, del []Rule) error {
	if len(del) == 0 {
		return nil
	}
	return c.b.update(ctx, "delete", func(have []Rule) ([]Rule, error) {
		keep := slices.DeleteFunc(slices.Clone(have), func(r Rule) bool { return containsRule(del, r) })
		if len(keep) == len(have) {
			return have, nil
		}
		if len(keep) > 0 {
			if err := c.b.checkOther(ctx, "delete"); err != nil {
				return nil, err
			}
		}
		return keep, nil
	})
}

// RemoveAll removes every rule, chain and table the package owns in the
// namespace, and nothing else. It is a no-op when there are none.
func (c *Client) RemoveAll(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return newErr(ErrCanceled, "remove all", "", err)
	}
	return c.locked("remove all", func() error { return c.b.remove(ctx) })
}

// Conflicts lists rules of other owners that set or change the packet mark
// in the hooks where marks matter to IPVS (prerouting, input before IPVS,
// and output), as warnings whose Problem says their order relative to
// ours. IPVS compares the whole mark with a service's fwmark, so each of
// them can break fwmark services or send other traffic into them.
// Nothing is a nil list.
func (c *Client) Conflicts(ctx context.Context) (Findings, error) {
	if err := ctx.Err(); err != nil {
		return nil, newErr(ErrCanceled, "conflicts", "", err)
	}
	cs, err := c.b.conflicts(ctx)
	if err != nil {
		return nil, err
	}
	var out Findings
	for _, x := range cs {
		out = append(out, x.finding())
	}
	return out, nil
}

func containsRule(rs []Rule, r Rule) bool {
	s := r.String()
	return slices.ContainsFunc(rs, func(x Rule) bool { return x.String() == s })
}
