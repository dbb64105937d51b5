package fwmark

import (
	"context"
	"slices"
	"sync"
)

// Client installs and removes this package's mark rules in one network
// namespace through one backend. It is safe for concurrent use; writes are
// serialised.
type Client struct {
	b       backend
	backend Backend
	closeFn func() error
	mu      sync.Mutex
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

// Undo reverts exactly what the call that returned it changed.
type Undo func(ctx context.Context) error

// Backend returns the backend in use (never BackendAuto).
func (c *Client) Backend() Backend { return c.backend }

// Close releases the client's resources. It leaves the rules in place.
func (c *Client) Close() error {
	if c == nil || c.closeFn == nil {
		return nil
	}
	return c.closeFn()
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(want) > 0 {
		if err := c.b.checkOther(ctx, "sync"); err != nil {
			return err
		}
	}
	return c.b.update(ctx, "sync", func([]Rule) ([]Rule, error) { return want, nil })
}

// Add installs rules next to the installed ones; rules already installed
// are left alone, so adding twice leaves one copy. The Undo removes exactly
// the rules this call added.
func (c *Client) Add(ctx context.Context, rules ...Rule) (Undo, error) {
	add, err := canonicalRules("add", rules)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.b.checkOther(ctx, "add"); err != nil {
		return nil, err
	}
	var added []Rule
	err = c.b.update(ctx, "add", func(have []Rule) ([]Rule, error) {
		added = nil
		for _, r := range add {
			if !containsRule(have, r) {
				added = append(added, r)
			}
		}
		if len(added) == 0 {
			return have, nil
		}
		return canonicalRules("add", append(slices.Clone(have), added...))
	})
	if err != nil {
		return nil, err
	}
	if len(added) == 0 {
		return func(context.Context) error { return nil }, nil
	}
	return func(ctx context.Context) error { return c.Delete(ctx, added...) }, nil
}

// Delete removes the given rules (compared in canonical form); rules not
// installed are ignored.
func (c *Client) Delete(ctx context.Context, rules ...Rule) error {
	del, err := canonicalRules("delete", rules)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
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
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.remove(ctx)
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
