package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/golvs/lvs/internal/netlab"
)

// buildHA is the HA mode: two ha directors on the DR LAN of network 9
// (director1 .1 priority 150, director2 .3 priority 100, both with the
// sync daemon), two real servers, a client.
func buildHA(l *netlab.Lab) (*scenario, error) {
	client, dir1, rss, err := hosts(l, 2, 80)
	if err != nil {
		return nil, err
	}
	dir2, err := l.NS("director2")
	if err != nil {
		return nil, err
	}
	members := []netlab.Member{
		{NS: client, Name: "eth0", Addrs: pfx(addr(false, 9, 2))},
		{NS: dir1, Name: "eth0", Addrs: pfx(addr(false, 9, 1))},
		{NS: dir2, Name: "eth0", Addrs: pfx(addr(false, 9, 3))},
	}
	var rips []netip.Addr
	for i, rs := range rss {
		rips = append(rips, addr(false, 9, 11+i))
		members = append(members, netlab.Member{NS: rs.ns, Name: "eth0", Addrs: pfx(rips[i])})
	}
	if _, err := l.Segment("lan", members...); err != nil {
		return nil, err
	}
	vip := addr(false, 9, 100)
	s := &scenario{client: client, sources: []netip.Addr{{}}, urls: []string{url(vip, 80)}, servers: rss,
		picture: fmt.Sprintf("client %v, director1 %v and director2 %v (VIP %v:80, VRRP VRID 51), rs1..rs2 %v on one LAN",
			addr(false, 9, 2), addr(false, 9, 1), addr(false, 9, 3), vip, join(rips, ", "))}
	for _, r := range rss {
		s.agents = append(s.agents, newAgent(r.name, r.ns, "dr", "realserver", "-vip", vip.String()))
	}
	common := []string{"director", "-vip", netip.AddrPortFrom(vip, 80).String(), "-rs", join(rips, ","), "-iface", "eth0", "-vrid", "51", "-sync", "eth0"}
	d1 := newAgent("director1", dir1, "ha", append(common, "-priority", "150", "-preempt-delay", "5s")...)
	d2 := newAgent("director2", dir2, "ha", append(common, "-priority", "100")...)
	s.agents = append(s.agents, d2, d1)
	s.ready = func(ctx context.Context, w io.Writer) error {
		t := time.Now()
		if err := d1.waitLine("state MASTER", 1, 30*time.Second); err != nil {
			return err
		}
		fmt.Fprintf(w, "  director1 MASTER %.1fs after ready (it preempts director2), director2 BACKUP\n", time.Since(t).Seconds())
		return nil
	}
	s.then = func(ctx context.Context, w io.Writer, bins map[string]string) error {
		return haDemo(ctx, w, bins, client, vip, d1, d2)
	}
	return s, nil
}

// lines counts the agent's lines equal to line, after ready.
func (a *agent) lines(line string) int {
	n := 0
	for _, l := range strings.Split(a.stdout.String(), "\n") {
		if l == line {
			n++
		}
	}
	return n
}

// waitLine waits until the agent has printed line count times after ready.
func (a *agent) waitLine(line string, count int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if a.lines(line) >= count {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not print %q within %v; it printed:\n%s%s", a.label, line, d, a.stdout.String(), a.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// haDemo holds a connection through the VIP across a crash of the master
// and its return, and reports the failover times and the connection's fate.
func haDemo(ctx context.Context, w io.Writer, bins map[string]string, client *netlab.NS, vip netip.Addr, d1, d2 *agent) error {
	c, err := client.DialContext(ctx, "tcp", netip.AddrPortFrom(vip, 80).String())
	if err != nil {
		return fmt.Errorf("long-lived connection: %v", err)
	}
	k := &keeper{conn: c, stop: make(chan struct{}), done: make(chan struct{}), last: time.Now()}
	go k.run(vip)
	defer k.close()
	if err := k.progress(10, 30*time.Second); err != nil {
		return err
	}
	t := time.Now()
	if err := synced(ctx, d2.ns, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(w, "  the client holds a TCP connection through the VIP (an HTTP request every 100ms); director2's table has it after %.1fs\n", time.Since(t).Seconds())

	// director2 may have been MASTER for a moment at the start.
	masters, backups := d2.lines("state MASTER"), d2.lines("state BACKUP")
	t = time.Now()
	d1.cmd.Process.Kill()
	<-d1.exited
	if err := d2.waitLine("state MASTER", masters+1, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(w, "  SIGKILL director1 → director2 MASTER in %.2fs (VRRP master-down: 3 × 1s + skew)\n", time.Since(t).Seconds())
	if err := k.progress(10, 60*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(w, "  the connection goes on through director2 (longest pause %.1fs)\n", k.gap().Seconds())

	// director1 comes back: it undoes what it left, learns the live
	// connections as BACKUP and takes the VIP back after its preempt delay.
	t = time.Now()
	d1.stdout = syncBuffer{}
	if err := d1.start(bins, readyTimeout); err != nil {
		return err
	}
	if err := d1.waitLine("state MASTER", 1, 60*time.Second); err != nil {
		return err
	}
	if err := d2.waitLine("state BACKUP", backups+1, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(w, "  director1 restarted → BACKUP, then MASTER again %.1fs later (preempt delay 5s)\n", time.Since(t).Seconds())
	if err := k.progress(10, 60*time.Second); err != nil {
		return err
	}
	n, _, gap := k.state()
	fmt.Fprintf(w, "  the connection survived both failovers: %d requests answered, 0 errors, longest pause %.1fs\n", n, gap.Seconds())
	return nil
}

// synced waits until ns's IPVS connection table holds an ESTABLISHED
// connection (the backup has learnt the client's).
func synced(ctx context.Context, ns *netlab.NS, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		out, err := ns.Exec("ipvsadm", "-Lnc")
		if err == nil && strings.Contains(out, "ESTABLISHED") {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("director2 never learnt the connection within %v (%v):\n%s", d, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// keeper sends an HTTP request on one connection every 100 ms.
type keeper struct {
	conn       net.Conn
	stop, done chan struct{}
	mu         sync.Mutex
	n          int
	err        error
	last       time.Time
	maxGap     time.Duration
}

func (k *keeper) run(vip netip.Addr) {
	defer close(k.done)
	defer k.conn.Close()
	r := bufio.NewReader(k.conn)
	for {
		select {
		case <-k.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		// A failover stalls it for seconds; TCP retransmits meanwhile.
		k.conn.SetDeadline(time.Now().Add(30 * time.Second))
		_, err := fmt.Fprintf(k.conn, "GET / HTTP/1.1\r\nHost: %v\r\n\r\n", vip)
		if err == nil {
			var resp *http.Response
			if resp, err = http.ReadResponse(r, nil); err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		k.mu.Lock()
		if err != nil {
			k.err = err
		} else {
			k.n++
			k.maxGap = max(k.maxGap, time.Since(k.last))
			k.last = time.Now()
		}
		k.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (k *keeper) close() {
	close(k.stop)
	<-k.done
}

func (k *keeper) state() (int, error, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n, k.err, k.maxGap
}

func (k *keeper) gap() time.Duration { _, _, g := k.state(); return g }

// progress waits for n more answers on the connection.
func (k *keeper) progress(n int, d time.Duration) error {
	start, _, _ := k.state()
	deadline := time.Now().Add(d)
	for {
		got, err, _ := k.state()
		if err != nil {
			return fmt.Errorf("the client's connection failed after %d answers: %v", got, err)
		}
		if got >= start+n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the client's connection had %d answers in %v, want %d", got-start, d, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
