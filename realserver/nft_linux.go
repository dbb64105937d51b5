//go:build linux

package realserver

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/golvs/lvs/internal/hostrec"
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

// own adds each rule through the host's ownership records, as resource
// "KIND TAG" (KIND nftarp or nftmss: see restoreNft), so that two agents
// with the same rule share it, the last one out deletes it (and the table
// once no one's rule is left), and a killed agent's rules are found again
// by Recover or a later set-up.
func (o *nftOwned) own(ctx context.Context, j *netcfg.Journal, kind string, rules []nftRule) error {
	for _, r := range rules {
		there, err := o.has(ctx, r)
		if err != nil {
			return err
		}
		err = o.h.Own(j, kind+" "+r.rule.Tag, "delete rule ("+r.desc+") from nftables "+o.t.Name+" chain "+r.rule.Chain+" (and the table once no one's rule is left)",
			netcfg.Present(there), "1", there, func() (map[string]string, error) {
				fd, err := o.fd()
				if err != nil {
					return nil, err
				}
				return nil, nft.Do(ctx, fd, &o.t, func(tx *nft.Tx) error {
					_, err := tx.Add(r.rule)
					return err
				})
			}, func(res string, _ *hostrec.Resource) error { return restoreNft(o.h, res) })
		if err != nil {
			return err
		}
	}
	return nil
}

// restoreNft deletes the rule that resource res ("nftarp TAG" or "nftmss
// TAG"; a tag's first word after the prefix is its chain) names from its
// table, and the table once no one's rule is left in it.
func restoreNft(h *netcfg.Host, res string) error {
	kind, tag, _ := strings.Cut(res, " ")
	rest, ok := strings.CutPrefix(tag, nftTagPrefix)
	f := strings.Fields(rest)
	var o *nftOwned
	switch kind {
	case "nftarp":
		o = newNftARP(h, nil, netip.Addr{}).o
	case "nftmss":
		o = newMSSClamp(h)
	}
	if o == nil || !ok || len(f) == 0 {
		return noRestorer(res)
	}
	fd, err := o.fd()
	if err != nil {
		return err
	}
	return nft.Do(context.Background(), fd, &o.t, func(tx *nft.Tx) error {
		if err := tx.Del(f[0], tag); err != nil {
			return err
		}
		tx.DropIfEmpty()
		return nil
	})
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
