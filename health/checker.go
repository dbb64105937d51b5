package health

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Checker decides whether one real server is healthy. Check is called with
// a context whose deadline is the check's timeout; it returns nil for a
// healthy server, and any error (ideally one matching ErrCheckFailed, see
// Failf) for an unhealthy one. Implementations must be safe for concurrent
// use: one Checker value may serve many real servers at once.
//
// A Checker that wants to set the server's weight (as keepalived's
// MISC_CHECK with misc_dynamic does) also implements WeightChecker.
type Checker interface {
	Check(ctx context.Context, t Target) error
}

// WeightChecker is a Checker that reports a weight with its verdict. A
// healthy result with ok true replaces the configured weight until the next
// check; ok false keeps the configured weight.
type WeightChecker interface {
	Checker
	CheckWeight(ctx context.Context, t Target) (weight uint32, ok bool, err error)
}

// CheckFunc adapts a function to Checker.
type CheckFunc func(ctx context.Context, t Target) error

// Check calls f.
func (f CheckFunc) Check(ctx context.Context, t Target) error { return f(ctx, t) }

// Target is what one check probes: an address, and how sockets to it are
// made. Checkers open their sockets with Target.DialContext so that the
// pool's network namespace and socket mark apply.
type Target struct {
	// Addr is where to connect: the real server's address and port, the
	// server's Connect override, or, in forwarding-path mode, the virtual
	// service's address and port.
	Addr netip.AddrPort
	// Server is the real server being checked, as configured.
	Server netip.AddrPort
	// Mark is the socket mark (SO_MARK) set on every socket, 0 for none.
	Mark uint32
	// Source, when valid, is the local address sockets are bound to.
	Source netip.Addr

	ns *namespace // where sockets are made; nil: the caller's namespace
}

// namespace is an open network namespace shared by a pool's targets.
type namespace struct{ fd int }

func (n *namespace) fdOr() int {
	if n == nil {
		return -1
	}
	return n.fd
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// HTTP checks a server with an HTTP or HTTPS GET (keepalived's HTTP_GET and
// SSL_GET). The server is healthy when the status is in Status and the body
// matches Body.
type HTTP struct {
	// Path is the request path, "/" when empty.
	Path string
	// Host is the Host header (a virtual host) and, with TLS, the SNI
	// server name; the target's address when empty.
	Host string
	// TLS makes it an HTTPS check.
	TLS bool
	// TLSConfig, when non-nil, is used for HTTPS (its ServerName defaults
	// to Host); it is how certificate verification is turned on, with
	// RootCAs. When nil the certificate is not verified, as keepalived's
	// SSL_GET does not: the check is about liveness, not identity.
	TLSConfig *tls.Config
	// Status lists the healthy status codes; 200–299 when empty.
	Status []StatusRange
	// Body, when non-nil, must match the first MaxBody bytes of the body.
	Body *regexp.Regexp
	// Digest, when set, is the MD5 of the whole body in hex, as
	// keepalived's digest (genhash computes it): a body that differs, or
	// is longer than MaxBody, fails.
	Digest string
	// MaxBody bounds how much of the body is read, 64 KiB when 0.
	MaxBody int64
}

// Check implements Checker.
func (h *HTTP) Check(ctx context.Context, t Target) error {
	scheme := "http"
	if h.TLS {
		scheme = "https"
	}
	path := h.Path
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+t.Addr.String()+path, nil)
	if err != nil {
		return pkg.New("check", t.Addr.String(), ErrInvalid, err)
	}
	if h.Host != "" {
		req.Host = h.Host
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return t.DialContext(ctx, network)
		},
		DisableKeepAlives:  true,
		DisableCompression: true,
		Proxy:              nil,
	}
	if h.TLS {
		cfg := &tls.Config{InsecureSkipVerify: true}
		if h.TLSConfig != nil {
			cfg = h.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = h.Host
		}
		tr.TLSClientConfig = cfg
	}
	defer tr.CloseIdleConnections()
	// Redirects are a verdict, not something to follow.
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return failed(err)
	}
	defer resp.Body.Close()
	if !statusOK(h.Status, resp.StatusCode) {
		return Failf("HTTP status %d", resp.StatusCode)
	}
	if h.Body == nil && h.Digest == "" {
		return nil
	}
	max := h.MaxBody
	if max <= 0 {
		max = 64 << 10
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return failed(err)
	}
	if h.Digest != "" {
		if int64(len(b)) > max {
			return Failf("body longer than MaxBody (%d bytes): no digest", max)
		}
		if sum := md5.Sum(b); !strings.EqualFold(hex.EncodeToString(sum[:]), h.Digest) {
			return Failf("body digest %x, want %s", sum, h.Digest)
		}
	}
	if h.Body != nil && !h.Body.Match(b[:min(int64(len(b)), max)]) {
		return Failf("body does not match %q", h.Body.String())
	}
	return nil
}

func statusOK(rs []StatusRange, code int) bool {
	if len(rs) == 0 {
		return code >= 200 && code <= 299
	}
	for _, r := range rs {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// TCP checks that a TCP connection can be established (keepalived's
// TCP_CHECK). The connection is closed at once, with a reset: thousands of
// checks a second leave no TIME_WAIT sockets behind. In a pool, TCP checks
// without retries share one epoll poller: no goroutine per check.
type TCP struct{}

// Check implements Checker.
func (TCP) Check(ctx context.Context, t Target) error {
	c, err := t.DialContext(ctx, "tcp")
	if err != nil {
		return failed(err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c.Close()
}

// UDP sends Payload in one datagram (keepalived's UDP_CHECK). Without
// RequireReply the server is healthy unless an ICMP error (port
// unreachable) comes back before the timeout: silence counts as success,
// which is all UDP can tell. With RequireReply a reply must arrive, and must
// match Reply when that is set.
type UDP struct {
	Payload      []byte
	RequireReply bool
	Reply        *regexp.Regexp
}

// Check implements Checker.
func (u *UDP) Check(ctx context.Context, t Target) error {
	c, err := dialPacket(ctx, t)
	if err != nil {
		return failed(err)
	}
	defer c.Close()
	if _, err := c.Write(u.Payload); err != nil {
		return failed(err)
	}
	buf := make([]byte, 64<<10)
	n, err := c.Read(buf)
	if err != nil {
		var ne net.Error
		if !u.RequireReply && errors.As(err, &ne) && ne.Timeout() {
			return nil // no ICMP error within the timeout
		}
		return failed(err)
	}
	if u.Reply != nil && !u.Reply.Match(buf[:n]) {
		return Failf("reply does not match %q", u.Reply.String())
	}
	return nil
}

// dialPacket opens a UDP socket to t whose reads and writes end with ctx
// (its deadline, or its cancellation). Closing the connection releases the
// context's hook.
func dialPacket(ctx context.Context, t Target) (net.Conn, error) {
	return dialUntilDone(ctx, t, "udp")
}

// dialUntilDone dials t over network; the connection's reads and writes
// end with ctx (its deadline, or its cancellation), and closing it
// releases the context's hook.
func dialUntilDone(ctx context.Context, t Target, network string) (net.Conn, error) {
	c, err := t.DialContext(ctx, network)
	if err != nil {
		return nil, err
	}
	return &ctxConn{Conn: c, stop: untilDone(ctx, c)}, nil
}

// untilDone makes c's reads and writes end when ctx does; the returned
// function releases the hook.
func untilDone(ctx context.Context, c interface{ SetDeadline(time.Time) error }) func() bool {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
}

// exchange writes req to c and reads replies until match takes one (and
// returns its verdict) or a read fails (at the deadline, say): replies
// that are not to req are skipped.
func exchange(c io.ReadWriter, req []byte, size int, match func([]byte) (bool, error)) error {
	if _, err := c.Write(req); err != nil {
		return failed(err)
	}
	buf := make([]byte, size)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return failed(err)
		}
		if ok, err := match(buf[:n]); ok {
			return err
		}
	}
}

type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// Command runs a program whose exit status decides (keepalived's
// MISC_CHECK). It is executed directly, without a shell, as the leader of
// a process group of its own, which is killed at the check's timeout and
// as soon as the program exits, so that whatever it forked goes with it.
// It is killed a little before the timeout (a tenth of it, at most
// 100 ms), so the check itself keeps to its timeout. Its output (stdout
// and stderr, the first 4 KiB) goes into the check's error. The
// environment gets LVS_CHECK_ADDR and LVS_CHECK_PORT (the target) and
// LVS_REAL_SERVER (the real server, address:port). The program runs in
// the pool's network namespace.
//
// Exit status 0 means healthy. With DynamicWeight, as keepalived's
// misc_dynamic: 0 healthy with the configured weight, 1 unhealthy, 2–255
// healthy with weight status−2.
type Command struct {
	Path          string
	Args          []string
	Env           []string // added to the environment of the pool's process
	DynamicWeight bool
}

// commandOutput bounds the output a Command check keeps.
const commandOutput = 4096

// Check implements Checker.
func (c *Command) Check(ctx context.Context, t Target) error {
	_, _, err := c.CheckWeight(ctx, t)
	return err
}

// CheckWeight implements WeightChecker.
func (c *Command) CheckWeight(ctx context.Context, t Target) (uint32, bool, error) {
	grace := 100 * time.Millisecond
	if dl, ok := ctx.Deadline(); ok {
		grace = min(grace, time.Until(dl)/10)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-grace))
		defer cancel()
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(cmd.Environ(), c.Env...)
	cmd.Env = append(cmd.Env,
		"LVS_CHECK_ADDR="+t.Addr.Addr().String(),
		"LVS_CHECK_PORT="+strconv.Itoa(int(t.Addr.Port())),
		"LVS_REAL_SERVER="+t.Server.String())
	var out bytes.Buffer
	cmd.Stdout = &limited{w: &out, n: commandOutput}
	cmd.Stderr = cmd.Stdout
	err := runGroup(ctx, t.ns.fdOr(), cmd, grace)
	switch {
	case ctx.Err() != nil:
		return 0, false, Failf("%s: killed at the timeout: %v", c.Path, ctx.Err())
	case cmd.ProcessState == nil:
		return 0, false, pkg.New("check", c.Path, ErrCheckFailed, err)
	}
	code := cmd.ProcessState.ExitCode()
	switch {
	case code == 0:
		return 0, false, nil
	case c.DynamicWeight && code >= 2 && code <= 255:
		return uint32(code - 2), true, nil
	case code < 0:
		return 0, false, failed(err)
	}
	return 0, false, Failf("%s exited with status %d: %s", c.Path, code, bytes.TrimSpace(out.Bytes()))
}

// limited keeps the first n bytes written to it.
type limited struct {
	w *bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// DNS sends one query over UDP (keepalived's DNS_CHECK) and expects a
// response to it with RCODE NOERROR and, when MinAnswers > 0, at least that
// many answer records.
type DNS struct {
	// Name is the name queried, "." when empty.
	Name string
	// Type is the query type, A (1) when 0.
	Type       uint16
	MinAnswers int
}

// Check implements Checker.
func (d *DNS) Check(ctx context.Context, t Target) error {
	name, typ := d.Name, d.Type
	if name == "" {
		name = "."
	}
	if typ == 0 {
		typ = DNSTypeA
	}
	// A random ID, so that an off-path sender cannot guess it and a late
	// reply to an earlier check is not taken for this one's.
	q, err := encodeDNSQuery(uint16(rand.Uint32()), name, typ)
	if err != nil {
		return pkg.New("check", name, ErrInvalid, err)
	}
	c, err := dialPacket(ctx, t)
	if err != nil {
		return failed(err)
	}
	defer c.Close()
	return exchange(c, q, 4096, func(b []byte) (bool, error) {
		r, err := parseDNSResponse(b, q)
		switch {
		case errors.Is(err, errNotOurs):
			return false, nil // keep waiting for ours until the deadline
		case err != nil:
			return true, Failf("%v", err)
		case r.RCode != 0:
			return true, Failf("DNS rcode %d", r.RCode)
		case r.Answers < d.MinAnswers:
			return true, Failf("DNS: %d answers, want %d", r.Answers, d.MinAnswers)
		}
		return true, nil
	})
}
