package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trawl/trawl/aggregate"
	"github.com/trawl/trawl/testserver"
)

// upstream is a loopback JSON API whose paths behave as their names say.
type upstream struct {
	*httptest.Server
	release chan struct{} // closed at cleanup; /hang waits for it alone

	mu    sync.Mutex // guards calls, ids
	calls map[string]int
	ids   []string // X-Request-ID of every call
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{release: make(chan struct{}), calls: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	t.Cleanup(func() { close(u.release) }) // runs first: Close waits for /hang
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.calls[r.URL.Path]++
	u.ids = append(u.ids, r.Header.Get("X-Request-ID"))
	u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	name := strings.Trim(r.URL.Path, "/")
	switch {
	case name == "slow": // answers after 5s unless the caller leaves
		select {
		case <-r.Context().Done():
			return
		case <-time.After(5 * time.Second):
		}
	case name == "hang": // ignores cancellation
		<-u.release
		return
	case name == "delay":
		time.Sleep(100 * time.Millisecond)
	case name == "fail":
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":"boom"}`)
		return
	case name == "invalid":
		io.WriteString(w, `{"nope"`)
		return
	case name == "lang":
		fmt.Fprintf(w, `{"lang":%q,"q":%q}`, r.Header.Get("Accept-Language"), r.URL.Query().Get("q"))
		return
	}
	fmt.Fprintf(w, `{%q:%q}`, name, r.URL.Query().Get("id"))
}

func (u *upstream) callsTo(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[path]
}

func (u *upstream) requestIDs() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.ids...)
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu      sync.Mutex // guards b and changed
	b       bytes.Buffer
	changed chan struct{} // closed by the next Write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return s.b.Write(p)
}

// waitFor returns the text once ok says it holds what the caller waits
// for, waking on each Write; after 20 s it fails the test, naming what.
func (s *syncBuffer) waitFor(t *testing.T, what string, ok func(text string) bool) string {
	t.Helper()
	limit := time.After(20 * time.Second)
	for {
		s.mu.Lock()
		text := s.b.String()
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		changed := s.changed
		s.mu.Unlock()
		if ok(text) {
			return text
		}
		select {
		case <-changed:
		case <-limit:
			t.Fatalf("waited 20 s for %s; the logs:\n%s", what, text)
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startService parses config (with {{up}} replaced by upURL) and serves it
// through a real HTTP server on loopback.
func startService(t *testing.T, config, upURL string) (*httptest.Server, *service, *syncBuffer) {
	t.Helper()
	config = strings.ReplaceAll(config, "{{up}}", upURL)
	cfg, problems := parseConfig([]byte(config))
	if len(problems) > 0 {
		t.Fatalf("config problems: %v", problems)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	transport := aggregate.NewTransport()
	t.Cleanup(transport.CloseIdleConnections)
	svc, err := newService(cfg, &http.Client{Transport: transport}, log, nil, []byte(config))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = svc.httpServer()
	ts.Start()
	t.Cleanup(svc.wait)
	t.Cleanup(ts.Close)
	return ts, svc, logs
}

// get sends a request and returns the response with its body read.
func get(t *testing.T, method, url string, header http.Header, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// backendsRE matches an X-Aggregate-Backends entry.
var backendsRE = regexp.MustCompile(`^([a-z]+)=(ok|timeout|error|invalid);(\d*);(\d+\.\d|\d{2,})ms$`)

// TestStatusPolicy sends requests through the server and checks every row
// of the status policy: the status, the completion header, the per-backend
// header and the body (the merged object, or a JSON error for 5xx).
func TestStatusPolicy(t *testing.T) {
	up := startUpstream(t)
	type be struct{ name, path string }
	tests := []struct {
		name      string
		backends  []be
		required  string // the required backend's name, if any
		status    int
		complete  string
		outcomes  string // "a=ok b=timeout"
		body      string // the exact body for 2xx
		errorText string // the error for 5xx
	}{
		{"all ok", []be{{"a", "a"}, {"b", "b"}}, "", 200, "true", "a=ok b=ok", `{"a":"7","b":"7"}`, ""},
		{"optional timed out", []be{{"a", "a"}, {"b", "slow"}}, "", 200, "false", "a=ok b=timeout", `{"a":"7"}`, ""},
		{"optional hangs ignoring cancellation", []be{{"a", "a"}, {"b", "hang"}}, "", 200, "false", "a=ok b=timeout", `{"a":"7"}`, ""},
		{"optional failed", []be{{"a", "fail"}, {"b", "b"}}, "", 200, "false", "a=error b=ok", `{"b":"7"}`, ""},
		{"optional invalid", []be{{"a", "a"}, {"b", "invalid"}}, "", 200, "false", "a=ok b=invalid", `{"a":"7"}`, ""},
		{"required timed out", []be{{"a", "a"}, {"b", "slow"}}, "b", 504, "false", "a=ok b=timeout", "", "required backend b: timeout"},
		{"required failed", []be{{"a", "fail"}, {"b", "b"}}, "a", 502, "false", "a=error b=ok", "", "required backend a: error"},
		{"required invalid", []be{{"a", "invalid"}, {"b", "b"}}, "a", 502, "false", "a=invalid b=ok", "", "required backend a: invalid"},
		{"every backend timed out", []be{{"a", "slow"}, {"b", "hang"}}, "", 504, "false", "a=timeout b=timeout", "", "every backend timed out"},
		{"every backend failed", []be{{"a", "fail"}, {"b", "invalid"}}, "", 502, "false", "a=error b=invalid", "", "every backend failed"},
		{"failed and timed out", []be{{"a", "fail"}, {"b", "slow"}}, "", 502, "false", "a=error b=timeout", "", "every backend failed"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			fmt.Fprintf(&b, "endpoints:\n  - path: /t%d/:id\n    timeout: 150ms\n    backends:\n", i)
			for _, x := range tt.backends {
				fmt.Fprintf(&b, "      - {name: %s, url: '{{up}}/%s?id={id}', required: %v}\n", x.name, x.path, x.name == tt.required)
			}
			ts, _, _ := startService(t, b.String(), up.URL)
			start := time.Now()
			resp, body := get(t, "GET", fmt.Sprintf("%s/t%d/7", ts.URL, i), nil, nil)
			if elapsed := time.Since(start); elapsed > time.Second {
				t.Errorf("answered after %v, want by the 150ms deadline (well before the 5s hang)", elapsed)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("X-Aggregate-Completed"); got != tt.complete {
				t.Errorf("X-Aggregate-Completed = %q, want %q", got, tt.complete)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var outcomes []string
			for _, part := range strings.Split(resp.Header.Get("X-Aggregate-Backends"), ", ") {
				m := backendsRE.FindStringSubmatch(part)
				if m == nil {
					t.Errorf("X-Aggregate-Backends entry %q does not match %s", part, backendsRE)
					continue
				}
				outcomes = append(outcomes, m[1]+"="+m[2])
				if wantStatus := m[2] == "ok" || m[2] == "invalid" || m[2] == "error"; wantStatus != (m[3] != "") {
					t.Errorf("X-Aggregate-Backends entry %q: upstream status present = %v, want %v", part, m[3] != "", wantStatus)
				}
			}
			if got := strings.Join(outcomes, " "); got != tt.outcomes {
				t.Errorf("outcomes = %q, want %q", got, tt.outcomes)
			}
			if tt.status < 500 {
				if string(body) != tt.body {
					t.Errorf("body = %s, want %s", body, tt.body)
				}
				return
			}
			var e struct {
				Error    string                    `json:"error"`
				Backends []aggregate.BackendReport `json:"backends"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("5xx body %q is not the JSON error: %v", body, err)
			}
			if !strings.HasPrefix(e.Error, tt.errorText) {
				t.Errorf("error = %q, want it to start %q", e.Error, tt.errorText)
			}
			if len(e.Backends) != len(tt.backends) || e.Backends[0].Name != "a" || e.Backends[1].Name != "b" {
				t.Errorf("error body backends = %+v, want a and b in order", e.Backends)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	up := startUpstream(t)
	ts, _, _ := startService(t, "endpoints:\n  - path: /r\n    no_coalesce: true\n    backends: [{name: a, url: '{{up}}/a'}]\n", up.URL)
	generated := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-z]+$`)
	tests := []struct {
		name, sent string
		keep       bool
	}{
		{"valid is kept", "req-42.abc:DEF", true},
		{"none gets one", "", false},
		{"invalid is replaced", "two words", false},
		{"too long is replaced", strings.Repeat("x", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.sent != "" {
				h.Set("X-Request-ID", tt.sent)
			}
			resp, _ := get(t, "GET", ts.URL+"/r", h, nil)
			got := resp.Header.Get("X-Request-ID")
			ids := up.requestIDs()
			if upstreamID := ids[len(ids)-1]; upstreamID != got {
				t.Errorf("upstream saw X-Request-ID %q, response has %q; want the same", upstreamID, got)
			}
			if tt.keep && got != tt.sent {
				t.Errorf("X-Request-ID = %q, want the client's %q", got, tt.sent)
			}
			if !tt.keep && !generated.MatchString(got) {
				t.Errorf("X-Request-ID = %q, want a generated one", got)
			}
		})
	}
	a, _ := get(t, "GET", ts.URL+"/r", nil, nil)
	b, _ := get(t, "GET", ts.URL+"/r", nil, nil)
	if a.Header.Get("X-Request-ID") == b.Header.Get("X-Request-ID") {
		t.Errorf("two requests got the same generated ID %q", a.Header.Get("X-Request-ID"))
	}
}

// TestForwarding checks that path parameters, listed query parameters and
// listed headers reach the backend, and nothing else.
func TestForwarding(t *testing.T) {
	up := startUpstream(t)
	ts, _, _ := startService(t, `endpoints:
  - path: /f
    backends:
      - {name: a, url: '{{up}}/lang?q={q}', query: [q], headers: [Accept-Language]}
`, up.URL)
	h := http.Header{"Accept-Language": {"de"}, "Authorization": {"secret"}}
	_, body := get(t, "GET", ts.URL+"/f?q=x%20y&other=1", h, nil)
	if want := `{"lang":"de","q":"x y"}`; string(body) != want {
		t.Errorf("body = %s, want %s", body, want)
	}
}

func TestHealthzAndErrors(t *testing.T) {
	up := startUpstream(t)
	config := "endpoints:\n  - path: /a\n    backends: [{name: a, url: '{{up}}/a'}]\n"
	ts, _, _ := startService(t, config, up.URL)
	hash := configHash([]byte(strings.ReplaceAll(config, "{{up}}", up.URL)))
	tests := []struct {
		name, method, path string
		status             int
		body               string
	}{
		{"healthz", "GET", "/healthz", 200, `{"status":"ok","config":{"version":1,"hash":"` + hash + `"}}`},
		{"no route", "GET", "/nope", 404, `{"error":"no such endpoint"}`},
		{"wrong method", "DELETE", "/a", 405, `{"error":"method not allowed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, tt.method, ts.URL+tt.path, nil, nil)
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Errorf("%s %s = %d %s, want %d %s", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
		})
	}
}

// onlyReader hides a reader's type, so the client cannot learn its length
// and sends it chunked.
type onlyReader struct{ io.Reader }

func TestBodyCap(t *testing.T) {
	up := startUpstream(t)
	ts, _, _ := startService(t, "server: {max_body_bytes: 16}\nendpoints:\n  - path: /p\n    method: POST\n    backends: [{name: a, url: '{{up}}/a'}]\n", up.URL)
	tests := []struct {
		name   string
		body   io.Reader
		status int
	}{
		{"small", strings.NewReader("0123456789"), 200},
		{"at the cap", strings.NewReader("0123456789abcdef"), 200},
		{"over the cap", strings.NewReader("0123456789abcdefg"), 413},
		{"chunked, small", onlyReader{strings.NewReader("0123456789")}, 200},
		{"chunked, over the cap", onlyReader{strings.NewReader(strings.Repeat("x", 1000))}, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, "POST", ts.URL+"/p", nil, tt.body)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 413 && string(body) != `{"error":"request body exceeds 16 bytes"}` {
				t.Errorf("413 body = %s", body)
			}
		})
	}
}

func TestCacheControlAndMetrics(t *testing.T) {
	up := startUpstream(t)
	ts, _, _ := startService(t, `endpoints:
  - path: /c/:id
    timeout: 150ms
    cache: {ttl: 30s}
    backends:
      - {name: a, url: '{{up}}/a?id={id}'}
      - {name: b, url: '{{up}}/b?id={id}'}
  - path: /p/:id
    timeout: 150ms
    cache: {ttl: 30s}
    backends:
      - {name: a, url: '{{up}}/a?id={id}'}
      - {name: b, url: '{{up}}/slow?id={id}'}
`, up.URL)
	for range 2 {
		resp, _ := get(t, "GET", ts.URL+"/c/1", nil, nil)
		if got := resp.Header.Get("Cache-Control"); got != "max-age=30" {
			t.Errorf("complete cacheable response: Cache-Control = %q, want max-age=30", got)
		}
	}
	if n := up.callsTo("/a"); n != 1 {
		t.Errorf("backend a called %d times for two identical requests, want 1 (the second from the cache)", n)
	}
	resp, _ := get(t, "GET", ts.URL+"/p/1", nil, nil)
	if got := resp.Header.Get("Cache-Control"); got != "" || resp.Header.Get("X-Aggregate-Completed") != "false" {
		t.Errorf("partial response: Cache-Control = %q, want none", got)
	}

	_, body := get(t, "GET", ts.URL+"/metrics", nil, nil)
	for _, want := range []string{
		`aggregator_requests_total{code="200",endpoint="/c/:id",method="GET"} 2`,
		`aggregator_requests_total{code="200",endpoint="/p/:id",method="GET"} 1`,
		`aggregator_request_duration_seconds_count{endpoint="/c/:id",method="GET"} 2`,
		`aggregator_partial_responses_total{endpoint="/p/:id",method="GET"} 1`,
		`aggregator_partial_responses_total{endpoint="/c/:id",method="GET"} 0`,
		`aggregator_cache_hits_total{endpoint="/c/:id",method="GET"} 1`,
		`aggregator_coalesced_requests_total{endpoint="/c/:id",method="GET"} 0`,
		`aggregator_backend_requests_total{backend="a",endpoint="/c/:id",method="GET",outcome="ok"} 1`,
		`aggregator_backend_requests_total{backend="b",endpoint="/p/:id",method="GET",outcome="timeout"} 1`,
		`aggregator_backend_requests_total{backend="b",endpoint="/p/:id",method="GET",outcome="error"} 0`,
		`aggregator_backend_duration_seconds_count{backend="b",endpoint="/p/:id",method="GET"} 1`,
		`aggregator_in_flight_requests 0`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestCoalescing sends identical requests at once: the backend is called once
// and the others are counted as coalesced.
func TestCoalescing(t *testing.T) {
	up := startUpstream(t)
	ts, _, _ := startService(t, "endpoints:\n  - path: /d\n    backends: [{name: d, url: '{{up}}/delay'}]\n", up.URL)
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			resp, err := http.Get(ts.URL + "/d")
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("request %d: status %d, want 200", i, s)
		}
	}
	if c := up.callsTo("/delay"); c != 1 {
		t.Errorf("backend called %d times for %d identical concurrent requests, want 1", c, n)
	}
	_, body := get(t, "GET", ts.URL+"/metrics", nil, nil)
	if want := fmt.Sprintf(`aggregator_coalesced_requests_total{endpoint="/d",method="GET"} %d`, n-1); !bytes.Contains(body, []byte(want)) {
		t.Errorf("/metrics lacks %q", want)
	}
}

// logLines returns the JSON records in logs.
func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestAccessLog(t *testing.T) {
	up := startUpstream(t)
	ts, _, logs := startService(t, `endpoints:
  - path: /ok/:id
    backends: [{name: a, url: '{{up}}/a'}]
  - path: /partial
    timeout: 100ms
    backends: [{name: a, url: '{{up}}/a'}, {name: b, url: '{{up}}/slow'}]
`, up.URL)
	get(t, "GET", ts.URL+"/ok/9", http.Header{"X-Request-Id": {"log-1"}}, nil)
	get(t, "GET", ts.URL+"/partial", http.Header{"X-Request-Id": {"log-2"}}, nil)
	get(t, "GET", ts.URL+"/healthz", http.Header{"X-Request-Id": {"log-3"}}, nil)
	want := map[string]map[string]any{
		"log-1": {"level": "INFO", "method": "GET", "path": "/ok/9", "route": "/ok/:id", "status": 200.0, "complete": true},
		"log-2": {"level": "WARN", "path": "/partial", "route": "/partial", "status": 200.0, "complete": false},
		"log-3": {"level": "DEBUG", "path": "/healthz", "route": "/healthz", "status": 200.0, "complete": nil},
	}
	seen := 0
	for _, rec := range logLines(t, logs.String()) {
		id, _ := rec["request_id"].(string)
		w, ok := want[id]
		if !ok || rec["msg"] != "request" {
			continue
		}
		seen++
		for k, v := range w {
			if rec[k] != v {
				t.Errorf("access log of %s: %s = %v, want %v (%v)", id, k, rec[k], v, rec)
			}
		}
		if e, ok := rec["elapsed"].(float64); !ok || e <= 0 {
			t.Errorf("access log of %s: elapsed = %v, want a positive number", id, rec["elapsed"])
		}
	}
	if seen != len(want) {
		t.Errorf("found %d access log records, want %d:\n%s", seen, len(want), logs)
	}
}

func TestRecovery(t *testing.T) {
	up := startUpstream(t)
	ts, svc, logs := startService(t, "endpoints:\n  - path: /a\n    backends: [{name: a, url: '{{up}}/a'}]\n", up.URL)
	svc.current().engine.GET("/panic", func(*gin.Context) { panic("boom") })
	resp, body := get(t, "GET", ts.URL+"/panic", nil, nil)
	if resp.StatusCode != 500 || string(body) != `{"error":"internal error"}` {
		t.Errorf("panicking handler: %d %s, want 500 and a JSON error", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), `"msg":"panic","panic":"boom"`) {
		t.Errorf("logs lack the panic:\n%s", logs)
	}
	if resp, _ := get(t, "GET", ts.URL+"/a", nil, nil); resp.StatusCode != 200 {
		t.Errorf("after a panic, /a = %d, want 200", resp.StatusCode)
	}
}

func TestBackendsHeader(t *testing.T) {
	tests := []struct {
		reports []aggregate.BackendReport
		want    string
	}{
		{nil, ""},
		{[]aggregate.BackendReport{{Name: "profile", Outcome: aggregate.OK, Status: 200, Latency: 12300 * time.Microsecond}}, "profile=ok;200;12ms"},
		{[]aggregate.BackendReport{
			{Name: "a", Outcome: aggregate.OK, Status: 200, Latency: 420 * time.Microsecond},
			{Name: "b", Outcome: aggregate.Timeout, Latency: 300 * time.Millisecond},
			{Name: "c", Outcome: aggregate.Failed, Status: 503, Latency: 9960 * time.Microsecond},
		}, "a=ok;200;0.4ms, b=timeout;;300ms, c=error;503;10ms"},
	}
	for _, tt := range tests {
		if got := backendsHeader(tt.reports); got != tt.want {
			t.Errorf("backendsHeader(%v) = %q, want %q", tt.reports, got, tt.want)
		}
	}
}

// TestExampleConfig serves examples/aggregator.yaml in front of testserver's
// upstream APIs (their ports swapped in) and checks each endpoint's merged
// body, including a backend that hangs and ignores cancellation.
func TestExampleConfig(t *testing.T) {
	example, err := os.ReadFile("../../examples/aggregator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := string(example)
	var apis []*testserver.API
	for i, cfg := range []testserver.APIConfig{
		{RecordHeaders: true},
		{HangPaths: []string{"/users/8/stats"}}, // ignores cancellation until Close
		{},
	} {
		api, err := testserver.StartAPI(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(api.Close)
		apis = append(apis, api)
		config = strings.ReplaceAll(config, fmt.Sprintf("http://127.0.0.1:900%d", i+1), api.URL())
	}
	ts, _, _ := startService(t, config, "")

	decode := func(t *testing.T, body []byte) map[string]json.RawMessage {
		t.Helper()
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		return m
	}
	keys := func(m map[string]json.RawMessage) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return strings.Join(ks, ",")
	}

	t.Run("spliced", func(t *testing.T) {
		resp, body := get(t, "GET", ts.URL+"/users/7", nil, nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-Aggregate-Completed") != "true" {
			t.Fatalf("status %d, completed %q, backends %q", resp.StatusCode, resp.Header.Get("X-Aggregate-Completed"), resp.Header.Get("X-Aggregate-Backends"))
		}
		want := "age,bio,city,email,for_user,id,items,joined,last_order,name,orders_count,stats_note,tier,total_spent,user_id"
		if got := keys(decode(t, body)); got != want {
			t.Errorf("keys = %s, want %s", got, want)
		}
	})
	t.Run("chained", func(t *testing.T) {
		resp, body := get(t, "GET", ts.URL+"/users/7/chained?lang=de", nil, nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-Aggregate-Completed") != "true" {
			t.Fatalf("status %d, backends %q; body %s", resp.StatusCode, resp.Header.Get("X-Aggregate-Backends"), body)
		}
		m := decode(t, body)
		if got, want := keys(m), "_backends,id,name,recommended,stats"; got != want {
			t.Errorf("keys = %s, want %s", got, want)
		}
		if got := string(m["id"]); got != `"7"` {
			t.Errorf("id = %s, want \"7\"", got)
		}
		if got := string(m["recommended"]); !strings.Contains(got, `"for_user":"7"`) {
			t.Errorf("recommended = %s, want the recommendations for user 7 (the id in the profile)", got)
		}
	})
	t.Run("shaped", func(t *testing.T) {
		resp, body := get(t, "GET", ts.URL+"/users/7/summary?lang=de", http.Header{"Accept-Language": {"de"}}, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "max-age=5" {
			t.Fatalf("status %d, Cache-Control %q; body %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
		}
		m := decode(t, body)
		if got, want := keys(m), "_backends,age,city,email,id,member_since,name,recommended,stats"; got != want {
			t.Errorf("keys = %s, want %s", got, want)
		}
		if got, want := keys(decode(t, m["stats"])), "orders_count,tier,total_spent"; got != want {
			t.Errorf("stats keys = %s, want %s", got, want)
		}
		if !bytes.HasPrefix(m["recommended"], []byte(`[{"sku":`)) {
			t.Errorf("recommended = %.40s…, want the items array", m["recommended"])
		}
		var report []aggregate.BackendReport
		if err := json.Unmarshal(m["_backends"], &report); err != nil || len(report) != 3 {
			t.Errorf("_backends = %s (%v), want 3 reports", m["_backends"], err)
		}
		h := apis[0].LastHeader("/users/7")
		if h.Get("Accept-Language") != "de" || h.Get("X-Request-Id") != resp.Header.Get("X-Request-Id") {
			t.Errorf("profile upstream got Accept-Language %q, X-Request-Id %q; want de and %q",
				h.Get("Accept-Language"), h.Get("X-Request-Id"), resp.Header.Get("X-Request-Id"))
		}
	})
	t.Run("collection", func(t *testing.T) {
		_, body := get(t, "GET", ts.URL+"/users/7/orders", nil, nil)
		m := decode(t, body)
		if got, want := keys(m), "orders,user"; got != want {
			t.Errorf("keys = %s, want %s", got, want)
		}
		if got, want := keys(decode(t, m["user"])), "id,name"; got != want {
			t.Errorf("user keys = %s, want %s", got, want)
		}
	})
	t.Run("hanging backend", func(t *testing.T) {
		start := time.Now()
		resp, body := get(t, "GET", ts.URL+"/users/8", nil, nil)
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("answered after %v, want by the 300ms deadline", elapsed)
		}
		if resp.StatusCode != 200 || resp.Header.Get("X-Aggregate-Completed") != "false" ||
			!strings.Contains(resp.Header.Get("X-Aggregate-Backends"), "stats=timeout;;") {
			t.Errorf("status %d, completed %q, backends %q; want 200, false and stats timed out",
				resp.StatusCode, resp.Header.Get("X-Aggregate-Completed"), resp.Header.Get("X-Aggregate-Backends"))
		}
		if m := decode(t, body); m["name"] == nil || m["for_user"] == nil || m["orders_count"] != nil {
			t.Errorf("body keys %s, want profile and recommendations without stats", keys(m))
		}
	})
}
