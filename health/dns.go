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

// EncodeDNSQuery builds a DNS query message (RFC 1035 §4) for name and
// qtype, class IN, with recursion desired. Only the little the checker
// needs is implemented, which keeps the package free of a DNS dependency.
func EncodeDNSQuery(id uint16, name string, qtype uint16) ([]byte, error) {
	b := make([]byte, 12, 12+len(name)+6)
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
	b = binary.BigEndian.AppendUint16(b, 1) // IN
	return b, nil
}

// DNSResponse is what the checker reads from a DNS reply's header.
type DNSResponse struct {
	ID        uint16
	RCode     uint8
	Truncated bool
	Questions int
	Answers   int
}

// ParseDNSResponse reads a DNS response's header and checks that its
// question section is well formed. It rejects queries (QR clear) and
// anything too short.
func ParseDNSResponse(b []byte) (DNSResponse, error) {
	if len(b) < 12 {
		return DNSResponse{}, errors.New("DNS message shorter than its header")
	}
	if b[2]&0x80 == 0 {
		return DNSResponse{}, errors.New("DNS message is a query, not a response")
	}
	r := DNSResponse{
		ID:        binary.BigEndian.Uint16(b[0:]),
		RCode:     b[3] & 0x0f,
		Truncated: b[2]&0x02 != 0,
		Questions: int(binary.BigEndian.Uint16(b[4:])),
		Answers:   int(binary.BigEndian.Uint16(b[6:])),
	}
	off := 12
	for i := 0; i < r.Questions; i++ {
		n, err := skipName(b, off)
		if err != nil {
			return DNSResponse{}, err
		}
		off = n + 4 // QTYPE, QCLASS
		if off > len(b) {
			return DNSResponse{}, errors.New("DNS question truncated")
		}
	}
	return r, nil
}

// skipName returns the offset after the (possibly compressed) name at off.
func skipName(b []byte, off int) (int, error) {
	for {
		if off >= len(b) {
			return 0, errors.New("DNS name truncated")
		}
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, nil
		case l&0xc0 == 0xc0: // a pointer ends the name
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
