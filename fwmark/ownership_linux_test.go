package fwmark_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/golvs/lvs/fwmark"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A user's tables under the names we used before survive set-up and
// teardown; a table of our name that we did not make is refused, with
// nothing changed.
func TestUserTablesUntouched(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := nstest.New(t)
	intact := ns.AddUserTables(t)
	before := ns.Exec(t, "nft", "list ruleset")

	// By descriptor, closed at once: the Client keeps a duplicate.
	fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	fw, err := fwmark.New(ctx, &fwmark.Config{NetNS: fd, Backend: fwmark.BackendNFTables, Output: true})
	unix.Close(fd)
	require.NoError(t, err)
	defer fw.Close()
	undo, err := fw.Add(ctx, webRule(1, vipOf(0)))
	require.NoError(t, err)
	require.NoError(t, fw.Sync(ctx, []fwmark.Rule{webRule(1, vipOf(0)), webRule(2, vipOf(1))}))
	intact(t)
	require.NoError(t, undo.Teardown(ctx))
	require.NoError(t, fw.RemoveAll(ctx))
	intact(t)
	assert.Equal(t, before, ns.Exec(t, "nft", "list ruleset"))

	// Someone else's table of our name.
	ns.Exec(t, "nft", "add table inet "+fwmark.TableName)
	ns.Exec(t, "nft", "add chain inet "+fwmark.TableName+" prerouting")
	ns.Exec(t, "nft", "add rule inet "+fwmark.TableName+" prerouting counter")
	theirs := ns.Exec(t, "nft", "list ruleset")
	_, err = fw.Add(ctx, webRule(1, vipOf(0)))
	assert.ErrorIs(t, err, fwmark.ErrConflict)
	assert.ErrorIs(t, fw.Sync(ctx, []fwmark.Rule{webRule(1, vipOf(0))}), fwmark.ErrConflict)
	assert.ErrorIs(t, fw.RemoveAll(ctx), fwmark.ErrConflict)
	assert.Equal(t, theirs, ns.Exec(t, "nft", "list ruleset"))
}

// Agents (each its own Client, as in separate processes) adding and
// removing rules at the same time keep each other's: every Add and Delete
// is one read-modify-write under the host-wide lock.
func TestConcurrentClientsKeepEachOthersRules(t *testing.T) {
	for _, b := range []fwmark.Backend{fwmark.BackendNFTables, fwmark.BackendIPTables} {
		t.Run(b.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			ns := nstest.New(t)
			open := func() *fwmark.Client {
				fw, err := fwmark.New(ctx, &fwmark.Config{NetNSPath: ns.Path, Backend: b})
				require.NoError(t, err)
				t.Cleanup(func() { fw.Close() })
				return fw
			}
			stay := webRule(100, netip.MustParseAddr("10.9.0.1"))
			_, err := open().Add(ctx, stay)
			require.NoError(t, err)
			const agents = 3
			rounds := 6
			if b == fwmark.BackendIPTables {
				rounds = 3 // each round runs the tools several times
			}
			var wg sync.WaitGroup
			errc := make(chan error, agents)
			for a := range agents {
				fw := open()
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range rounds {
						r := webRule(uint32(1+a*rounds+i), netip.AddrFrom4([4]byte{10, 8, byte(a), byte(i + 1)}))
						undo, err := fw.Add(ctx, r)
						if err == nil {
							var have []fwmark.Rule
							if have, err = fw.Rules(ctx); err == nil && !contains(have, r) {
								err = fmt.Errorf("agent %d lost its rule %v right after adding it", a, r)
							}
						}
						if err == nil {
							err = undo.Teardown(ctx)
						}
						if err != nil {
							errc <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Error(err)
			}
			have, err := open().Rules(ctx)
			require.NoError(t, err)
			want, err := stay.Canonical()
			require.NoError(t, err)
			assert.Equal(t, []fwmark.Rule{want}, have)
		})
	}
}

func contains(rs []fwmark.Rule, r fwmark.Rule) bool {
	c, _ := r.Canonical()
	for _, x := range rs {
		if x.String() == c.String() {
			return true
		}
	}
	return false
}

// Two agents (Clients with identities of their own, as separate processes
// would have) add the same rule: it is installed once and shared. The first
// agent's clean stop leaves it in place and the fwmark service keeps
// getting traffic; the second agent is killed (its Client dropped without
// Teardown), and its restart's Recover, the last owner out, removes the
// rule: the service gets nothing and the namespace's rules are as before
// (another owner's mark rule included). Both backends.
func TestTwoAgentsShareRule(t *testing.T) {
	t.Parallel()
	bcs := backends("iptables-nft")
	l := newLab(t, len(bcs))
	for i, bc := range bcs {
		d, vip := l.directors[i], vipOf(i)
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			d.Exec(t, bc.other[0], bc.other[1:]...) // another owner's mark rule stays throughout
			before := bc.list(t, d)
			open := func(id string) *fwmark.Client {
				cfg := bc.cfg
				cfg.NetNSPath, cfg.Identity = d.Path, fmt.Sprintf("%s-%s-%s", id, bc.name, d.Name)
				fw, err := fwmark.New(ctx, &cfg)
				require.NoError(t, err)
				t.Cleanup(func() { fw.Close() })
				require.NoError(t, fw.Recover(ctx))
				return fw
			}
			rule := webRule(1, vip)
			works := func(when string) {
				t.Helper()
				for _, port := range []uint16{80, 443} {
					body, err := l.getRetry(l.sources[0], vip, port)
					if err != nil || (body != "r1" && body != "r2") {
						t.Fatalf("%s: port %d: got %q, %v; want a real server's answer through the fwmark service", when, port, body, err)
					}
				}
			}
			l.unreachable(t, l.sources[0], vip)

			a, b := open("a"), open("b")
			sa, err := a.Add(ctx, rule)
			require.NoError(t, err)
			installed := bc.list(t, d)
			sb, err := b.Add(ctx, rule)
			require.NoError(t, err)
			require.NotEmpty(t, sb.Changes(), "the second agent relies on the rule too: its teardown has a release to do")
			assert.Equal(t, installed, bc.list(t, d), "the second Add installed a second copy")
			works("both agents up")

			require.NoError(t, sa.Teardown(ctx))
			assert.Equal(t, installed, bc.list(t, d), "the first agent's stop removed the rule the second relies on")
			works("after the first agent's stop")

			// The second agent dies; its restart recovers.
			require.NoError(t, b.Close())
			b2 := open("b")
			have, err := b2.Rules(ctx)
			require.NoError(t, err)
			assert.Empty(t, have, "the last owner's Recover left rules")
			l.unreachable(t, l.sources[0], vip)
			assert.Equal(t, before, bc.list(t, d), "the rules are not as before the first Add")
		})
	}
}
