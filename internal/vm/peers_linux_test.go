package vm

import (
	"reflect"
	"testing"
)

func TestDebDepends(t *testing.T) {
	// dpkg-deb -f DEB Pre-Depends Depends, as printed for libsnmp40 and
	// with alternatives and architecture qualifiers.
	in := "Pre-Depends: init-system-helpers (>= 1.54~)\n" +
		"Depends: libc6 (>= 2.34), libpci3 (>= 1:3.5.1), perl:any | perl-base, libsnmp-base\n"
	want := []string{"init-system-helpers", "libc6", "libpci3", "perl", "libsnmp-base"}
	if got := debDepends(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPeerGuestPath(t *testing.T) {
	s := &peerSet{roots: []string{"/c/peers/libwrap0_7.6"}}
	// Libraries from an unpacked package go where dpkg would put them
	// (resolving the host's /lib symlink, as the guest mirrors it).
	got := s.guestPath("/c/peers/libwrap0_7.6/usr/lib/x86_64-linux-gnu/libwrap.so.0")
	if got != "/usr/lib/x86_64-linux-gnu/libwrap.so.0" {
		t.Errorf("got %s", got)
	}
}

func TestEnvScriptAutoload(t *testing.T) {
	if got := envScript("6.12", true, nil); got != "export LVS_VM_KERNEL=6.12\nexport LVS_VM_AUTOLOAD=0\n" {
		t.Errorf("got %q", got)
	}
	if got := envScript("6.1", false, map[string]string{"A": "b c"}); got != "export LVS_VM_KERNEL=6.1\nexport LVS_VM_AUTOLOAD=1\nexport A='b c'\n" {
		t.Errorf("got %q", got)
	}
}
