//go:build !linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

var examples = []string{"nat", "dr", "tun", "fwmark", "ha"}

// mode is a forwarding mode; the lab's networks need Linux.
type mode struct {
	key   string
	extra bool
}

func modes() []mode { return nil }

func nativeProblem() error { return errors.New("network namespaces need Linux") }

func runNative(context.Context, options) int {
	fmt.Fprintln(os.Stderr, "lab: needs Linux")
	return 1
}
