package vrrp_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs at most three kernel tests at once unless -test.parallel
// says otherwise: they mostly wait on advert timers, so running them
// together cuts the package's time several-fold, but under TCG more than
// three pairs of speakers starve the guest and their timers slip.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", "3")
	}
	os.Exit(m.Run())
}
