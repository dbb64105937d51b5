// Command vmtest runs every test of the module: go vet and the unit tests on
// the host, then every package's tests inside the real-kernel VM on each
// kernel (6.1 and 6.12), where kernel tests must not skip.
//
//	go run ./internal/cmd/vmtest                       # everything
//	go run ./internal/cmd/vmtest -kernel 6.1 -pkg ./ipvs -run TestKernel -unit=false -v
//
// Test binaries are built on the host with `go test -c` (with -race by
// default, which links them against glibc; the VM image carries it) and run
// in the guest in their package's directory of a copy of the module's source
// tree (/lvs/src), so tests find testdata and other files as under go test. A package whose kernel tests drive
// programs of this module lists them, one package path per line (# starts a
// comment), in testdata/vmbuild.txt, e.g. "./examples/nat"; vmtest builds
// them statically and puts them in /lvs/bin under their base names, last on
// the guest's PATH (so /lvs/bin/ipvsadm never shadows the real ipvsadm).
// What tests write under $LVS_VM_OUT comes back to -out DIR/KERNEL.
//
// Why one command: every feature of the SDK is only proven once it passed
// against real kernels, and the oldest and newest kernels we support differ
// (schedulers, tunnel types, attributes), so the README's single test
// command must cover both.
package main
