package nft_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/netns"
	"github.com/golvs/lvs/internal/nft"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var testTable = nft.Table{
	Family: nftables.TableFamilyINet, Name: "golvs_test", Owner: "test",
	Chains:    []nft.Chain{{Name: "pre", Type: nftables.ChainTypeFilter, Hook: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityFilter}},
	TagPrefix: "golvs test ",
}

func rule(tag string) nft.Rule {
	return nft.Rule{Chain: "pre", Tag: "golvs test " + tag, Exprs: []expr.Any{&expr.Counter{}}}
}

func open(t *testing.T, ns *nstest.NS) int {
	fd, err := netns.Open(ns.Path)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// userTable is what a user made: a chain, a rule and a named set.
func userTable(t *testing.T, ns *nstest.NS, fam, name string) {
	ns.Exec(t, "nft", "add table "+fam+" "+name)
	ns.Exec(t, "nft", "add chain "+fam+" "+name+" c")
	ns.Exec(t, "nft", "add set "+fam+" "+name+" s { type ipv4_addr; }")
	ns.Exec(t, "nft", "add rule "+fam+" "+name+" c ip daddr @s counter")
}

func add(ctx context.Context, fd int, tags ...string) error {
	return nft.Do(ctx, fd, &testTable, func(tx *nft.Tx) error {
		for _, tag := range tags {
			if _, err := tx.Add(rule(tag)); err != nil {
				return err
			}
		}
		return nil
	})
}

func del(ctx context.Context, fd int, tags ...string) error {
	return nft.Do(ctx, fd, &testTable, func(tx *nft.Tx) error {
		for _, tag := range tags {
			if err := tx.Del("pre", "golvs test "+tag); err != nil {
				return err
			}
		}
		tx.DropIfEmpty()
		return nil
	})
}

// A table of our name that we did not make is refused and left as it
// was; so is a user's table of a generic name we used before.
func TestForeignTableUntouched(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := nstest.New(t)
	fd := open(t, ns)
	userTable(t, ns, "inet", "golvs_test")
	userTable(t, ns, "inet", "lvs")
	before := ns.Exec(t, "nft", "list ruleset")

	err := add(ctx, fd, "a")
	assert.ErrorIs(t, err, errs.ErrConflict)
	assert.Contains(t, fmt.Sprint(err), "table inet golvs_test")
	assert.ErrorIs(t, del(ctx, fd, "a"), errs.ErrConflict)
	assert.ErrorIs(t, nft.Do(ctx, fd, &testTable, func(tx *nft.Tx) error { return tx.Rebuild() }), errs.ErrConflict)
	assert.Equal(t, before, ns.Exec(t, "nft", "list ruleset"))
}

// Our table carries the marker; a user's chain, rule or set put into it
// survives our teardown (the table stays for them) and forbids a rebuild.
func TestOwnedTableKeepsForeignObjects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := nstest.New(t)
	fd := open(t, ns)
	empty := ns.Exec(t, "nft", "list ruleset")

	require.NoError(t, add(ctx, fd, "a", "b"))
	out := ns.Exec(t, "nft", "list table inet golvs_test")
	assert.Contains(t, out, `comment "golvs owner test`)
	assert.Contains(t, out, `comment "golvs test a"`)
	require.NoError(t, add(ctx, fd, "a"), "adding again")
	assert.Equal(t, 1, strings.Count(ns.Exec(t, "nft", "list table inet golvs_test"), `"golvs test a"`))

	require.NoError(t, del(ctx, fd, "a", "b"))
	assert.Equal(t, empty, ns.Exec(t, "nft", "list ruleset"), "the last rule out deletes the table")

	require.NoError(t, add(ctx, fd, "a"))
	ns.Exec(t, "nft", "add chain inet golvs_test mine")
	ns.Exec(t, "nft", "add set inet golvs_test s { type ipv4_addr; }")
	ns.Exec(t, "nft", "add rule inet golvs_test pre counter comment \"user\"")
	require.NoError(t, del(ctx, fd, "a"))
	out = ns.Exec(t, "nft", "list table inet golvs_test")
	for _, s := range []string{"chain mine", "set s", `comment "user"`} {
		assert.Contains(t, out, s)
	}
	assert.NotContains(t, out, `"golvs test a"`)
	err := nft.Do(ctx, fd, &testTable, func(tx *nft.Tx) error { return tx.Rebuild() })
	assert.ErrorIs(t, err, errs.ErrConflict)
	assert.Contains(t, fmt.Sprint(err), "chain mine")
}

// Agents adding and removing rules at the same time never lose each
// other's: one keeps its rule while others add and remove theirs, each
// deleting the table when it believes itself last out.
func TestConcurrentAgentsKeepEachOthersRules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := nstest.New(t)
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	const agents, rounds = 4, 15
	for a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fd := open(t, ns) // an agent of its own: its own socket
			for i := range rounds {
				tag := fmt.Sprintf("%d-%d", a, i)
				if err := add(ctx, fd, tag); err != nil {
					errc <- err
					return
				}
				tx, err := nft.View(ctx, fd, &testTable)
				if err == nil && !tx.Has("pre", "golvs test "+tag) {
					err = fmt.Errorf("agent %d: rule %s lost right after adding it", a, tag)
				}
				if err == nil {
					err = del(ctx, fd, tag)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	// The agent that stays.
	fd := open(t, ns)
	require.NoError(t, add(ctx, fd, "stay"))
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	tx, err := nft.View(ctx, fd, &testTable)
	require.NoError(t, err)
	assert.True(t, tx.Has("pre", "golvs test stay"), "the staying agent's rule is gone")
	assert.Len(t, tx.Rules("pre"), 1)
	require.NoError(t, del(ctx, fd, "stay"))
	ok, err := nft.HasTable(ctx, fd, nftables.TableFamilyINet, "golvs_test")
	require.NoError(t, err)
	assert.False(t, ok)
}

// Do is exclusive across agents (each its own lock file descriptor, as
// separate processes would have): while one agent is between reading and
// writing, another's Do does not start; once the first has written, the
// second reads what it wrote. Without the lock the second would read the
// old table and, deciding from it, drop the table the first just added to.
func TestDoIsExclusive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := nstest.New(t)
	fdA, fdB := open(t, ns), open(t, ns)
	inA, release, doneA := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		doneA <- nft.Do(ctx, fdA, &testTable, func(tx *nft.Tx) error {
			if _, err := tx.Add(rule("a")); err != nil {
				return err
			}
			close(inA)
			<-release
			return nil
		})
	}()
	<-inA
	inB, doneB := make(chan bool, 1), make(chan error, 1)
	go func() {
		doneB <- nft.Do(ctx, fdB, &testTable, func(tx *nft.Tx) error {
			inB <- tx.Has("pre", "golvs test a")
			tx.DropIfEmpty() // what a last agent out would do: A's rule keeps the table
			return nil
		})
	}()
	// B must wait as long as A holds the lock; a bounded look suffices to
	// catch a B that does not wait at all.
	select {
	case <-inB:
		t.Fatal("a second agent's Do ran while the first was between its read and its write")
	case <-time.After(3 * time.Second):
	}
	close(release)
	require.NoError(t, <-doneA)
	select {
	case sawA := <-inB:
		assert.True(t, sawA, "the second agent did not see the first one's rule")
	case <-ctx.Done():
		t.Fatal("the second agent never ran")
	}
	require.NoError(t, <-doneB)
	tx, err := nft.View(ctx, fdA, &testTable)
	require.NoError(t, err)
	assert.True(t, tx.Has("pre", "golvs test a"), "the first agent's rule was lost")
}
