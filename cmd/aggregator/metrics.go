package main

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trawl/trawl/aggregate"
)

// metrics holds the service's Prometheus series in its own registry. Every
// series a request touches is resolved once per endpoint and backend when
// the routes are built, so a request pays a few atomic adds, no label lookup.
type metrics struct {
	reg             *prometheus.Registry
	requests        *prometheus.CounterVec   // method, endpoint, code
	duration        *prometheus.HistogramVec // method, endpoint
	partial         *prometheus.CounterVec   // method, endpoint
	cacheHits       *prometheus.CounterVec   // method, endpoint
	coalesced       *prometheus.CounterVec   // method, endpoint
	backendRequests *prometheus.CounterVec   // method, endpoint, backend, outcome
	backendDuration *prometheus.HistogramVec // method, endpoint, backend
	backendHedges   *prometheus.CounterVec   // method, endpoint, backend
	inFlight        prometheus.Gauge
	configVersion   prometheus.Gauge
	configInfo      *prometheus.GaugeVec   // version, hash: 1 for the configuration served
	reloads         *prometheus.CounterVec // result: applied, refused, unchanged
}

// latencyBuckets suit a gateway whose deadlines are in the 100 ms – 10 s range.
func latencyBuckets() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

func newMetrics() *metrics {
	ep := []string{"method", "endpoint"}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aggregator_requests_total", Help: "Aggregated requests answered, by HTTP status code.",
		}, []string{"method", "endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aggregator_request_duration_seconds", Help: "Time to fan out, merge and answer an aggregated request.", Buckets: latencyBuckets(),
		}, ep),
		partial: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aggregator_partial_responses_total", Help: "Answers (2xx) with at least one backend missing.",
		}, ep),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aggregator_cache_hits_total", Help: "Answers served from the endpoint's response cache.",
		}, ep),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aggregator_coalesced_requests_total", Help: "Answers shared from an identical request in flight.",
		}, ep),
		backendRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aggregator_backend_requests_total", Help: "Backend calls by outcome: ok, timeout, error (transport or status), invalid (body), circuit-open or skipped (a backend it needs failed).",
		}, []string{"method", "endpoint", "backend", "outcome"}),
		backendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aggregator_backend_duration_seconds", Help: "Backend call latency, up to the endpoint's deadline.", Buckets: latencyBuckets(),
		}, []string{"method", "endpoint", "backend"}),
		backendHedges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aggregator_backend_hedges_total", Help: "Backend calls for which a second, hedged call was sent.",
		}, []string{"method", "endpoint", "backend"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aggregator_in_flight_requests", Help: "Aggregated requests being served.",
		}),
		configVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aggregator_config_version", Help: "Version of the configuration served: 1 at start, one more per reload applied.",
		}),
		configInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aggregator_config_info", Help: "1 for the configuration served, by version and hash (12 hex digits of the file's SHA-256).",
		}, []string{"version", "hash"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aggregator_config_reloads_total", Help: "Configuration reloads by result: applied, refused (problems logged) or unchanged.",
		}, []string{"result"}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.partial, m.cacheHits, m.coalesced, m.backendRequests, m.backendDuration, m.backendHedges, m.inFlight,
		m.configVersion, m.configInfo, m.reloads)
	return m
}

// handler serves the registry in Prometheus' exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// endpointMetrics are one endpoint's series, resolved.
type endpointMetrics struct {
	m                              *metrics
	method, path                   string
	duration                       prometheus.Observer
	ok, badGateway, gatewayTimeout prometheus.Counter
	partial, cacheHits, coalesced  prometheus.Counter
	inFlight                       prometheus.Gauge
	backends                       []backendMetrics // in config order, as Result.Backends
}

// backendMetrics are one backend's series, resolved.
type backendMetrics struct {
	duration                     prometheus.Observer
	ok, timeout, failed, invalid prometheus.Counter
	circuitOpen, skipped, hedges prometheus.Counter
}

// endpoint resolves ep's series; they appear at zero in /metrics from the start.
func (m *metrics) endpoint(ep *aggregate.Endpoint) *endpointMetrics {
	method, path := endpointMethod(ep), ep.Path
	em := &endpointMetrics{
		m: m, method: method, path: path,
		duration:       m.duration.WithLabelValues(method, path),
		ok:             m.requests.WithLabelValues(method, path, "200"),
		badGateway:     m.requests.WithLabelValues(method, path, "502"),
		gatewayTimeout: m.requests.WithLabelValues(method, path, "504"),
		partial:        m.partial.WithLabelValues(method, path),
		cacheHits:      m.cacheHits.WithLabelValues(method, path),
		coalesced:      m.coalesced.WithLabelValues(method, path),
		inFlight:       m.inFlight,
	}
	for _, b := range ep.Backends {
		em.backends = append(em.backends, backendMetrics{
			duration:    m.backendDuration.WithLabelValues(method, path, b.Name),
			ok:          m.backendRequests.WithLabelValues(method, path, b.Name, string(aggregate.OK)),
			timeout:     m.backendRequests.WithLabelValues(method, path, b.Name, string(aggregate.Timeout)),
			failed:      m.backendRequests.WithLabelValues(method, path, b.Name, string(aggregate.Failed)),
			invalid:     m.backendRequests.WithLabelValues(method, path, b.Name, string(aggregate.Invalid)),
			circuitOpen: m.backendRequests.WithLabelValues(method, path, b.Name, string(aggregate.CircuitOpen)),
			skipped:     m.backendRequests.WithLabelValues(method, path, b.Name, string(aggregate.Skipped)),
			hedges:      m.backendHedges.WithLabelValues(method, path, b.Name),
		})
	}
	return em
}

// observe counts one answered request. Backend series count only fan-outs
// made for this request, not answers from the cache or shared with another.
func (em *endpointMetrics) observe(res *aggregate.Result, status int, elapsed float64) {
	em.duration.Observe(elapsed)
	switch status {
	case http.StatusOK:
		em.ok.Inc()
	case http.StatusBadGateway:
		em.badGateway.Inc()
	case http.StatusGatewayTimeout:
		em.gatewayTimeout.Inc()
	default:
		em.m.requests.WithLabelValues(em.method, em.path, strconv.Itoa(status)).Inc()
	}
	if status < 300 && !res.Complete {
		em.partial.Inc()
	}
	switch {
	case res.Cached:
		em.cacheHits.Inc()
		return
	case res.Shared:
		em.coalesced.Inc()
		return
	}
	for i := range res.Backends {
		if i >= len(em.backends) {
			break
		}
		rep, bm := &res.Backends[i], &em.backends[i]
		bm.duration.Observe(rep.Latency.Seconds())
		if rep.Hedged {
			bm.hedges.Inc()
		}
		switch rep.Outcome {
		case aggregate.OK:
			bm.ok.Inc()
		case aggregate.Timeout:
			bm.timeout.Inc()
		case aggregate.Invalid:
			bm.invalid.Inc()
		case aggregate.CircuitOpen:
			bm.circuitOpen.Inc()
		case aggregate.Skipped:
			bm.skipped.Inc()
		default:
			bm.failed.Inc()
		}
	}
}
