package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/trawl/trawl/aggregate"
)

// roundTripFunc is an in-memory http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// memoryUpstreams answers every request with a ~500-byte JSON object whose
// keys depend on the host, as three distinct upstreams would.
func memoryUpstreams() http.RoundTripper {
	bodies := map[string][]byte{}
	for _, host := range []string{"a.test", "b.test", "c.test"} {
		var b bytes.Buffer
		b.WriteString("{")
		for i := range 10 {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"` + host[:1] + strconv.Itoa(i) + `":"` + strings.Repeat("x", 40) + `"`)
		}
		b.WriteString("}")
		bodies[host] = b.Bytes()
	}
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		body := bodies[r.URL.Host]
		return &http.Response{
			StatusCode:    200,
			Header:        http.Header{"Content-Type": {"application/json"}},
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
			Request:       r,
		}, nil
	})
}

// BenchmarkServeEndpoint measures the service's own cost per request
// (gin, middleware, metrics, access log, headers) around aggregate.Do, with
// three in-memory upstreams so no socket is involved. Compare with
// aggregate's BenchmarkDo for the part that is Do's.
func BenchmarkServeEndpoint(b *testing.B) {
	for _, tc := range []struct {
		name  string
		level slog.Level
	}{{"log=info", slog.LevelInfo}, {"log=warn", slog.LevelWarn}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg, problems := parseConfig([]byte(`endpoints:
  - path: /users/:id
    timeout: 5s # a loaded machine's pause must not fail the benchmark
    no_coalesce: true
    backends:
      - {name: a, url: 'http://a.test/users/{id}'}
      - {name: b, url: 'http://b.test/users/{id}/stats'}
      - {name: c, url: 'http://c.test/recommendations?user={id}'}
`))
			if len(problems) > 0 {
				b.Fatal(problems)
			}
			logw := newLogWriter(io.Discard)
			log := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: tc.level}))
			svc, err := newService(cfg, &http.Client{Transport: memoryUpstreams()}, log, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/users/7", nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				delete(req.Header, hdrRequestID)
				svc.ServeHTTP(w, req)
				if w.status != 200 {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// discardWriter is a minimal http.ResponseWriter that keeps the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// BenchmarkMiddleware measures the middleware chain alone, on /healthz.
func BenchmarkMiddleware(b *testing.B) {
	cfg, problems := parseConfig([]byte("endpoints:\n  - path: /a\n    backends: [{name: a, url: 'http://a.test/'}]\n"))
	if len(problems) > 0 {
		b.Fatal(problems)
	}
	log := slog.New(slog.NewJSONHandler(newLogWriter(io.Discard), nil))
	svc, err := newService(cfg, &http.Client{Transport: memoryUpstreams()}, log, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/healthz", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		delete(req.Header, hdrRequestID)
		svc.ServeHTTP(w, req)
	}
}

func BenchmarkBackendsHeader(b *testing.B) {
	reports := []aggregate.BackendReport{
		{Name: "profile", Outcome: aggregate.OK, Status: 200, Latency: 1234567},
		{Name: "stats", Outcome: aggregate.OK, Status: 200, Latency: 2345678},
		{Name: "recommendations", Outcome: aggregate.Timeout, Latency: 300000000},
	}
	b.ReportAllocs()
	for b.Loop() {
		backendsHeader(reports)
	}
}
