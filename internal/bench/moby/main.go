// Command mobybench times github.com/moby/ipvs v1.1.0 doing what
// internal/cmd/ipvsbench times the SDK doing, for comparison. It lives in a
// module of its own so that moby/ipvs never becomes a dependency of the
// SDK. ipvsbench runs it in its benchmark namespace:
//
//	mobybench create N D   # N TCP services with D destinations each
//	mobybench snapshot     # GetServices, then GetDestinations per service
//
// It prints one line: op count wall_ns user_ns sys_ns.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/moby/ipvs"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mobybench:", err)
		os.Exit(1)
	}
}

func cpu() (user, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// The same numbering as ipvsbench: service i is 10.100.i/250.i%250+1:80,
// its destination j is 172.16+j.i/250.i%250+1:8080 (NAT).
func svcAddr(i int) net.IP { return net.IPv4(10, 100, byte(i/250), byte(i%250+1)).To4() }
func dstAddr(i, j int) net.IP {
	return net.IPv4(172, byte(16+j), byte(i/250), byte(i%250+1)).To4()
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: mobybench create N D | snapshot")
	}
	h, err := ipvs.New("")
	if err != nil {
		return err
	}
	defer h.Close()
	count := 0
	u0, s0 := cpu()
	t0 := time.Now()
	switch args[0] {
	case "create":
		if len(args) != 3 {
			return fmt.Errorf("usage: mobybench create N D")
		}
		n, err1 := strconv.Atoi(args[1])
		d, err2 := strconv.Atoi(args[2])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("bad N or D")
		}
		for i := 0; i < n; i++ {
			s := &ipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: svcAddr(i), Port: 80,
				SchedName: "rr", Netmask: 0xffffffff}
			if err := h.NewService(s); err != nil {
				return fmt.Errorf("service %d: %w", i, err)
			}
			count++
			for j := 0; j < d; j++ {
				dst := &ipvs.Destination{AddressFamily: syscall.AF_INET, Address: dstAddr(i, j), Port: 8080, Weight: 1}
				if err := h.NewDestination(s, dst); err != nil {
					return fmt.Errorf("service %d destination %d: %w", i, j, err)
				}
				count++
			}
		}
	case "snapshot":
		svcs, err := h.GetServices()
		if err != nil {
			return err
		}
		for _, s := range svcs {
			count++
			ds, err := h.GetDestinations(s)
			if err != nil {
				return err
			}
			count += len(ds)
		}
	default:
		return fmt.Errorf("unknown op %q", args[0])
	}
	wall := time.Since(t0)
	u1, s1 := cpu()
	fmt.Printf("%s %d %d %d %d\n", args[0], count, wall.Nanoseconds(), (u1 - u0).Nanoseconds(), (s1 - s0).Nanoseconds())
	return nil
}
