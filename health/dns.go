package health

import (
	"encoding/binary"
	"errors"
	"strings"
)

// DNS record types used by the DNS checker.
const (
	DNSTypeA    uint16 = 1
	DNSTypeNS   uint16 = 2
	DNSTypeSOA  uint16 = 6
	DNSTypeAAAA uint16 = 28
)

const (
	dnsHeaderLen = 12
	dnsClassIN   = 1
	dnsCNAME     = 5
)

// encodeDNSQuery builds a DNS query message (RFC 1035 §4) for name and
// qtype, class IN, with recursion desired. Only the little the checker
// needs is implemented, which keeps the package free of a DNS dependency.
func encodeDNSQuery(id uint16, name string, qtype uint16) ([]byte, error) {
	b := make([]byte, dnsHeaderLen, dnsHeaderLen+len(name)+6)
	binary.BigEndian.PutUint16(b[0:], id)
	b[2] = 0x01                          // RD
	binary.BigEndian.PutUint16(b[4:], 1) // QDCOUNT
	name = strings.TrimSuffix(name, ".")
	if len(name) > 253 {
		return nil, errors.New("DNS name longer than 253 characters")
	}
	if name != "" {
		for _, label := range strings.Split(name, ".") {
			if len(label) == 0 || len(label) > 63 {
				return nil, errors.New("DNS name has an empty label or one longer than 63 characters")
			}
			b = append(b, byte(len(label)))
			b = append(b, label...)
		}
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, dnsClassIN)
	return b, nil
}

// dnsResponse is what the checker reads from a reply to its query.
type dnsResponse struct {
	RCode     uint8
	Truncated bool
	// Answers counts the answer records of class IN whose type is the
	// question's (or a CNAME leading to it), as present in the message,
	// not as the header claims.
	Answers int
}

var errNotOurs = errors.New("DNS message is not a response to the query")

// parseDNSResponse validates b as the response to query (a message from
// encodeDNSQuery): same ID, QR set, opcode QUERY, exactly the question
// asked (names compared case-insensitively, RFC 4343), and every answer
// record well formed within the message. A response that is not to this
// query returns errNotOurs; a malformed one another error.
func parseDNSResponse(b, query []byte) (dnsResponse, error) {
	if len(b) < dnsHeaderLen {
		return dnsResponse{}, errors.New("DNS message shorter than its header")
	}
	switch {
	case b[0] != query[0] || b[1] != query[1]:
		return dnsResponse{}, errNotOurs
	case b[2]&0x80 == 0:
		return dnsResponse{}, errors.New("DNS message is a query, not a response")
	case b[2]&0x78 != query[2]&0x78:
		return dnsResponse{}, errors.New("DNS response with another opcode")
	case binary.BigEndian.Uint16(b[4:]) != 1:
		return dnsResponse{}, errors.New("DNS response without exactly one question")
	}
	r := dnsResponse{RCode: b[3] & 0x0f, Truncated: b[2]&0x02 != 0}
	// The question must be ours, byte for byte but for letter case; a
	// question comes first, so it can hold no compression pointer.
	q := query[dnsHeaderLen:]
	if len(b) < dnsHeaderLen+len(q) {
		return dnsResponse{}, errNotOurs
	}
	if a := b[dnsHeaderLen : dnsHeaderLen+len(q)]; !equalFoldASCII(a[:len(a)-4], q[:len(q)-4]) || string(a[len(a)-4:]) != string(q[len(q)-4:]) {
		return dnsResponse{}, errNotOurs
	}
	qtype := binary.BigEndian.Uint16(q[len(q)-4:])
	off := dnsHeaderLen + len(q)
	for n := binary.BigEndian.Uint16(b[6:]); n > 0; n-- {
		end, err := skipDNSName(b, off)
		if err != nil {
			return dnsResponse{}, err
		}
		if end+10 > len(b) {
			return dnsResponse{}, errors.New("DNS answer record truncated")
		}
		typ := binary.BigEndian.Uint16(b[end:])
		class := binary.BigEndian.Uint16(b[end+2:])
		rdlen := int(binary.BigEndian.Uint16(b[end+8:]))
		off = end + 10 + rdlen
		if off > len(b) {
			return dnsResponse{}, errors.New("DNS answer data truncated")
		}
		if class == dnsClassIN && (typ == qtype || typ == dnsCNAME) {
			r.Answers++
		}
	}
	return r, nil
}

// skipDNSName returns the offset after the (possibly compressed) name at
// off. A pointer ends the name; it is not followed, so no loop can form.
func skipDNSName(b []byte, off int) (int, error) {
	for {
		if off >= len(b) {
			return 0, errors.New("DNS name truncated")
		}
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, nil
		case l&0xc0 == 0xc0:
			if off+2 > len(b) {
				return 0, errors.New("DNS name pointer truncated")
			}
			return off + 2, nil
		case l&0xc0 != 0:
			return 0, errors.New("DNS label with reserved type bits")
		}
		off += 1 + l
	}
}

func equalFoldASCII(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
