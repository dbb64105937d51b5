// Command vmrun runs one command in the real-kernel test VM.
//
//	go run ./internal/cmd/vmrun [-kernel 6.1|6.12|all] [-build ./examples/nat] [-out DIR] -- CMD ARGS...
//	go run ./internal/cmd/vmrun -c 'ipvsadm -A -t 10.0.0.1:80 -s rr && ipvsadm -Ln'
//
// CMD is run by bash in the guest. If CMD names a file on the host (a path
// with a slash, e.g. a static binary you built), that file is copied into
// the guest's PATH (/lvs/bin) and run. -build builds Go packages (statically,
// CGO_ENABLED=0) into /lvs/bin first. /lvs/bin is last on the PATH, so a
// program named like a guest tool (examples/ipvsadm) is reached as
// /lvs/bin/ipvsadm. The exit status is the command's. -noautoload boots as
// vmtest's no-autoload run does: no module loaded, request_module failing.
//
// Why: our machines' kernel has no IPVS, so this is how a developer (or the
// lab demo) pokes at one: `vmrun -- ipvsadm -Ln`, or a program of the module
// with `vmrun -build ./examples/nat -- nat -h`.
package main
