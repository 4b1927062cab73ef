// Package aggregate fans one client request out to several upstream JSON APIs
// in parallel under one deadline, and merges what came back in time into one
// JSON object, with a report of which backends are missing and why.
//
// An Endpoint (plain configuration data, read from YAML or JSON) lists its
// backends; New compiles it into an Aggregator, whose Do answers by the
// endpoint's deadline even when a backend ignores cancellation: the merge
// never waits for stragglers.
//
// The merge is deterministic: backends are merged in configuration order
// whatever order they answer in, and when two backends (or one backend twice)
// give the same top-level key, the first in configuration order wins. A
// backend without shaping rules is validated and spliced as raw JSON, never
// decoded; shaping rules read only the top-level members (and the Target path).
//
// Upstream calls are GETs with the backend's URL template filled in, the
// forwarded headers and X-Request-ID. Bodies are capped; a non-2xx status,
// a body that is not JSON (by Content-Type or syntax), too long, cut short,
// or of the wrong shape makes the backend failed or invalid, with the reason
// in its BackendReport.
//
// Package aggregate knows nothing of gin or of the service around it: the
// caller maps a Result to HTTP with Result.Status.
package aggregate

import (
	"context"
	"errors"
	"github.com/trawl/trawl/internal/h1"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"
)

// Aggregator serves one endpoint. It is safe for concurrent use. New starts
// no goroutines; Do starts one per backend call, each of which ends once its
// call ends (the transport notices cancellation at the deadline). Wait waits
// for them.
type Aggregator struct {
	ep     *compiled
	client *http.Client
	rt     http.RoundTripper // client's transport, when the client adds nothing to it (no Jar, Timeout or CheckRedirect); else nil
	log    *slog.Logger
	tracer trace.Tracer                   // nil: no spans, no trace context sent
	cache  *lru.Cache[string, cacheEntry] // nil without Cache.TTL
	calls  sync.WaitGroup                 // every backend goroutine started by Do
	merge  atomic.Int64                   // how long cut fan-outs take from the cut to their result, in ns: a decaying maximum (see noteMerge)

	mu      sync.Mutex // guards flights
	flights map[string]*flight
	bufs    sync.Pool // *[]byte: response bodies
	bodies  sync.Pool // *[]byte: merged bodies, given back by Result.Release
	runs    sync.Pool // *fanState: a fan-out's slots and channel, when no call outlived it

	reuseRuns bool      // no backend hedges: a fan-out whose calls have all ended may give its state back
	mems      sync.Pool // *[]member: the members a backend contributes
	tables    sync.Pool // *keyTable: the merge's set of names
}

// New validates ep and compiles it. client makes the upstream calls; nil
// means a client of the Aggregator's own on NewTransport (pass one client to
// several Aggregators to share their connection pool). A client with a Jar,
// a Timeout or a CheckRedirect makes every call; a plain one's transport
// makes the first hop of each call, which saves the copies of the request's
// URL and headers that http.Client makes for redirects it may never follow
// (7 allocations a call), and a redirect is then followed through the
// client, the first request never sent again. log receives debug records about failed backends; nil means
// discard. With a tracer, each backend call is a client span, a child of the
// span in Do's context, and its context goes upstream in a traceparent
// header; nil means no tracing, at no cost. The error is an errors.Join of
// *ConfigError.
func New(ep Endpoint, client *http.Client, log *slog.Logger, tracer trace.Tracer) (*Aggregator, error) {
	c, errs := compileEndpoint(&ep, 0)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if client == nil {
		client = &http.Client{Transport: NewTransport()}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, b := range c.backends {
		if b.maxConcurrent > 0 {
			b.sem = make(chan struct{}, b.maxConcurrent)
		}
		if b.rate > 0 {
			b.lim = rate.NewLimiter(rate.Limit(b.rate), b.burst)
		}
		b.newBreaker()
	}
	a := &Aggregator{ep: c, client: client, log: log, tracer: tracer, reuseRuns: true}
	for _, b := range c.backends {
		if b.hedge != nil {
			a.reuseRuns = false // the loser of a hedge writes its slot's phase after the call ended
		}
	}
	if client.Jar == nil && client.Timeout == 0 && client.CheckRedirect == nil {
		a.rt = client.Transport
		if a.rt == nil {
			a.rt = http.DefaultTransport
		}
	}
	if c.cacheTTL > 0 {
		cache, err := lru.New[string, cacheEntry](c.cacheSize)
		if err != nil {
			return nil, err // only for a size <= 0, which compileEndpoint rules out
		}
		a.cache = cache
	}
	return a, nil
}

// NewTransport returns the transport for upstream calls: plain-http GETs
// run on the caller's goroutine over pooled keep-alive connections (see
// internal/h1, which halved the CPU of an upstream call), everything else
// (https, requests with a body) goes through an http.Transport. Both keep
// many idle connections per host (256) so that they are reused under load
// instead of churned, bound dial and TLS handshake times, and use no proxy
// from the environment. It asks for no compression: upstreams on the same
// network cost more CPU compressed than they save in bytes. Response times
// are bounded by each call's context, not here.
func NewTransport() *h1.Transport {
	return h1.New(&http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:           4096,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    5 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
		ForceAttemptHTTP2:      true,
	})
}

// Request is what the service hands over from the client request. Do reads
// it and does not keep it.
type Request struct {
	Params    map[string]string // path parameters, by name without ':' or '*'
	Query     url.Values        // client query; only the names in Backend.Query are used
	Header    http.Header       // client headers, canonical keys as net/http gives them; only Backend.Headers are forwarded
	RequestID string            // sent upstream as X-Request-ID when not empty
}

// Outcome is how one backend call ended.
type Outcome string

// The outcomes of a backend call.
const (
	OK      Outcome = "ok"      // a usable answer arrived in time
	Timeout Outcome = "timeout" // no answer by its timeout or the endpoint's deadline
	Failed  Outcome = "error"   // transport error, non-2xx status, or a body cut short
	Invalid Outcome = "invalid" // an answer that is not usable JSON: content type, syntax, size, shape
	// CircuitOpen means the backend's circuit breaker is open (or half-open
	// with its probes in flight), so it was not called.
	CircuitOpen Outcome = "circuit-open"
	// Skipped means a backend whose URL or headers need another backend's
	// answer was not called, because that backend failed or its answer
	// lacks the field.
	Skipped Outcome = "skipped"
)

// BackendReport tells how one backend call went. In JSON its Latency is
// written as "latency_ms", a number of milliseconds with up to three decimals.
type BackendReport struct {
	Name     string        `json:"name"`               // Backend.Name
	Outcome  Outcome       `json:"outcome"`            // how the call ended
	Status   int           `json:"status,omitempty"`   // upstream HTTP status; 0 when none
	Latency  time.Duration `json:"-"`                  // from the start of Do to the end of the call (or the deadline)
	Error    string        `json:"error,omitempty"`    // why, for outcomes other than OK
	Required bool          `json:"required,omitempty"` // Backend.Required
	Hedged   bool          `json:"hedged,omitempty"`   // a second call was sent (Backend.Hedge)
}

// Result is the merged answer of one Do. A Result may be shared between
// callers (Shared, Cached): treat it and its Body as read-only.
type Result struct {
	// Body is the merged JSON object: always a valid JSON object, "{}" when
	// nothing arrived. It includes the report under Endpoint.ReportKey when
	// that is set.
	Body     []byte
	Complete bool            // every backend ok
	Backends []BackendReport // one per backend, in configuration order
	Cached   bool            // served from the cache
	Shared   bool            // served by another identical in-flight request

	owner *Aggregator // whose pool buf goes back to
	buf   *[]byte     // Body's storage, pooled; nil when Body may be shared (see Release)
}

// Release gives Body's storage back to the Aggregator, for a later
// request's merge: call it once Body has been written out and nothing refers
// to it, and use neither Body nor the Result afterwards. A body that is, or
// may be, read by other callers (a cached answer, one shared by identical
// requests) is kept: Release does nothing then, nor when called twice.
// Calling it is optional; an unreleased body is left to the garbage
// collector.
func (r *Result) Release() {
	if r.buf == nil {
		return
	}
	p := r.buf
	r.buf, r.Body = nil, nil
	if cap(*p) <= maxPooledBody {
		*p = (*p)[:0]
		r.owner.bodies.Put(p)
	}
}

// Status applies the status policy: when a Required backend is missing, 502,
// or 504 if it timed out (the first missing required backend in
// configuration order decides); otherwise some data gives 200; with no data
// at all, 504 when every backend timed out and 502 for any other mix.
func (r *Result) Status() int {
	anyOK, allTimeout := false, true
	for i := range r.Backends {
		b := &r.Backends[i]
		if b.Outcome == OK {
			anyOK = true
			continue
		}
		if b.Required {
			if b.Outcome == Timeout {
				return http.StatusGatewayTimeout
			}
			return http.StatusBadGateway
		}
		if b.Outcome != Timeout {
			allTimeout = false
		}
	}
	switch {
	case anyOK:
		return http.StatusOK
	case allTimeout:
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}

// Do fans req out to every backend, merges what arrived by the endpoint's
// deadline (or ctx's, if earlier) and returns. It returns by the deadline
// even if a backend ignores cancellation: calls still running then are
// reported as timeouts and cancelled, and Do does not wait for them.
//
// A fresh complete response in the endpoint's cache is returned at once
// (Result.Cached). Otherwise, unless NoCoalesce is set, identical concurrent
// requests share one fan-out: the first leads it, and the others wait for
// its result (Result.Shared) or leave at their own deadline. A shared
// fan-out ends by its leader's deadline; a caller whose deadline is more
// than 5% of the timeout early joins fan-outs but leads none, so that it
// cannot cut the others short. A fan-out whose callers have all gone (their
// clients left) is cancelled.
func (a *Aggregator) Do(ctx context.Context, req Request) *Result {
	return a.do(ctx, &req)
}

// Wait blocks until every backend call started by Do has ended. Call it
// after the last Do has returned (for example after the server shut down),
// not concurrently with Do.
func (a *Aggregator) Wait() { a.calls.Wait() }

// formatMillis appends d in milliseconds with up to three decimals.
func formatMillis(dst []byte, d time.Duration) []byte {
	return strconv.AppendFloat(dst, float64(d.Microseconds())/1000, 'f', -1, 64)
}
