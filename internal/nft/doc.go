// Package nft is the SDK's one mechanism for nftables tables of its own
// (realserver's ARP and MSS rules, director's one-arm NAT, fwmark's marks):
// a table whose name is ours beyond doubt (Prefix, "golvs_"), marked as
// ours, changed only in single transactions under a host-wide lock.
//
// Ownership. A table is ours when it holds the marker: a regular chain
// "golvs_owner" whose one rule carries the comment "golvs owner PKG"
// (nft list ruleset shows it). A table of our name without the marker was
// made by someone else: every change is refused with errs.ErrConflict and
// nothing in it is touched. Inside a marked table, a rule is ours when its
// comment starts with the table's TagPrefix, a regular chain when its name
// starts with ChainPrefix; anything else (a user's chain, rule or named
// set) is foreign: it is never deleted, and it keeps the table alive.
//
// Transactions. Do reads the table, lets the caller queue changes, and
// sends them as one netlink batch (one Flush): the kernel applies all or
// nothing, and packets see the old rules or the new. Deciding from what
// was read (is the table empty now? is this rule there?) and writing must
// not interleave with another agent doing the same, or one agent deletes
// the table another just added to: Do holds an exclusive flock(2) on
// LockPath for the whole read-decide-write. Every agent built on the SDK
// takes it, in any network namespace (it is per host, i.e. per mount
// namespace of /run). Agents in containers with their own /run share the
// lock only if they share that directory.
//
// Errors are *errs.Error values (Pkg "nft") the public packages hand on
// with errs.Wrap: errs.ErrConflict for a table that is not ours or holds
// foreign objects where the change needs it empty, errs.ErrUnavailable
// when the kernel has no nf_tables, else the errno's meaning.
package nft
