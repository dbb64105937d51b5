package agent

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// A failing step undoes the steps before it, last first, and Serve
// returns 1 without waiting for a signal.
func TestServeRollsBack(t *testing.T) {
	var log []string
	step := func(name string, err error) Step {
		return func(context.Context) (*Setup, error) {
			log = append(log, "do "+name)
			if err != nil {
				return nil, err
			}
			return Undo("undo "+name, func(context.Context) error { log = append(log, "undo "+name); return nil }), nil
		}
	}
	got := Serve("test", []Step{step("a", nil), step("b", nil), step("c", errors.New("boom")), step("d", nil)})
	if got != 1 {
		t.Errorf("status %d, want 1", got)
	}
	want := []string{"do a", "do b", "do c", "undo b", "undo a"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("got %q, want %q", log, want)
	}
}

func TestMainStatus(t *testing.T) {
	parse := Roles("usage: x director", map[string]func([]string) ([]Step, error){
		"director": func(args []string) ([]Step, error) {
			return nil, errors.New("bad flag")
		},
	})
	for _, args := range [][]string{nil, {"nosuch"}, {"director"}} {
		if got := Main("test", args, parse); got != 2 {
			t.Errorf("%q: status %d, want 2", args, got)
		}
	}
}

func TestSplit(t *testing.T) {
	got, err := Split("-rs", "10.0.0.1, 10.0.0.2", "ADDR", netip.ParseAddr)
	if err != nil || len(got) != 2 || got[1] != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := Split("-rs", "10.0.0.1,", "ADDR[,ADDR...]", netip.ParseAddr); err == nil || !strings.Contains(err.Error(), `-rs "10.0.0.1,": want ADDR[,ADDR...]`) {
		t.Errorf("trailing comma: %v", err)
	}
	v4, v6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")
	if err := SameFamily("NAT", v4, v4, v6); err == nil || !strings.Contains(err.Error(), "-rs fd00::1: NAT needs") {
		t.Errorf("mixed families: %v", err)
	}
	if err := SameFamily("NAT", v6, v6); err != nil {
		t.Error(err)
	}
}
