package fwmark

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/golvs/lvs/internal/hostrec"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/netns"
	"github.com/golvs/lvs/internal/nft"
	"github.com/golvs/lvs/internal/undo"
	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// New opens a client for the namespace and backend of cfg (nil: the
// caller's namespace, BackendAuto). With BackendAuto it keeps using the backend that
// already holds this package's rules, else prefers nftables, else iptables.
// It fails with ErrConflict when the other backend holds this package's
// rules, and with ErrUnavailable when the backend cannot be used (no
// nf_tables, no iptables-save/-restore binaries).
func New(ctx context.Context, cfg *Config) (*Client, error) {
	const op = "new"
	if cfg == nil {
		cfg = &Config{}
	}
	if cfg.Backend < BackendAuto || cfg.Backend > BackendIPTables {
		return nil, invalidf(op, "Backend", "unknown backend %v", cfg.Backend)
	}
	fd, err := netns.OpenConfig(cfg.NetNS, cfg.NetNSPath)
	if err != nil {
		field := "NetNSPath"
		if cfg.NetNS > 0 {
			field = "NetNS"
		}
		return nil, newErr(ErrInvalid, op, field, err)
	}
	closeFn := func() error {
		if fd >= 0 {
			return unix.Close(fd)
		}
		return nil
	}
	c, err := open(ctx, cfg, fd)
	if err != nil {
		closeFn()
		return nil, err
	}
	if c.h, err = netcfg.OpenConfig(cfg.NetNS, cfg.NetNSPath, cfg.Identity); err != nil {
		closeFn()
		if errors.Is(err, ErrInvalid) {
			return nil, newErr(ErrInvalid, op, "Identity", err)
		}
		return nil, wrap(op, err)
	}
	c.closeFn = func() error { return errors.Join(c.h.Close(), closeFn()) }
	return c, nil
}

// host is the namespace on the host, with its ownership records.
type host = netcfg.Host

// add owns each rule through the host's records (see Add); the caller
// holds c.mu.
func (c *Client) add(ctx context.Context, add []Rule) (*Setup, error) {
	const op = "add"
	j, err := c.h.Change(pkg, op, func(j *netcfg.Journal) error {
		if err := c.b.checkOther(ctx, op); err != nil {
			return err
		}
		have, err := c.b.rules(ctx)
		if err != nil {
			return err
		}
		for _, r := range add {
			there := containsRule(have, r)
			err := c.h.Own(j, ruleRes(r), "delete rule "+r.String()+" once no other owner relies on it", netcfg.Present(there), "1", there,
				func() (map[string]string, error) {
					return nil, c.b.update(ctx, op, func(now []Rule) ([]Rule, error) {
						if containsRule(now, r) {
							return now, nil
						}
						return canonicalRules(op, append(slices.Clone(now), r))
					})
				}, func(res string, _ *hostrec.Resource) error { return c.restore(context.Background(), res) })
			if err != nil {
				return err
			}
			have = append(have, r)
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return undo.New(pkg, op, j.Steps(), c.h.Err, func(context.Context) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		return wrap("tear down "+op, j.Teardown())
	}), nil
}

func (c *Client) recover(ctx context.Context) error {
	return wrap("recover", c.h.Recover(pkg, func(res string, _ *hostrec.Resource) error { return c.restore(ctx, res) }))
}

func open(ctx context.Context, cfg *Config, fd int) (*Client, error) {
	const op = "new"
	nft := &nftBackend{fd: fd, output: cfg.Output}
	nftErr := probeNFT(ctx, nft)
	cmd := cfg.IPTables
	if cmd == "" {
		cmd = "iptables"
	}
	ipt, iptErr := newIPT(fd, cmd, cfg.Output)
	if iptErr == nil {
		nft.ipt = ipt
	}

	// The backend asked for, if it works and the other holds none of
	// this package's rules.
	chosen := func(b backend, err error, which Backend) (*Client, error) {
		if err != nil {
			return nil, err
		}
		if err := b.checkOther(ctx, op); err != nil {
			return nil, err
		}
		return &Client{b: b, backend: which}, nil
	}
	switch cfg.Backend {
	case BackendNFTables:
		return chosen(nft, nftErr, BackendNFTables)
	case BackendIPTables:
		return chosen(ipt, iptErr, BackendIPTables)
	}
	// BackendAuto.
	if iptErr == nil && iptHolds(ctx, op, nft, nftErr == nil, ipt) != nil {
		return &Client{b: ipt, backend: BackendIPTables}, nil
	}
	if nftErr == nil {
		return &Client{b: nft, backend: BackendNFTables}, nil
	}
	if iptErr == nil {
		return &Client{b: ipt, backend: BackendIPTables}, nil
	}
	return nil, newErr(ErrUnavailable, op, "", fmt.Errorf("neither nftables (%v) nor iptables (%v)", nftErr, iptErr))
}

// probeNFT checks that nf_tables answers in the namespace.
func probeNFT(ctx context.Context, n *nftBackend) error {
	c, err := n.conn(ctx)
	if err == nil {
		_, err = c.ListTablesOfFamily(nftables.TableFamilyINet)
	}
	if err != nil {
		return newErr(ErrUnavailable, "new", "", fmt.Errorf("nftables: %w", err))
	}
	return nil
}

// checkOther fails with ErrConflict when iptables holds this package's
// rules (see iptHolds).
func (n *nftBackend) checkOther(ctx context.Context, op string) error {
	return iptHolds(ctx, op, n, true, n.ipt)
}

// checkOther fails with ErrConflict when the nftables table exists. Without
// nf_tables there is nothing to find.
func (b *iptBackend) checkOther(ctx context.Context, op string) error {
	n := &nftBackend{fd: b.fd}
	if probeNFT(ctx, n) != nil {
		return nil
	}
	if has, err := n.present(ctx); err != nil {
		return err
	} else if has {
		return newErr(ErrConflict, op, "", fmt.Errorf("nftables table inet %s exists: remove it (RemoveAll with the nftables backend) before using iptables", TableName))
	}
	return nil
}

// iptHolds fails with ErrConflict when iptables holds our chain: seen
// through netlink for iptables-nft, and through the binary (when there is
// one) for legacy iptables. The binary runs only when the legacy mangle
// table already exists, since reading it would otherwise create it.
func iptHolds(ctx context.Context, op string, n *nftBackend, nftOK bool, ipt *iptBackend) error {
	has := false
	if nftOK {
		c, err := n.conn(ctx)
		if err != nil {
			return err
		}
		if has, err = iptablesNFTChain(c); err != nil {
			return kernelErr(op, err)
		}
	}
	if !has && legacyMangle(n.fd) {
		// Read it with the legacy tools: an iptables-nft binary cannot
		// see legacy tables.
		if legacy, err := newIPT(n.fd, "iptables-legacy", false); err == nil {
			ipt = legacy
		}
		if ipt != nil {
			has, _ = ipt.present(ctx)
		}
	}
	if has {
		return newErr(ErrConflict, op, "", fmt.Errorf("iptables chain %s exists in the mangle table: remove it (RemoveAll with the iptables backend) before using nftables", ChainName))
	}
	return nil
}

// legacyMangle reports whether legacy iptables has a mangle table in the
// namespace for any of the families (0 IPv4, 1 IPv6; none: both). When
// the namespace or the /proc file cannot be read, it says true: callers
// then ask the binaries rather than conclude there is nothing.
func legacyMangle(fd int, families ...int) bool {
	if len(families) == 0 {
		families = []int{0, 1}
	}
	found := false
	err := netns.Do(fd, func() error {
		for _, f := range families {
			b, err := os.ReadFile("/proc/thread-self/net/" + [2]string{"ip_tables_names", "ip6_tables_names"}[f])
			if err != nil && !errors.Is(err, os.ErrNotExist) { // no file: x_tables not loaded
				return err
			}
			found = found || slices.Contains(strings.Fields(string(b)), "mangle")
		}
		return nil
	})
	return found || err != nil
}

// mangleExists reports whether family f has a mangle table in legacy
// iptables or in nf_tables (iptables-nft's "ip mangle" / "ip6 mangle").
// Without one there is nothing to read, and iptables-legacy-save -t mangle
// would create the table. When either cannot be asked it says true.
func (b *iptBackend) mangleExists(ctx context.Context, f int) bool {
	if legacyMangle(b.fd, f) {
		return true
	}
	c, err := (&nftBackend{fd: b.fd}).conn(ctx)
	if err != nil {
		return true
	}
	tables, err := c.ListTablesOfFamily([2]nftables.TableFamily{nftables.TableFamilyIPv4, nftables.TableFamilyIPv6}[f])
	if err != nil {
		return true
	}
	return slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == "mangle" })
}

// iptBackend runs iptables-save and iptables-restore (and the ip6tables
// ones) inside the namespace; the restore of one family is atomic.
type iptBackend struct {
	fd     int
	output bool
	// tools: [family][0]=save, [1]=restore; family 0 is IPv4.
	tools [2][2]string
}

func newIPT(fd int, cmd string, output bool) (*iptBackend, error) {
	b := &iptBackend{fd: fd, output: output}
	for f := range 2 {
		for i, suffix := range []string{"-save", "-restore"} {
			name := iptTool(cmd, f == 1, suffix)
			p, err := exec.LookPath(name)
			if err != nil {
				return nil, newErr(ErrUnavailable, "new", "IPTables", fmt.Errorf("iptables backend needs %s: %w", name, err))
			}
			b.tools[f][i] = p
		}
	}
	return b, nil
}

// run runs an iptables tool inside the namespace.
func (b *iptBackend) run(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	return netns.Run(ctx, b.fd, stdin, name, args...)
}

func (b *iptBackend) state(ctx context.Context, f int) (iptState, error) {
	if !b.mangleExists(ctx, f) {
		// Most hosts have no IPv6 mangle table: an exec saved (slow
		// on small machines), and no empty legacy table left behind.
		return iptState{jumps: map[string]int{}}, nil
	}
	out, err := b.run(ctx, "", b.tools[f][0], "-t", "mangle")
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return iptState{jumps: map[string]int{}}, nil
		}
		return iptState{}, newErr(ErrKernel, "iptables-save", "", err)
	}
	st, err := parseSave(out, [2]string{"ipv4", "ipv6"}[f])
	if err != nil {
		return st, newErr(ErrConflict, "iptables-save", "", err)
	}
	return st, nil
}

func (b *iptBackend) present(ctx context.Context) (bool, error) {
	for f := range 2 {
		st, err := b.state(ctx, f)
		if err != nil {
			return false, err
		}
		if st.hasChain {
			return true, nil
		}
	}
	return false, nil
}

func specsRules(specs []string) ([]Rule, error) {
	var out []Rule
	for _, s := range specs {
		r, err := ParseRule(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (b *iptBackend) rules(ctx context.Context) ([]Rule, error) {
	var out []Rule
	for f := range 2 {
		st, err := b.state(ctx, f)
		if err != nil {
			return nil, err
		}
		rs, err := specsRules(st.specs)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

func (b *iptBackend) restore(ctx context.Context, f int, script string) error {
	if script == "" {
		return nil
	}
	if _, err := b.run(ctx, script, b.tools[f][1], "-w", "--noflush"); err != nil {
		return newErr(ErrKernel, "iptables-restore", "", err)
	}
	return nil
}

func (b *iptBackend) sync(ctx context.Context, rules []Rule) error {
	var fam [2][]Rule
	for _, r := range rules {
		fam[b2i(r.Is6())] = append(fam[b2i(r.Is6())], r)
	}
	var changed []int
	var old [2][]Rule
	for f := range 2 {
		st, err := b.state(ctx, f)
		if err == nil {
			old[f], err = specsRules(st.specs)
		}
		if err == nil && !iptUpToDate(st, fam[f], b.output) {
			err = b.restore(ctx, f, iptScript(st, fam[f], b.output, false))
			if err == nil {
				changed = append(changed, f)
			}
		}
		if err != nil {
			// Put back the family already changed, so that a failure
			// changes nothing.
			var rerrs []error
			for _, g := range changed {
				st, rerr := b.state(ctx, g)
				if rerr == nil {
					rerr = b.restore(ctx, g, iptScript(st, old[g], b.output, false))
				}
				rerrs = append(rerrs, rerr)
			}
			if rerr := errors.Join(rerrs...); rerr != nil {
				return newErr(ErrRollback, "sync", "", errors.Join(err, rerr))
			}
			return err
		}
	}
	return nil
}

// update runs the read-modify-write under the SDK's host-wide lock (two
// agents' restores must not interleave their reads and writes).
func (b *iptBackend) update(ctx context.Context, op string, f func(have []Rule) ([]Rule, error)) error {
	unlock, err := nft.Lock(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer unlock()
	have, err := b.rules(ctx)
	if err != nil {
		return err
	}
	want, err := f(have)
	if err != nil {
		return err
	}
	return b.sync(ctx, want)
}

func (b *iptBackend) remove(ctx context.Context) error {
	unlock, err := nft.Lock(ctx)
	if err != nil {
		return wrap("remove all", err)
	}
	defer unlock()
	for f := range 2 {
		st, err := b.state(ctx, f)
		if err == nil {
			err = b.restore(ctx, f, iptScript(st, nil, false, true))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *iptBackend) conflicts(ctx context.Context) ([]conflict, error) {
	var out []conflict
	for f := range 2 {
		st, err := b.state(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, st.conflicts(b.output)...)
	}
	return out, nil
}

// legacyConflicts lists the mark-writing rules in legacy iptables' mangle
// tables, for the nftables backend: x_tables hooks run beside nftables'
// and nft cannot list them. A family is read only when its legacy mangle
// table exists (reading would create it) and with iptables-legacy-save
// (ip6tables-legacy-save) on the PATH; without the tool there is nothing
// to scan, since nothing on the host can have written such rules either
// (except another copy of the tool, e.g. in a container).
func legacyConflicts(ctx context.Context, fd int, output bool) ([]conflict, error) {
	var out []conflict
	for f := range 2 {
		if !legacyMangle(fd, f) {
			continue
		}
		save, err := exec.LookPath(iptTool("iptables-legacy", f == 1, "-save"))
		if err != nil {
			continue
		}
		text, err := (&iptBackend{fd: fd}).run(ctx, "", save, "-t", "mangle")
		if err != nil {
			return nil, newErr(ErrKernel, "conflicts", "", err)
		}
		st, err := parseSave(text, [2]string{"ipv4", "ipv6"}[f])
		if err != nil {
			return nil, newErr(ErrConflict, "conflicts", "", err)
		}
		for _, c := range st.conflicts(output) {
			if c.Hook == "prerouting" || c.Hook == "output" {
				// Both at priority -150 (mangle): the kernel gives no
				// order between an x_tables hook and an nft chain.
				c.Order = orderUnknown
			}
			out = append(out, c)
		}
	}
	return out, nil
}
