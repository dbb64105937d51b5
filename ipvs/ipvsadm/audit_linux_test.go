//go:build linux

package ipvsadm_test

import (
	"strings"
	"testing"
)

// auditCorpus holds the cases of the wider comparison with ipvsadm 1.31
// (issue 21): option parsing, the restore loop, the print paths. Each
// sequence runs as the corpus's do (compareSequence); auditSeen[i] are
// strings the real ipvsadm's output of sequence i must hold, so that a
// case cannot pass by failing the same way twice.
var auditCorpus = [][]string{
	// SCTP ports by name (/etc/services has amqp 5672/sctp, http only for
	// tcp and udp): looked up for SCTP on input, printed by name without -n.
	{"-A --sctp-service 10.1.1.1:amqp", "-A --sctp-service 10.1.1.1:http", "-A --sctp-service 10.1.1.1:22", "-A --sctp-service 10.1.1.1:5672", "-a --sctp-service 10.1.1.1:amqp -r 10.1.2.1:amqp -m", "-L", "-S", "-L --sctp-service 10.1.1.1:amqp", "-L --stats"},
	// marks above 2^31 print as signed ints, in -S too (which -R refuses)
	{"-A -f 4294967295", "-A -f 2147483648 -6", "-A -f 2147483647", "-a -f 4294967295 -r 10.0.0.2", "-Ln -f 4294967295", "-Ln --stats", "-L --rate", "-S", "<<-A -f -1\\n-A -f 4294967294\\n"},
	// -R ends at -v, --version and -h (status 0), and at -R
	{"<<-A -t 1.1.1.1:80\\n-v\\n-A -t 1.1.1.2:80\\n"},
	{"<<-A -t 1.1.1.1:80\\n--version -A\\n-A -t 1.1.1.2:80\\n"},
	{"<<-A -t 1.1.1.1:80\\n-h\\n-A -t 1.1.1.2:80\\n"},
	{"<<-A -t 1.1.1.1:80\\n--help\\n-A -t 1.1.1.2:80\\n"},
	{"<<-A -t 1.1.1.1:80\\nfoo\\n-A -t 1.1.1.2:80\\n"},
	// the restore loop's reading: "ipvsadm" dropped anywhere, only
	// space, tab, CR and newline separate words, a last line ending in
	// two blanks without a newline is lost, one ending in one blank is not
	{"<<-A -t 1.1.1.1:80 ipvsadm -s rr\\nipvsadm\\n  ipvsadm   -A -t 1.1.1.2:80\\n-A -t 1.1.1.3:80 -s ipvsadm\\n"},
	{"<<-A -t 1.1.1.1:80\\r\\n\\t-A\\t-t 1.1.1.2:80\\r\\n-A -t 1.1.1.4:80\\v-s rr\\n-A -t 1.1.1.3:80  "},
	{"<<-A -t 1.1.1.1:80\\n-A -t 1.1.1.3:80 "},
	{"<<-A -t 1.1.1.1:80\\n\\n   \\n\\t\\n-A -t 1.1.1.3:80"},
	{"<<-S\\n-A -t 1.1.1.1:80\\n-S\\n-Sn\\n-L\\n-Ln -t 1.1.1.1:80\\n-L -t 1.1.1.9:80\\n-A -t 1.1.1.2:80\\n"},
	// a word longer than ipvsadm's 4096-byte reads, a line over 1 MiB
	{"<<-A -t 1.1.1.1:80 -s " + strings.Repeat("r", 5000) + "\\n-A -t 1.1.1.2:80\\n"},
	{"<<-A -t 1.1.1.1:80" + strings.Repeat(" ", 1<<20+100) + "-s rr\\n-A -t 1.1.1.2:80\\n"},
	// -h and -v after the command, -h with a command
	{"-A -t 1.1.1.1:80 -h", "-L -v", "-h -A", "-v -L", "--help --bogus", "-A -t 1.1.1.1:80 --version"},
	// popt: optional arguments, clusters, =, --, a lone -, no abbreviations
	{"-A -t 1.1.1.1:80 -p -s rr", "-A -t 1.1.1.2:80 -p5", "-A -t 1.1.1.3:80 --persistent=7", "-A -t 1.1.1.4:80 --persistent -7", "-A -t 1.1.1.5:80 -p=8", "-A -t1.1.1.6:80", "-At1.1.1.7:80", "-A --tcp-service=1.1.1.8:80", "-A --tcp 1.1.1.9:80"},
	{"-A -t 1.1.2.1:80 -s", "-A -t 1.1.2.2:80 -- -s rr", "-A -t 1.1.2.3:80 -", "-A -t 1.1.2.4:80 -s rr -s wrr", "-A -t 1.1.2.5:80 --scheduler=", "-A -t 1.1.2.6:80 -sp", "-A -t 1.1.2.7:80 -ps", "-A -t 1.1.2.8:80 -p 0x10", "-A -t 1.1.2.9:80 -p +9", "-A -t 1.1.2.10:80 -p 2678400", "-A -t 1.1.2.11:80 -p -0"},
	{"-A -t 1.1.3.1:80 --persistent", "-A -t 1.1.3.2:80 --sort", "-A -t 1.1.3.3:80 -n", "-A -t 1.1.3.4:80 -X", "-A -t 1.1.3.5:80 -w 5", "-A -t 1.1.3.6:80 --pe", "-A -t 1.1.3.7:80 -s RR", "-A -t 1.1.3.8:80 --rate", "-A --stats -t 1.1.3.9:80", "-A -t 1.1.3.10:80 -c"},
	// addresses and ports
	{"-A -t 1.1.4.1:65536", "-A -t 1.1.4.2:-1", "-A -t 1.1.4.3:080", "-A -t 1.1.4.4:0x50", "-A -t 1.1.4.5:", "-A -t :80", "-A -t [::1]", "-A -t [::1]:", "-A -t ::ffff:1.2.3.4:80", "-A -t fe80::1%lo", "-A -t [fe80::1%lo]:80", "-A -t 1.1.4.6:80:81", "-A -t 1.1.4.7", "-A -t 4294967295:80", "-A -t 1.1.4.8:65535", "-A -u 1.1.4.9:ssh", "-A -t 1.1.4.10:domain"},
	{"-A -t 1.1.5.1:80", "-a -t 1.1.5.1:80 -r 1.1.6.1:0 -m", "-a -t 1.1.5.1:80 -r 1.1.6.2:http -m", "-a -t 1.1.5.1:80 -r 1.1.6.3:65536 -m", "-a -t 1.1.5.1:80 -r 1.1.6.4:-1 -m", "-a -r 1.1.6.5:http -t 1.1.5.1:80 -m", "-a -t 1.1.5.1:80 -r 1.1.6.6 -m -w 0x5", "-a -t 1.1.5.1:80 -r 1.1.6.7 -m -w 5abc", "-a -t 1.1.5.1:80 -r 1.1.6.8 -m -w +5", "-a -t 1.1.5.1:80 -r 1.1.6.9 -m -w -0", "-a -t 1.1.5.1:80 -r 1.1.6.10 -m -w 5 -w 6", "-a -t 1.1.5.1:80 -r 1.1.6.11 -y 5", "-a -t 1.1.5.1:80 -r 1.1.6.12 -x 0 -y 0", "-a -t 1.1.5.1:80 -r 1.1.6.13 -x 2147483648", "-Ln --thresholds"},
	{"-A -t 1.1.5.1:80", "-a -t 1.1.5.1:80 -r 1.1.6.1 -m", "-d -t 1.1.5.1:80 -r 1.1.6.1 -m", "-d -t 1.1.5.1:80 -r 1.1.6.1 -w 3", "-e -t 1.1.5.1:80 -r 1.1.6.1 -m -x 9 -y 3", "-e -t 1.1.5.1:80 -r 1.1.6.1:81 -m", "-e -t 1.1.5.1:80 -r 1.1.6.1 -g", "-Ln --thresholds", "-d -t 1.1.5.1:80 -r 1.1.6.1:80", "-d -t 1.1.5.1:80"},
	// netmasks
	{"-A -t 1.1.7.1:80 -M 255.255.255.0", "-A -t 1.1.7.2:80 -p -M 0.0.0.0", "-A -t 1.1.7.3:80 -p -M 255.0.255.0", "-A -t 1.1.7.4:80 -p -M 24", "-A -f 11 -M 64 -6 -p", "-A -f 12 -6 -p -M 129", "-A -f 13 -6 -p -M 0x40", "-A -t [2001:db8::7]:80 -p -M 64x", "-A -t 1.1.7.5:80 -p -M localhost", "-A -t 1.1.7.6:80 -p -M 255.255.255.255", "-A -t [2001:db8::8]:80 -p -M 128", "-E -t 1.1.7.1:80 -p 9"},
	// listing options, alone and together
	{"-A -t 1.1.8.1:80 -s rr -p 60", "-a -t 1.1.8.1:80 -r 1.1.9.1 -m -x 10 -y 2", "-Ln --stats --rate", "-Ln --rate --thresholds", "-Ln --thresholds --persistent-conn", "-Ln --persistent-conn --tun-info", "-Ln --tun-info --thresholds", "-Ln --exact", "-Ln --nosort --sort", "-Ln --sort --sort", "-Ln -n", "-L -t 1.1.8.1:80 -c", "-L -t 1.1.8.1:80 --timeout", "-L --daemon --timeout", "-L --timeout --connection", "-L -6", "-L -f 1 -6", "-Ln -t 1.1.8.1:80 --nosort", "-S -n -n", "-S --nosort", "-S --stats", "-Sn -t 1.1.8.1:80", "-C extra", "-L extra", "-Z -n", "-Z -t 1.1.8.1:80 --stats"},
	// timeouts and daemons at their edges
	{"--set 2678400 2678400 2678400", "-L --timeout", "--set 2678401 1 1", "--set 1 1 0x1", "--set 1 1 1 -n", "--set 5 5", "-L --timeout", "--set 900 120 300"},
	{"--start-daemon master --mcast-interface lo --syncid 0", "-L --daemon", "--start-daemon master --mcast-interface lo", "--stop-daemon master", "--start-daemon master --mcast-interface lo --mcast-group ff02::1 --mcast-port 1 --mcast-ttl 255 --sync-maxlen 65507", "-L --daemon", "--stop-daemon master", "--start-daemon", "--start-daemon master extra", "--stop-daemon master --syncid 3", "--start-daemon master -t 1.1.1.1:80", "--start-daemon=backup --mcast-interface=lo", "-L --daemon", "--stop-daemon=backup"},
	// popt's = after a short option; scheduler flags read for any
	// command, against the scheduler as given, before the option checks
	{"-A -t 1.1.10.1:80 -s=rr", "-A -t 1.1.10.2:80 -b=flag-1", "-A -t 1.1.10.3:80 -n=5", "-Ln=5", "-A -t 1.1.10.4:80 -p=", "-A -t 1.1.10.5:80 -s="},
	{"-L -b bogus", "-L -b flag-1", "-a -t 1.1.11.1:80 -r 1.1.11.2 -b sh-port", "-a -t 1.1.11.1:80 -r 1.1.11.2 -b flag-2", "-E -t 1.1.11.1:80 -b flag-1", "-A -t 1.1.11.1:80 -b flag-1 -s sh", "-A -t 1.1.11.2:80 -s sh -b sh-port,flag-1", "-A -t 1.1.11.3:80 -b sh-port -s sh", "-A -t 1.1.11.4:80 -b mh-port", "-D -t 1.1.11.5:80 -b bogus", "-Ln"},
	// both sync daemons; persistence engines (ip_vs_pe_sip loaded by the test)
	{"--start-daemon master --mcast-interface lo --syncid 1", "--start-daemon backup --mcast-interface lo --syncid 2 --sync-maxlen 1400", "-L --daemon", "--stop-daemon master", "-L --daemon", "--stop-daemon backup", "-L --daemon"},
	{"-A -t 1.1.12.1:80 -p --pe sipsipsipsipsipsipsip", "-A -u 1.1.12.2:5060 -p 10 --pe sip", "-E -u 1.1.12.2:5060 -p 10", "-E -u 1.1.12.2:5060 -p 20 --pe sip -s rr", "-S", "-L", "-A -t 1.1.12.3:80 -p --pe SIP", "-A -t 1.1.12.4:80 -p --pe sip --pe sip"},
	// table-wide commands inside -R: kernel errors are printed and it goes on
	{"<<-A -t 1.1.13.1:80\n-C\n--set 1 2 3\n--start-daemon master --mcast-interface nosuch0\n-A -t 1.1.13.2:80\n-L --timeout\n-Z\n--stop-daemon master\n", "<<-A -t 1.1.13.3:80 -s nosuch\n", "<<-A -t 1.1.13.3:80 -s nosuch\n-A -t 1.1.13.4:80\n", "<<-A --bogus\n-A -t 1.1.13.5:80\n", "<<-A -t 1.1.13.6:80\n-A --bogus\n"},
	{"--start-daemon master --mcast-interface abcdefghijklmnopq", "--start-daemon master --mcast-interface lo --syncid 256", "--start-daemon master --mcast-interface lo --mcast-port 65536", "--start-daemon master --mcast-interface lo --sync-maxlen 0", "--start-daemon master --mcast-interface lo --mcast-group 224.0.0.1 --mcast-group 224.0.0.2", "--start-daemon master --mcast-interface lo --mcast-group ff02::1x"},
	// which error wins: the first failing check in ipvsadm's order
	{"-A -t bogus..:80 -s rr -s wrr", "-A -s rr -s wrr -t bogus..:80", "-A -t 1.1.1.1:80 -w 5 -r 1.1.1.2", "-A -t 1.1.1.1:0 -o", "-A -u 1.1.1.1:0 -o -b sh-port", "-A -t 1.1.1.1:80 -o -b bogus", "-a -t 1.1.1.1:80 -r [2001:db8::1] -m --tun-port 5", "-a -t 1.1.1.1:80 -r 1.1.1.2 -m --tun-type gue --tun-csum", "-a -t 1.1.1.1:80 -r 1.1.1.2 -i --tun-type gre --tun-port 5 --tun-remcsum", "-L -c --stats --timeout", "-A -t 1.1.1.1:80 -p 0 -s nosuch", "-A -f 0 -6", "-E", "-a -t 1.1.1.1:80", "-d -r 1.1.1.2", "--set", "--set 1 2 3 -t 1.1.1.1:80"},
	// a persistence engine without -p: accepted, listed without the engine, saved with it
	{"-A -t 10.0.0.1:80 --pe sip", "-Sn", "-Ln", "-E -t 10.0.0.1:80 -p 30 --pe sip", "-Sn", "-Ln"},
}

var auditSeen = [][]string{
	{"SCTP 10.1.1.1:amqp wlc\n", "-A --sctp-service 10.1.1.1:amqp -s wlc\n", "-a --sctp-service 10.1.1.1:amqp -r 10.1.2.1:amqp -m -w 1\n", "SCTP 10.1.1.1:22 wlc\n"},
	{"FWM  -1 wlc\n", "-A -f -1 -s wlc\n", "FWM  -2147483648 IPv6"},
	{"ipvsadm v1.31"},
	// (indexes 3 to 31: nothing required)
	nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil,
	{"-A -t 10.0.0.1:80 -s wlc --pe sip\n"},
}

func TestKernelAuditMatchesRealIpvsadm(t *testing.T) {
	ourIpvsadm(t)                  // skips where there is none
	loadModules(t, "ip_vs_pe_sip") // --pe sip
	runCorpus(t, auditCorpus, "", func(i int) bool { return i%2 == 0 }, auditSeen, true)
}
