// Package ipvsadm speaks ipvsadm 1.31: its command lines, its rules format
// (ipvsadm -S -n, ipvsadm-save, ipvsadm -R) and its listings, byte for
// byte, on top of the ipvs SDK.
//
// ParseCommand turns a command line into what ipvsadm would send to the
// kernel, with ipvsadm's defaults, checks and messages; Execute performs
// it through an *ipvs.Client; Run does both and prints what ipvsadm
// prints, returning its exit status (examples/ipvsadm is a drop-in
// ipvsadm built on Run; its -R reads input exactly as ipvsadm's restore
// loop does). ParseRules reads the rules format into an ipvs.State (for
// ipvs.Client.Apply) and WriteRules writes services (ipvs.Client.Snapshot)
// in it; Restore parses a rules file and adds it through an ipvs.Batch,
// removing what it added if the kernel refuses a line. WriteList,
// WriteService, WriteConnections, WriteTimeouts and WriteDaemons format
// listings from data, so they can be used on tables read elsewhere.
// WritePlan prints an ipvs.Plan (what Apply would change) as a diff of
// ipvsadm commands, "+" creating, "~" updating and "-" deleting
// (examples/plan shows the plan of a rules file against the kernel).
//
// # Errors
//
// Every error is an *Error (the SDK's one error type) matching one of the
// SDK's sentinels, re-exported here. Command-line and rules errors match
// ErrInvalid (ErrExist or ErrNotExist for a rules file repeating a
// service or server, or naming a service it has not defined); their cause
// is ipvsadm's message, Field the argument at fault and, for a rules
// file, Object the line ("line 3"). Kernel errors wrap the ipvs package's
// error; Run prints them with libipvs's wording ("Service already
// exists", "No such destination", ...).
//
// # Namespaces and privileges
//
// Everything acts on the namespace of the *ipvs.Client passed in, which
// needs CAP_NET_ADMIN. Host and service names are resolved from /etc/hosts
// and /etc/services only, never through DNS.
//
// # Compatibility notes
//
// Like ipvsadm, -E and -e replace the whole entry (an -e without -w resets
// the weight to 1), direct-routing and tunnel servers of address services
// take the service's port, and thresholds (-x, -y) are not saved.
// Listings reproduce ipvsadm's quirks, including its sort order (address
// differences wrap as signed 32-bit values) and its reading of an IPv4
// connection's IPv6 destination in -Lnc.
package ipvsadm
