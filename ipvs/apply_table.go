package ipvs

import "context"

// Table is an IPVS table other than the kernel's, which ApplyTo can make
// hold a desired state: ipvstest's in-memory one, for instance.
type Table interface {
	// Snapshot returns every service of the table with its destinations.
	Snapshot(ctx context.Context) ([]ServiceSnapshot, error)
	// Commit makes changes in order as Batch.Commit does: all are
	// validated first, a refused write does not stop the others, and the
	// result holds the fate of each.
	Commit(ctx context.Context, changes []Change) (BatchResult, error)
}

// ApplyTo makes t hold desired as Client.Apply makes the kernel hold it:
// the same validation, plan, deletion guard and drains, the same result
// and errors.
func ApplyTo(ctx context.Context, t Table, desired State, opts *ApplyOptions) (ApplyResult, error) {
	return apply(ctx, tableApplier{t}, desired, opts)
}

// tableApplier is Apply's view of a Table.
type tableApplier struct{ t Table }

// snapshot reads the whole table: its listing needs no confirming.
func (a tableApplier) snapshot(ctx context.Context, keep func(ServiceKey) bool) ([]ServiceSnapshot, error) {
	snap, err := a.t.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	out := snap[:0]
	for _, s := range snap {
		if keep(s.ServiceKey) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (a tableApplier) send(ctx context.Context, p *plan) ([]error, error) {
	n := p.len()
	if n == 0 {
		return nil, nil
	}
	changes := make([]Change, n)
	for i := range changes {
		changes[i] = p.change(i)
	}
	res, err := a.t.Commit(ctx, changes)
	if err == nil {
		return nil, nil
	}
	if len(res.Errs) != n {
		// Nothing is known of each write: each carries the error.
		errs := make([]error, n)
		for i := range errs {
			errs[i] = err
		}
		return errs, err
	}
	return res.Errs, err
}
