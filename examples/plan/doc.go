// Command plan shows what loading an ipvsadm rules file would change in
// the kernel's IPVS table, as a diff in ipvsadm's syntax (ipvs.Plan,
// ipvsadm.WritePlan), and with -apply makes exactly those changes.
//
//	ipvsadm -Sn > rules; $EDITOR rules
//	plan -f rules                 # review
//	plan -f rules -apply          # apply what was shown, or nothing
//	plan -f rules -netns /run/netns/blue
//
// The rules file describes the whole table, as for ipvsadm -C; ipvsadm -R:
// services not in it are shown as deleted. Lines read:
//
//   - -A -t 10.0.0.1:80 -s wlc            a service or server to create
//     ~ -e -t 10.0.0.1:80 -r 10.0.1.2:80 -m -w 5  # was: -m -w 1
//   - -D -u 10.0.0.1:53  # was: -s rr     a service or server to delete
//
// With -apply the plan printed is the one applied: if the table changes
// between the two (another agent, an operator), nothing is written and
// plan exits 3 ("the kernel changed since the plan was made"); run it
// again. Deleting more than half the table's services is refused unless
// -allow-mass-delete (a truncated rules file must not empty the table).
//
// Exit status, like diff's: 0 the table already holds the rules (or -apply
// made every change), 1 changes are pending (shown, not applied), 2 bad
// flags or rules (the line and argument are named), 3 the kernel refused,
// the deletion guard refused, or the table changed before -apply. It needs CAP_NET_ADMIN.
package main
