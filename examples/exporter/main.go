package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golvs/lvs/examples/internal/agent"
	"github.com/golvs/lvs/ipvs"
)

func main() {
	os.Exit(agent.Main("exporter", os.Args[1:], steps))
}

type config struct {
	listen, netns, path string
	timeout             time.Duration
}

func parse(args []string) (config, error) {
	fs := flag.NewFlagSet("exporter", flag.ContinueOnError)
	listen := fs.String("listen", "", "`ADDR:PORT` to serve on, e.g. 127.0.0.1:9101 or :9101")
	netns := fs.String("netns", "", "network namespace `PATH` to read (e.g. /run/netns/blue); default: this process's")
	path := fs.String("path", "/metrics", "URL `path` of the metrics")
	timeout := fs.Duration("timeout", 5*time.Second, "bound of one scrape's kernel reads")
	var c config
	if err := agent.ParseFlags(fs, args); err != nil {
		return c, err
	}
	if *listen == "" {
		return c, errors.New("-listen is required: the ADDR:PORT to serve metrics on")
	}
	if err := agent.CheckListen(*listen); err != nil {
		return c, fmt.Errorf("-listen %w", err)
	}
	if !strings.HasPrefix(*path, "/") {
		return c, fmt.Errorf("-path %q: must start with /", *path)
	}
	if *timeout <= 0 {
		return c, fmt.Errorf("-timeout %v: must be positive", *timeout)
	}
	return config{*listen, *netns, *path, *timeout}, nil
}

func steps(args []string) ([]agent.Step, error) {
	cfg, err := parse(args)
	if err != nil {
		return nil, err
	}
	var client *ipvs.Client
	open := func(context.Context) (*agent.Setup, error) {
		client, err = ipvs.New(&ipvs.Config{NetNSPath: cfg.netns})
		if err != nil {
			return nil, err
		}
		return agent.Undo("close the IPVS client", func(context.Context) error { return client.Close() }), nil
	}
	serve := func(context.Context) (*agent.Setup, error) {
		return agent.ServeMetrics(client, cfg.listen, cfg.path, cfg.timeout)
	}
	return []agent.Step{open, serve}, nil
}
