// Package agent is the life cycle the example programs share: run set-up
// steps in order, print "ready", wait for SIGINT or SIGTERM, and undo the
// steps in reverse order. A failing step undoes the ones before it, so a
// failed start leaves nothing behind. Every step returns the SDK's one undo
// type, a *Setup (director.Setup, realserver.Setup and fwmark.Setup are
// all that type), so no adapter is needed.
//
// Every agent has an identity on the host (IDFlag: role and VIP unless
// -id says otherwise). The SDK records each set-up's undo on the host
// before making it, so an agent killed with SIGKILL and started again with
// the same identity first undoes what its dead predecessor left (Recover),
// then sets up afresh: a plain restart converges.
//
// Main adds the command line (exit status 2 for a bad one), Roles a first
// argument naming the side (director or realserver), and Director and
// RealServer the steps the programs have in common.
package agent
