// Command ipvsbench measures the SDK's control plane against
// github.com/moby/ipvs and ipvsadm on a real kernel: creating N services
// with D destinations each (Apply, moby/ipvs one call per object,
// ipvsadm -R), reading all of them back (Snapshot, moby/ipvs GetServices
// plus GetDestinations, ipvsadm -Sn), a no-op Apply and an Apply changing
// 10% of the destinations, with user and system CPU beside wall time.
//
// It needs root and IPVS, and runs in a network namespace of its own
// (made with ip netns), which it flushes between measurements. moby/ipvs
// is driven through internal/bench/moby, a separate module, so that it is
// never a dependency of the SDK. In the project's VM:
//
//	go run ./internal/cmd/benchvm [-kernel 6.1] [-- ipvsbench flags]
//
// The results for the project's VM are in BENCHMARKS.md.
package main
