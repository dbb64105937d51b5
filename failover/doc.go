// Package failover turns an election's role changes into host actions, as
// keepalived does for a pair of LVS directors: it knows nothing of the
// protocol (package failover/vrrp elects; any Elector will do).
//
//	fo, err := failover.New(&failover.Config{
//		Identity: "ha@192.0.2.10", Interface: "eth0", VRID: 51,
//		VIPs: []netip.Addr{vip},
//		Sync: failover.Sync{Mode: failover.SyncFollow, Interface: "eth0"},
//		Elector: node, Priority: 150,
//	})
//	// with node, err := vrrp.New(&vrrp.Config{..., OnEvent: fo.HandleVRRP})
//	err = fo.Run(ctx) // until ctx ends; then nothing of ours is left
//
// # Roles and actions
//
// On Master it adds the VIPs through package director (AddVIP in ARP mode,
// as a /32 or /128 on Config.Interface) with a burst of gratuitous ARP
// (unsolicited neighbour advertisements for IPv6), then a second burst
// SecondBurstDelay later if still Master: keepalived's pattern, 5 at once
// and 5 more after 5 s by default, so that neighbours that missed the
// first switch too; with a RefreshInterval, Refresh is sent that often
// while Master (keepalived's vrrp_garp_master_refresh), and Outranked when
// the elector hears a master this one outranks (two masters after a
// partition; keepalived's garp_lower_prio_repeat). On Backup, Fault
// and stop it removes them (only the
// ones it added). A role is applied on Run's goroutine; SetRole and
// HandleVRRP never block, so an elector's callback may call them.
//
// # Connection synchronisation
//
// With SyncFollow (keepalived's lvs_sync_daemon) the IPVS master sync
// daemon runs while Master and the backup daemon otherwise, with one sync
// ID (the VRID by default) on both nodes. With SyncBoth each node runs a
// master daemon with its own ID and a backup daemon listening for the
// peer's, for the whole of Run, so that a node that is Backup, or comes
// back after a crash, keeps learning the live connections whatever the
// roles. The sync protocol is best effort (UDP multicast, no
// acknowledgement or resend, no bulk resync): a TCP connection is synced
// on its 3rd packet and then every 50th (net.ipv4.vs.sync_threshold "3
// 50"), on state changes, or per sync_refresh_period; buffers leave at
// most every 2 s, so connections younger than about 2 s, or with fewer
// than 3 packets, can be lost in a crash. A node returning with a higher
// priority should not take the VIP back before it has learnt the live
// connections: give it a preempt delay (vrrp.Config.PreemptDelay) of a
// few seconds, longer than the sync interval, or SyncBoth: its backup
// daemon runs in Fault too, so a node whose tracker failed keeps learning
// the connections its peer serves and can preempt as soon as it recovers
// (TestKernelSyncBoth shows a session opened while the node was in Fault
// surviving its immediate failback).
//
// # Tracking
//
// Every CheckInterval the Trackers run (a health pool's quorum, anything
// quick) and the interfaces are looked at (Interface and TrackInterfaces).
// A failing tracker of weight 0, or an interface down or gone, forces
// Fault: the elector is stopped (a vrrp master then sends priority 0 so
// that its peer takes over at once) and the VIPs removed; once all is
// well again the Client goes to Backup and runs the elector again.
// Weighted trackers raise or lower the priority offered to the elector,
// as keepalived's track_script weight.
//
// # Events
//
// Config.OnEvent receives every role change after its actions were made
// (keepalived's notify_master, notify_backup, notify_fault and
// notify_stop), tracker changes, priority changes and failed host actions
// (EventError: the role stays; a VIP that could not be added is reported,
// never logged).
//
// # Crashes and shared hosts
//
// The VIPs and daemons are recorded on the host before they are made
// (director's records, under Config.Identity). A process killed with
// SIGKILL leaves them; the next New with the same Identity removes them
// before anything else, so a restarted node converges. A sync daemon that
// runs in the role we need but was not started by us is someone else's:
// Run refuses it (ErrConflict) and touches nothing.
//
// # Errors
//
// Every error is an *Error (the SDK's one error type) whose Kind is one of
// the sentinels re-exported here: ErrInvalid with the Config field named
// (checked before anything changes; a missing interface is ErrNotExist
// with the field), ErrConflict, ErrBusy (Run twice), ErrClosed,
// ErrNotSupported outside Linux, and the kinds of the director and ipvs
// calls underneath.
package failover
