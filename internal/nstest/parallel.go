package nstest

import (
	"flag"
	"strconv"
)

// Parallel makes the test binary run up to n parallel tests at once, for
// a package whose kernel tests mostly wait on timers (check intervals,
// adverts, estimator folds): -test.parallel defaults to GOMAXPROCS, 2 in
// the VM, which leaves such a package's guest idle most of the time. An
// explicit -test.parallel wins. Call it from TestMain before m.Run.
func Parallel(n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", strconv.Itoa(n))
	}
}
