// Package vm boots Debian's cloud kernels under qemu (TCG) to run the
// project's kernel tests against a real IPVS.
//
// Why: the machines we develop on run a kernel without IPVS and cannot load
// modules, and /dev/kvm is not usable, so the only way to prove an encoder
// against the kernel is to emulate a machine that has one. Debian's cloud
// kernels are small, ship IPVS and every scheduler as modules, and are
// reachable through apt, which is the one package source we can rely on.
//
// Prepare resolves today's image package for a kernel name ("6.1", "6.12")
// with apt-cache, downloads it with apt-get download, unpacks it, turns
// compressed modules into plain ones (kmod 30 would decompress them in user
// space at every boot) and runs depmod. It then writes a base initramfs in Go
// (cpio "newc", uncompressed because unpacking is faster than gunzip under
// emulation) with busybox, bash, iproute2, kmod, ipvsadm, iptables (nft and
// legacy), ip6tables, arptables and nft with their shared libraries, the
// kernel's network modules, and the reference peers keepalived, bird/birdc
// and prometheus-node-exporter. The peers come from Debian's .debs fetched
// with apt-get download into the cache and unpacked there, with the library
// packages they depend on that the host lacks: installing them on the host
// would start daemons on its network. Everything is cached in CacheDir, keyed by kernel
// release and a hash of the inputs, so a changed host tool or init script
// rebuilds the image. Missing host packages are installed with apt-get.
//
// Run concatenates the base image with a small per-run archive (the script,
// its environment and the files to place, plus the shared libraries of any
// dynamically linked ELF among them), boots it, streams the console and
// returns the script's exit status. The guest's /init (busybox sh) mounts the
// usual file systems, loads the modules the tests need, points
// /proc/sys/kernel/modprobe at kmod so schedulers still autoload, exports
// LVS_VM=1, LVS_VM_KERNEL, LVS_VM_RELEASE, LVS_VM_OUT and LVS_VM_AUTOLOAD,
// and runs the script with bash. With RunOptions.NoAutoload it loads nothing
// and points modprobe at a path that does not exist instead, so a module the
// code under test needs without saying so shows up as a failure. The exit status and the contents of $LVS_VM_OUT (tar, gzip,
// base64) travel back over a second serial port that carries nothing else,
// so kernel messages on the console can never be mistaken for them. Neither
// cloud kernel has 9p, hence no shared folder.
//
// The guest has no network device: tests build their topologies out of
// network namespaces (see internal/nstest).
package vm
