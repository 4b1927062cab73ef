package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"github.com/trawl/trawl/aggregate"
)

// Canonical header keys, so the hot path can index header maps directly.
const (
	hdrRequestID     = "X-Request-Id"
	hdrCompleted     = "X-Aggregate-Completed"
	hdrBackends      = "X-Aggregate-Backends"
	hdrContentType   = "Content-Type"
	hdrContentLength = "Content-Length"
	hdrCacheControl  = "Cache-Control"
)

// serve runs the server for cfg (read from the file at path) until ctx
// ends, then shuts it down gracefully: it stops accepting, lets in-flight
// requests finish within server.shutdown_timeout and returns nil. On a value
// from hup, and when the file changes (unless server.no_watch), it reloads the
// file's endpoints. Logs go to stderr as JSON.
func serve(ctx context.Context, cfg *fileConfig, path string, data []byte, hup <-chan os.Signal, stderr io.Writer, level slog.Level) error {
	logw := newLogWriter(stderr)
	defer logw.Flush()
	log := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: level}))

	tp := newTracerProvider(cfg.Tracing)
	if tp != nil {
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			tp.Shutdown(sctx) //nolint:errcheck // spans not exported at exit are lost; nothing else to do
		}()
	}
	transport := aggregate.NewTransport()
	defer transport.CloseIdleConnections()
	svc, err := newService(cfg, &http.Client{Transport: transport}, log, tracerOf(tp), data)
	if err != nil {
		return err
	}
	sc := svc.cfg
	ln, err := net.Listen("tcp", sc.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := svc.httpServer()

	var wg sync.WaitGroup
	served := make(chan error, 1) // one sender: the Serve goroutine
	wg.Go(func() { served <- srv.Serve(ln) })
	stopFlush := make(chan struct{}) // closed by serve when it returns
	wg.Go(func() { logw.flushEvery(100*time.Millisecond, stopFlush) })
	stopReload := make(chan struct{})    // closed by serve once the server is shut down
	var reloader, retired sync.WaitGroup // the reload loop; the generations it replaced, draining
	watcher := svc.watchConfig(path, !sc.NoWatch)
	reloader.Go(func() { svc.reloadLoop(path, hup, watcher, stopReload, &retired) })
	defer reloader.Wait() // after close(stopReload), on every path
	defer func() {
		close(stopFlush)
		wg.Wait()
	}()

	log.LogAttrs(ctx, slog.LevelInfo, "listening", slog.String("addr", ln.Addr().String()), slog.Int("endpoints", len(cfg.Endpoints)),
		slog.Int64("config_version", svc.current().version), slog.String("config_hash", svc.current().hash))
	logw.Flush()
	select {
	case err := <-served:
		close(stopReload)
		return fmt.Errorf("serve: %w", err) // never ErrServerClosed: only shutdown below closes it
	case <-ctx.Done():
	}

	log.LogAttrs(ctx, slog.LevelInfo, "shutting down", slog.Duration("timeout", time.Duration(sc.ShutdownTimeout)))
	logw.Flush()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(sc.ShutdownTimeout))
	defer cancel()
	err = srv.Shutdown(sctx)
	close(stopReload) // no reload after the last request
	if err != nil {
		srv.Close() //nolint:errcheck // already failing; Close only cuts connections
		err = fmt.Errorf("shutdown: in-flight requests still running after %s: %w", time.Duration(sc.ShutdownTimeout), err)
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serve: %w", serr))
	}
	if err == nil {
		// Every handler has returned, so no Do runs: wait for the backend
		// calls that were cut at their deadlines to end too, on the
		// generations a reload replaced and on the last one. (After a
		// timed-out shutdown handlers may still run; the process exits.)
		reloader.Wait()
		retired.Wait()
		svc.wait()
	}
	log.LogAttrs(ctx, slog.LevelInfo, "stopped")
	return err
}

// service is the aggregator's HTTP side: the generation of endpoints being
// served (replaced whole by a reload), and what outlives a generation: the
// server settings, the upstream client, the metrics, the tracer. It is safe
// for concurrent use once built.
type service struct {
	cfg     serverConfig // with defaults filled
	tracing tracingConfig
	client  *http.Client
	log     *slog.Logger
	metrics *metrics
	tracer  trace.Tracer // nil: no tracing
	ids     idSource
	gen     atomic.Pointer[generation] // the endpoints being served
	params  sync.Pool                  // map[string]string: path parameters, emptied

	// Header values shared by every response; net/http never modifies them.
	trueValue, falseValue, jsonValue []string
	tooLarge                         []byte // the 413 body
}

// newService builds the routes for cfg. Every upstream call goes through
// client; log nil means discard; tracer nil means no tracing. data is the
// file's content, for the config's version. It starts no goroutines.
func newService(cfg *fileConfig, client *http.Client, log *slog.Logger, tracer trace.Tracer, data []byte) (*service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &service{
		cfg:        cfg.Server.withDefaults(),
		tracing:    cfg.Tracing,
		client:     client,
		log:        log,
		metrics:    newMetrics(),
		tracer:     tracer,
		trueValue:  []string{"true"},
		falseValue: []string{"false"},
		jsonValue:  []string{"application/json; charset=utf-8"},
	}
	s.tooLarge = errorJSON("request body exceeds " + strconv.FormatInt(s.cfg.MaxBodyBytes, 10) + " bytes")
	var raw [4]byte
	rand.Read(raw[:]) // never fails since Go 1.24
	hex.Encode(s.ids.prefix[:8], raw[:])
	s.ids.prefix[8] = '-'
	g, err := s.newGeneration(cfg, 1, configHash(data))
	if err != nil {
		return nil, err
	}
	s.install(g)
	return s, nil
}

// ServeHTTP serves r on the current generation; a request keeps the
// generation it started on to its end, whatever a reload does meanwhile.
func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := s.enter()
	defer g.leave()
	g.engine.ServeHTTP(w, r)
}

// enter returns the current generation with the request counted in.
func (s *service) enter() *generation {
	for {
		if g := s.gen.Load(); g.enter() {
			return g
		}
		// g was replaced between the load and enter: take the new one.
	}
}

// current returns the generation being served.
func (s *service) current() *generation { return s.gen.Load() }

// newGeneration builds the gin engine and routes of cfg's endpoints.
func (s *service) newGeneration(cfg *fileConfig, version int64, hash string) (*generation, error) {
	g := &generation{version: version, hash: hash, drained: make(chan struct{})}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	if err := e.SetTrustedProxies(nil); err != nil { // no client IP from headers
		return nil, fmt.Errorf("gin: %w", err)
	}
	e.Use(s.requestID, s.accessLog, s.recovery, s.limitBody)
	if s.tracer != nil {
		e.Use(s.trace)
	}
	e.NoRoute(s.fixedError(http.StatusNotFound, "no such endpoint"))
	e.NoMethod(s.fixedError(http.StatusMethodNotAllowed, "method not allowed"))
	health := fmt.Appendf(nil, `{"status":"ok","config":{"version":%d,"hash":%q}}`, version, hash)
	e.GET(healthPath, s.fixedJSON(http.StatusOK, health))
	e.GET(metricsPath, gin.WrapH(s.metrics.handler()))
	for i := range cfg.Endpoints {
		ep := cfg.Endpoints[i]
		agg, err := aggregate.New(ep, s.client, s.log, s.tracer)
		if err != nil {
			return nil, fmt.Errorf("endpoint %s: %w", endpointName(&ep, i), err)
		}
		rt := &route{
			agg:     agg,
			metrics: s.metrics.endpoint(&ep),
		}
		for _, b := range ep.Backends {
			rt.useQuery = rt.useQuery || len(b.Query) > 0
		}
		if ep.Cache.TTL > 0 {
			rt.cacheControl = []string{"max-age=" + strconv.Itoa(int(time.Duration(ep.Cache.TTL)/time.Second))}
		}
		if err := registerRoute(e, endpointMethod(&ep), ep.Path, s.endpointHandler(rt)); err != nil {
			return nil, fmt.Errorf("endpoint %s: route: %w", endpointName(&ep, i), err)
		}
		g.routes = append(g.routes, rt)
	}
	g.engine = e
	return g, nil
}

// httpServer returns an http.Server for s with the configured timeouts and
// header cap; its own errors (bad requests, TLS) are logged at Warn.
func (s *service) httpServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: time.Duration(s.cfg.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(s.cfg.ReadTimeout),
		WriteTimeout:      time.Duration(s.cfg.WriteTimeout),
		IdleTimeout:       time.Duration(s.cfg.IdleTimeout),
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// wait blocks until every backend call started by the current generation's
// endpoints has ended. Call it after the server has shut down.
func (s *service) wait() { s.current().wait() }

// registerRoute adds a route, turning gin's panic on a conflicting route
// into an error.
func registerRoute(e *gin.Engine, method, path string, h gin.HandlerFunc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	e.Handle(method, path, h)
	return nil
}

// route is one endpoint as served.
type route struct {
	agg          *aggregate.Aggregator
	useQuery     bool     // some backend takes client query parameters
	cacheControl []string // "max-age=N" for complete responses; nil without a cache
	metrics      *endpointMetrics
}

// endpointHandler fans the request out through rt and writes the merged body
// as it is, with the completion headers; 5xx get a JSON error body.
func (s *service) endpointHandler(rt *route) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		// Do applies the endpoint's timeout itself, from now; the request's
		// context only adds the client leaving. A second WithTimeout here
		// would cost a timer and three allocations for the same deadline.
		ctx := r.Context()
		req := aggregate.Request{Header: r.Header, RequestID: r.Header[hdrRequestID][0]} // set by requestID
		if len(c.Params) > 0 {
			req.Params = s.getParams()
			defer s.putParams(req.Params) // Do does not keep it
			for _, p := range c.Params {
				req.Params[p.Key] = p.Value
			}
		}
		if rt.useQuery {
			req.Query = r.URL.Query()
		}
		start := time.Now()
		rt.metrics.inFlight.Inc()
		res := rt.agg.Do(ctx, req)
		rt.metrics.inFlight.Dec()
		status := res.Status()
		rt.metrics.observe(res, status, time.Since(start).Seconds())

		h := c.Writer.Header()
		if res.Complete {
			h[hdrCompleted] = s.trueValue
		} else {
			h[hdrCompleted] = s.falseValue
		}
		h[hdrBackends] = []string{backendsHeader(res.Backends)}
		body := res.Body
		if status >= 500 {
			body = errorBody(res, status)
		} else if res.Complete && rt.cacheControl != nil {
			h[hdrCacheControl] = rt.cacheControl
		}
		h[hdrContentType] = s.jsonValue
		h[hdrContentLength] = []string{strconv.Itoa(len(body))}
		c.Status(status)
		c.Writer.Write(body) //nolint:errcheck // the client left; nothing to do
		res.Release()        // written: its storage serves a later merge
	}
}

// getParams returns an empty map for a request's path parameters.
func (s *service) getParams() map[string]string {
	if m, ok := s.params.Get().(map[string]string); ok {
		return m
	}
	return make(map[string]string, 4)
}

// putParams empties m and keeps it for a later request; a map grown large
// (a route with many parameters) is left to the collector.
func (s *service) putParams(m map[string]string) {
	if len(m) > 16 {
		return
	}
	clear(m)
	s.params.Put(m) //nolint:staticcheck // a map is a pointer already
}

// backendsHeader renders the per-backend report compactly, in config order:
// "profile=ok;200;12ms, orders=timeout;;300ms". Latencies under 10 ms keep
// one decimal.
func backendsHeader(reports []aggregate.BackendReport) string {
	var arr [256]byte
	b := arr[:0]
	for i, rep := range reports {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, rep.Name...)
		b = append(b, '=')
		b = append(b, rep.Outcome...)
		b = append(b, ';')
		if rep.Status != 0 {
			b = strconv.AppendInt(b, int64(rep.Status), 10)
		}
		b = append(b, ';')
		b = appendMillis(b, rep.Latency)
	}
	return string(b)
}

// appendMillis appends d in milliseconds: "12ms", or "0.4ms" under 10 ms.
func appendMillis(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	if tenths := (d + 50*time.Microsecond) / (100 * time.Microsecond); tenths < 100 {
		b = strconv.AppendInt(b, int64(tenths/10), 10)
		b = append(b, '.', byte('0'+tenths%10))
	} else {
		b = strconv.AppendInt(b, int64((d+500*time.Microsecond)/time.Millisecond), 10)
	}
	return append(b, "ms"...)
}

// errorResponse is the body of a 5xx answer.
type errorResponse struct {
	Error    string                    `json:"error"`
	Backends []aggregate.BackendReport `json:"backends"`
}

// errorBody explains a failed aggregation: why, and every backend's report.
func errorBody(res *aggregate.Result, status int) []byte {
	msg := "every backend failed"
	if status == http.StatusGatewayTimeout {
		msg = "every backend timed out"
	}
	for _, b := range res.Backends {
		if b.Required && b.Outcome != aggregate.OK {
			msg = "required backend " + b.Name + ": " + string(b.Outcome)
			if b.Error != "" {
				msg += ": " + b.Error
			}
			break
		}
	}
	body, err := json.Marshal(errorResponse{Error: msg, Backends: res.Backends})
	if err != nil { // a report that cannot be encoded: say so rather than send nothing
		return errorJSON(msg)
	}
	return body
}

// errorJSON returns {"error":msg}.
func errorJSON(msg string) []byte {
	body, _ := json.Marshal(struct { //nolint:errcheck // a string always encodes
		Error string `json:"error"`
	}{msg})
	return body
}

// fixedError answers every request with status and {"error":msg}.
func (s *service) fixedError(status int, msg string) gin.HandlerFunc {
	return s.fixedJSON(status, errorJSON(msg))
}

// fixedJSON answers every request with status and body.
func (s *service) fixedJSON(status int, body []byte) gin.HandlerFunc {
	length := []string{strconv.Itoa(len(body))}
	return func(c *gin.Context) {
		s.writeJSON(c, status, body, length)
	}
}

// writeJSON writes a JSON body; length may be nil.
func (s *service) writeJSON(c *gin.Context, status int, body []byte, length []string) {
	h := c.Writer.Header()
	h[hdrContentType] = s.jsonValue
	if length == nil {
		length = []string{strconv.Itoa(len(body))}
	}
	h[hdrContentLength] = length
	c.Status(status)
	c.Writer.Write(body) //nolint:errcheck // the client left; nothing to do
}
