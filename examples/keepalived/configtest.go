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
	if c != nil {
		_, vprobs := planVRRP(c)
		probs = append(probs, vprobs...)
	}
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
