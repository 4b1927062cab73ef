package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncWriter collects what run writes and closes ready at the first "ready"
// line.
type syncWriter struct {
	mu    sync.Mutex // guards buf, seen
	buf   strings.Builder
	seen  bool
	ready chan struct{} // closed by Write
}

func newSyncWriter() *syncWriter { return &syncWriter{ready: make(chan struct{})} }

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.seen && strings.Contains(w.buf.String(), "ready\n") {
		w.seen = true
		close(w.ready)
	}
	return len(p), nil
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// upstream serves body as JSON after delay; a negative delay hangs until the
// test ends, ignoring the request's context.
func upstream(t *testing.T, body string, delay time.Duration) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if delay < 0 {
			<-release // ignores r.Context on purpose
			return
		}
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, strings.ReplaceAll(body, "{path}", r.URL.RequestURI()))
	}))
	t.Cleanup(func() {
		close(release)
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// startPeer writes a three-backend config for the given upstreams and runs
// the peer until the test ends; it returns the peer's base URL.
func startPeer(t *testing.T, hosts [3]string, accessLog bool) (string, *syncWriter) {
	t.Helper()
	cfg := fmt.Sprintf(`{
  "version": 3,
  "listen_ip": "127.0.0.1",
  "port": 0,
  "timeout": "300ms",
  "endpoints": [{
    "endpoint": "/users/{id}",
    "method": "GET",
    "timeout": "300ms",
    "backend": [
      {"host": [%q], "url_pattern": "/users/{id}"},
      {"host": [%q], "url_pattern": "/users/{id}/stats"},
      {"host": [%q], "url_pattern": "/recommendations?user={id}"}
    ]
  }]
}`, hosts[0], hosts[1], hosts[2])
	file := filepath.Join(t.TempDir(), "lura.json")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	stdout, stderr := newSyncWriter(), newSyncWriter()
	done := make(chan error, 1)
	args := []string{"-config", file, "-port", "0", fmt.Sprintf("-access-log=%v", accessLog)}
	go func() { done <- run(ctx, args, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run after cancel = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("run did not return within 10s of cancel")
		}
	})
	select {
	case <-stderr.ready:
	case err := <-done:
		t.Fatalf("run returned before ready: %v; stderr: %s", err, stderr)
	case <-time.After(10 * time.Second):
		t.Fatalf("no ready line within 10s; stderr: %s", stderr)
	}
	base := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("stdout = %q, want the base URL", base)
	}
	return base, stderr
}

func getJSON(t *testing.T, url string) (*http.Response, map[string]any, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
	}
	return resp, m, took
}

func TestPeerMergesThreeBackends(t *testing.T) {
	a := upstream(t, `{"id":"1","name":"a","from_a":"{path}"}`, 0)
	b := upstream(t, `{"orders_count":3,"from_b":"{path}"}`, 0)
	c := upstream(t, `{"items":[1,2],"from_c":"{path}"}`, 0)
	base, stderr := startPeer(t, [3]string{a.URL, b.URL, c.URL}, true)

	resp, m, _ := getJSON(t, base+"/users/7")
	if resp.StatusCode != 200 || resp.Header.Get("X-Krakend-Completed") != "true" {
		t.Fatalf("status %d, completed %q; want 200 true", resp.StatusCode, resp.Header.Get("X-Krakend-Completed"))
	}
	want := map[string]string{"from_a": "/users/7", "from_b": "/users/7/stats", "from_c": "/recommendations?user=7"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %q (the URL pattern filled in)", k, m[k], v)
		}
	}
	if _, ok := m["items"]; !ok || m["name"] != "a" {
		t.Errorf("merged body %v lacks a backend's fields", m)
	}
	if r, _, _ := getJSON(t, base+"/__health"); r.StatusCode != 200 {
		t.Errorf("/__health: %d, want 200", r.StatusCode)
	}
	if !strings.Contains(stderr.String(), "/users/7") {
		t.Errorf("no access log line on stderr: %q", stderr)
	}
}

func TestPeerWithHangingBackend(t *testing.T) {
	a := upstream(t, `{"id":"1"}`, 0)
	b := upstream(t, `{"orders_count":3}`, -1)
	c := upstream(t, `{"items":[1]}`, 0)
	base, stderr := startPeer(t, [3]string{a.URL, b.URL, c.URL}, false)

	resp, m, took := getJSON(t, base+"/users/7")
	if took > 2*time.Second {
		t.Errorf("answered after %v with a hanging backend, want about the 300ms timeout", took)
	}
	if resp.Header.Get("X-Krakend-Completed") != "false" || m["id"] != "1" {
		t.Errorf("status %d, completed %q, body %v; want the partial merge of two backends",
			resp.StatusCode, resp.Header.Get("X-Krakend-Completed"), m)
	}
	if strings.Contains(stderr.String(), "/users/7") && strings.Contains(stderr.String(), "GET") {
		t.Errorf("access log written with -access-log=false: %q", stderr)
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{{}, {"-config"}, {"-config", "x", "extra"}} {
		err := run(t.Context(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
	if err := run(t.Context(), []string{"-config", filepath.Join(t.TempDir(), "none.json")}, io.Discard, io.Discard); err == nil {
		t.Errorf("run with a missing config file = nil, want an error")
	}
}
