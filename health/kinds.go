package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// SMTP checks a mail server as keepalived's SMTP_CHECK does: the greeting
// must be 220, and HELO must be answered 250; the session then ends with
// QUIT.
type SMTP struct {
	// HELO is the name sent in HELO; the host's name when empty.
	HELO string
}

// Check implements Checker.
func (s *SMTP) Check(ctx context.Context, t Target) error {
	c, err := dialUntilDone(ctx, t, "tcp")
	if err != nil {
		return failed(err)
	}
	defer c.Close()
	// Replies are read through a bounded reader: a server that talks
	// without end fails instead of filling memory.
	tp := textproto.NewReader(bufio.NewReader(io.LimitReader(c, 64<<10)))
	if _, _, err := tp.ReadResponse(220); err != nil {
		return Failf("SMTP greeting: %v", err)
	}
	name := s.HELO
	if name == "" {
		if name, err = os.Hostname(); err != nil || name == "" {
			name = "localhost"
		}
	}
	if _, err := fmt.Fprintf(c, "HELO %s\r\n", name); err != nil {
		return failed(err)
	}
	if _, _, err := tp.ReadResponse(250); err != nil {
		return Failf("SMTP HELO: %v", err)
	}
	io.WriteString(c, "QUIT\r\n")
	return nil
}

func (s *SMTP) key() any { return *s }

func (s *SMTP) validate() (string, string) {
	if strings.ContainsAny(s.HELO, " \r\n") {
		return "HELO", "contains white space"
	}
	return "", ""
}

// TLS checks that a TLS handshake completes (SSL_GET's sibling, without
// the HTTP request), and the server's certificate. With Config.RootCAs set
// the chain and the name (ServerName) are verified; without, only the
// handshake is, as keepalived's SSL_GET does. MinValidity fails a server
// whose certificate expires within that time (or has expired), verified
// or not: a server about to serve an expired certificate is taken out
// before clients see it.
type TLS struct {
	// ServerName is sent as SNI and verified with RootCAs.
	ServerName string
	// Config, when non-nil, is the client configuration (RootCAs,
	// client certificates, versions); it is cloned.
	Config *tls.Config
	// MinValidity is how long the leaf certificate must still be valid.
	MinValidity time.Duration
}

// Check implements Checker.
func (s *TLS) Check(ctx context.Context, t Target) error {
	c, err := t.DialContext(ctx, "tcp")
	if err != nil {
		return failed(err)
	}
	defer c.Close()
	cfg := &tls.Config{InsecureSkipVerify: true}
	if s.Config != nil {
		cfg = s.Config.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.ServerName
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		var ve *tls.CertificateVerificationError
		if errors.As(err, &ve) {
			return Failf("TLS certificate: %v", ve.Err)
		}
		return failed(err)
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return Failf("TLS: no certificate")
	}
	leaf := st.PeerCertificates[0]
	if s.MinValidity > 0 || cfg.InsecureSkipVerify {
		if left := time.Until(leaf.NotAfter); left < s.MinValidity || left < 0 {
			return Failf("TLS certificate %q expires at %v", leaf.Subject.CommonName, leaf.NotAfter.UTC())
		}
		if time.Now().Before(leaf.NotBefore) {
			return Failf("TLS certificate %q not valid before %v", leaf.Subject.CommonName, leaf.NotBefore.UTC())
		}
	}
	return tc.Close()
}

func (s *TLS) key() any {
	type k struct {
		name     string
		cfg      *tls.Config
		validity time.Duration
	}
	return k{s.ServerName, s.Config, s.MinValidity}
}

func (s *TLS) validate() (string, string) {
	if s.MinValidity < 0 {
		return "MinValidity", "negative"
	}
	return "", ""
}

// File is an operator's switch, as keepalived's FILE_CHECK: a file holding
// a number, read at every check. With Weight 0 (the default) a non-zero
// number takes the server down and zero (or no file) keeps it up. With a
// non-zero Weight the number times Weight (negated with Reverse) is the
// server's weight, and a result of 0 or less takes it down. keepalived adds
// that result to the configured weight; here it replaces it, as
// Command.DynamicWeight does, because one check may serve servers of
// different weights. A file that cannot be read (other than missing) or
// does not hold a number fails.
type File struct {
	Path    string
	Weight  int
	Reverse bool
}

// Check implements Checker.
func (f *File) Check(ctx context.Context, t Target) error {
	_, _, err := f.CheckWeight(ctx, t)
	return err
}

// CheckWeight implements WeightChecker.
func (f *File) CheckWeight(context.Context, Target) (uint32, bool, error) {
	v, err := readNumber(f.Path)
	if err != nil {
		return 0, false, pkg.New("check", f.Path, ErrCheckFailed, err)
	}
	if f.Weight == 0 {
		if v != 0 {
			return 0, false, Failf("%s holds %d", f.Path, v)
		}
		return 0, false, nil
	}
	w := v * int64(f.Weight)
	if f.Reverse {
		w = -w
	}
	switch {
	case w <= 0:
		return 0, false, Failf("%s holds %d: weight %d", f.Path, v, w)
	case w > 1<<31-1:
		w = 1<<31 - 1
	}
	return uint32(w), true, nil
}

// readNumber reads the integer in a small file; a missing file is 0.
func readNumber(path string) (int64, error) {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, 64))
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s does not hold a number: %q", path, s)
	}
	return v, nil
}

func (f *File) key() any { return *f }

func (f *File) validate() (string, string) {
	if f.Path == "" {
		return "Path", "missing"
	}
	return "", ""
}

// ICMP checks that the target's address answers an echo request
// (keepalived's PING_CHECK): ICMP for IPv4, ICMPv6 for IPv6; the port is
// not used. It uses an unprivileged ping socket where the namespace's
// net.ipv4.ping_group_range admits the process's group (it applies to both
// families), and a raw socket otherwise, which needs CAP_NET_RAW; it never
// changes ping_group_range. Marks, the source address and the pool's
// namespace apply as for other checks.
type ICMP struct{}

// Check implements Checker.
func (ICMP) Check(ctx context.Context, t Target) error {
	f, raw, err := t.openICMP()
	if err != nil {
		return failed(err)
	}
	defer f.Close()
	defer untilDone(ctx, f)()
	v6 := t.Addr.Addr().Unmap().Is6()
	id, seq := uint16(rand.Uint32()), uint16(rand.Uint32())
	req := make([]byte, 8+16)
	req[0] = 8 // echo request
	if v6 {
		req[0] = 128
	}
	binary.BigEndian.PutUint16(req[4:], id)
	binary.BigEndian.PutUint16(req[6:], seq)
	for i := 8; i < len(req); i++ {
		req[i] = byte(rand.Uint32())
	}
	if !v6 {
		// The kernel sums ICMPv6 (and ping sockets' ICMP); a raw ICMP
		// socket sends what it is given.
		binary.BigEndian.PutUint16(req[2:], inetChecksum(req))
	}
	return exchange(f, req, 1500, func(b []byte) (bool, error) { return echoReply(b, req, v6, raw), nil })
}

// echoReply reports whether b answers req. A ping socket gets only its
// own replies, with the identifier the kernel chose; a raw socket gets
// every ICMP message, IPv4 ones with their IP header.
func echoReply(b, req []byte, v6, raw bool) bool {
	if raw && !v6 {
		if len(b) < 20 || b[0]>>4 != 4 {
			return false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return false
		}
		b = b[ihl:]
	}
	want := byte(0)
	if v6 {
		want = 129
	}
	switch {
	case len(b) != len(req) || b[0] != want || b[1] != 0:
		return false
	case raw && string(b[4:6]) != string(req[4:6]):
		return false // another process's echo
	}
	return string(b[6:]) == string(req[6:]) // sequence and payload
}

// inetChecksum is the Internet checksum (RFC 1071) of b.
func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
func (ICMP) key() any { return ICMP{} }
