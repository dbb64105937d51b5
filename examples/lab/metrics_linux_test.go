package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Each director agent started with -metrics serves its IPVS table's
// metrics while it runs: a scrape from inside its host sees lvs_up 1 and
// its own service's node exporter and lvs_* series; after its SIGTERM the
// host is as before.
func TestAgentMetrics(t *testing.T) {
	t.Parallel()
	bins := needKernel(t)
	for i, tc := range []struct {
		name string
		argv []string
		want []string // substrings of one node_ipvs_backend_weight line
		dest string   // our lvs_destination_weight labels, in part
	}{
		{"nat", []string{"nat", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11:8080", "-iface", "eth0"},
			[]string{`local_address="10.0.7.100"`, `local_port="80"`, `proto="TCP"`, `remote_address="10.0.7.11"`, `remote_port="8080"`},
			`server_address="10.0.7.11",server_port="8080"`},
		{"dr", []string{"dr", "director", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11", "-iface", "eth0"},
			[]string{`local_address="10.0.7.100"`, `local_port="80"`, `remote_address="10.0.7.11"`, `remote_port="80"`},
			`server_address="10.0.7.11",server_port="80"`},
		{"tun", []string{"tun", "director", "-vip", "10.0.7.100:80", "-rs", "10.0.7.11", "-iface", "eth0", "-type", "gue"},
			[]string{`local_address="10.0.7.100"`, `local_port="80"`, `remote_address="10.0.7.11"`},
			`server_address="10.0.7.11"`},
		{"fwmark", []string{"fwmark", "director", "-vip", "10.0.7.100", "-ports", "80,443", "-mark", "1", "-rs", "10.0.7.11", "-iface", "eth0"},
			[]string{`local_mark="00000001"`, `proto="FWM"`, `remote_address="10.0.7.11"`},
			`fwmark="1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns, before := host(t, fmt.Sprintf("labm%d", i))
			a := newAgent("metrics", ns, tc.argv[0], append(tc.argv[1:], "-metrics", "127.0.0.1:9101")...)
			if err := a.start(bins, readyTimeout); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if a.exited != nil {
					a.cmd.Process.Kill()
				}
			}()
			body, err := scrapeAgent(ns.HTTPClient(netip.Addr{}, 30*time.Second).Get, "http://127.0.0.1:9101/metrics")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(body, "\nlvs_up 1\n") {
				t.Errorf("no lvs_up 1:\n%s", body)
			}
			found := 0
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, "node_ipvs_backend_weight{") && strings.HasSuffix(l, "} 1") && containsAll(l, tc.want) {
					found++
				}
				if strings.HasPrefix(l, "lvs_destination_weight{") && strings.HasSuffix(l, "} 1") && strings.Contains(l, tc.dest) {
					found++
				}
			}
			if found != 2 {
				t.Errorf("want its service's node_ipvs_backend_weight (%s) and lvs_destination_weight (%s), weight 1:\n%s", strings.Join(tc.want, ","), tc.dest, body)
			}
			if err := a.stop(stopTimeout); err != nil {
				t.Fatal(err)
			}
			wantSettled(t, ns, before, "after the agent's SIGTERM")
		})
	}
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// scrapeAgent GETs url, retrying for a bounded time (the listener is open
// once the agent is ready; this only rides out a slow first answer).
func scrapeAgent(get func(string) (*http.Response, error), url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		resp, err := get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 {
				return string(b), nil
			}
			err = fmt.Errorf("%s %v", resp.Status, rerr)
		}
		last = err
		time.Sleep(time.Second)
	}
	return "", fmt.Errorf("GET %s: %v", url, last)
}
