package hostrec

import (
	"errors"
	"github.com/golvs/lvs/internal/errs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func open(t *testing.T, root, ident string) *Store {
	t.Helper()
	s, err := Open(root, -1, ident)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The lock excludes another Store of the same namespace, even in the same
// process (flock on separate open file descriptions).
func TestLockExcludes(t *testing.T) {
	root := t.TempDir()
	a, b := open(t, root, ""), open(t, root, "")
	unlock, err := a.Lock()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		u, err := b.Lock()
		if err == nil {
			u()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("second Lock succeeded while the first was held")
	case <-time.After(200 * time.Millisecond):
	}
	unlock()
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("second Lock never got the lock")
	}
	fi, err := os.Stat(a.Dir())
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("record directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
}

func TestJournal(t *testing.T) {
	root := t.TempDir()
	s := open(t, root, "nat@10.0.0.1:80")
	tok := s.NewToken()
	if !s.Mine(tok) {
		t.Fatalf("token %q not mine", tok)
	}
	if err := s.Append(tok, "director", "add VIP", Action{Res: "addr eth0 10.0.0.1/32", Token: tok}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(tok, "director", "add VIP", Action{Res: "vipdev lvs0", Token: tok}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Dir(), "journal-nat@10.0.0.1:80.json")
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal file: %v; want mode 0600", err)
	}
	// Another Store of the same identity (a restarted agent) sees it.
	ents, err := open(t, root, "nat@10.0.0.1:80").Entries()
	if err != nil || len(ents) != 1 || len(ents[0].Actions) != 2 || ents[0].Pkg != "director" {
		t.Fatalf("entries %+v, %v", ents, err)
	}
	// A named owner's token is live while its journal holds it.
	r := &Resource{Owners: []string{tok, "id:other#1"}}
	if live := s.Live(r); len(live) != 1 || live[0] != tok {
		t.Errorf("live owners %q", live)
	}
	if err := s.Forget(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty journal left behind: %v", err)
	}
	if live := s.Live(&Resource{Owners: []string{tok}}); len(live) != 0 {
		t.Errorf("forgotten token still live: %q", live)
	}
}

// An anonymous owner lives as long as its process; a live process holding
// an identity keeps others from claiming it, a dead one does not.
func TestOwnersLiveness(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	pid := cmd.Process.Pid
	start := startTime(pid)
	s := open(t, root, "agent")
	other := "pid:" + strconv.Itoa(pid) + ":" + start + "#1"
	if live := s.Live(&Resource{Owners: []string{other}}); len(live) != 1 {
		t.Fatalf("owner of a live process dropped")
	}
	if err := writeJSON(s.journalPath("agent"), &journal{PID: pid, Start: start, Entries: []Entry{{Token: "id:agent#1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(); !errors.Is(err, errs.ErrConflict) {
		t.Errorf("claim of an identity a live process holds: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if live := s.Live(&Resource{Owners: []string{other}}); len(live) != 0 {
		t.Errorf("owner of a dead process kept")
	}
	if err := s.Claim(); err != nil {
		t.Errorf("claim after the holder died: %v", err)
	}
	var j journal
	if err := readJSON(s.journalPath("agent"), &j); err != nil || j.PID != os.Getpid() || len(j.Entries) != 1 {
		t.Errorf("adopted journal %+v, %v", j, err)
	}
}

func TestResources(t *testing.T) {
	s := open(t, t.TempDir(), "")
	m, err := s.Resources()
	if err != nil || len(m) != 0 {
		t.Fatalf("empty store: %v, %v", m, err)
	}
	m["sysctl net/ipv4/ip_forward"] = &Resource{Owners: []string{s.NewToken()}, Orig: "0", Value: "1"}
	m["gone"] = &Resource{}
	if err := s.SaveResources(m); err != nil {
		t.Fatal(err)
	}
	m2, err := s.Resources()
	if err != nil || len(m2) != 1 || m2["sysctl net/ipv4/ip_forward"].Orig != "0" {
		t.Fatalf("read back %+v, %v", m2, err)
	}
	if err := s.SaveResources(map[string]*Resource{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.ownersPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty record left behind: %v", err)
	}
	if ValidIdentity("nat@[2001:db8::1]:80") != nil || ValidIdentity("a b") == nil || ValidIdentity("../x") == nil {
		t.Error("ValidIdentity")
	}
}
