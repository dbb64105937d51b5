package health

import (
	"errors"
	"testing"

	"github.com/golvs/lvs/internal/errs"
	"github.com/stretchr/testify/require"
)

// The package's errors carry its name and one of the SDK's sentinels
// (that its sentinels are the SDK's, the root's TestOneErrorVocabulary
// checks for every package).
func TestErrorsCarryThePackage(t *testing.T) {
	err := Failf("status %d", 500)
	var e *Error
	require.True(t, errors.As(err, &e))
	require.Equal(t, "health", e.Pkg)
	require.Equal(t, ErrCheckFailed, errs.KindOf(err))
	require.Equal(t, "health: check: status 500", err.Error())
}
