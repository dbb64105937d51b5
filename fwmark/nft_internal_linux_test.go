package fwmark

import (
	"fmt"
	"testing"
)

func TestAddrRanges(t *testing.T) {
	got := fmt.Sprint(addrRanges(pfx("10.0.0.0/25", "10.0.0.128/25", "10.0.2.0/24", "255.255.255.255/32")))
	const want = "[[10.0.0.0 10.0.0.255] [10.0.2.0 10.0.2.255] [255.255.255.255 255.255.255.255]]"
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if m := fmt.Sprintf("%x", prefixMask(pfx("fd00::/20")[0])); m != "fffff000000000000000000000000000" {
		t.Fatalf("mask %s", m)
	}
}
