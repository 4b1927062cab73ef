package main

import (
	"context"
	"errors"
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

// serveMetrics serves Prometheus metrics and pprof on ln until the returned
// stop is called; a nil ln serves nothing. Every metric is read from the
// engine's counters at scrape time, so the crawl's hot path pays nothing.
func serveMetrics(ln net.Listener, e *crawl.Engine, log *slog.Logger) (stop func()) {
	if ln == nil {
		return func() {}
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
	log.Info("serving metrics", "addr", ln.Addr().String())
	return serveHTTP(ln, mux, "metrics", log)
}

// serveHTTP serves h on ln until the returned stop is called; stop shuts the
// server down (2 s for requests to end, then it closes them) and returns
// after the serving goroutine exits. onShutdown, if any, run when stop is
// called: long-lived handlers (event streams) end on them.
func serveHTTP(ln net.Listener, h http.Handler, what string, log *slog.Logger, onShutdown ...func()) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	for _, f := range onShutdown {
		srv.RegisterOnShutdown(f)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn(what+" server stopped", "err", err)
		}
	})
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close() //nolint:errcheck // at exit: long-lived requests (event streams) are cut
		}
		wg.Wait()
	}
}

// listen binds addr for the named flag; "" binds nothing (a nil listener).
// A bad or busy address is a usage error.
func listen(flagName, addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usagef("%s %s: %v", flagName, addr, err)
	}
	return ln, nil
}

// closeListener closes ln, if any; serving closes it too, so its error is
// of no interest.
func closeListener(ln net.Listener) {
	if ln != nil {
		ln.Close() //nolint:errcheck // may be closed already by Shutdown
	}
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
