package fwmark

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/golvs/lvs/internal/nstest"
)

func TestAddrRanges(t *testing.T) {
	got := fmt.Sprint(addrRanges(nstest.Prefixes("10.0.0.0/25", "10.0.0.128/25", "10.0.2.0/24", "255.255.255.255/32")))
	const want = "[[10.0.0.0 10.0.0.255] [10.0.2.0 10.0.2.255] [255.255.255.255 255.255.255.255]]"
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if m := fmt.Sprintf("%x", prefixMask(nstest.Prefixes("fd00::/20")[0])); m != "fffff000000000000000000000000000" {
		t.Fatalf("mask %s", m)
	}
}

// TestSetIDsPerBatch: Clients in other goroutines (other namespaces) build
// batches at the same time. google/nftables numbers a set left with ID 0
// from a package-global counter without a lock: concurrent batches race on
// it (a data race under -race, and a lost update can give two sets of one
// batch the same ID, so that a rule looks up the wrong set). Every batch
// must number its sets itself, 1, 2, 3, whatever the other batches do.
func TestSetIDsPerBatch(t *testing.T) {
	type batch = testBatch
	// Three anonymous sets: addresses, protocols (ProtocolAny with ports), ports.
	r, err := Rule{Mark: 1, Protocol: ProtocolAny, Destinations: nstest.Prefixes("10.0.0.0/24", "10.0.2.0/24"),
		Ports: []PortRange{Port(80), Port(443)}}.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := nftables.New() // not lasting: no socket until Flush
			if err != nil {
				errs[i] = err
				return
			}
			var ids []uint32
			tx := &batch{c: c, t: &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName}}
			for range 3 {
				exprs, err := ruleExprs(tx, r)
				if err != nil {
					errs[i] = err
					return
				}
				for _, e := range exprs {
					if lk, ok := e.(*expr.Lookup); ok {
						ids = append(ids, lk.SetID)
					}
				}
			}
			if want := []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(ids, want) {
				errs[i] = fmt.Errorf("batch %d numbered its sets %v, want %v", i, ids, want)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// testBatch numbers sets like an nft.Tx: per batch.
type testBatch struct {
	c *nftables.Conn
	t *nftables.Table
	n uint32
}

func (b *testBatch) Conn() *nftables.Conn   { return b.c }
func (b *testBatch) Table() *nftables.Table { return b.t }
func (b *testBatch) NewSetID() uint32       { b.n++; return b.n }
