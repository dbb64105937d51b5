package ipvs

import (
	"encoding/binary"
	"testing"
)

// FuzzSplitMessages feeds the transport's datagram splitter, and the
// error-message parser it leads to, arbitrary datagrams. Seeds are
// datagrams as the kernel builds them around the recorded replies: reply
// messages, an acknowledgement, an error and DONE.
func FuzzSplitMessages(f *testing.F) {
	msg := func(typ, flags uint16, seq uint32, body []byte) []byte {
		b := binary.NativeEndian.AppendUint32(nil, uint32(nlmsgHdrLen+len(body)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = binary.NativeEndian.AppendUint16(b, flags)
		b = binary.NativeEndian.AppendUint32(b, seq)
		b = binary.NativeEndian.AppendUint32(b, 1234)
		b = append(b, body...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	errBody := func(code int32) []byte {
		return append(binary.NativeEndian.AppendUint32(nil, uint32(code)), make([]byte, 16)...)
	}
	ack := msg(2, 0x100, 7, errBody(0))                            // NLMSG_ERROR 0, NLM_F_CAPPED
	esrch := msg(2, 0x100, 7, errBody(-3))                         // NLMSG_ERROR -ESRCH
	done := msg(3, 2, 7, binary.NativeEndian.AppendUint32(nil, 0)) // NLMSG_DONE
	for _, r := range goldenSeeds(f) {
		genl := append([]byte{r.Cmd, 1, 0, 0}, r.Attrs...)
		m := msg(0x20, 2, 7, genl) // a family id, NLM_F_MULTI
		f.Add(append(append(append([]byte{}, m...), m...), done...))
		f.Add(append(append([]byte{}, m...), ack...))
	}
	f.Add(esrch)
	f.Add(done[:len(done)-2])
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = splitMessages(b, func(m nlmsg) error {
			if len(m.body) > len(b) {
				t.Fatalf("body of %d bytes from a %d-byte datagram", len(m.body), len(b))
			}
			switch m.typ {
			case 2, 3:
				_, _ = errnoOf(m.body)
			default:
				if len(m.body) >= genlHdrLen {
					_, _ = decodeService(m.body[genlHdrLen:])
				}
			}
			return nil
		})
	})
}
