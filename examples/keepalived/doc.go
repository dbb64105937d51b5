// Command keepalived is a keepalived-compatible agent built on the SDK: it
// reads an existing keepalived.conf (keepalived.conf(5), keepalived 2.2's
// semantics) and runs its LVS side: the virtual servers become IPVS
// services through one ipvs.Client.Apply path, and the real servers'
// checkers run in package health's pools.
//
//	keepalived [-f|--use-file FILE] [-n|--dont-fork] [-l|--log-console]
//	           [-D|--log-detail] [-P|--vrrp] [-C|--check] [-t|--config-test]
//	           [-p|--pid FILE]
//
// It always runs in the foreground and logs to standard error (-n, -l and
// -D are accepted for compatibility). -t parses and validates the file,
// prints every problem with file:line and exits as keepalived does: 0 when
// the file is fine, 4 when it has only warnings (keywords keepalived
// ignores too), 3 when it has errors (keywords keepalived runs but this
// agent does not, bad values), 5 when scripts are configured without
// enable_script_security. Starting with a file that has errors exits 1
// without touching anything: never a silent partial configuration.
//
// SIGHUP re-reads the file and applies the difference: unchanged virtual
// and real servers keep their checks and their state, a changed real server
// is one IPVS change, a removed one is drained (weight 0, then deleted once
// IPVS counts none of its connections). SIGTERM and SIGINT remove the IPVS
// services the agent made and exit 0.
//
// The VRRP side runs through package failover/vrrp (the election) and
// package failover (what a role does to the host): per vrrp_instance one
// vrrp.Node and one failover.Client per device its VIPs go on (the first
// VIP's device has the elector's, the others follow its role). A
// vrrp_script runs once, however many instances track it, and is a
// tracker of each (rise/fall, timeout, weight; weight 0 forces FAULT), track_interface and the instance's interface force FAULT,
// lvs_sync_daemon makes the IPVS sync daemons follow the role, the
// members of a vrrp_sync_group fault together and move together, as in
// keepalived 2.2.7: a member whose master is gone stays BACKUP until every
// member's is (or is MASTER), one member's transition to MASTER, or from
// MASTER to BACKUP, moves the others with it, and they track their scripts
// with weight 0, as keepalived.conf(5) says; and notify_master, _backup,
// _fault, _stop and notify (with "INSTANCE"|"GROUP", the name, the state
// and the priority after its own arguments) run in event order, without a
// shell, once enable_script_security is set. The log lines are
// keepalived's ("(VI_1) Entering MASTER STATE"). On SIGTERM a MASTER sends
// a priority-0 advert and removes its VIPs before the services go; SIGHUP
// restarts only the instances whose configuration changed. -P runs only
// the VRRP side, -C only the virtual servers and checks.
// vrrp_garp_master_refresh and _refresh_repeat (garp_master_refresh and
// _refresh_repeat in an instance) resend gratuitous ARPs that often while
// MASTER, on the instance's interface; vrrp_garp_lower_prio_repeat
// (garp_lower_prio_repeat) sends that many for every VIP when a MASTER
// hears a master it outranks, and again vrrp_garp_lower_prio_delay later
// (default: the master delay); unset, none are sent. Not run, and so
// refused with file:line: VIPs wider than a host address, with a label or
// a non-global scope (package director adds a VIP as a global host
// address, nothing else), and static_ipaddress (not a VRRP role's).
//
// An instance starts as BACKUP and waits the master-down interval for a
// master, whatever its state; state MASTER matters to an address owner
// (priority 255) alone, as in keepalived 2.2.7: it is MASTER at once (with
// nopreempt or preempt_delay, or state BACKUP, it waits as any priority).
package main
