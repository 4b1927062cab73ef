package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trawl/trawl/crawl"
)

// serveMetrics serves Prometheus metrics and pprof on addr until the returned
// stop is called; addr "" serves nothing. Every metric is read from the
// engine's counters at scrape time, so the crawl's hot path pays nothing.
func serveMetrics(addr string, e *crawl.Engine, log *slog.Logger) (bound string, stop func(), err error) {
	if addr == "" {
		return "", func() {}, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &engineCollector{e: e})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--metrics: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", "err", err)
		}
	})
	log.Info("serving metrics", "addr", ln.Addr().String())
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // best effort at exit
		wg.Wait()
	}, nil
}

var (
	descPages    = prometheus.NewDesc("trawl_pages_total", "Pages recorded, by status class (0xx: no response).", []string{"class"}, nil)
	descFailed   = prometheus.NewDesc("trawl_pages_failed_total", "Pages with no usable response (network error or 5xx after retries).", nil, nil)
	descBytes    = prometheus.NewDesc("trawl_body_bytes_total", "Body bytes kept.", nil, nil)
	descRetries  = prometheus.NewDesc("trawl_retries_total", "Attempts requeued after a retryable failure.", nil, nil)
	descRobots   = prometheus.NewDesc("trawl_robots_denied_total", "URLs not fetched because robots.txt disallows them.", nil, nil)
	descLinks    = prometheus.NewDesc("trawl_links_total", "Links recorded.", nil, nil)
	descFound    = prometheus.NewDesc("trawl_discovered_total", "New URLs queued.", nil, nil)
	descQueued   = prometheus.NewDesc("trawl_queued", "URLs queued in memory.", nil, nil)
	descInFlight = prometheus.NewDesc("trawl_in_flight", "Fetches in flight.", nil, nil)
	descHosts    = prometheus.NewDesc("trawl_hosts", "Hosts with URLs queued or in flight.", nil, nil)
	descHeld     = prometheus.NewDesc("trawl_politeness_wait_seconds_total", "Time ready hosts were held back by their rate limit, Crawl-delay or backoff.", nil, nil)
	descHostQ    = prometheus.NewDesc("trawl_host_queue_depth", "URLs queued for each of the 20 deepest hosts.", []string{"host"}, nil)
)

// engineCollector exposes an engine's Progress as Prometheus metrics.
type engineCollector struct{ e *crawl.Engine }

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPages, descFailed, descBytes, descRetries, descRobots, descLinks, descFound, descQueued, descInFlight, descHosts, descHeld, descHostQ} {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.e.Progress()
	for i, n := range p.Status {
		ch <- prometheus.MustNewConstMetric(descPages, prometheus.CounterValue, float64(n), strconv.Itoa(i)+"xx")
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(descFailed, p.Failed)
	counter(descBytes, p.Bytes)
	counter(descRetries, p.Retries)
	counter(descRobots, p.RobotsDenied)
	counter(descLinks, p.Links)
	counter(descFound, p.Discovered)
	ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(p.Frontier.Queued))
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(p.Frontier.InFlight))
	ch <- prometheus.MustNewConstMetric(descHosts, prometheus.GaugeValue, float64(p.Frontier.Hosts))
	ch <- prometheus.MustNewConstMetric(descHeld, prometheus.CounterValue, p.Frontier.Held.Seconds())
	for _, h := range c.e.Deepest(20) {
		ch <- prometheus.MustNewConstMetric(descHostQ, prometheus.GaugeValue, float64(h.Queued), h.Host)
	}
}
