package peers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/golvs/lvs/internal/nstest"
)

// stopWait bounds how long a stopped peer may take to exit before SIGKILL.
const stopWait = 10 * time.Second

// Process is a peer started in a test namespace.
type Process struct {
	Name string
	Dir  string // its configuration and run files
	cmd  *exec.Cmd
	log  string // the file receiving its output
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// Start runs name with args in ns, in the foreground, its output going to
// dir/NAME.log, and stops it at the test's cleanup. dir is its working
// directory.
func Start(t testing.TB, ns *nstest.NS, dir, name string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: name, Dir: dir, log: filepath.Join(dir, filepath.Base(name)+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own descriptor
	p.cmd = exec.Command(name, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = f, f
	// Its own process group, so that a daemon's children are signalled too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := ns.Start(p.cmd); err != nil {
		t.Fatalf("peers: starting %s in %s: %v", name, ns.Name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, p.Log())
		}
	})
	return p
}

// Log returns what the peer printed so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// Exited reports whether the peer has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM and waits (bounded) for the peer to exit, then kills
// it. It returns the peer's exit error, if any.
func (p *Process) Stop() error {
	if exited, err := p.Exited(); exited {
		return err
	}
	p.Terminate()
	return p.Wait()
}

// Terminate sends SIGTERM and returns at once (a test timing what follows
// on the wire); Wait then waits for the exit.
func (p *Process) Terminate() {
	if exited, _ := p.Exited(); !exited {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
}

// Wait waits (bounded) for the peer to exit, then kills it. It returns the
// peer's exit error, if any.
func (p *Process) Wait() error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopWait):
		p.Kill()
		return fmt.Errorf("peers: %s ignored SIGTERM for %v; killed", p.Name, stopWait)
	}
}

// Kill sends SIGKILL to the peer's process group (a crash, as failover tests
// want) and waits for it to exit.
func (p *Process) Kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Keepalived starts keepalived with the configuration conf in ns: in the
// foreground (-n), logging to its output (-l -D), with its pid files in its
// own directory so that several keepalived can run in one VM; extra are
// further command-line options.
func Keepalived(t testing.TB, ns *nstest.NS, conf string, extra ...string) *Process {
	t.Helper()
	dir := t.TempDir()
	cf := writeFile(t, dir, "keepalived.conf", conf)
	return Start(t, ns, dir, "keepalived", append([]string{"-n", "-l", "-D", "-f", cf,
		"-p", filepath.Join(dir, "keepalived.pid"),
		"-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "checkers.pid")}, extra...)...)
}

// BirdProcess is a running BIRD with its control socket.
type BirdProcess struct {
	*Process
	Socket string
	ns     *nstest.NS
}

// Bird starts BIRD 2 with the configuration conf in ns, in the foreground
// (-f), with its control socket and pid file in its own directory, and
// waits (bounded) until birdc answers on the socket.
func Bird(t testing.TB, ns *nstest.NS, conf string) *BirdProcess {
	t.Helper()
	dir := t.TempDir()
	cf := writeFile(t, dir, "bird.conf", conf)
	b := &BirdProcess{Socket: filepath.Join(dir, "bird.ctl"), ns: ns}
	b.Process = Start(t, ns, dir, "bird", "-f", "-c", cf, "-s", b.Socket, "-P", filepath.Join(dir, "bird.pid"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := ns.TryExec("birdc", "-s", b.Socket, "show", "status")
		if err == nil {
			return b
		}
		if exited, werr := b.Exited(); exited || time.Now().After(deadline) {
			t.Fatalf("peers: bird not answering on %s (exited %v: %v): %v\n%s", b.Socket, exited, werr, err, b.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Birdc runs birdc against this BIRD's socket inside its namespace and
// returns its output; it fails the test if birdc fails.
func (b *BirdProcess) Birdc(t testing.TB, args ...string) string {
	t.Helper()
	return b.ns.Exec(t, "birdc", append([]string{"-s", b.Socket}, args...)...)
}

// NodeExporter starts prometheus-node-exporter in ns with only its ipvs
// collector, listening on addr (a loopback address inside ns, e.g.
// "127.0.0.1:9100"), and returns the URL of its metrics once it answers
// (bounded wait). Scrape it with ns.HTTPClient().
func NodeExporter(t testing.TB, ns *nstest.NS, addr string) (*Process, string) {
	t.Helper()
	p := Start(t, ns, t.TempDir(), "prometheus-node-exporter",
		"--collector.disable-defaults", "--collector.ipvs", "--web.listen-address="+addr)
	url := "http://" + addr + "/metrics"
	hc := ns.HTTPClient()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, url
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if exited, werr := p.Exited(); exited || time.Now().After(deadline) {
			t.Fatalf("peers: node exporter not answering on %s (exited %v: %v): %v\n%s", url, exited, werr, err, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeFile(t testing.TB, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
