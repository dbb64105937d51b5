// Command benchvm runs ipvsbench in the project's VM: it builds the
// moby/ipvs helper from its own module (internal/bench/moby, so moby/ipvs
// never becomes a dependency of the SDK) and boots the VM with both.
//
//	go run ./internal/cmd/benchvm [-kernel 6.1] [-exact-cpu] [-- ipvsbench flags]
//
// For example, the runs in BENCHMARKS.md:
//
//	go run ./internal/cmd/benchvm -kernel 6.12 -- -sizes 1000,5000 -reps 3
package main
