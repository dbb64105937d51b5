package ipvstest

import (
	"context"

	"github.com/golvs/lvs/ipvs"
)

// Plan computes the writes Apply would make with ipvs.Client.Plan's own
// code (ipvs.PlanTo), writing nothing.
func (c *Client) Plan(ctx context.Context, desired ipvs.State, opts *ipvs.ApplyOptions) (*ipvs.Plan, error) {
	return ipvs.PlanTo(ctx, c, desired, opts)
}

// ApplyPlan makes the writes of p as ipvs.Client.ApplyPlan does
// (ipvs.ApplyPlanTo): refused with ErrConflict, writing nothing, if the
// table changed since p was made.
func (c *Client) ApplyPlan(ctx context.Context, p *ipvs.Plan) (ipvs.ApplyResult, error) {
	return ipvs.ApplyPlanTo(ctx, c, p)
}
