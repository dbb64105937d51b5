//go:build linux

package realserver

import (
	"context"
	"fmt"
	"strings"

	"github.com/golvs/lvs/internal/netcfg"
	"github.com/golvs/lvs/internal/nft"
	"github.com/google/nftables"
)

// nftTable is the package's nftables table, one per family: "arp
// golvs_realserver" (ARP suppression) and "ip golvs_realserver" (MSS
// clamping), marked as ours and changed through internal/nft only.
const nftTable = "golvs_realserver"

// nftTagPrefix starts the comment of each rule of ours.
const nftTagPrefix = "golvs realserver "

// nftOwned adds and removes tagged rules in one table of ours, each change
// one transaction under internal/nft's host-wide lock; the table goes with
// the last rule of any agent.
type nftOwned struct {
	h *netcfg.Host
	t nft.Table
}

type nftRule struct {
	desc string
	rule nft.Rule
}

func newOwned(h *netcfg.Host, fam nftables.TableFamily, chains ...nft.Chain) *nftOwned {
	return &nftOwned{h: h, t: nft.Table{Family: fam, Name: nftTable, Owner: "realserver", Chains: chains, TagPrefix: nftTagPrefix}}
}

func (o *nftOwned) fd() (int, error) {
	if err := o.h.Err(); err != nil {
		return -1, err
	}
	return o.h.NetNSFd(), nil
}

// probe fails when the kernel cannot do nftables for the family, or when
// a table of our name is not ours.
func (o *nftOwned) probe(ctx context.Context) error {
	fd, err := o.fd()
	if err != nil {
		return err
	}
	_, err = nft.View(ctx, fd, &o.t)
	return err
}

func (o *nftOwned) apply(ctx context.Context, j *netcfg.Journal, rules []nftRule) error {
	fd, err := o.fd()
	if err != nil {
		return err
	}
	var added []nftRule
	err = nft.Do(ctx, fd, &o.t, func(tx *nft.Tx) error {
		added = nil
		for _, r := range rules {
			ok, err := tx.Add(r.rule)
			if err != nil {
				return err
			}
			if ok {
				added = append(added, r)
			}
		}
		return nil
	})
	if err != nil || len(added) == 0 {
		return err
	}
	var descs []string
	for _, r := range added {
		descs = append(descs, r.desc)
	}
	j.Record(fmt.Sprintf("delete rules (%s) from nftables table %s (and the table once no one's rule is left)", strings.Join(descs, "; "), nftTable), func() error {
		fd, err := o.fd()
		if err != nil {
			return err
		}
		return nft.Do(context.Background(), fd, &o.t, func(tx *nft.Tx) error {
			for _, r := range added {
				if err := tx.Del(r.rule.Chain, r.rule.Tag); err != nil {
					return err
				}
			}
			tx.DropIfEmpty()
			return nil
		})
	})
	return nil
}

// missing describes the rules not in place.
func (o *nftOwned) missing(ctx context.Context, rules []nftRule) ([]string, error) {
	tx, err := o.view(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rules {
		if !tx.Has(r.rule.Chain, r.rule.Tag) {
			out = append(out, fmt.Sprintf("%s chain %s: %s", tx, r.rule.Chain, r.desc))
		}
	}
	return out, nil
}

// view reads the table without changing it.
func (o *nftOwned) view(ctx context.Context) (*nft.Tx, error) {
	fd, err := o.fd()
	if err != nil {
		return nil, err
	}
	return nft.View(ctx, fd, &o.t)
}

// has reports whether r (by its tag) is in its chain.
func (o *nftOwned) has(ctx context.Context, r nftRule) (bool, error) {
	tx, err := o.view(ctx)
	if err != nil {
		return false, err
	}
	return tx.Has(r.rule.Chain, r.rule.Tag), nil
}
