//go:build linux

package ipvsadm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/golvs/lvs/internal/nstest"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/ipvs/ipvsadm"
)

const realIpvsadm = "/usr/sbin/ipvsadm"

// ourIpvsadm is examples/ipvsadm, which vmtest builds onto the guest's PATH
// (testdata/vmbuild.txt).
func ourIpvsadm(t *testing.T) string {
	for _, p := range []string{"/lvs/bin/ipvsadm", os.Getenv("LVS_OUR_IPVSADM")} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("LVS_VM") == "1" {
		t.Fatal("examples/ipvsadm is not on the guest's PATH (/lvs/bin/ipvsadm)")
	}
	t.Skip("needs examples/ipvsadm built at /lvs/bin/ipvsadm or $LVS_OUR_IPVSADM")
	return ""
}

// routes gives a fresh namespace default routes (IPv4 and IPv6) through a
// dummy device, so that the kernel's "address not unicast" check (which
// consults routing) accepts real servers. Through netlink, not ip(8):
// under emulation every process costs.
func routes(t *testing.T, ns *nstest.NS) {
	t.Helper()
	err := ns.Do(func() error {
		d := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "d0"}}
		if err := netlink.LinkAdd(d); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(d); err != nil {
			return err
		}
		for _, dst := range []string{"0.0.0.0/0", "::/0"} {
			_, n, _ := net.ParseCIDR(dst)
			if err := netlink.RouteAdd(&netlink.Route{LinkIndex: d.Attrs().Index, Dst: n}); err != nil {
				return fmt.Errorf("route to %s: %w", dst, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("routes in %s: %v", ns.Name, err)
	}
}

// script runs the steps with the ipvsadm found first on PATH (so that
// argv[0] is "ipvsadm" for both tools) and prints, per step, its exit
// status, stdout and stderr, using shell builtins only: under emulation
// every process costs. A step "<<TEXT" runs -R with TEXT (\n separated)
// on stdin.
func script(t *testing.T, binDir string, steps []string) string {
	return scriptFrom(t, binDir, steps, 0)
}

// scriptFrom numbers the steps from first.
func scriptFrom(t *testing.T, binDir string, steps []string, first int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "PATH=%s:$PATH\nd=%s\n", binDir, t.TempDir())
	b.WriteString("show() { local x=(); mapfile -t -d '' x < \"$1\"; printf '%s' \"${x[0]}\"; }\n")
	for i, s := range steps {
		if text, ok := strings.CutPrefix(s, "<<"); ok {
			fmt.Fprintf(&b, "printf '%%b' %q > $d/in\nipvsadm -R < $d/in >$d/o 2>$d/e; rc=$?\n", text)
		} else {
			fmt.Fprintf(&b, "ipvsadm %s >$d/o 2>$d/e; rc=$?\n", s)
		}
		fmt.Fprintf(&b, "echo \"### %d\"; echo \"rc=$rc\"; echo '--- stdout'; show $d/o; echo '--- stderr'; show $d/e\n", first+i)
	}
	return b.String()
}

// runInProcess runs the steps through ipvsadm.Run on a Client of ns and
// prints what script prints.
func runInProcess(t *testing.T, ns *nstest.NS, steps []string) string {
	t.Helper()
	c := newClient(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var b strings.Builder
	for i, s := range steps {
		var stdin io.Reader
		args := append([]string{"ipvsadm"}, strings.Fields(s)...)
		if text, ok := strings.CutPrefix(s, "<<"); ok {
			args = []string{"ipvsadm", "-R"}
			stdin = strings.NewReader(strings.ReplaceAll(text, "\\n", "\n"))
		}
		var o, e bytes.Buffer
		rc := ipvsadm.Run(ctx, c, args, stdin, &o, &e)
		fmt.Fprintf(&b, "### %d\nrc=%d\n--- stdout\n%s--- stderr\n%s", i, rc, o.String(), e.String())
	}
	return b.String()
}

// realBin is a directory whose "ipvsadm" is the real one.
func realBin(t *testing.T) string {
	d := t.TempDir()
	if err := os.Symlink(realIpvsadm, d+"/ipvsadm"); err != nil {
		t.Fatal(err)
	}
	return d
}

func runScript(t *testing.T, ns *nstest.NS, s string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// On stdin: a script can be longer than the kernel takes as an argument.
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, "bash", "-s")
	cmd.Stdin = strings.NewReader(s)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script in %s: %v\n%s", ns.Name, err, out)
	}
	return string(out)
}

// loadModules loads kernel modules a test needs, explicitly: a kernel
// that autoloads nothing must pass too.
func loadModules(t *testing.T, mods ...string) {
	t.Helper()
	for _, m := range mods {
		if out, err := exec.Command("modprobe", m).CombinedOutput(); err != nil {
			t.Fatalf("modprobe %s: %v\n%s", m, err, out)
		}
	}
}

// final listings every sequence ends with.
var final = []string{"-Sn", "-Ln"}

func TestKernelCorpusMatchesRealIpvsadm(t *testing.T) {
	ourIpvsadm(t)                  // skips where there is none
	loadModules(t, "ip_vs_pe_sip") // --pe sip
	// Every fourth sequence runs the example binary; the others run the
	// same code in process, which is much faster under emulation.
	runCorpus(t, corpus, "", func(i int) bool { return i%4 == 0 }, nil, true)
}

// TestKernelNamesMatchRealIpvsadm runs the sequences of namesCorpus with
// namesHosts as /etc/hosts in the namespaces (ip netns exec mounts
// /etc/netns/NAME/hosts there), so that listings without -n show names,
// truncated as ipvsadm truncates them. Only the example binary runs: the
// test process sees the VM's own /etc/hosts.
func TestKernelNamesMatchRealIpvsadm(t *testing.T) {
	runCorpus(t, namesCorpus, namesHosts, func(int) bool { return true }, namesSeen, false)
}

// runCorpus compares each sequence in parallel subtests (compareSequence);
// seen[i], if any, are strings the real ipvsadm's output of sequence i must
// hold, so that a sequence cannot pass by failing the same way twice.
//
// With split, the VM's two kernels each run half of the sequences
// (nstest.KernelHalf; natively all): both tools run on the same kernel and
// what is tested is that they agree, which does not depend on which of the
// two kernels it is; the two large corpora were most of the package's time
// on each kernel. Sequences i and i+1 of each four go to different halves
// shifted every four, so that each half has binary and in-process runs.
func runCorpus(t *testing.T, seqs [][]string, hosts string, binary func(i int) bool, seen [][]string, split bool) {
	t.Parallel()
	ours := filepath.Dir(ourIpvsadm(t))
	real := realBin(t)
	half, halved := nstest.KernelHalf()
	for i, seq := range seqs {
		if split && halved && (i+i/4)%2 != half {
			continue
		}
		t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
			t.Parallel()
			want := compareSequence(t, seq, real, ours, binary(i), hosts)
			if i >= len(seen) {
				return
			}
			for _, s := range seen[i] {
				if !strings.Contains(want, s) {
					t.Errorf("the real ipvsadm's output lacks %q:\n%s", s, want)
				}
			}
		})
	}
}

// compareSequence runs seq (then final) with the real ipvsadm and with
// ours (compareOnce) and returns the real ipvsadm's output. A listing can
// differ for a reason outside both tools: the kernel resumes a services
// dump by position in a table every namespace shares, so the parallel
// subtests' changes can make one dump repeat or skip a service (the real
// ipvsadm was seen printing a line twice). Such a difference does not
// come back, so a mismatch is tried again in fresh namespaces, and only
// one seen three times in a row fails the test.
func compareSequence(t *testing.T, seq []string, real, ours string, binary bool, hosts string) string {
	var (
		want     string
		problems []string
	)
	for attempt := 1; attempt <= 3; attempt++ {
		want, problems = compareOnce(t, seq, real, ours, binary, hosts)
		if len(problems) == 0 {
			return want
		}
		t.Logf("attempt %d of 3 differs: %.300s", attempt, problems[0])
	}
	for _, p := range problems {
		t.Error(p)
	}
	return want
}

// compareOnce runs seq (then final) once with the real ipvsadm and once
// with ours (the binary in ours, or ipvsadm.Run in process) in fresh
// namespaces whose /etc/hosts is hosts unless that is empty. It returns
// the real ipvsadm's output and the differences found.
func compareOnce(t *testing.T, seq []string, real, ours string, binary bool, hosts string) (string, []string) {
	steps := append(append([]string(nil), seq...), final...)
	a, b := nstest.New(t), nstest.New(t)
	if hosts != "" {
		netnsHosts(t, a, hosts)
		netnsHosts(t, b, hosts)
	}
	routes(t, a)
	routes(t, b)
	want := runScript(t, a, script(t, real, steps))
	var got string
	if binary {
		got = runScript(t, b, script(t, ours, steps))
	} else {
		got = runInProcess(t, b, steps)
	}
	// The kernel's hash order differs between namespaces and libipvs's
	// comparator is not a consistent order, so the final listings are
	// compared byte for byte with the real ipvsadm in the same namespace,
	// and across namespaces as sets of lines.
	var problems []string
	cut := fmt.Sprintf("### %d\n", len(seq))
	wantSeq, wantFinal, _ := strings.Cut(want, cut)
	gotSeq, gotFinal, _ := strings.Cut(got, cut)
	if gotSeq != wantSeq {
		problems = append(problems, fmt.Sprintf("sequence %q\n--- real ipvsadm:\n%s\n--- ours:\n%s\n--- diff: %s", seq, wantSeq, gotSeq, firstDiff(wantSeq, gotSeq)))
	}
	realB := runScript(t, b, scriptFrom(t, real, final, len(seq)))
	_, realBFinal, _ := strings.Cut(realB, cut)
	if gotFinal != realBFinal {
		problems = append(problems, fmt.Sprintf("final listings in the same namespace\n--- real ipvsadm:\n%s\n--- ours:\n%s\n--- diff: %s", realBFinal, gotFinal, firstDiff(realBFinal, gotFinal)))
	}
	if sortedLines(wantFinal) != sortedLines(gotFinal) {
		problems = append(problems, fmt.Sprintf("final state differs between the namespaces\n--- real ipvsadm:\n%s\n--- ours:\n%s", wantFinal, gotFinal))
	}
	return want, problems
}

// netnsHosts makes hosts the /etc/hosts of commands that ip netns exec
// runs in ns, until the test ends.
func netnsHosts(t *testing.T, ns *nstest.NS, hosts string) {
	dir := "/etc/netns/" + ns.Name
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(dir+"/hosts", []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sortedLines compares listings as sets of lines. Duplicates are dropped:
// the real ipvsadm was seen (once, -Sn on 6.1) to print a service line
// twice (see compareSequence).
func sortedLines(s string) string {
	l := strings.Split(s, "\n")
	sort.Strings(l)
	return strings.Join(slices.Compact(l), "\n")
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d: real %q, ours %q", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d lines", len(al), len(bl))
}

// richRules exercises every saved option, IPv6 and fwmark included.
const richRules = `-A -t 10.0.0.1:80 -s sh -p 100 -M 255.255.255.0 --pe sip -b sh-fallback,sh-port
-a -t 10.0.0.1:80 -r 192.168.10.1:8080 -m -w 3
-a -t 10.0.0.1:80 -r 192.168.10.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-a -t 10.0.0.1:80 -r 192.168.10.3:80 -i -w 2 --tun-type gre --tun-nocsum
-a -t 10.0.0.1:80 -r 192.168.10.4:80 -i -w 0 --tun-type ipip
-a -t 10.0.0.1:80 -r [2001:db8::5]:80 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum
-a -t 10.0.0.1:80 -r 192.168.10.6:80 -g -w 65536
-A -u 10.0.0.1:53 -s mh -o -b mh-fallback,mh-port
-a -u 10.0.0.1:53 -r 192.168.20.1:5353 -m -w 1
-A --sctp-service 10.0.0.9:99 -s lc
-A -t [2001:db8::1]:443 -s wrr -p 300 -M 64
-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -g -w 5
-A -f 7 -6 -s rr -p 30 -M 96
-a -f 7 -6 -r [2001:db8::9]:8080 -m -w 1
-A -f 100 -s dh
-a -f 100 -r 192.168.30.1:0 -g -w 1
-A -t 200.0.0.1:0 -s wlc -p 60
-A -t 10.0.0.200:443 -s fo
`

func newClient(t *testing.T, ns *nstest.NS) *ipvs.Client {
	c, err := ipvs.New(&ipvs.Config{NetNSPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestKernelSaveRestoreRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Real ipvsadm builds the table and saves it.
	a := nstest.New(t)
	loadModules(t, "ip_vs_pe_sip") // richRules has --pe sip
	routes(t, a)
	out := runScript(t, a, script(t, realBin(t), []string{"<<" + strings.ReplaceAll(richRules, "\n", "\\n"), "-Sn"}))
	if !strings.Contains(out, "rc=0\n--- stdout\n--- stderr\n###") {
		t.Fatalf("real ipvsadm -R failed:\n%s", out)
	}
	saved := strings.TrimSpace(a.Exec(t, "bash", "-c", realIpvsadm+" -Sn")) + "\n"
	if !strings.Contains(saved, "--tun-type gue --tun-port 6081 --tun-remcsum") || !strings.Contains(saved, "-f 7 -6") {
		t.Fatalf("unexpected save:\n%s", saved)
	}

	// The SDK restores ipvsadm's save into a fresh namespace...
	b := nstest.New(t)
	routes(t, b)
	cb := newClient(t, b)
	if err := ipvsadm.Restore(ctx, cb, strings.NewReader(saved)); err != nil {
		t.Fatal(err)
	}
	// (Orders are compared as sets across namespaces: the kernel's hash
	// order differs per namespace and ipvsadm's sort is not an order.)
	realB := b.Exec(t, realIpvsadm, "-Sn")
	if sortedLines(realB) != sortedLines(saved) {
		t.Errorf("SDK restore of ipvsadm's save differs:\n%s\nwant\n%s", realB, saved)
	}
	// ...and its own save equals ipvsadm's, byte for byte.
	snap, err := cb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ours bytes.Buffer
	if err := ipvsadm.WriteRules(&ours, snap, ipvsadm.FormatNumeric); err != nil {
		t.Fatal(err)
	}
	if ours.String() != realB {
		t.Errorf("SDK save differs:\n%s\nwant\n%s", ours.String(), realB)
	}
	// What the SDK saved, real ipvsadm -R restores to the same state.
	c := nstest.New(t)
	routes(t, c)
	cmd := exec.Command("ip", "netns", "exec", c.Name, realIpvsadm, "-R")
	cmd.Stdin = strings.NewReader(ours.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ipvsadm -R of the SDK's save: %v\n%s", err, out)
	}
	if got := c.Exec(t, realIpvsadm, "-Sn"); sortedLines(got) != sortedLines(saved) {
		t.Errorf("ipvsadm -R of SDK save differs:\n%s\nwant\n%s", got, saved)
	}

	// A failing line rolls back everything Restore added.
	d := nstest.New(t)
	routes(t, d)
	cd := newClient(t, d)
	bad := "-A -t 10.1.0.1:80 -s rr\n-a -t 10.1.0.1:80 -r 10.2.0.1:80 -m\n-A -t 10.1.0.2:80 -s nosuchsched\n"
	err = ipvsadm.Restore(ctx, cd, strings.NewReader(bad))
	var e *ipvsadm.Error
	if !errors.As(err, &e) || e.Pkg != "ipvsadm" || e.Object != "line 3" {
		t.Fatalf("restore with an unknown scheduler: %v", err)
	}
	if got := d.Exec(t, realIpvsadm, "-Sn"); got != "" {
		t.Errorf("failed restore left:\n%s", got)
	}
	// A server the SDK refuses: nothing is sent.
	bad = "-A -t 10.1.0.1:80 -s rr\n-a -t 10.1.0.1:80 -r 10.2.0.1:80 -m -x 1 -y 2\n"
	if err := ipvsadm.Restore(ctx, cd, strings.NewReader(bad)); !errors.Is(err, ipvsadm.ErrInvalid) {
		t.Fatalf("restore with l-threshold above u-threshold: %v", err)
	}
	if got := d.Exec(t, realIpvsadm, "-Sn"); got != "" {
		t.Errorf("failed restore left:\n%s", got)
	}
	// Restoring onto a service someone else made fails with ErrExist and
	// leaves that service (and its servers) alone.
	d.Exec(t, realIpvsadm, "-A", "-t", "10.1.0.2:80", "-s", "rr")
	d.Exec(t, realIpvsadm, "-a", "-t", "10.1.0.2:80", "-r", "10.2.0.9:80", "-m")
	before := d.Exec(t, realIpvsadm, "-Sn")
	bad = "-A -t 10.1.0.1:80 -s rr\n-a -t 10.1.0.1:80 -r 10.2.0.1:80 -m\n-A -t 10.1.0.2:80 -s wlc\n-a -t 10.1.0.2:80 -r 10.2.0.2:80 -m\n"
	err = ipvsadm.Restore(ctx, cd, strings.NewReader(bad))
	if !errors.Is(err, ipvsadm.ErrExist) || !errors.As(err, &e) || e.Object != "line 3" {
		t.Fatalf("restore onto an existing service: %v", err)
	}
	if got := d.Exec(t, realIpvsadm, "-Sn"); got != before {
		t.Errorf("failed restore changed the table:\n%s\nwant\n%s", got, before)
	}
}
