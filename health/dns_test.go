package health

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
)

// Real responses, as resolvers send them (hex of the UDP payload), with
// the query each answers and what parseDNSResponse makes of them.
var dnsSeeds = []struct {
	query, reply string
	want         dnsResponse
	err          bool
}{
	// example.com A, NOERROR, one answer naming the question by a
	// compression pointer.
	{"1234010000010000000000000" + "76578616d706c6503636f6d0000010001",
		"123481800001000100000000076578616d706c6503636f6d0000010001" +
			"c00c0001000100000e1000045db8d822", dnsResponse{Answers: 1}, false},
	// nope.example.com A, NXDOMAIN, the zone's SOA in the authority section.
	{"beef01000001000000000000046e6f7065076578616d706c6503636f6d0000010001",
		"beef81830001000000010000046e6f7065076578616d706c6503636f6d0000010001" +
			"c0110006000100000384002c026e73056963616e6ec0110a686f73746d6173746572c011" +
			"7848b8c000001c2000000e100012750000000e10", dnsResponse{RCode: 3}, false},
	// example.com AAAA, truncated (TC) without answers.
	{"000101000001000000000000076578616d706c6503636f6d00001c0001",
		"000183800001000000000000076578616d706c6503636f6d00001c0001", dnsResponse{Truncated: true}, false},
	// The question echoed in other letter case (0x20 randomisation).
	{"1234010000010000000000000" + "76578616d706c6503636f6d0000010001",
		"123481800001000000000000074558414d504c4503434f4d0000010001", dnsResponse{}, false},
	// The header claims 3 answers; one is there.
	{"1234010000010000000000000" + "76578616d706c6503636f6d0000010001",
		"123481800001000300000000076578616d706c6503636f6d0000010001" +
			"c00c0001000100000e1000045db8d822", dnsResponse{}, true},
	// Another ID.
	{"1234010000010000000000000" + "76578616d706c6503636f6d0000010001",
		"123581800001000000000000076578616d706c6503636f6d0000010001", dnsResponse{}, true},
	// Another question (AAAA instead of A).
	{"1234010000010000000000000" + "76578616d706c6503636f6d0000010001",
		"123481800001000000000000076578616d706c6503636f6d00001c0001", dnsResponse{}, true},
	// Our query reflected (QR clear).
	{"1234010000010000000000000" + "76578616d706c6503636f6d0000010001",
		"1234010000010000000000000" + "76578616d706c6503636f6d0000010001", dnsResponse{}, true},
	// A header alone.
	{"1234010000010000000000000" + "76578616d706c6503636f6d0000010001",
		"123481800000000000000000", dnsResponse{}, true},
	// The question cut inside its name.
	{"1234010000010000000000000" + "76578616d706c6503636f6d0000010001",
		"1234818000010000000000000765786170", dnsResponse{}, true},
}

func TestParseDNSResponseSeeds(t *testing.T) {
	for i, sd := range dnsSeeds {
		q, _ := hex.DecodeString(sd.query)
		b, err := hex.DecodeString(sd.reply)
		if err != nil || len(q) < dnsHeaderLen {
			t.Fatalf("seed %d: bad hex", i)
		}
		r, err := parseDNSResponse(b, q)
		if (err != nil) != sd.err || r != sd.want && !sd.err {
			t.Errorf("seed %d: got %+v, %v; want %+v, error %v", i, r, err, sd.want, sd.err)
		}
	}
}

// Any message: the decoder never panics, and what it accepts is a
// response to the query with at least as many answer records present as
// it counts.
func FuzzParseDNSResponse(f *testing.F) {
	for _, sd := range dnsSeeds {
		b, _ := hex.DecodeString(sd.reply)
		f.Add(b, "example.com", uint16(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, name string, qtype uint16) {
		q, err := encodeDNSQuery(0x1234, name, qtype)
		if err != nil {
			return
		}
		r, err := parseDNSResponse(b, q)
		if err != nil {
			return
		}
		if len(b) < len(q) || binary.BigEndian.Uint16(b) != 0x1234 || b[2]&0x80 == 0 {
			t.Fatalf("accepted a message that is not a response to the query: % x", b)
		}
		if !bytes.EqualFold(b[dnsHeaderLen:len(q)], q[dnsHeaderLen:]) {
			t.Fatalf("accepted another question: % x", b)
		}
		// Every answer counted takes at least 11 bytes (a pointer or
		// the root name, type, class, TTL, length).
		if len(q)+11*r.Answers > len(b) {
			t.Fatalf("%d answers cannot fit in %d bytes", r.Answers, len(b))
		}
		if r.Answers > int(binary.BigEndian.Uint16(b[6:])) {
			t.Fatalf("counted %d answers, the header has %d", r.Answers, binary.BigEndian.Uint16(b[6:]))
		}
		// Records after the answers are not read: trailing bytes change
		// nothing.
		r2, err := parseDNSResponse(append(bytes.Clone(b), 0xc0, 0xff, 0x3f), q)
		if err != nil || r2 != r {
			t.Fatalf("trailing bytes changed the result: %+v, %v", r2, err)
		}
	})
}

// A query the checker encodes, turned into a response by its QR bit, is
// accepted with no answers; any other ID is not ours.
func FuzzEncodeDNSQuery(f *testing.F) {
	f.Add(uint16(1), "www.example.test", uint16(1))
	f.Add(uint16(0xffff), "example.com.", uint16(28))
	f.Add(uint16(7), "", uint16(6))
	f.Add(uint16(7), strings.Repeat("a", 64)+".test", uint16(1))
	f.Fuzz(func(t *testing.T, id uint16, name string, qtype uint16) {
		q, err := encodeDNSQuery(id, name, qtype)
		if err != nil {
			return
		}
		if _, err := parseDNSResponse(q, q); err == nil {
			t.Fatal("a query was accepted as a response")
		}
		b := bytes.Clone(q)
		b[2] |= 0x80
		r, err := parseDNSResponse(b, q)
		if err != nil || r != (dnsResponse{}) {
			t.Fatalf("own query for %q as a response: %+v, %v", name, r, err)
		}
		b[1]++
		if _, err := parseDNSResponse(b, q); err != errNotOurs {
			t.Fatalf("another ID: %v", err)
		}
	})
}
