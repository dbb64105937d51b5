package vrrp_test

import (
	"os"
	"testing"

	"github.com/golvs/lvs/internal/nstest"
)

// TestMain runs at most three kernel tests at once unless -test.parallel
// says otherwise: they mostly wait on advert timers, so running them
// together cuts the package's time several-fold, but under TCG more than
// three pairs of speakers starve the guest and their timers slip.
func TestMain(m *testing.M) {
	nstest.Parallel(3)
	os.Exit(m.Run())
}
