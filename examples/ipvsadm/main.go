// Command ipvsadm is a drop-in replacement for ipvsadm 1.31 written only on
// the golvs/lvs SDK: the same commands and options, the same output, the
// same messages and exit statuses. Built with CGO_ENABLED=0 it is a static
// binary that needs neither libnl nor libpopt.
//
//	ipvsadm -A -t 10.0.0.1:80 -s rr
//	ipvsadm -a -t 10.0.0.1:80 -r 192.168.10.1:80 -m
//	ipvsadm -Ln --stats
//	ipvsadm-save -n | ipvsadm -R
//
// It acts on the caller's network namespace (use ip netns exec); set
// IPVSADM_NETNS to a namespace path to target another one.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvsadm"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := ipvs.New(&ipvs.Config{NetNSPath: os.Getenv("IPVSADM_NETNS")})
	if err != nil {
		fmt.Fprintf(os.Stderr, "Can't initialize ipvs: %v\nAre you sure that IP Virtual Server is built in the kernel or as module?\n", err)
		return 2
	}
	defer c.Close()
	return ipvsadm.Run(ctx, c, os.Args, os.Stdin, os.Stdout, os.Stderr)
}
