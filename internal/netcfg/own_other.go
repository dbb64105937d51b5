//go:build !linux

package netcfg

// tx is the ownership transaction of a Journal; ownership records need
// Linux.
type tx struct{}
