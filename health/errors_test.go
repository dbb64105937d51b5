package health

import (
	"errors"
	"testing"

	"github.com/golvs/lvs/internal/errs"
	"github.com/stretchr/testify/require"
)

// The package re-exports the SDK's sentinels as the same values, and its
// errors carry its name and one of them.
func TestSentinelsAreTheSDKs(t *testing.T) {
	mine := []error{ErrInvalid, ErrNotExist, ErrExist, ErrConflict, ErrIneffective, ErrPermission,
		ErrNotSupported, ErrUnavailable, ErrBusy, ErrCanceled, ErrClosed, ErrRollback, ErrCheckFailed, ErrKernel}
	require.Equal(t, errs.All(), mine)
	err := Failf("status %d", 500)
	var e *Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, "health", e.Pkg)
	require.Equal(t, ErrCheckFailed, errs.KindOf(err))
	require.Equal(t, "health: check: status 500", err.Error())
}
