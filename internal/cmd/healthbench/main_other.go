//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "healthbench: IPVS is Linux only")
	os.Exit(1)
}
