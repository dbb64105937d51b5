//go:build race

package health_test

// raceEnabled: the race detector slows every memory access several
// times, which the scale test allows for.
const raceEnabled = true
