package agent

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/metrics"
)

// MetricsFlag defines -metrics in fs: the ADDR:PORT on which a director
// agent serves the Prometheus metrics of its IPVS table (Director.Metrics).
// The address is checked as the flag is parsed, so a bad one exits 2
// before anything changes.
func MetricsFlag(fs *flag.FlagSet) *string {
	addr := new(string)
	fs.Var(listenFlag{addr}, "metrics", "serve Prometheus metrics of the IPVS table on `ADDR:PORT` at /metrics, e.g. 127.0.0.1:9101 (default: none)")
	return addr
}

// listenFlag is a flag value checked by CheckListen.
type listenFlag struct{ s *string }

func (f listenFlag) String() string {
	if f.s == nil {
		return ""
	}
	return *f.s
}

func (f listenFlag) Set(v string) error {
	if err := CheckListen(v); err != nil {
		return err
	}
	*f.s = v
	return nil
}

// CheckListen checks an address to listen on: ADDR:PORT or :PORT, ADDR an
// IP address (no name to resolve), PORT 1..65535.
func CheckListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q: want ADDR:PORT or :PORT, e.g. 127.0.0.1:9101", s)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: %q is not an IP address (e.g. 127.0.0.1, [::1], or none for every address)", s, host)
		}
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%q: port %q: want 1..65535", s, port)
	}
	return nil
}

// ServeMetrics serves the metrics of client's IPVS table (package
// metrics, every group, written straight from one Snapshot per scrape) on
// addr at path, each scrape's kernel reads bounded by timeout, until the
// returned Setup is torn down. The listener is open when it returns, so a
// taken port fails the set-up step.
func ServeMetrics(client *ipvs.Client, addr, path string, timeout time.Duration) (*Setup, error) {
	col, err := metrics.New(client, &metrics.Options{Timeout: timeout})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(path, col)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return Undo("stop serving metrics on "+addr, srv.Shutdown), nil
}
