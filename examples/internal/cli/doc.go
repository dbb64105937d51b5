// Package cli checks the example programs' command lines completely before
// anything on the host changes: every list entry, duplicates, addresses
// that cannot be a VIP or a real server, scheduler names, interfaces. Its
// messages quote the bad entry, not the whole flag.
package cli
