// Package conf reads the subset of keepalived.conf(5) the keepalived agent
// runs: include, global_defs, static_ipaddress, vrrp_script,
// vrrp_sync_group, vrrp_instance, virtual_server_group and virtual_server
// with their real servers and checkers. The semantics (defaults included)
// are keepalived 2.2's as its manual page states them and as running it
// shows; nothing is taken from its source.
//
// Parsing is strict: every problem is reported with file:line. A keyword
// keepalived documents but the agent does not implement is an error (the
// agent would run something other than what the file says); a keyword
// keepalived does not know either is a warning, since keepalived ignores
// it as well.
package conf
