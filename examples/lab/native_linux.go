package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// runNative runs the selected modes here, one after the other.
func runNative(ctx context.Context, o options) int {
	ms, err := selectModes(o.modes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		return 2
	}
	tmp, err := os.MkdirTemp("", "lab-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bins, err := findBinaries(ctx, o.bin, tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		return 1
	}
	uname, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Printf("lab: Linux %s; every host below is a network namespace; %d requests per mode\n", strings.TrimSpace(string(uname)), o.n)
	prefix := fmt.Sprintf("lab%d-", os.Getpid())
	var summary []string
	status := 0
	for _, m := range ms {
		t := time.Now()
		res := runMode(ctx, os.Stdout, m, bins, prefix, o.n)
		verdict := "PASS"
		if !res.ok {
			verdict, status = "FAIL", 1
		}
		summary = append(summary, fmt.Sprintf("%s %s (%.0fs)", verdict, m.title, time.Since(t).Seconds()))
		if ctx.Err() != nil {
			status = 1
			break
		}
	}
	fmt.Println("\nlab: summary")
	for _, s := range summary {
		fmt.Println("  " + s)
	}
	return status
}
