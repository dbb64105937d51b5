// Package nstest gives every kernel test network namespaces of its own.
//
// Why: kernel tests change IPVS tables, addresses, routes, sysctls and
// firewall rules. Doing that in a namespace the test created, and nowhere
// else, lets tests run in parallel, leaves nothing behind, and means a test
// run on a developer's machine can never disturb the host's network.
//
// Every kernel test starts with
//
//	ns := nstest.New(t)
//
// which needs root and IPVS (the generic netlink family "IPVS" must
// resolve). Without them the test skips with a hint to run
// `go run ./internal/cmd/vmtest`, except inside the test VM (LVS_VM=1), where
// a missing capability is a failure. The namespace is bind-mounted at
// /run/netns/NAME like `ip netns add` (so `ip netns exec NAME` works too),
// NS.Exec runs ipvsadm, iptables and the like inside it (forked from a thread
// that joined it), and it is removed at cleanup. The namespaces, topologies
// and processes come from internal/netlab; this package adds testing.TB.
//
// Code runs inside with NS.Do (a fresh goroutine on a locked OS thread that
// is discarded if it cannot return to its namespace). Sockets keep the
// namespace they were created in, so NS.Listen, NS.DialContext,
// NS.HTTPClient and NS.ServeHTTP work from any goroutine afterwards. Use IP
// literals: name resolution would run on other threads.
//
// Veth and Segment build small topologies between namespaces: a veth pair,
// or an L2 segment (a bridge in a namespace of its own with one veth per
// member). Addresses are added with IFA_F_NODAD so IPv6 works at once.
//
// State and SameState prove that a teardown restored a namespace: a
// snapshot of sysctls, devices, addresses, fou ports and the nftables rule
// set, before and after. NS.Answerers asks a segment who answers ARP or
// neighbour solicitations for an address, again and again for a bounded
// time, so that one lost packet under emulation decides nothing;
// NS.Tally counts HTTP answers by body, NS.HardwareAddr reads a MAC.
package nstest
