package bgp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// router starts a second, independent GoBGP speaker on 127.0.0.1 (AS
// 65000) that accepts a session from 127.0.0.1 of AS peerAS: the router a
// Client announces to, on the host without privileges.
func router(t *testing.T, peerAS uint32) (*server.BgpServer, uint16) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := server.NewBgpServer()
	go s.Serve()
	ctx := context.Background()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65000, RouterId: "10.255.0.1", ListenPort: int32(port), ListenAddresses: []string{"127.0.0.1"},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: peerAS},
		Transport: &api.Transport{PassiveMode: true},
	}}); err != nil {
		t.Fatal(err)
	}
	return s, uint16(port)
}

// routes returns the router's routes: prefix -> next hop.
func routes(t *testing.T, s *server.BgpServer) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: gobgp.RF_IPv4_UC},
		func(prefix gobgp.NLRI, paths []*apiutil.Path) {
			for _, p := range paths {
				for _, a := range p.Attrs {
					if nh, ok := a.(*gobgp.PathAttributeNextHop); ok {
						out[prefix.String()] = nh.Value.String()
					}
				}
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func poll(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev.Kind.String())
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.got, ",")
}

func speaker(t *testing.T, port uint16, peerAS uint32, ev *events) *Client {
	t.Helper()
	c, err := New(&Config{
		ASN: 65001, RouterID: netip.MustParseAddr("10.255.0.2"),
		Peers:   []Peer{{Address: netip.MustParseAddr("127.0.0.1"), ASN: peerAS, Port: port, ConnectRetry: time.Second}},
		OnEvent: ev.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAnnounceWithdraw: against a real BGP speaker, Announce reaches its
// RIB with next hop self, Withdraw removes it and returns only once sent,
// and the events tell the story in order.
func TestAnnounceWithdraw(t *testing.T) {
	r, port := router(t, 65001)
	ev := &events{}
	c := speaker(t, port, 65000, ev)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitEstablished(ctx); err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParsePrefix("192.0.2.10/32")
	if err := c.Announce(ctx, Route{VIP: vip, Communities: []string{"65001:10"}}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the route at the router", func() bool { return routes(t, r)["192.0.2.10/32"] == "127.0.0.1" })
	if err := c.Withdraw(ctx, vip); err != nil {
		t.Fatal(err)
	}
	poll(t, "the withdrawal at the router", func() bool { _, ok := routes(t, r)["192.0.2.10/32"]; return !ok })
	if err := c.Withdraw(ctx, vip); !errors.Is(err, ErrNotExist) {
		t.Errorf("second withdraw: %v, want ErrNotExist", err)
	}
	if err := c.Announce(ctx, Route{VIP: netip.MustParsePrefix("2001:db8::10/128")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("IPv6 VIP over an IPv4 session: %v, want ErrInvalid", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Announce(ctx, Route{VIP: vip}); !errors.Is(err, ErrClosed) {
		t.Errorf("Announce after Close: %v, want ErrClosed", err)
	}
	if got := ev.String(); !strings.HasPrefix(got, "peer up,announced,withdrawn") {
		t.Errorf("events %s", got)
	}
}

// TestRefusedSession: a router that refuses the session (wrong AS) makes
// WaitEstablished fail with ErrUnavailable naming the peer and the reason.
func TestRefusedSession(t *testing.T) {
	_, port := router(t, 65001)
	c := speaker(t, port, 65009, &events{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	err := c.WaitEstablished(ctx)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("WaitEstablished against a refusing router: %v", err)
	}
	t.Logf("refused: %v", err)
}

// TestFollow: the route follows the gate, and ending Follow withdraws it.
func TestFollow(t *testing.T) {
	r, port := router(t, 65001)
	ev := &events{}
	c := speaker(t, port, 65000, ev)
	var open atomic.Bool
	open.Store(true)
	gate := func(context.Context) error {
		if open.Load() {
			return nil
		}
		return errors.New("service gone")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Follow(ctx, Route{VIP: netip.MustParsePrefix("192.0.2.20/32")}, gate, 50*time.Millisecond)
	}()
	has := func() bool { _, ok := routes(t, r)["192.0.2.20/32"]; return ok }
	poll(t, "announced", has)
	open.Store(false)
	poll(t, "withdrawn on a closed gate", func() bool { return !has() })
	open.Store(true)
	poll(t, "announced again", has)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Follow: %v", err)
	}
	poll(t, "withdrawn when Follow ends", func() bool { return !has() })
	// The session may come up before or after the first announcement.
	if got := strings.ReplaceAll(ev.String(), "peer up,", ""); got != "announced,gate closed,withdrawn,announced,withdrawn" {
		t.Errorf("events %s", got)
	}
}
