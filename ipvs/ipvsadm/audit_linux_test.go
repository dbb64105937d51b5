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
}

var auditSeen = [][]string{
	{"SCTP 10.1.1.1:amqp wlc\n", "-A --sctp-service 10.1.1.1:amqp -s wlc\n", "-a --sctp-service 10.1.1.1:amqp -r 10.1.2.1:amqp -m -w 1\n", "SCTP 10.1.1.1:22 wlc\n"},
	{"FWM  -1 wlc\n", "-A -f -1 -s wlc\n", "FWM  -2147483648 IPv6"},
	{"ipvsadm v1.31"},
}

func TestKernelAuditMatchesRealIpvsadm(t *testing.T) {
	runCorpus(t, auditCorpus, "", func(i int) bool { return i%2 == 0 }, auditSeen)
}
