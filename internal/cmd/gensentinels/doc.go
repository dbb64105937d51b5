// Command gensentinels writes sentinels.go in every public package: the
// re-export of internal/errs' sentinels (see internal/errs/sentinelgen).
// Run it from the module root: go generate (doc.go names it).
package main
