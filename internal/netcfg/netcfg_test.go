package netcfg

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func TestJournalUndoReverseAndContinues(t *testing.T) {
	var j Journal
	var got []string
	j.Record("a", func() error { got = append(got, "a"); return nil })
	j.Record("b", func() error { got = append(got, "b"); return errors.New("boom") })
	j.Record("c", func() error { got = append(got, "c"); return nil })
	if want := []string{"c", "b", "a"}; !reflect.DeepEqual(j.Steps(), want) {
		t.Fatalf("Steps = %v, want %v", j.Steps(), want)
	}
	err := j.Undo()
	if want := []string{"c", "b", "a"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("undo order %v, want %v", got, want)
	}
	if err == nil || err.Error() != "undo: b: boom" {
		t.Fatalf("Undo error = %v", err)
	}
	if j.Len() != 0 {
		t.Fatalf("journal not emptied: %d", j.Len())
	}
	if err := j.Undo(); err != nil {
		t.Fatalf("second Undo: %v", err)
	}
}

func TestJournalRunRollsBack(t *testing.T) {
	var j Journal
	undone := 0
	j.Record("before", func() error { undone++; return nil })
	fail := errors.New("step 3 failed")
	err := j.Run(func() error {
		j.Record("one", func() error { undone++; return nil })
		j.Record("two", func() error { undone++; return nil })
		return fail
	})
	if !errors.Is(err, fail) || undone != 3 || j.Len() != 0 {
		t.Fatalf("Run: err=%v undone=%d len=%d", err, undone, j.Len())
	}
	j.Record("kept", func() error { undone++; return nil })
	if err := j.Run(func() error { return nil }); err != nil || j.Len() != 1 || undone != 3 {
		t.Fatalf("successful Run touched the journal: err=%v len=%d", err, j.Len())
	}
	err = j.Run(func() error { return fail })
	if !errors.Is(err, fail) {
		t.Fatal(err)
	}
}

func TestJournalRunReportsIncompleteRollback(t *testing.T) {
	var j Journal
	j.Record("stuck", func() error { return errors.New("EBUSY") })
	fail := errors.New("failed")
	err := j.Run(func() error { return fail })
	if !errors.Is(err, fail) || err.Error() != "failed\nrollback incomplete: undo: stuck: EBUSY" {
		t.Fatalf("got %q", err)
	}
}

func TestCombine(t *testing.T) {
	for _, c := range []struct {
		key            string
		all, iface, ef int
	}{
		{"arp_ignore", 1, 0, 1},
		{"arp_ignore", 0, 2, 2},
		{"arp_announce", 2, 1, 2},
		{"rp_filter", 1, 2, 2},
		{"rp_filter", 1, 0, 1},
		{"send_redirects", 1, 0, 1},
		{"send_redirects", 0, 1, 1},
		{"send_redirects", 0, 0, 0},
		{"forwarding", 1, 0, 0},
	} {
		if got := Combine(c.key, c.all, c.iface); got != c.ef {
			t.Errorf("Combine(%s, all=%d, iface=%d) = %d, want %d", c.key, c.all, c.iface, got, c.ef)
		}
	}
}

func TestConfKeyAndValidation(t *testing.T) {
	if got := ConfKey(false, "eth0.100", "arp_ignore"); got != "net/ipv4/conf/eth0.100/arp_ignore" {
		t.Fatal(got)
	}
	if got := ConfKey(true, "all", "forwarding"); got != "net/ipv6/conf/all/forwarding" {
		t.Fatal(got)
	}
	for _, bad := range []string{"", "/etc/passwd", "net/../../etc", "a\x00b"} {
		if validSysctl(bad) == nil {
			t.Errorf("validSysctl(%q) accepted", bad)
		}
	}
	if validSysctl("net/ipv4/ip_forward") != nil {
		t.Error("valid key rejected")
	}
	if _, err := parseInt("k", "x"); err == nil {
		t.Error("parseInt accepted x")
	}
	if n, err := parseInt("k", "2\n"); err != nil || n != 2 {
		t.Error(n, err)
	}
}

func TestHostPrefix(t *testing.T) {
	for s, want := range map[string]bool{"10.0.0.1/32": true, "10.0.0.1/24": false, "fd00::1/128": true, "fd00::1/64": false} {
		if HostPrefix(netip.MustParsePrefix(s)) != want {
			t.Errorf("HostPrefix(%s) != %v", s, want)
		}
	}
	if HostPrefix(netip.Prefix{}) {
		t.Error("zero prefix")
	}
}
