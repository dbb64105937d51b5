//go:build linux

package realserver

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/nft"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// newMSSClamp keeps TCP MSS clamping in table ip golvs_realserver, chain mss (hook
// output, mangle priority): per VIP, as `nft` would write it,
//
//	ip saddr VIP tcp flags & (syn|rst) == syn tcp option maxseg size > MSS tcp option maxseg size set MSS
//
// so the SYN-ACKs the real server sends from the VIP advertise at most MSS
// and clients send segments that still fit after encapsulation.
func newMSSClamp(h *netcfg.Host) *nftOwned {
	return newOwned(h, nftables.TableFamilyIPv4,
		nft.Chain{Name: "mss", Type: nftables.ChainTypeFilter, Hook: nftables.ChainHookOutput, Priority: nftables.ChainPriorityMangle})
}

func mssRules(vips []netip.Prefix, mss uint16) []nftRule {
	be := binary.BigEndian.AppendUint16(nil, mss)
	var rs []nftRule
	for _, p := range vips {
		v := p.Addr()
		rs = append(rs, nftRule{"clamp TCP MSS from " + v.String() + " to " + strconv.Itoa(int(mss)), nft.Rule{Chain: "mss",
			Tag: nftTagPrefix + "mss " + v.String() + " " + strconv.Itoa(int(mss)),
			Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: v.AsSlice()},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x06}, Xor: []byte{0}},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x02}},
				&expr.Exthdr{Op: expr.ExthdrOpTcpopt, Type: 2, Offset: 2, Len: 2, DestRegister: 1},
				&expr.Cmp{Op: expr.CmpOpGt, Register: 1, Data: be},
				&expr.Immediate{Register: 1, Data: be},
				&expr.Exthdr{Op: expr.ExthdrOpTcpopt, Type: 2, Offset: 2, Len: 2, SourceRegister: 1},
			}}})
	}
	return rs
}
