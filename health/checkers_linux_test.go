//go:build linux

package health_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golvs/lvs/health"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/stretchr/testify/require"
)

// TestMain doubles as the program the Command checker runs: with
// HEALTH_TEST_PROBE=1 it connects to the target the pool passes in its
// environment and exits 0 (or HEALTH_TEST_EXIT) on success, 1 otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("HEALTH_TEST_PROBE") == "1" {
		addr := net.JoinHostPort(os.Getenv("LVS_CHECK_ADDR"), os.Getenv("LVS_CHECK_PORT"))
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(1)
		}
		c.Close()
		if os.Getenv("HEALTH_TEST_EXIT") != "" {
			n := 0
			for _, ch := range os.Getenv("HEALTH_TEST_EXIT") {
				n = n*10 + int(ch-'0')
			}
			os.Exit(n)
		}
		os.Exit(0)
	}
	// The kernel tests wait on check intervals, Rise and Fall: the guest
	// was busy 28% of health's 138 s with two at a time.
	nstest.Parallel(4)
	os.Exit(m.Run())
}

// checkLab: a director namespace (checks run there) and a peer serving
// every protocol the checkers speak.
type checkLab struct {
	director, peer *nstest.NS
	ipvs           *ipvs.Client
	mark           uint32
	peerAddr       netip.Addr
	certPool       *x509.CertPool
	sni            chan string
	smtp           chan []string // the commands of each SMTP session, in order
}

func newCheckLab(t *testing.T) *checkLab {
	l := &checkLab{director: nstest.New(t), peer: nstest.New(t), peerAddr: netip.MustParseAddr("10.1.0.2"), sni: make(chan string, 100), smtp: make(chan []string, 100)}
	nstest.Veth(t, l.director, "eth0", l.peer, "eth0")
	l.director.AddAddr(t, "eth0", netip.MustParsePrefix("10.1.0.1/24"))
	l.peer.AddAddr(t, "eth0", netip.MustParsePrefix("10.1.0.2/24"))
	c, err := ipvs.New(&ipvs.Config{NetNSPath: l.director.Path})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	l.ipvs = c

	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello world") })
	mux.HandleFunc("/500", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	mux.HandleFunc("/vhost", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "www.example.test" {
			w.WriteHeader(404)
		}
	})
	l.peer.ServeHTTP(t, ":80", mux)

	// HTTPS with a self-signed certificate made here.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "www.example.test"},
		DNSNames: []string{"www.example.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	l.certPool = x509.NewCertPool()
	l.certPool.AddCert(cert)
	tl, err := l.peer.Listen("tcp", ":443")
	require.NoError(t, err)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			select {
			case l.sni <- h.ServerName:
			default:
			}
			return nil, nil
		}}, ErrorLog: nil}
	go srv.ServeTLS(tl, "", "")
	t.Cleanup(func() { srv.Close() })

	tcp, err := l.peer.Listen("tcp", ":7000")
	require.NoError(t, err)
	t.Cleanup(func() { tcp.Close() })
	nstest.Serve(tcp, nstest.CloseConn)

	// SMTP as an MTA speaks it (RFC 5321): on 25 a multi-line greeting,
	// HELO/EHLO, NOOP, RSET and QUIT answered, anything else refused;
	// on 26 the refusal an MTA greets with when it will not serve (554).
	// No SMTP server comes with the VM's packages (msmtpd is not in
	// Debian 12; opensmtpd and exim need users, a spool and set-up to
	// run), so this one is scripted; the check is about the dialogue.
	for port, greeting := range map[string]string{":25": "220-mail.example.test ESMTP ready\r\n220 no UCE\r\n", ":26": "554 mail.example.test no SMTP service here\r\n"} {
		sl, err := l.peer.Listen("tcp", port)
		require.NoError(t, err)
		t.Cleanup(func() { sl.Close() })
		nstest.Serve(sl, func(c net.Conn) { l.smtpSession(c, greeting) })
	}

	// UDP: 5000 echoes, 5001 swallows.
	for port, echo := range map[string]bool{":5000": true, ":5001": false} {
		pc, err := l.peer.ListenPacket("udp", port)
		require.NoError(t, err)
		t.Cleanup(func() { pc.Close() })
		nstest.ServePackets(pc, 2048, func(b []byte, from net.Addr) {
			if echo {
				pc.WriteTo(b, from)
			}
		})
	}

	// A tiny DNS responder: www.example.test has one A record, every
	// other name is NXDOMAIN.
	dns, err := l.peer.ListenPacket("udp", ":53")
	require.NoError(t, err)
	t.Cleanup(func() { dns.Close() })
	known := "\x03www\x07example\x04test\x00\x00\x01\x00\x01" // question: name, A, IN
	nstest.ServePackets(dns, 512, func(q []byte, from net.Addr) {
		if len(q) < 12 {
			return
		}
		resp := append([]byte(nil), q...)
		resp[2] |= 0x80 // QR
		if string(q[12:]) == known {
			binary.BigEndian.PutUint16(resp[6:], 1) // one answer
			resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 0, 2)
		} else {
			resp[3] = resp[3]&0xf0 | 3 // NXDOMAIN
		}
		dns.WriteTo(resp, from)
	})
	return l
}

// smtpSession speaks SMTP on c after greeting, until QUIT or 10 s, and
// records the commands it was sent.
func (l *checkLab) smtpSession(c net.Conn, greeting string) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var cmds []string
	defer func() {
		select {
		case l.smtp <- cmds:
		default:
		}
	}()
	io.WriteString(c, greeting)
	r := bufio.NewReader(io.LimitReader(c, 64<<10))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		cmds = append(cmds, cmd)
		verb, arg, _ := strings.Cut(cmd, " ")
		switch strings.ToUpper(verb) {
		case "HELO":
			if arg == "" {
				io.WriteString(c, "501 HELO needs a domain\r\n")
				continue
			}
			io.WriteString(c, "250 mail.example.test greets "+arg+"\r\n")
		case "EHLO":
			io.WriteString(c, "250-mail.example.test greets "+arg+"\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
		case "NOOP", "RSET":
			io.WriteString(c, "250 OK\r\n")
		case "QUIT":
			io.WriteString(c, "221 mail.example.test closing\r\n")
			return
		default:
			io.WriteString(c, "500 command unrecognized\r\n")
		}
	}
}

// probe runs a one-server pool from the director against the peer until
// its first check, and returns the server's state.
func (l *checkLab) probe(t *testing.T, c health.Checker, port uint16, timeout time.Duration) health.ServerState {
	t.Helper()
	l.mark++
	svc := ipvs.ServiceKey{Family: ipvs.IPv4, Fwmark: l.mark}
	require.NoError(t, l.ipvs.CreateService(ctx(t), ipvs.Service{ServiceKey: svc, Scheduler: ipvs.RoundRobin}))
	p, err := health.New(health.Config{IPVS: l.ipvs, Service: svc, NetNSPath: l.director.Path,
		Timing: health.Timing{Interval: timeout, Timeout: timeout, Rise: 1, Fall: 1},
		Servers: []health.Server{{
			Destination: ipvs.Destination{Address: l.peerAddr, Port: 80, Forward: ipvs.Masquerade, Weight: 3},
			Connect:     netip.AddrPortFrom(l.peerAddr, port),
			Checker:     c,
		}}})
	require.NoError(t, err)
	cx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(cx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if s := p.Snapshot(); s.Servers[0].Checks > 0 && (!s.Servers[0].Up || s.Servers[0].Weight > 0) {
			return s.Servers[0]
		}
	}
	t.Fatalf("no check within 10s: %+v", p.Snapshot())
	return health.ServerState{}
}

func TestKernelCheckersAgainstRealPeers(t *testing.T) {
	t.Parallel()
	l := newCheckLab(t)
	exe, err := os.Executable()
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		checker health.Checker
		port    uint16
		up      bool
		weight  uint32 // in IPVS when up
	}{
		{"http ok", &health.HTTP{Path: "/ok"}, 80, true, 3},
		{"http body", &health.HTTP{Path: "/ok", Body: regexp.MustCompile("hello w")}, 80, true, 3},
		{"http body mismatch", &health.HTTP{Path: "/ok", Body: regexp.MustCompile("goodbye")}, 80, false, 0},
		{"http 500", &health.HTTP{Path: "/500"}, 80, false, 0},
		{"http 500 expected", &health.HTTP{Path: "/500", Status: []health.StatusRange{{500, 599}}}, 80, true, 3},
		{"http closed port", &health.HTTP{Path: "/ok"}, 81, false, 0},
		{"http vhost", &health.HTTP{Path: "/vhost", Host: "www.example.test"}, 80, true, 3},
		{"http wrong vhost", &health.HTTP{Path: "/vhost", Host: "other.test"}, 80, false, 0},
		{"https self-signed unverified", &health.HTTP{TLS: true, Path: "/ok"}, 443, true, 3},
		{"https vhost", &health.HTTP{TLS: true, Path: "/vhost", Host: "www.example.test"}, 443, true, 3},
		{"https verified", &health.HTTP{TLS: true, Path: "/ok", Host: "www.example.test", TLSConfig: &tls.Config{RootCAs: l.certPool}}, 443, true, 3},
		{"https verification fails", &health.HTTP{TLS: true, Path: "/ok", Host: "www.example.test", TLSConfig: &tls.Config{RootCAs: x509.NewCertPool()}}, 443, false, 0},
		{"https to plain http", &health.HTTP{TLS: true, Path: "/ok"}, 80, false, 0},
		{"tcp", health.TCP{}, 7000, true, 3},
		{"tcp closed", health.TCP{}, 7001, false, 0},
		{"udp reply", &health.UDP{Payload: []byte("ping"), RequireReply: true, Reply: regexp.MustCompile("^ping$")}, 5000, true, 3},
		{"udp reply mismatch", &health.UDP{Payload: []byte("ping"), RequireReply: true, Reply: regexp.MustCompile("pong")}, 5000, false, 0},
		{"udp silent, reply required", &health.UDP{Payload: []byte("ping"), RequireReply: true}, 5001, false, 0},
		{"udp silent, none required", &health.UDP{Payload: []byte("ping")}, 5001, true, 3},
		{"udp closed (ICMP)", &health.UDP{Payload: []byte("ping")}, 5002, false, 0},
		{"dns", &health.DNS{Name: "www.example.test", MinAnswers: 1}, 53, true, 3},
		{"dns nxdomain", &health.DNS{Name: "nope.example.test"}, 53, false, 0},
		{"dns closed", &health.DNS{Name: "www.example.test"}, 54, false, 0},
		{"smtp", &health.SMTP{HELO: "lvs.test"}, 25, true, 3},
		{"smtp refused (554)", &health.SMTP{HELO: "lvs.test"}, 26, false, 0},
		{"smtp closed port", &health.SMTP{HELO: "lvs.test"}, 7001, false, 0},
		{"command", &health.Command{Path: exe, Env: []string{"HEALTH_TEST_PROBE=1"}}, 7000, true, 3},
		{"command fails", &health.Command{Path: exe, Env: []string{"HEALTH_TEST_PROBE=1"}}, 7001, false, 0},
		{"command weight", &health.Command{Path: exe, Env: []string{"HEALTH_TEST_PROBE=1", "HEALTH_TEST_EXIT=7"}, DynamicWeight: true}, 7000, true, 5},
		{"command timeout", &health.Command{Path: "/bin/sleep", Args: []string{"5"}}, 7000, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.checker
			if tc.name == "command timeout" {
				// A short timeout: the pool must kill it.
				c = health.CheckFunc(func(ctx context.Context, tg health.Target) error {
					ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
					defer cancel()
					return tc.checker.Check(ctx, tg)
				})
			}
			// Silence is only judged at the timeout; the command is a
			// large race-enabled binary that starts slowly under
			// emulation.
			timeout := 3 * time.Second
			switch {
			case strings.HasPrefix(tc.name, "udp silent"):
				timeout = time.Second
			case strings.HasPrefix(tc.name, "command"):
				timeout = 15 * time.Second
			}
			st := l.probe(t, c, tc.port, timeout)
			require.Equal(t, tc.up, st.Up, "last error: %v", st.LastError)
			if !tc.up {
				require.ErrorIs(t, st.LastError, health.ErrCheckFailed)
				require.Zero(t, st.Weight)
				return
			}
			require.Equal(t, tc.weight, st.Weight)
			ds, err := l.ipvs.Destinations(ctx(t), ipvs.ServiceKey{Family: ipvs.IPv4, Fwmark: l.mark})
			require.NoError(t, err)
			require.Len(t, ds, 1)
			require.Equal(t, tc.weight, ds[0].Weight)
		})
	}
	select {
	case sni := <-l.sni:
		require.Equal(t, "", sni, "no SNI without Host")
	default:
		t.Fatal("the HTTPS server saw no handshake")
	}
	// The check's session was a polite one: HELO, then QUIT.
	polite := false
	for len(l.smtp) > 0 {
		if cmds := <-l.smtp; len(cmds) == 2 && cmds[0] == "HELO lvs.test" && cmds[1] == "QUIT" {
			polite = true
		}
	}
	require.True(t, polite, "an SMTP check says HELO, then QUIT")
	found := false
	for len(l.sni) > 0 {
		if <-l.sni == "www.example.test" {
			found = true
		}
	}
	require.True(t, found, "Host is sent as SNI")
}

// pair is a director and a peer on one veth, with IPv4 and IPv6
// addresses (no duplicate address detection, so they work at once).
type pair struct {
	director, peer *nstest.NS
	ipvs           *ipvs.Client
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{director: nstest.New(t), peer: nstest.New(t)}
	nstest.Veth(t, p.director, "eth0", p.peer, "eth0")
	p.director.AddAddr(t, "eth0", netip.MustParsePrefix("10.7.0.1/24"), netip.MustParsePrefix("fd07::1/64"))
	p.peer.AddAddr(t, "eth0", netip.MustParsePrefix("10.7.0.2/24"), netip.MustParsePrefix("fd07::2/64"))
	c, err := ipvs.New(&ipvs.Config{NetNSPath: p.director.Path})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	p.ipvs = c
	return p
}

// verdict runs a one-server pool in the director until the server is up,
// or has failed three checks in a row and never been up, and returns its
// state. One lost packet (a neighbour still being resolved on a loaded
// machine) does not decide.
func (p *pair) verdict(t *testing.T, svc ipvs.ServiceKey, s health.Server) health.ServerState {
	t.Helper()
	pool, stop := run(t, health.Config{IPVS: p.ipvs, Service: svc, NetNSPath: p.director.Path, Start: health.StartDown,
		Timing: health.Timing{Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1}, Servers: []health.Server{s}})
	defer stop()
	var st health.ServerState
	waitFor(t, "a verdict", 60*time.Second, func() bool {
		st = pool.Snapshot().Servers[0]
		return st.Up && st.Weight > 0 || st.Failures >= 3 && st.Successes == 0 && st.Checks == uint64(st.Failures)
	})
	return st
}

// ICMP and ICMPv6 echo from the director's namespace: through a raw socket
// where ping_group_range admits no group (the default), through a ping
// socket where it admits root's; an address nobody has fails.
func TestKernelICMP(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	for i, rangeVal := range []string{"1 0", "0 2147483647"} {
		sysctl(t, p.director, "net.ipv4.ping_group_range", rangeVal)
		for _, tc := range []struct {
			svc    ipvs.ServiceKey
			server string
			up     bool
		}{
			{ipvs.ServiceKey{Family: ipvs.IPv4, Fwmark: uint32(10 + i)}, "10.7.0.2", true},
			{ipvs.ServiceKey{Family: ipvs.IPv4, Fwmark: uint32(20 + i)}, "10.7.0.9", false},
			{ipvs.ServiceKey{Family: ipvs.IPv6, Fwmark: uint32(30 + i)}, "fd07::2", true},
			{ipvs.ServiceKey{Family: ipvs.IPv6, Fwmark: uint32(40 + i)}, "fd07::9", false},
		} {
			require.NoError(t, p.ipvs.CreateService(ctx(t), ipvs.Service{ServiceKey: tc.svc, Scheduler: ipvs.RoundRobin}))
			st := p.verdict(t, tc.svc, health.Server{
				Destination: ipvs.Destination{Address: netip.MustParseAddr(tc.server), Port: 0, Forward: ipvs.DirectRoute, Weight: 2},
				Checker:     health.ICMP{}})
			require.Equal(t, tc.up, st.Up, "ping %s with ping_group_range %q: %+v", tc.server, rangeVal, st)
			if !tc.up {
				require.ErrorIs(t, st.LastError, health.ErrCheckFailed)
			}
		}
	}
}

// An IPv6 virtual service whose real server is checked over IPv6 (TCP and
// HTTP, from a given source address) is driven like an IPv4 one.
func TestKernelIPv6Service(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.peer.ServeHTTP(t, "[fd07::2]:80", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	svc := ipvs.ServiceKey{Protocol: ipvs.TCP, Address: netip.MustParseAddr("fd07::100"), Port: 80}
	require.NoError(t, p.ipvs.CreateService(ctx(t), ipvs.Service{ServiceKey: svc, Scheduler: ipvs.RoundRobin}))
	rs := netip.MustParseAddrPort("[fd07::2]:80")
	pool, _ := run(t, health.Config{IPVS: p.ipvs, Service: svc, NetNSPath: p.director.Path,
		Timing: health.Timing{Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1},
		Servers: []health.Server{{
			Destination: ipvs.Destination{Address: rs.Addr(), Port: 80, Forward: ipvs.Masquerade, Weight: 4},
			Source:      netip.MustParseAddr("fd07::1"),
			Checker:     &health.HTTP{Path: "/", Body: regexp.MustCompile("^ok$")},
		}}})
	weight := func() (uint32, bool) {
		ds, err := p.ipvs.Destinations(context.Background(), svc)
		require.NoError(t, err)
		for _, d := range ds {
			if d.Address == rs.Addr() {
				return d.Weight, true
			}
		}
		return 0, false
	}
	waitFor(t, "the IPv6 server up", 30*time.Second, func() bool { w, _ := weight(); return w == 4 })
	require.True(t, pool.Snapshot().Servers[0].Up)

	require.NoError(t, pool.AddServer(ctx(t), svc, health.Server{
		Destination: ipvs.Destination{Address: netip.MustParseAddr("fd07::2"), Port: 81, Forward: ipvs.Masquerade, Weight: 3},
		Checker:     health.TCP{}}))
	waitFor(t, "a server with nothing on its port down", 30*time.Second, func() bool {
		for _, s := range pool.Snapshot().Servers {
			if s.Server.Port() == 81 {
				return s.Checks > 0 && !s.Up && s.InIPVS && s.Weight == 0
			}
		}
		return false
	})
}
