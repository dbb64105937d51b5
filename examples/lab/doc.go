// Command lab is the demo: it shows the SDK's example programs balancing
// real traffic in every forwarding mode.
//
//	go run ./examples/lab
//
// For each mode (NAT, DR, TUN with IPIP, GUE and GRE, fwmark) it builds a
// small network of isolated hosts (network namespaces: a client, a director
// and three real servers running tiny HTTP servers that answer their name),
// runs the example programs (examples/nat, dr, tun, fwmark) in their hosts
// as an operator would, waits for each to print "ready", sends a bounded
// number of requests from the client, and prints how they spread over the
// real servers. Then it stops the examples with SIGTERM and checks that they
// left their hosts exactly as before. It exits non-zero if any mode fails.
//
// It runs natively when we are root and the kernel has IPVS. Otherwise it
// builds itself and the examples, boots Debian's 6.1 kernel in the project's
// VM (internal/vm; qemu, no KVM needed) and runs there, streaming the output.
// Traffic never leaves the namespaces it creates.
//
// Flags: -modes nat,dr,... (or all, which adds IPv6 and one-arm variants),
// -n requests per mode, -vm or -native to force either, -kernel for the VM.
package main
