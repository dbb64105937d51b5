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
