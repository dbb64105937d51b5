package metrics_test

import (
	"log"
	"net/http"
	"time"

	"github.com/golvs/lvs/ipvs"
	"github.com/golvs/lvs/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Register the collector for this namespace's IPVS table and serve /metrics.
func Example() {
	client, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	col, err := metrics.New(client, &metrics.Options{Timeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	log.Fatal(http.ListenAndServe("127.0.0.1:9101", nil))
}

// Serve a large table cheaply: the Collector writes the text format
// itself, here only the node exporter's series (drop Groups for all).
func ExampleCollector_ServeHTTP() {
	client, err := ipvs.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	col, err := metrics.New(client, &metrics.Options{Groups: metrics.NodeExporter})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/metrics", col)
	log.Fatal(http.ListenAndServe("127.0.0.1:9101", nil))
}
