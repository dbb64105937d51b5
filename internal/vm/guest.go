package vm

import (
	"fmt"
	"sort"
	"strings"
)

// preload lists the modules the guest loads before the script runs, so that
// tests see the same kernel facilities on every kernel and never depend on
// autoload timing. A module missing from a kernel is reported, not fatal.
// IPVS schedulers are loaded too; the kernel can still autoload them
// (ip_vs_<name>) through /sbin/modprobe, which tests of autoload rely on after
// removing one. A run with RunOptions.NoAutoload loads none of them and turns
// autoloading off instead.
var preload = []string{
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_fo", "ip_vs_ovf",
	"ip_vs_lblc", "ip_vs_lblcr", "ip_vs_dh", "ip_vs_sh", "ip_vs_mh", "ip_vs_sed", "ip_vs_nq",
	"ip_vs_twos", "ip_vs_pe_sip", "ip_vs_ftp",
	"veth", "dummy", "bridge", "ipip", "fou", "ip_gre", "gre", "ip6_tunnel", "ip6_gre", "sit",
	"nf_conntrack", "nf_nat", "nf_tables", "nft_compat", "nft_ct", "nft_nat", "nft_masq",
	"nft_chain_nat", "nft_reject_inet", "nft_fib_inet", "nft_limit", "nft_numgen", "nft_hash",
	"nft_redir", "nft_log", "nft_objref", "nft_quota", "nft_socket", "nft_tproxy",
	"nft_meta_bridge",
	"iptable_filter", "iptable_mangle", "iptable_nat", "iptable_raw",
	"ip6table_filter", "ip6table_mangle", "ip6table_nat", "ip6table_raw",
	"arp_tables", "arptable_filter", "arpt_mangle",
	"xt_mark", "xt_multiport", "xt_ipvs", "xt_TCPMSS", "xt_conntrack", "xt_tcpudp",
	"xt_MASQUERADE", "xt_nat", "xt_comment", "xt_addrtype", "xt_set", "xt_statistic", "xt_LOG",
	"xt_CT", "xt_NFQUEUE", "xt_state",
}

// Modules kept in the image besides the preload list and its dependencies:
// everything under these directories of /lib/modules/<release>/kernel.
var moduleDirs = []string{"net/", "drivers/net/dummy", "drivers/net/veth", "drivers/net/macvlan",
	"drivers/net/ipvlan/", "drivers/net/vxlan", "drivers/net/geneve", "drivers/net/tun",
	"drivers/net/ifb", "drivers/net/bonding/"}

// moduleSkip names directories under net/ that tests never need (file
// systems' transports, other protocol families); they only slow the boot.
var moduleSkip = []string{"net/sunrpc/", "net/ceph/", "net/tipc/", "net/smc/", "net/rds/",
	"net/vmw_vsock/", "net/9p/", "net/wireless/", "net/mac80211/", "net/bluetooth/", "net/rxrpc/",
	"net/dccp/", "net/l2tp/", "net/atm/", "net/can/", "net/ieee802154/", "net/mac802154/", "net/nfc/"}

// Markers the guest writes; the host parses them.
const (
	readyMarker = "lvs-vm: ready"
	exitPrefix  = "LVS-EXIT "
	outBegin    = "LVS-OUT-BEGIN"
	outEnd      = "LVS-OUT-END"
	guestOut    = "/lvs/out"
	guestScript = "/lvs/run.sh"
	guestEnv    = "/lvs/env.sh"
	noModprobe  = "/lvs/no-modprobe" // never exists
)

// initScript is the guest's /init, run by busybox sh. The console (ttyS0)
// carries kernel messages and the script's output; ttyS1 is a private
// channel to the host that carries only the out directory and the exit
// status, so nothing the kernel prints can be mistaken for them.
func initScript() string {
	return `#!/bin/busybox sh
# /lvs/bin (programs placed per run) comes last: a program named like a
# reference tool (examples/ipvsadm) must not shadow the real one.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/lvs/bin
mount -t proc proc /proc
read up rest </proc/uptime; echo "lvs-vm: init at ${up}s"
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /run/netns /root
hostname lvs-vm
/usr/sbin/ip link set lo up
export HOME=/root TMPDIR=/tmp LVS_VM=1 LVS_VM_OUT=` + guestOut + `
export LVS_VM_RELEASE="$(uname -r)"
. ` + guestEnv + `
if [ "$LVS_VM_AUTOLOAD" = 0 ]; then
	# The kernel's request_module runs this path, which does not exist:
	# nothing loads behind the tests' back; modprobe by hand still works.
	echo ` + noModprobe + ` >/proc/sys/kernel/modprobe
	echo "lvs-vm: module autoloading off; loaded: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
else
	echo /sbin/modprobe >/proc/sys/kernel/modprobe
	missing=
	mods="` + strings.Join(preload, " ") + `"
	/sbin/modprobe -a -q $mods
	for m in $mods; do
		[ -d /sys/module/$m ] || grep -q "/$m.ko" /lib/modules/$(uname -r)/modules.builtin || missing="$missing $m"
	done
	[ -n "$missing" ] && echo "lvs-vm: modules not in this kernel:$missing"
fi
mkdir -p "$LVS_VM_OUT"
cd /lvs
read up rest </proc/uptime
echo "` + readyMarker + ` (kernel $LVS_VM_RELEASE, ${up}s after boot)"
/usr/bin/bash ` + guestScript + ` </dev/null
rc=$?
echo "lvs-vm: script exited with status $rc"
stty -F /dev/ttyS1 raw -echo 2>/dev/null
{
	if [ -n "$(ls -A "$LVS_VM_OUT")" ]; then
		echo ` + outBegin + `
		tar -C "$LVS_VM_OUT" -cf - . | gzip -c | base64
		echo ` + outEnd + `
	fi
	echo "` + exitPrefix + `$rc"
} >/dev/ttyS1
sleep 0.2
poweroff -f
`
}

// envScript renders the per-run environment file the init script sources.
func envScript(kernel string, noAutoload bool, env map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "export LVS_VM_KERNEL=%s\n", shellQuote(kernel))
	autoload := "1"
	if noAutoload {
		autoload = "0"
	}
	fmt.Fprintf(&b, "export LVS_VM_AUTOLOAD=%s\n", autoload)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(env[k]))
	}
	return b.String()
}

// shellQuote quotes s for sh and bash.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShellQuote quotes each argument for bash and joins them with spaces, for
// building RunOptions.Script from an argument list.
func ShellQuote(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
