package vrrp

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGolden decodes the adverts captured from keepalived 2.2.7 in the test
// VM (testdata/keepalived, written by TestCaptureKeepalived): each must
// decode to what keepalived was configured with, be accepted by a node
// configured to match, and come out of our encoder byte for byte,
// checksum included.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/keepalived/*.txt")
	if err != nil || len(files) < 14 {
		t.Fatalf("golden adverts: %v (%d files, want 14)", err, len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			g := readGolden(t, f)
			var a Advert
			if err := DecodeAdvert(&a, g.packet, g.src, g.dst); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("version %s vrid %s priority %s interval %s auth %s addrs %s",
				g.kv["version"], g.kv["vrid"], g.kv["priority"], g.kv["interval"], g.kv["auth"], g.kv["addrs"])
			auth := a.AuthType.String()
			if a.AuthType == AuthPass {
				auth += " " + string(bytes.TrimRight(a.AuthData[:], "\x00"))
			}
			got := fmt.Sprintf("version %d vrid %d priority %d interval %v auth %s addrs %v", a.Version, a.VRID, a.Priority, a.Interval, auth, a.Addrs[0])
			if got != want {
				t.Fatalf("decoded %s\nwant    %s", got, want)
			}
			if enc := a.append(nil, g.src, g.dst, g.dst); !bytes.Equal(enc, g.packet) {
				t.Fatalf("keepalived sent % x\nwe encode      % x", g.packet, enc)
			}
			// A node configured as keepalived's peer takes it.
			ttl, _ := strconv.Atoi(g.kv["ttl"])
			cfg := Config{Interface: "eth0", VRID: int(a.VRID), Priority: 100, Version: a.Version, AdvertInterval: a.Interval, VIPs: a.Addrs}
			if a.AuthType == AuthPass {
				cfg.AuthPass = strings.TrimPrefix(g.kv["auth"], "PASS ")
			}
			if !g.dst.IsMulticast() {
				cfg.UnicastPeers = []netip.Addr{g.src}
			}
			n := testNode(t, cfg, g.dst, nil)
			if msg, ok := n.receive(g.packet, g.src, g.dst, ttl); !ok || !msg.accept || msg.mm != 0 {
				t.Fatalf("a matching node did not take it: %+v, stats %+v", msg, n.Stats())
			}
		})
	}
}

type golden struct {
	kv       map[string]string
	src, dst netip.Addr
	packet   []byte
}

func readGolden(t *testing.T, path string) golden {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := golden{kv: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		g.kv[k] = v
	}
	if g.src, err = netip.ParseAddr(g.kv["src"]); err == nil {
		g.dst, err = netip.ParseAddr(g.kv["dst"])
	}
	if err == nil {
		g.packet, err = hex.DecodeString(g.kv["packet"])
	}
	if err == nil {
		_, err = time.ParseDuration(g.kv["interval"])
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return g
}
