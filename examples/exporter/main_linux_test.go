package main

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
)

// TestExporter runs the built program (vmtest puts it on the PATH) inside a
// test namespace: it prints ready, serves both families of metrics, exits 2
// on bad flags and 0 on SIGTERM.
func TestExporter(t *testing.T) {
	ns := nstest.New(t)
	ns.Exec(t, "ipvsadm", "-A", "-t", "[fd00::100]:443", "-s", "rr")
	ns.Exec(t, "ipvsadm", "-a", "-t", "[fd00::100]:443", "-r", "[fd00::2]:443", "-g", "-w", "7")
	bin, err := exec.LookPath("exporter")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-listen", "nope").CombinedOutput(); exitCode(err) != 2 || !strings.Contains(string(out), "-listen") {
		t.Errorf("bad flag: exit %d, output %q; want 2 and a message naming -listen", exitCode(err), out)
	}
	if err := exec.Command(bin, "-h").Run(); exitCode(err) != 0 {
		t.Errorf("-h: exit %d, want 0", exitCode(err))
	}

	cmd := exec.Command(bin, "-listen", "127.0.0.1:9102", "-netns", ns.Path, "-path", "/m")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(cmd); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		if strings.TrimSpace(line) != "ready" {
			t.Fatalf("first line %q, want ready", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no ready within 30s")
	}
	resp, err := ns.HTTPClient().Get("http://127.0.0.1:9102/m")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`node_ipvs_backend_weight{local_address="fd00::100",local_mark="",local_port="443",proto="TCP",remote_address="fd00::2",remote_port="443"} 7`,
		"lvs_up 1",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %s:\n%s", want, body)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if exitCode(err) != 0 {
			t.Errorf("after SIGTERM: exit %d (%v), want 0", exitCode(err), err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30s after SIGTERM")
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	return -1
}
