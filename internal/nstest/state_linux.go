package nstest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/golvs/lvs/internal/netcfg"
)

// State snapshots what host set-up code may touch inside ns, as
// "kind name" → value, for SameState: netcfg's Snapshot (the sysctls under
// sysctlDirs, default net/ipv4/conf and net/ipv6/conf, plus devices,
// addresses and fou ports) and every nftables table, chain and rule.
// Reading sysctls costs about 3 ms each under TCG, so name only the
// directories the code under test writes.
func State(t testing.TB, ns *NS, sysctlDirs ...string) map[string]string {
	t.Helper()
	h, err := netcfg.Open(ns.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	m, err := h.Snapshot(sysctlDirs...)
	if err != nil {
		t.Fatal(err)
	}
	if err := nftState(ns, m); err != nil {
		t.Fatalf("nstest: nftables state: %v", err)
	}
	return m
}

// nftState adds the nftables rule set, read over netlink (exec'ing nft
// costs seconds under TCG). iptables-nft and arptables-nft rules are
// nftables rules too, so this covers them. A rule is its comment (user
// data) and the types of its expressions, not their values: counters
// change with traffic.
func nftState(ns *NS, m map[string]string) error {
	fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	nc, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return err
	}
	tables, err := nc.ListTables()
	if err != nil {
		return err
	}
	for _, tb := range tables {
		m[fmt.Sprintf("nft table %d %s", tb.Family, tb.Name)] = "present"
	}
	chains, err := nc.ListChains()
	if err != nil {
		return err
	}
	for _, ch := range chains {
		rules, err := nc.GetRules(ch.Table, ch)
		if err != nil {
			return err
		}
		var rs []string
		for _, r := range rules {
			var types []string
			for _, e := range r.Exprs {
				types = append(types, strings.TrimPrefix(fmt.Sprintf("%T", e), "*expr."))
			}
			rs = append(rs, fmt.Sprintf("%q [%s]", r.UserData, strings.Join(types, " ")))
		}
		m[fmt.Sprintf("nft chain %d %s %s", ch.Table.Family, ch.Table.Name, ch.Name)] = strings.Join(rs, "; ")
	}
	return nil
}

// SameState reports every difference between two State snapshots as a
// test error. One kernel side effect is tolerated: bringing a device up
// makes addrconf create its net/ipv6/conf directory, which stays when the
// device goes down again and no set-up can remove; only for a device that
// existed before.
func SameState(t testing.TB, what string, before, after map[string]string) {
	t.Helper()
	var d []string
	for _, line := range netcfg.Diff(before, after) {
		if rest, ok := strings.CutPrefix(line, "sysctl net/ipv6/conf/"); ok && strings.Contains(line, ": (absent) → ") {
			if dev, _, _ := strings.Cut(rest, "/"); before["link "+dev] != "" {
				continue
			}
		}
		d = append(d, line)
	}
	if len(d) > 0 {
		t.Errorf("%s: state differs from before:\n  %s", what, strings.Join(d, "\n  "))
	}
}
