package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawl/trawl/storage"
	"github.com/trawl/trawl/testserver"
)

// TestDashboardAccess checks who may use the dashboard: without a token
// only requests naming a loopback host (no DNS rebinding), with one only
// requests that carry it; controls need their header, and a dashboard
// without a running crawl has none.
func TestDashboardAccess(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Pages: 5, LinksPerPage: 2})
	db := filepath.Join(t.TempDir(), "crawl.db")
	if _, stderr, code := runCmd(t, "crawl", "--db", db, "--rate", "0", site.Seeds()[0]); code != 0 {
		t.Fatalf("crawl: exit %d\n%s", code, stderr)
	}
	ro, err := storage.OpenReadOnly(t.Context(), db, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	src := &dashSource{db: ro, path: db}
	open, locked := newDashboard(src, "", testLog(t)).handler(), newDashboard(src, "s3cret", testLog(t)).handler()

	tests := []struct {
		name   string
		h      http.Handler
		method string
		target string
		header map[string]string
		want   int
	}{
		{"loopback, no token", open, "GET", "http://127.0.0.1:8090/api/state", nil, 200},
		{"localhost, no token", open, "GET", "http://localhost:8090/", nil, 200},
		{"a rebound name, no token", open, "GET", "http://evil.example:8090/api/state", nil, 403},
		{"token missing", locked, "GET", "http://10.0.0.5:8090/api/state", nil, 403},
		{"token wrong", locked, "GET", "http://10.0.0.5:8090/api/state?token=guess", nil, 403},
		{"token in the query", locked, "GET", "http://10.0.0.5:8090/api/state?token=s3cret", nil, 200},
		{"token in the header", locked, "GET", "http://10.0.0.5:8090/api/pages?q=Host", map[string]string{"X-Trawl-Token": "s3cret"}, 200},
		{"control without its header", open, "POST", "http://127.0.0.1:8090/api/control", nil, 403},
		{"control without a crawl", open, "POST", "http://127.0.0.1:8090/api/control", map[string]string{"X-Trawl-Control": "1"}, 409},
		{"the page", open, "GET", "http://127.0.0.1:8090/app.js", nil, 200},
		{"no such page id", open, "GET", "http://127.0.0.1:8090/api/page?id=12", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(`{"action":"pause"}`))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("%s %s: %d, want %d (%s)", tt.method, tt.target, rec.Code, tt.want, strings.TrimSpace(rec.Body.String()))
			}
		})
	}
}

func TestListenUI(t *testing.T) {
	ln, token, err := listenUI("--ui", "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if token != "" {
		t.Errorf("loopback: token %q, want none", token)
	}
	ln, token, err = listenUI("--ui", "127.0.0.1:0", "given")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if token != "given" {
		t.Errorf("token given: %q, want it kept", token)
	}
	// Every interface: a token is generated (binding 0.0.0.0 here is only
	// listening; no packet goes anywhere).
	ln, token, err = listenUI("--ui", "0.0.0.0:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if len(token) != 32 {
		t.Errorf("all interfaces: token %q, want a generated 32-hex-digit one", token)
	}
	if _, _, err := listenUI("--ui", "nowhere", ""); err == nil || exitCode(err) != 2 {
		t.Errorf("bad address: %v (exit %d), want a usage error", err, exitCode(err))
	}
}
