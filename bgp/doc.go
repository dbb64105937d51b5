// Package bgp announces a director's VIPs over BGP, so that several
// directors can serve one VIP at once behind their routers' ECMP
// (active-active), as kube-router, MetalLB's BGP mode and the
// Katran/Maglev/GLB designs do.
//
// It embeds a GoBGP speaker (github.com/osrg/gobgp/v4) rather than speak
// BGP itself, and lives in its own Go module (github.com/golvs/lvs/bgp) so
// that users of the core SDK do not pull GoBGP's dependencies.
//
// A Client is one speaker: a local AS and router ID and one or more peers
// (address, AS, optional TCP MD5 password, multihop TTL, hold and
// keepalive timers, optional BFD). It only connects out; the router must
// accept the session. Announce and Withdraw handle one VIP route (/32 or
// /128, next hop self by default, communities, local preference, MED).
//
// A VIP must only be announced while the director can serve it. Follow
// ties a route to a Gate: ServiceGate is open while the IPVS service exists
// with a quorum of serving destinations, InterfaceGate while an interface
// is up, All combines them. Follow withdraws the route when the gate
// closes and when its context ends, waiting for the withdrawal to be
// written to every session before it returns, so a graceful shutdown that
// stops following before it removes the IPVS service drops no request. A
// director that dies loses its sessions, and the routers drop its path
// (at once when the process dies, within the hold time, or the BFD
// detection time, when it falls silent).
//
// # ECMP directors
//
// Directors behind ECMP pick real servers consistently without shared
// state when they hash the same way: IPVS's mh scheduler with the same
// destinations in the same order on every director, and
// net.ipv4.vs.sloppy_tcp=1 so that a connection whose packets a route
// change moves to another director is picked up there mid-stream. The VIP
// sits on a dummy or lo device (routed to the director, never ARPed). Its
// limits: adding or removing a real server remaps a share of the flows of
// the others (mh keeps it small: about 1/N of the table moves, and a
// larger table, the mh-fallback and mh-port flags aside, gives a finer
// spread), and destinations listed in a different order on two directors
// send one connection to two real servers. examples/bgp is such a
// director.
//
// Errors are the SDK's one *Error type with its sentinels; a bad
// configuration or route is refused with ErrInvalid, naming the field,
// before anything starts.
package bgp
