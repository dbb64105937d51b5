package nstest

import "testing"

// UserTables are nftables tables a user (not the SDK) may have, under the
// generic names earlier versions of the SDK used for their own ("inet
// lvs", "arp lvs", "ip lvs_rs"): set-up and teardown must leave them
// exactly as they were.
var UserTables = []string{"inet lvs", "arp lvs", "ip lvs_rs"}

// AddUserTables creates UserTables in n, each with a chain, a rule and a
// set, and returns a check that they are still exactly as made.
func (n *NS) AddUserTables(t testing.TB) (intact func(t testing.TB)) {
	t.Helper()
	want := map[string]string{}
	for _, tbl := range UserTables {
		n.Exec(t, "nft", "add table "+tbl)
		n.Exec(t, "nft", "add chain "+tbl+" userchain")
		n.Exec(t, "nft", "add set "+tbl+" userset { type ipv4_addr; }")
		n.Exec(t, "nft", "add element "+tbl+" userset { 192.0.2.1 }")
		n.Exec(t, "nft", "add rule "+tbl+" userchain counter comment \"a user's rule\"")
		want[tbl] = n.Exec(t, "nft", "list table "+tbl)
	}
	return func(t testing.TB) {
		t.Helper()
		for _, tbl := range UserTables {
			if got, err := n.TryExec("nft", "list table "+tbl); got != want[tbl] || err != nil {
				t.Errorf("the user's table %s changed (%v):\n%s\nwas:\n%s", tbl, err, got, want[tbl])
			}
		}
	}
}
