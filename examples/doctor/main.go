package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/golvs/lvs/director"
	"github.com/golvs/lvs/examples/internal/cli"
	"github.com/golvs/lvs/fwmark"
	"github.com/golvs/lvs/internal/diag"
	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/realserver"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK     = 0
	exitBroken = 1
	exitUsage  = 2
	exitFailed = 3
)

type config struct {
	netns    string
	dr, tun  []netip.Addr
	tunType  ipvs.TunnelType
	tunPort  uint16
	clients  []netip.Addr
	gateways map[netip.Addr]netip.Addr
	timeout  time.Duration
}

func parse(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	netns := fs.String("netns", "", "network namespace `PATH` to check (e.g. /run/netns/blue); default: this process's")
	dr := fs.String("dr", "", "check a direct-routing real server with these `VIPs` (comma-separated, on lo)")
	tun := fs.String("tun", "", "check a tunnelling real server with these IPv4 `VIPs` (comma-separated)")
	tunType := fs.String("tun-type", "ipip", "the tunnel `type` of -tun: ipip, gue or gre")
	tunPort := fs.Uint("tun-port", 0, "GUE's UDP `port` (-tun-type gue)")
	clients := fs.String("client", "", "client `addresses` (comma-separated) for the route and NAT checks")
	gateways := fs.String("rs-gateway", "", "NAT real servers' default gateways, `RIP=GW`,... (checks their return path)")
	timeout := fs.Duration("timeout", 30*time.Second, "bound of all checks")
	var c config
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.netns, c.timeout = *netns, *timeout
	if c.timeout <= 0 {
		return c, fmt.Errorf("-timeout %v: must be positive", c.timeout)
	}
	addr := func(name string) func(string) (netip.Addr, error) {
		return func(s string) (netip.Addr, error) { return cli.ParseAddr(name, s) }
	}
	var err error
	if c.tunType, err = cli.TunnelType("-tun-type", *tunType); err != nil {
		return c, err
	}
	if *dr != "" {
		if c.dr, err = cli.List("-dr", *dr, "VIP addresses", addr("-dr")); err != nil {
			return c, err
		}
	}
	if *tun != "" {
		if c.tun, err = cli.List("-tun", *tun, "IPv4 VIP addresses", addr("-tun")); err != nil {
			return c, err
		}
	}
	if *tunPort > 65535 {
		return c, fmt.Errorf("-tun-port %d: not a port", *tunPort)
	}
	c.tunPort = uint16(*tunPort)
	if len(c.tun) > 0 {
		if err := (realserver.TUN{VIPs: c.tun, Type: c.tunType, Port: c.tunPort}).Validate(); err != nil {
			return c, fmt.Errorf("-tun: %w", err)
		}
	}
	if *clients != "" {
		if c.clients, err = cli.List("-client", *clients, "client addresses", addr("-client")); err != nil {
			return c, err
		}
	}
	c.gateways = map[netip.Addr]netip.Addr{}
	if *gateways != "" {
		pairs, err := cli.List("-rs-gateway", *gateways, "RIP=GW pairs", func(s string) ([2]netip.Addr, error) {
			rip, gw, ok := strings.Cut(s, "=")
			if !ok {
				return [2]netip.Addr{}, fmt.Errorf("-rs-gateway %q: want RIP=GW", s)
			}
			a, err := cli.ParseAddr("-rs-gateway", rip)
			if err != nil {
				return [2]netip.Addr{}, err
			}
			b, err := cli.ParseAddr("-rs-gateway", gw)
			return [2]netip.Addr{a, b}, err
		})
		if err != nil {
			return c, err
		}
		for _, p := range pairs {
			c.gateways[p[0]] = p[1]
		}
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "doctor:", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	fs, err := examine(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "doctor:", err)
		return exitFailed
	}
	report(stdout, fs)
	if !fs.OK() {
		return exitBroken
	}
	return exitOK
}

// examine runs every check that applies and returns their findings.
func examine(ctx context.Context, cfg config) (diag.Findings, error) {
	all, err := ipvsChecks(ctx, cfg)
	if err != nil {
		return nil, err
	}

	rc, err := realserver.New(&realserver.Config{NetNSPath: cfg.netns})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if len(cfg.dr) > 0 {
		fs, err := rc.CheckDR(ctx, realserver.DR{VIPs: cfg.dr})
		if err != nil {
			return nil, err
		}
		all = append(all, fs...)
	}
	if len(cfg.tun) > 0 {
		fs, err := rc.CheckTUN(ctx, realserver.TUN{VIPs: cfg.tun, Type: cfg.tunType, Port: cfg.tunPort})
		if err != nil {
			return nil, err
		}
		all = append(all, fs...)
	}
	fs, err := rc.CheckRoutes(ctx, cfg.clients...)
	if err != nil {
		return nil, err
	}
	return append(all, fs...), nil
}

// ipvsChecks checks the IPVS table and what it implies of the director.
// A host without IPVS (a real server needs none) gets a note.
func ipvsChecks(ctx context.Context, cfg config) (diag.Findings, error) {
	ic, err := ipvs.New(&ipvs.Config{NetNSPath: cfg.netns})
	if errors.Is(err, ipvs.ErrUnavailable) {
		return diag.Findings{{Severity: diag.SeverityNote, Subject: "IPVS",
			Problem: "the kernel has no IPVS (module ip_vs not loaded): no virtual services here, director checks skipped",
			Fix:     "modprobe ip_vs, if this host is a director"}}, nil
	}
	if err != nil {
		return nil, err
	}
	defer ic.Close()
	all, err := ic.Check(ctx)
	if err != nil {
		return nil, err
	}
	snap, err := ic.Snapshot(ctx)
	if err != nil || len(snap) == 0 {
		return all, err
	}
	fs, err := directorChecks(ctx, cfg, snap)
	return append(all, fs...), err
}

// directorChecks checks the VIPs, NAT return paths and fwmark rules the
// IPVS table implies.
func directorChecks(ctx context.Context, cfg config, snap []ipvs.ServiceSnapshot) (diag.Findings, error) {
	dc, err := director.New(&director.Config{NetNSPath: cfg.netns})
	if err != nil {
		return nil, err
	}
	defer dc.Close()
	devs, err := addressDevices(cfg.netns)
	if err != nil {
		return nil, err
	}
	var out diag.Findings
	vips := map[netip.Addr]bool{}
	rips := map[netip.Addr]bool{}
	marks := false
	for _, s := range snap {
		if s.Fwmark != 0 {
			marks = true
		} else if a := s.Address.Unmap(); !vips[a] {
			vips[a] = true
			dev, ok := devs[a]
			// A VIP that is not local is ipvs.Check's finding; one on lo
			// is a real server's (check it with -dr).
			if ok && dev.name != "lo" {
				v := director.VIP{Address: a, Announce: director.AnnounceARP, Interface: dev.name}
				if dev.kind == "dummy" {
					v.Announce = director.AnnounceRouted
				}
				fs, err := dc.CheckVIP(ctx, v)
				if err != nil {
					return nil, err
				}
				out = append(out, fs...)
			}
		}
		for _, d := range s.Destinations {
			if d.Forward == ipvs.Masquerade && !rips[d.Address.Unmap()] {
				rips[d.Address.Unmap()] = true
			}
		}
	}
	var paths []director.ReturnPath
	for _, rip := range sortedAddrs(rips) {
		gw, ok := cfg.gateways[rip]
		if !ok {
			out = append(out, diag.Finding{Severity: diag.SeverityNote, Subject: "real server " + rip.String(),
				Problem: "a NAT real server whose return path was not checked", Fix: "give its default gateway: -rs-gateway " + rip.String() + "=GW"})
			continue
		}
		p := director.ReturnPath{RealServer: rip, Gateway: gw}
		for _, cl := range cfg.clients {
			if cl.Is4() == rip.Unmap().Is4() {
				p.Client = cl
				break
			}
		}
		paths = append(paths, p)
	}
	if len(paths) > 0 {
		fs, err := dc.CheckReturnPath(ctx, paths...)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	if marks {
		fc, err := fwmark.New(ctx, &fwmark.Config{NetNSPath: cfg.netns})
		if err != nil {
			return nil, err
		}
		defer fc.Close()
		fs, err := fc.Conflicts(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

func sortedAddrs(m map[netip.Addr]bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// report prints the findings, most serious first (in the order found
// within a severity), each fix on its own line, then a count.
func report(w io.Writer, fs diag.Findings) {
	sorted := append(diag.Findings(nil), fs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Severity > sorted[j].Severity })
	n := map[diag.Severity]int{}
	for _, f := range sorted {
		n[f.Severity]++
		line := f.Severity.String() + ": "
		if f.Subject != "" {
			line += f.Subject + ": "
		}
		fmt.Fprintln(w, line+f.Problem)
		if f.Fix != "" {
			fmt.Fprintln(w, "    fix: "+f.Fix)
		}
	}
	if len(fs) == 0 {
		fmt.Fprintln(w, "doctor: no findings")
		return
	}
	fmt.Fprintf(w, "doctor: %d broken, %d warnings, %d notes\n", n[diag.SeverityBroken], n[diag.SeverityWarning], n[diag.SeverityNote])
}
