// Package diag is the SDK's one shape for what a check finds:
// director.CheckVIP and CheckReturnPath, realserver.CheckDR and CheckTUN
// and fwmark.Conflicts all return Findings, re-exported by each package
// (`type Finding = diag.Finding`) so that users learn it once.
package diag
