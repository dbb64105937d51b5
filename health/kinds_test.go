package health_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/stretchr/testify/require"
)

func check(t *testing.T, c health.Checker, addr netip.AddrPort) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Check(ctx, health.Target{Addr: addr, Server: addr})
}

func addrOf(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	s = strings.TrimPrefix(strings.TrimPrefix(s, "http://"), "https://")
	a, err := netip.ParseAddrPort(s)
	require.NoError(t, err)
	return a
}

// keepalived's digest: the MD5 of the body in hex (genhash's output).
func TestHTTPDigest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") }))
	defer srv.Close()
	a := addrOf(t, srv.URL)
	require.NoError(t, check(t, &health.HTTP{Digest: "5d41402abc4b2a76b9719d911017c592"}, a))
	require.NoError(t, check(t, &health.HTTP{Digest: "5D41402ABC4B2A76B9719D911017C592"}, a))
	err := check(t, &health.HTTP{Digest: "00000000000000000000000000000000"}, a)
	require.ErrorIs(t, err, health.ErrCheckFailed)
	require.Contains(t, err.Error(), "5d41402abc4b2a76b9719d911017c592")
	err = check(t, &health.HTTP{Digest: "5d41402abc4b2a76b9719d911017c592", MaxBody: 4}, a)
	require.ErrorIs(t, err, health.ErrCheckFailed, "a body longer than MaxBody has no digest")
}

// smtpPeer answers each connection with greeting, then heloReply to HELO.
func smtpPeer(t *testing.T, greeting, heloReply string) netip.AddrPort {
	return listen(t, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, greeting)
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HELO lvs.test") {
			io.WriteString(c, "500 bad command\r\n")
			return
		}
		io.WriteString(c, heloReply)
	})
}

func TestSMTP(t *testing.T) {
	c := &health.SMTP{HELO: "lvs.test"}
	require.NoError(t, check(t, c, smtpPeer(t, "220 mail ESMTP\r\n", "250 hello\r\n")))
	require.NoError(t, check(t, c, smtpPeer(t, "220-mail ESMTP\r\n220 welcome\r\n", "250 hello\r\n")), "multi-line greeting")
	require.ErrorIs(t, check(t, c, smtpPeer(t, "554 go away\r\n", "250 hello\r\n")), health.ErrCheckFailed)
	require.ErrorIs(t, check(t, c, smtpPeer(t, "220 mail\r\n", "501 no\r\n")), health.ErrCheckFailed)
	require.ErrorIs(t, check(t, &health.SMTP{HELO: "other"}, smtpPeer(t, "220 mail\r\n", "250 ok\r\n")), health.ErrCheckFailed)
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	a := addrOf(t, srv.URL)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	// httptest's certificate names example.com and 127.0.0.1.
	require.NoError(t, check(t, &health.TLS{}, a), "handshake only")
	require.NoError(t, check(t, &health.TLS{ServerName: "example.com", Config: &tls.Config{RootCAs: pool}}, a))
	err := check(t, &health.TLS{ServerName: "other.test", Config: &tls.Config{RootCAs: pool}}, a)
	require.ErrorIs(t, err, health.ErrCheckFailed)
	require.Contains(t, err.Error(), "certificate")
	err = check(t, &health.TLS{ServerName: "example.com", Config: &tls.Config{RootCAs: x509.NewCertPool()}}, a)
	require.ErrorIs(t, err, health.ErrCheckFailed, "unknown authority")
	left := time.Until(srv.Certificate().NotAfter)
	require.NoError(t, check(t, &health.TLS{MinValidity: left - time.Hour}, a))
	require.ErrorIs(t, check(t, &health.TLS{MinValidity: left + time.Hour}, a), health.ErrCheckFailed, "expires too soon")
	require.ErrorIs(t, check(t, &health.TLS{}, smtpPeer(t, "220 not TLS\r\n", "")), health.ErrCheckFailed)
}

func TestFileSwitch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rs1")
	write := func(s string) { require.NoError(t, os.WriteFile(path, []byte(s), 0o644)) }
	ctx := context.Background()
	weight := func(f *health.File) (uint32, bool, error) { return f.CheckWeight(ctx, health.Target{}) }

	sw := &health.File{Path: path}
	_, ok, err := weight(sw)
	require.NoError(t, err, "no file: up")
	require.False(t, ok, "keeps the configured weight")
	write("1\n")
	_, _, err = weight(sw)
	require.ErrorIs(t, err, health.ErrCheckFailed, "non-zero takes it down")
	write("0")
	_, _, err = weight(sw)
	require.NoError(t, err)

	dyn := &health.File{Path: path, Weight: 3}
	write(" 4\n")
	w, ok, err := weight(dyn)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint32(12), w)
	_, _, err = weight(&health.File{Path: path, Weight: 3, Reverse: true})
	require.ErrorIs(t, err, health.ErrCheckFailed, "a negative weight takes it down")
	write("0")
	_, _, err = weight(dyn)
	require.ErrorIs(t, err, health.ErrCheckFailed, "weight 0 takes it down")
	write("four")
	_, _, err = weight(dyn)
	require.ErrorIs(t, err, health.ErrCheckFailed)
	require.Contains(t, err.Error(), "number")
}
