package ipvsadm

import (
	"errors"
	"testing"

	"github.com/golvs/lvs/internal/errs"
)

// The package's sentinels are the SDK's: errors.Is matches them across
// packages.
func TestSentinelsAreTheSDKs(t *testing.T) {
	mine := []error{ErrInvalid, ErrNotExist, ErrExist, ErrConflict, ErrIneffective, ErrPermission,
		ErrNotSupported, ErrUnavailable, ErrBusy, ErrCanceled, ErrClosed, ErrRollback, ErrCheckFailed, ErrKernel}
	all := errs.All()
	if len(mine) != len(all) {
		t.Fatalf("%d sentinels, the SDK has %d", len(mine), len(all))
	}
	for i, e := range all {
		if mine[i] != e {
			t.Errorf("sentinel %d is %v, not the SDK's %v", i, mine[i], e)
		}
	}
	_, err := ParseCommand([]string{"ipvsadm", "-A", "-t", "bogus..:80"})
	var e *errs.Error
	if !errors.As(err, &e) || e.Pkg != "ipvsadm" || errs.KindOf(err) != errs.ErrInvalid {
		t.Errorf("ParseCommand's error: %#v", err)
	}
}
