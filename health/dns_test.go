package health_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/golvs/lvs/health"
)

// Real responses, as resolvers send them (hex of the UDP payload), and
// what ParseDNSResponse makes of them (ok false: rejected).
var dnsSeeds = []struct {
	hex  string
	want health.DNSResponse
	ok   bool
}{
	// example.com A, NOERROR, one answer naming the question by a
	// compression pointer.
	{"123481800001000100000000076578616d706c6503636f6d0000010001" +
		"c00c0001000100000e1000045db8d822", health.DNSResponse{ID: 0x1234, Questions: 1, Answers: 1}, true},
	// nope.example.com A, NXDOMAIN, the zone's SOA in the authority section.
	{"beef81830001000000010000046e6f7065076578616d706c6503636f6d0000010001" +
		"c0110006000100000384002c026e73056963616e6ec0110a686f73746d6173746572c011" +
		"7848b8c000001c2000000e100012750000000e10", health.DNSResponse{ID: 0xbeef, RCode: 3, Questions: 1}, true},
	// example.com AAAA, truncated (TC) without answers.
	{"000183800001000000000000076578616d706c6503636f6d00001c0001", health.DNSResponse{ID: 1, Truncated: true, Questions: 1}, true},
	// A header alone.
	{"000081800000000000000000", health.DNSResponse{}, true},
	// A query (QR clear).
	{"abcd01000001000000000000076578616d706c6503636f6d0000010001", health.DNSResponse{}, false},
	// A question cut inside its name.
	{"1234818000010000000000000765786170", health.DNSResponse{}, false},
}

func TestParseDNSResponseSeeds(t *testing.T) {
	for i, sd := range dnsSeeds {
		b, err := hex.DecodeString(sd.hex)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		r, err := health.ParseDNSResponse(b)
		if (err == nil) != sd.ok || r != sd.want {
			t.Errorf("seed %d: got %+v, %v; want %+v, ok %v", i, r, err, sd.want, sd.ok)
		}
	}
}

func FuzzParseDNSResponse(f *testing.F) {
	for _, sd := range dnsSeeds {
		b, err := hex.DecodeString(sd.hex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := health.ParseDNSResponse(b)
		if err != nil {
			return
		}
		// Accepted: a response whose header says what r says.
		if len(b) < 12 || b[2]&0x80 == 0 {
			t.Fatalf("accepted a short message or a query: % x", b)
		}
		want := health.DNSResponse{
			ID: binary.BigEndian.Uint16(b), RCode: b[3] & 0x0f, Truncated: b[2]&0x02 != 0,
			Questions: int(binary.BigEndian.Uint16(b[4:])), Answers: int(binary.BigEndian.Uint16(b[6:])),
		}
		if r != want {
			t.Fatalf("got %+v, header says %+v", r, want)
		}
		// Every question fits: a name takes at least one byte, plus 4.
		if 12+5*r.Questions > len(b) {
			t.Fatalf("%d questions cannot fit in %d bytes", r.Questions, len(b))
		}
		// Only the header and questions are read: trailing bytes change
		// nothing.
		r2, err := health.ParseDNSResponse(append(bytes.Clone(b), 0xc0, 0xff, 0x3f))
		if err != nil || r2 != r {
			t.Fatalf("trailing bytes changed the result: %+v, %v", r2, err)
		}
	})
}

// A query the checker encodes, turned into a response by its QR bit, is
// accepted with its ID and one question.
func FuzzEncodeDNSQuery(f *testing.F) {
	f.Add(uint16(1), "www.example.test", uint16(1))
	f.Add(uint16(0xffff), "example.com.", uint16(28))
	f.Add(uint16(7), "", uint16(6))
	f.Add(uint16(7), strings.Repeat("a", 64)+".test", uint16(1))
	f.Fuzz(func(t *testing.T, id uint16, name string, qtype uint16) {
		q, err := health.EncodeDNSQuery(id, name, qtype)
		if err != nil {
			return
		}
		if _, err := health.ParseDNSResponse(q); err == nil {
			t.Fatal("a query was accepted as a response")
		}
		q[2] |= 0x80
		r, err := health.ParseDNSResponse(q)
		if err != nil {
			t.Fatalf("own query for %q as a response: %v", name, err)
		}
		if r.ID != id || r.Questions != 1 || r.Answers != 0 || r.RCode != 0 {
			t.Fatalf("got %+v", r)
		}
	})
}
