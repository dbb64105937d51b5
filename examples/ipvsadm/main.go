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
