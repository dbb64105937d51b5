package ipvstest

import (
	"context"
	"fmt"

	"github.com/golvs/lvs/internal/errs"
	"github.com/golvs/lvs/ipvs"
)

var _ ipvs.Table = (*Client)(nil)

// Apply makes the table hold desired with ipvs.Client.Apply's own code
// (ipvs.ApplyTo): the same plan, deletion guard, drains, result and
// errors.
func (c *Client) Apply(ctx context.Context, desired ipvs.State, opts *ipvs.ApplyOptions) (ipvs.ApplyResult, error) {
	return ipvs.ApplyTo(ctx, c, desired, opts)
}

// Commit makes changes in order, as ipvs.Client.Batch().Add(changes...).Commit
// does: every change is validated first (nothing is written if one is
// invalid), a refused write does not stop the others, and the result
// holds the fate of each; the error then wraps the first refusal.
func (c *Client) Commit(ctx context.Context, changes []ipvs.Change) (ipvs.BatchResult, error) {
	for _, ch := range changes {
		if err := ch.Validate(); err != nil {
			return ipvs.BatchResult{}, err
		}
	}
	res := ipvs.BatchResult{Changes: changes, Errs: make([]error, len(changes))}
	failed := 0
	var first error
	for i, ch := range changes {
		res.Errs[i] = c.commitOne(ctx, ch)
		if res.Errs[i] != nil {
			failed++
			if first == nil {
				first = res.Errs[i]
			}
		}
	}
	if failed == 0 {
		return res, nil
	}
	return res, kernelError("commit batch", fmt.Sprintf("(%d of %d writes failed)", failed, len(changes)), errs.KindOf(first), first)
}

// commitOne makes one validated change as the single call would.
func (c *Client) commitOne(ctx context.Context, ch ipvs.Change) error {
	k := ch.Service.ServiceKey
	switch ch.Op {
	case ipvs.OpCreateService:
		return c.CreateService(ctx, ch.Service)
	case ipvs.OpUpdateService:
		return c.UpdateService(ctx, ch.Service)
	case ipvs.OpDeleteService:
		return c.DeleteService(ctx, k)
	case ipvs.OpCreateDestination:
		return c.CreateDestination(ctx, k, ch.Destination)
	case ipvs.OpUpdateDestination:
		return c.UpdateDestination(ctx, k, ch.Destination)
	}
	return c.deleteDest(ctx, k, ch.Destination)
}
