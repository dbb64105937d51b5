package main

import (
	"fmt"
	"io"

	"github.com/golvs/lvs/examples/keepalived/internal/conf"
)

// configTest is -t: every problem with file:line, and keepalived's exit
// codes.
func configTest(file string, stderr io.Writer) int {
	c, probs := conf.Parse(file)
	for _, p := range probs {
		fmt.Fprintln(stderr, p)
	}
	switch {
	case conf.HasErrors(probs):
		return exitTestErrors
	case len(probs) > 0:
		return exitTestWarning
	case c.Global.HasScripts && !c.Global.ScriptSecurity:
		fmt.Fprintf(stderr, "%s: scripts are configured but enable_script_security is not set\n", file)
		return exitTestScripts
	}
	return exitOK
}

// vrrpItems names what the file asks of the VRRP side, which this agent
// does not run yet.
func vrrpItems(c *conf.Config) []string {
	var out []string
	for _, in := range c.Instances {
		out = append(out, fmt.Sprintf("%s: vrrp_instance %s", in.Pos, in.Name))
	}
	for _, g := range c.SyncGroups {
		out = append(out, fmt.Sprintf("%s: vrrp_sync_group %s", g.Pos, g.Name))
	}
	for _, a := range c.StaticAddrs {
		out = append(out, fmt.Sprintf("%s: static_ipaddress %s", a.Pos, a.Prefix))
	}
	if d := c.Global.SyncDaemon; d != nil {
		out = append(out, fmt.Sprintf("%s: lvs_sync_daemon", d.Pos))
	}
	return out
}
