package ipvs

import (
	"testing"
)

// The decoders must never panic, whatever the kernel (or a fuzzer) sends.
// Seeds are the replies recorded from the real kernels.

func seedReplies(f *testing.F, cmds ...uint8) {
	f.Helper()
	n := 0
	for _, r := range goldenSeeds(f) {
		for _, c := range cmds {
			if r.Cmd == c {
				f.Add(r.Attrs)
				n++
			}
		}
	}
	if n == 0 {
		f.Fatalf("no recorded replies with commands %v under testdata/replies", cmds)
	}
	f.Add([]byte{})
	f.Add([]byte{4, 0, 1, 0})
}

func FuzzDecodeService(f *testing.F) {
	seedReplies(f, cmdNewService)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeService(b)
		if err != nil {
			return
		}
		if s.Family != IPv4 && s.Family != IPv6 {
			t.Fatalf("decoded a service of family %v", s.Family)
		}
		// What confirms a listing must read the key the listing read.
		if k, err := decodeServiceKey(b); err != nil || k != s.ServiceKey {
			t.Fatalf("key alone: %v, %v; whole service: %v", k, err, s.ServiceKey)
		}
	})
}

func FuzzDecodeDestination(f *testing.F) {
	seedReplies(f, cmdNewDest)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fam := range []Family{IPv4, IPv6, 0} {
			d, err := decodeDestination(b, fam)
			if err == nil && !d.Address.IsValid() {
				t.Fatal("decoded a destination without an address")
			}
		}
	})
}

func FuzzDecodeDaemon(f *testing.F) {
	seedReplies(f, cmdNewDaemon)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeDaemon(b) })
}

func FuzzDecodeTimeouts(f *testing.F) {
	seedReplies(f, cmdSetConfig)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeTimeouts(b) })
}

func FuzzDecodeInfo(f *testing.F) {
	seedReplies(f, 14) // IPVS_CMD_SET_INFO, GET_INFO's reply
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeInfo(b) })
}

// FuzzDecodeStats feeds the stats decoder the nests found in the recorded
// replies and anything derived from them.
func FuzzDecodeStats(f *testing.F) {
	for _, r := range goldenSeeds(f) {
		_ = attrs(r.Attrs, func(_ uint16, nest []byte) error {
			return attrs(nest, func(typ uint16, v []byte) error {
				if typ == svcStats || typ == svcStats64 || typ == dstStats || typ == dstStats64 {
					f.Add(v)
				}
				return nil
			})
		})
	}
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeStats(b) })
}

// FuzzAttrs checks the attribute iterator never hands out a value beyond
// its buffer.
func FuzzAttrs(f *testing.F) {
	seedReplies(f, cmdNewService, cmdNewDest)
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = attrs(b, func(_ uint16, v []byte) error {
			if len(v) > len(b) {
				t.Fatalf("value of %d bytes from a %d-byte buffer", len(v), len(b))
			}
			return nil
		})
	})
}
