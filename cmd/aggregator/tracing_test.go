package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/trawl/trawl/aggregate"
)

// TestTracing wants the client's trace continued: a server span whose
// parent is the incoming traceparent, one client span per backend below it
// with its outcome, and each upstream given the traceparent of its own span.
// Without tracing, nothing is sent upstream.
func TestTracing(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{} // upstream path -> traceparent received
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path] = r.Header.Get("Traceparent")
		mu.Unlock()
		if r.URL.Path == "/fail" {
			w.WriteHeader(500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"`+r.URL.Path[1:]+`":1}`)
	}))
	t.Cleanup(up.Close)
	config := "endpoints:\n  - path: /p\n    backends:\n" +
		"      - {name: a, url: '" + up.URL + "/a'}\n      - {name: b, url: '" + up.URL + "/b'}\n      - {name: c, url: '" + up.URL + "/fail'}\n"
	cfg, problems := parseConfig([]byte(config))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	exp := tracetest.NewInMemoryExporter()
	tp := newTracerProviderWith(tracingConfig{}, sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(t.Context()) })
	transport := aggregate.NewTransport()
	t.Cleanup(transport.CloseIdleConnections)
	svc, err := newService(cfg, &http.Client{Transport: transport}, nil, tracerOf(tp), []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(svc)
	t.Cleanup(ts.Close)
	t.Cleanup(svc.wait)

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	resp, _ := get(t, "GET", ts.URL+"/p", http.Header{"Traceparent": {"00-" + traceID + "-" + parentID + "-01"}}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	svc.wait()
	spans := exp.GetSpans()
	var server tracetest.SpanStub
	backends := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		switch s.SpanKind {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindClient:
			backends[s.Name] = s
		}
	}
	if server.Name != "GET /p" || server.SpanContext.TraceID().String() != traceID || server.Parent.SpanID().String() != parentID || !server.Parent.IsRemote() {
		t.Errorf("server span %q trace %s parent %s, want GET /p in trace %s under %s", server.Name,
			server.SpanContext.TraceID(), server.Parent.SpanID(), traceID, parentID)
	}
	if len(spans) != 4 || len(backends) != 3 {
		t.Fatalf("%d spans, %d of backends; want a server span and 3", len(spans), len(backends))
	}
	for name, path := range map[string]string{"backend a": "/a", "backend b": "/b", "backend c": "/fail"} {
		s := backends[name]
		if s.Parent.SpanID() != server.SpanContext.SpanID() || s.SpanContext.TraceID().String() != traceID {
			t.Errorf("%s: parent %s trace %s, want the server span %s", name, s.Parent.SpanID(), s.SpanContext.TraceID(), server.SpanContext.SpanID())
		}
		if want := "00-" + traceID + "-" + s.SpanContext.SpanID().String() + "-01"; got[path] != want {
			t.Errorf("%s received traceparent %q, want %q", path, got[path], want)
		}
		outcome := ""
		for _, a := range s.Attributes {
			if a.Key == "aggregate.outcome" {
				outcome = a.Value.AsString()
			}
		}
		if want := map[bool]string{true: "error", false: "ok"}[path == "/fail"]; outcome != want {
			t.Errorf("%s outcome %q, want %q", name, outcome, want)
		}
	}

	// A request without traceparent starts a new trace.
	exp.Reset()
	get(t, "GET", ts.URL+"/p", nil, nil)
	svc.wait()
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID().String() == traceID || s.SpanKind == trace.SpanKindServer && s.Parent.IsValid() {
			t.Errorf("span %s: trace %s parent %v, want a new trace", s.Name, s.SpanContext.TraceID(), s.Parent.SpanID())
		}
	}

	// Tracing off: no traceparent upstream, even when the client sent one.
	ts2, _, _ := startService(t, config, "")
	mu.Lock()
	clear(got)
	mu.Unlock()
	get(t, "GET", ts2.URL+"/p", http.Header{"Traceparent": {"00-" + traceID + "-" + parentID + "-01"}}, nil)
	mu.Lock()
	defer mu.Unlock()
	for path, tp := range got {
		if tp != "" || !strings.HasPrefix(path, "/") {
			t.Errorf("tracing off: %s received traceparent %q", path, tp)
		}
	}
}

// TestOTLPExport serves the aggregator with tracing.otlp_endpoint set to a
// loopback collector: the spans arrive there in OTLP's JSON encoding, with
// the service name, the trace and parent ids and the backend's outcome.
func TestOTLPExport(t *testing.T) {
	got := make(chan otlpTraces, 16)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req otlpTraces
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil {
			t.Errorf("collector got %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			w.WriteHeader(400)
			return
		}
		got <- req
	}))
	t.Cleanup(collector.Close)
	up := startUpstream(t)
	tp := newTracerProvider(tracingConfig{OTLPEndpoint: collector.URL + "/v1/traces", ServiceName: "gw"})
	config := "endpoints:\n  - path: /p\n    backends: [{name: a, url: '" + up.URL + "/a'}]\n"
	cfg, _ := parseConfig([]byte(config))
	svc, err := newService(cfg, &http.Client{}, nil, tracerOf(tp), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(svc)
	t.Cleanup(ts.Close)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	get(t, "GET", ts.URL+"/p", http.Header{"Traceparent": {"00-" + traceID + "-00f067aa0ba902b7-01"}}, nil)
	svc.wait()
	if err := tp.Shutdown(t.Context()); err != nil { // flushes the batch
		t.Fatal(err)
	}
	var spans []otlpSpan
	var service string
	for len(got) > 0 {
		req := <-got
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.Resource.Attributes {
				if kv.Key == "service.name" {
					service = fmt.Sprint(kv.Value["stringValue"])
				}
			}
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
	}
	if service != "gw" || len(spans) != 2 {
		t.Fatalf("collector got service %q and %d spans, want gw and 2: %+v", service, len(spans), spans)
	}
	byName := map[string]otlpSpan{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	server, backend := byName["GET /p"], byName["backend a"]
	if server.TraceID != traceID || server.ParentSpanID != "00f067aa0ba902b7" || server.Kind != 2 {
		t.Errorf("server span %+v", server)
	}
	if backend.TraceID != traceID || backend.ParentSpanID != server.SpanID || backend.Kind != 3 || backend.Start == "" {
		t.Errorf("backend span %+v, want a client span under %s", backend, server.SpanID)
	}
	outcome := ""
	for _, kv := range backend.Attributes {
		if kv.Key == "aggregate.outcome" {
			outcome = fmt.Sprint(kv.Value["stringValue"])
		}
	}
	if outcome != "ok" {
		t.Errorf("backend span outcome %q, want ok", outcome)
	}
}
