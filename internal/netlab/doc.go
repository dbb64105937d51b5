// Package netlab builds small networks out of network namespaces: hosts
// (named namespaces under /run/netns, like `ip netns add`), veth pairs, L2
// segments (a bridge in a namespace of its own with a veth to each member),
// addresses and routes, and processes started inside a host. It serves the
// lab demo (examples/lab) and, through internal/nstest, the kernel tests.
//
// Why namespaces: a director, its real servers and a client need separate
// network stacks (addresses, routes, sysctls, IPVS tables, firewall rules),
// and namespaces give them that on one kernel without touching the host's own
// network. Traffic between them never leaves the machine.
//
// Every call returns an error instead of panicking or logging. A Lab remembers
// every namespace it created, and Lab.Close removes them all, and with them
// every device, address, route and rule inside; NS.Close removes one.
//
// Code runs inside a namespace with NS.Do, on a locked OS thread of its own
// that joined the namespace (internal/netns.Do); the thread is discarded if it
// cannot return. Sockets keep the namespace they were created in, so Listen,
// DialContext and HTTPClient work from any goroutine afterwards; use IP
// literals, as name resolution would run on other threads. NS.Start starts a
// process from such a thread: the child inherits the thread's network
// namespace (and only that: mounts, /sys and the rest stay the caller's).
//
// # Privileges
//
// Creating namespaces and devices needs CAP_SYS_ADMIN and CAP_NET_ADMIN,
// in practice root. Nothing here needs IPVS.
package netlab
