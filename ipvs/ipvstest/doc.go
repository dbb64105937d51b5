// Package ipvstest is an in-memory IPVS table with the kernel's semantics,
// for unit tests of programs that manage IPVS through package ipvs: they
// run without root, without IPVS in the kernel, in parallel and fast, as
// mdlayher's genltest and nltest allow for netlink code.
//
// A Client has the methods of *ipvs.Client that read and write the table
// (services, destinations, sync daemons, timeouts, Snapshot, Apply), with
// the same signatures, so code written against an interface of its own,
// such as
//
//	type IPVS interface {
//		Destinations(ctx context.Context, k ipvs.ServiceKey) ([]ipvs.DestinationInfo, error)
//		UpdateDestination(ctx context.Context, k ipvs.ServiceKey, d ipvs.Destination) error
//	}
//
// takes an *ipvs.Client in production and an *ipvstest.Client in tests.
// The interface IPVS lists every method the two share.
//
// # Semantics
//
// A Client refuses exactly what an *ipvs.Client refuses before sending
// (it calls the same ipvs Validate methods), and fails where the kernel
// would fail, with the same *ipvs.Error: the same operation, object and
// field, matching the same sentinel and errno (errors.Is(err,
// ipvs.ErrExist) and errors.Is(err, unix.EEXIST)). Values read back are
// those the kernel reports: the family filled in, IPv4-mapped addresses
// unmapped, an empty scheduler as wlc, a full netmask as the zero value,
// a sync daemon's defaults and clamped lengths. A kernel test runs one
// sequence of calls, failing ones included, against Debian's 6.1 and
// 6.12 kernels and against a Client, and compares every result, every
// error and the final Snapshot.
//
// Differences: services are listed in key order (the kernel's order is
// that of its hash table, which callers must not rely on); destinations
// newest first, as the kernel does. Every mainline scheduler module is
// present (Debian's 6.1 lacks twos); others fail with ErrUnavailable. Sync
// daemons need an interface added with AddInterface. Nothing forwards
// packets: counters stay zero and connections are what SetConnections
// says. Apply is ipvs.Client.Apply's own code over the table
// (ipvs.ApplyTo); Commit stands for Batch().Add(changes...).Commit.
//
// # Test controls
//
// SetConnections sets a destination's connection counts (as a drain
// would observe them), AddInterface adds a network interface for sync
// daemons, SetFault makes chosen writes fail, and Writes counts the
// writes received.
package ipvstest
