package nft

import "github.com/golvs/lvs/internal/enum"

// Backend selects how a package installs its packet-filter rules: through
// nf_tables directly, or through the iptables binaries. director and
// fwmark both re-export it (as director.Backend and fwmark.Backend), so
// that one type and one String serve both.
type Backend int

// Backends; director and fwmark say what each means for their rules.
const (
	// BackendAuto lets the package pick: nftables when the kernel offers
	// it, else iptables.
	BackendAuto Backend = iota
	// BackendNFTables talks to nf_tables over netlink; no binary is needed.
	BackendNFTables
	// BackendIPTables runs the iptables (ip6tables) binaries.
	BackendIPTables
)

func (b Backend) String() string {
	return enum.Name(b, "backend", []Backend{BackendAuto, BackendNFTables, BackendIPTables}, "auto", "nftables", "iptables")
}
