//go:build linux

package netcfg_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/nstest"
	"github.com/vishvananda/netlink"
)

func open(t *testing.T, ns *nstest.NS) *netcfg.Host {
	t.Helper()
	return nstest.Open(netcfg.Open(ns.Path))(t)
}

func snap(t *testing.T, h *netcfg.Host, dirs ...string) map[string]string {
	t.Helper()
	m, err := h.Snapshot(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func same(t *testing.T, before, after map[string]string) {
	t.Helper()
	if d := netcfg.Diff(before, after); len(d) > 0 {
		t.Fatalf("state differs:\n%s", strings.Join(d, "\n"))
	}
}

// A journal records only real changes, restores previous (non-default)
// values and removes only what it created; a second identical set-up
// records nothing.
func TestHostJournal(t *testing.T) {
	ns := nstest.New(t)
	h := open(t, ns)
	// Non-default starting point: all/arp_ignore already 2, lo has an
	// address we must never remove.
	ns.Exec(t, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=2", "net.ipv4.conf.lo.rp_filter=1")
	ns.AddAddr(t, "lo", netip.MustParsePrefix("192.0.2.9/32"))
	before := snap(t, h)

	setup := func(j *netcfg.Journal) error {
		return j.Run(func() error {
			if err := h.RaiseConfAll(j, "arp_ignore", 1); err != nil {
				return err
			}
			if err := h.RaiseConfAll(j, "arp_announce", 2); err != nil {
				return err
			}
			if _, err := h.AddLink(j, &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "vip0"}}); err != nil {
				return err
			}
			if err := h.SetLinkUp(j, "vip0"); err != nil {
				return err
			}
			if err := h.SetConf(j, "vip0", "rp_filter", 2); err != nil {
				return err
			}
			for _, p := range []string{"192.0.2.1/32", "2001:db8::1/128"} {
				if err := h.AddAddr(j, "vip0", netip.MustParsePrefix(p)); err != nil {
					return err
				}
			}
			if err := h.AddAddr(j, "lo", netip.MustParsePrefix("192.0.2.9/32")); err != nil {
				return err
			}
			return h.AddFou(j, netcfg.Fou{Port: 5555, GUE: true})
		})
	}
	var j1, j2 netcfg.Journal
	if err := setup(&j1); err != nil {
		t.Fatal(err)
	}
	want := []string{"close fou port 5555/ipv4 gue", "remove address 2001:db8::1/128 from vip0",
		"remove address 192.0.2.1/32 from vip0", "restore sysctl net/ipv4/conf/vip0/rp_filter=0",
		"set device vip0 down", "delete device vip0", "restore sysctl net/ipv4/conf/all/arp_announce=0"}
	if got := j1.Steps(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c, err := h.EffectiveConf("eth0x", "arp_ignore")
	if !errors.Is(err, errs.ErrNotExist) {
		t.Fatalf("EffectiveConf on a missing device: %v %v", c, err)
	}
	c, err = h.EffectiveConf("vip0", "arp_announce")
	if err != nil || c != (netcfg.Conf{All: 2, Iface: 0, Effective: 2}) {
		t.Fatalf("EffectiveConf: %+v %v", c, err)
	}
	if err := setup(&j2); err != nil || j2.Len() != 0 {
		t.Fatalf("second set-up: err=%v, recorded %v", err, j2.Steps())
	}
	if err := j1.Undo(); err != nil {
		t.Fatal(err)
	}
	same(t, before, snap(t, h))
}

// A failure midway rolls back everything done so far.
func TestHostRollbackAndConflicts(t *testing.T) {
	ns := nstest.New(t)
	h := open(t, ns)
	ns.AddAddr(t, "lo", netip.MustParsePrefix("198.51.100.7/24"))
	before := snap(t, h, "net/ipv4/conf")
	var j netcfg.Journal
	err := j.Run(func() error {
		if err := h.RaiseConfAll(&j, "arp_announce", 2); err != nil {
			return err
		}
		if err := h.AddFou(&j, netcfg.Fou{Port: 6080, Protocol: 4}); err != nil {
			return err
		}
		if _, err := h.AddLink(&j, &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "d0"}}); err != nil {
			return err
		}
		// Same address, other prefix length: a conflict.
		return h.AddAddr(&j, "d0", netip.MustParsePrefix("198.51.100.7/32"))
	})
	if !errors.Is(err, errs.ErrConflict) || !strings.Contains(err.Error(), "198.51.100.7/24 on lo") {
		t.Fatalf("want a conflict naming lo, got %v", err)
	}
	same(t, before, snap(t, h, "net/ipv4/conf"))

	if _, err := h.AddLink(&j, &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "lo"}}); !errors.Is(err, errs.ErrConflict) {
		t.Fatalf("dummy named lo: %v", err)
	}
	// A device kind the kernel does not know: the module is named.
	_, err = h.AddLink(&j, &netlink.GenericLink{LinkAttrs: netlink.LinkAttrs{Name: "x0"}, LinkType: "nosuchkind"})
	if !errors.Is(err, errs.ErrUnavailable) || !strings.Contains(err.Error(), "load the nosuchkind module") {
		t.Fatalf("unknown kind: %v", err)
	}
	if err := h.AddAddr(&j, "nosuch0", netip.MustParsePrefix("10.1.1.1/32")); !errors.Is(err, errs.ErrNotExist) {
		t.Fatalf("unknown device: %v", err)
	}
	if err := h.SetSysctl(&j, "net/ipv4/conf/nosuch0/arp_ignore", "1"); err == nil {
		t.Fatal("sysctl of a missing device accepted")
	}
	if err := h.AddFou(&j, netcfg.Fou{Port: 6080, Protocol: 4}); err != nil {
		t.Fatal(err)
	}
	if err := h.AddFou(&j, netcfg.Fou{Port: 6080, GUE: true}); !errors.Is(err, errs.ErrConflict) {
		t.Fatalf("fou port reused with another type: %v", err)
	}
	if err := j.Undo(); err != nil {
		t.Fatal(err)
	}
	same(t, before, snap(t, h, "net/ipv4/conf"))
}
