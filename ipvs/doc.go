// Package ipvs manages the Linux kernel's IP Virtual Server (IPVS) table
// over generic netlink: virtual services, their destinations (real
// servers), the connection-synchronisation daemon, protocol timeouts,
// counters and version information. It is pure Go and needs neither cgo,
// libnl nor the ipvsadm binary.
//
// A Client is opened with New and closed with Close. Every call that talks
// to the kernel takes a context.Context: its deadline or cancellation ends
// a call waiting for the kernel's reply, with the context's error, and the
// Client stays usable afterwards (the interrupted call's socket is
// discarded). The kernel carries out a request while it is being sent, so
// the context does not cut short the kernel's own work, only the wait for
// its answer. A Client is safe for concurrent use; each call borrows a
// netlink socket of its own.
//
// Services are identified by a ServiceKey: protocol, address and port, or
// a firewall mark with an address family. ServiceKey.Canonical gives the
// one form of a key (family set, IPv4-mapped addresses unmapped) that the
// kernel reports and that compares equal for the same service: use it for
// map keys. An IPv4-mapped address (::ffff:a.b.c.d) names the IPv4 service
// unless Family is set to IPv6 explicitly: then it is an IPv6 service at
// that address, as `ipvsadm -A -t [::ffff:a.b.c.d]:80` makes, which the
// kernel keeps apart from the IPv4 one (Destination.Family does the same
// for real servers). UpdateService and
// UpdateDestination replace the whole entry, as ipvsadm -E and -e do: read,
// modify and write back to change one field.
//
// # Declarative state and batches
//
// Client.Apply makes the kernel hold a desired State: it reads the
// services it owns (ApplyOptions.Owns; all by default) with one service
// dump and one destination dump per service, computes the minimal
// difference and sends it as one Batch. Applying the same state twice
// writes nothing. With ApplyOptions.DrainTimeout, a TCP destination that
// leaves the desired state is set to weight 0 and deleted by a later Apply
// once its connections are gone or the timeout has passed; UDP and SCTP
// ones are deleted at once. Client.Batch sends any list of writes with a
// few system calls and reports each write's fate; Client.Snapshot reads
// everything at once.
//
// Apply guards against a desired state that is empty or cut short (a
// truncated configuration file, a discovery service that answered
// nothing), which would otherwise delete what it owns, the whole
// namespace by default: it refuses, before writing anything, to delete
// (or start draining) more than half of the services it owns in one call
// (ApplyOptions.MaxDeleteShare changes the share; one service may always
// go), and to delete any with an empty desired state. The refusal is an
// error matching ErrConflict that gives the numbers; set
// ApplyOptions.AllowMassDelete for a deliberate mass removal, such as an
// agent's teardown.
//
// Client.Plan computes what Apply would write without writing it: a Plan
// to print (Plan.Steps, or ipvsadm.WritePlan for a diff in ipvsadm's
// syntax), review, and apply as is with Client.ApplyPlan, which refuses
// with ErrConflict, writing nothing, if the services the plan covers
// changed since it was made. Apply is the same plan applied at once
// (PlanTo and ApplyPlanTo run it over another Table).
//
// Client.Check reports, as Findings (the SDK's one diagnostics type,
// shared with packages director, realserver and fwmark), what in the
// namespace's IPVS configuration keeps traffic from being forwarded:
// services without destinations or with every weight 0, services on an
// address that is not local, sync daemons on a missing or down interface,
// and connection-reuse pitfalls (conn_reuse_mode, expire_nodest_conn,
// conntrack).
//
// The Validate methods (Service.Validate, State.Validate and the others)
// make the checks of the calls without sending anything, to check input
// up front. Package ipvstest is an in-memory table with the kernel's
// semantics and the Client's errors, for unit tests without root;
// ApplyTo runs Apply's own code over it, or over any other Table.
//
// The kernel exposes some state only under /proc, per namespace:
// Connections reads the connection table (/proc/net/ip_vs_conn),
// GlobalStats the global counters (/proc/net/ip_vs_stats), and Sysctl,
// Sysctls and SetSysctl the settings under /proc/sys/net/ipv4/vs. They
// read the Client's namespace, like every other call. SetSysctl returns a
// *Setup, the SDK's one undo lifecycle (as director's and realserver's
// set-ups do): its Teardown puts back the value it found.
//
// # Privileges
//
// Every IPVS command, reads included, needs CAP_NET_ADMIN in the initial
// user namespace; without it calls fail with ErrPermission. A container
// with its own user namespace cannot manage IPVS even in its own network
// namespace.
//
// # Network namespaces
//
// Each network namespace has its own IPVS table, sysctls, /proc files and
// sync daemons. Config.NetNS (a file descriptor) or Config.NetNSPath (such
// as /run/netns/NAME) make a Client manage another namespace; its sockets
// are created there, so the calling goroutine's own namespace is never
// changed.
//
// The kernel keeps the services of every namespace in one table and
// resumes a services dump that spans several datagrams by position in it,
// so services another namespace adds or deletes between two datagrams make
// the next one repeat some of ours or skip some, and a skip leaves no
// trace (ipvsadm shows this too, under containers; /proc/net/ip_vs is no
// way out: its reads resume by a position the kernel counts in one way
// and advances in another). Services, and Snapshot and Apply through it,
// drop repeats and return a listing only once it is proven: a dump that
// came in one datagram with room for another service is whole; otherwise
// a second dump, with datagrams of a size chosen so that none ends where
// one of the first did and one of the two ends with room to spare, must
// list the same services in the same order (a run both skipped would have
// to sit after a datagram's end they share; an end whose next datagram
// begins with a repeat skipped nothing, so inserts elsewhere, which only
// cause repeats, never stop a listing). While other namespaces churn
// so fast that no two dumps prove each other (six tries), the call fails
// with ErrBusy, and Apply plans nothing: try again. One case is left
// unproven: a table that fits in one datagram of NLMSG_GOODSIZE (about
// ten services) is confirmed by a dump in such datagrams, which is wrong
// only if the kernel's larger allocation for the first dump failed, its
// datagram was full, and both dumps skipped every service after it.
//
// # Errors
//
// Every error is an *Error (the SDK's one error type, errs.Error) naming
// the package, the operation, the object and, for invalid input, the
// field; it matches exactly one of the SDK's sentinels, the same values in
// every package of the SDK. ErrInvalid: rejected before anything was sent
// (Field says why), or by the kernel (EINVAL, ERANGE). ErrNotExist:
// service, destination or daemon missing. ErrExist. ErrPermission.
// ErrNotSupported. ErrUnavailable: a module is missing, ip_vs itself (the
// message says: load the ip_vs module) or the module of the scheduler or
// persistence engine named (the message says which to load). ErrBusy: the
// kernel is short of memory or buffers (EBUSY, EAGAIN, ENOBUFS, ENOMEM),
// or no listing could be proven while other namespaces kept changing
// their services: try again. ErrCanceled: the context ended (the
// context's error matches too). ErrClosed: the Client was closed.
// ErrKernel: any other errno, or a reply the package cannot read. Kernel
// errors also match their errno, e.g. unix.ESRCH; a sync daemon on an
// unknown interface is ErrInvalid matching unix.ENODEV. A write of a
// batch whose acknowledgement never came (the context ended or the socket
// failed) carries the batch's error and says the kernel may have applied
// it. The kernel refuses (ErrInvalid, EINVAL) a different-family
// destination while a sync daemon runs, and a sync daemon while such
// destinations exist. Input is validated before anything is sent; in
// particular direct-routing and tunnel destinations must use the
// service's port, which the kernel would silently accept and ipvsadm then
// cannot edit. An empty list is an empty result, not an error.
//
// # Kernel compatibility
//
// The kernel ignores attributes it does not know, so a GUE or GRE tunnel
// destination on a kernel older than 5.2 or 5.3 silently becomes IPIP.
// The Client reads the first such destination back and fails with
// ErrNotSupported, removing it, rather than pretending it worked. 64-bit
// counters are used when the kernel sends them (4.1+). The kernel folds
// its per-CPU counters into what it reports every two seconds, so counters
// read right after traffic may lag by up to that long; zeroing shows at
// once. Debian builds the twos scheduler for 6.12 but not for 6.1, where
// creating a twos service fails with ErrUnavailable. The IPVS version
// has been 1.2.1 for many years: test for behaviour, not for the version.
// The package is tested against Debian's 6.1 and 6.12 kernels.
//
// Other operating systems compile the package; New returns an error
// matching ErrNotSupported there.
package ipvs
