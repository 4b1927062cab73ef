package main

import (
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/storage"
	"github.com/trawl/trawl/testserver"
)

// TestMetrics crawls a small site and scrapes /metrics: the figures match the
// engine's, and pprof is served beside them.
func TestMetrics(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Hosts: 1, Pages: 30, LinksPerPage: 3, Seed: 6,
		Overrides: map[string]testserver.Response{"/p/4": {Status: 404}}})
	db, err := storage.Open(t.Context(), filepath.Join(t.TempDir(), "crawl.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fc, err := fetch.New(fetch.Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := crawl.New(crawl.Config{MaxDepth: -1}, db, fc, extract.New(extract.Config{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Run(t.Context(), site.Seeds()); err != nil {
		t.Fatal(err)
	}
	ln, err := listen("--metrics", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	stop := serveMetrics(ln, e, slog.New(slog.NewTextHandler(t.Output(), nil)))
	defer stop()
	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	body := get("/metrics")
	metric := func(re string) float64 {
		m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s in /metrics:\n%s", re, body)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	p := e.Progress()
	if got := metric(`trawl_pages_total\{class="2xx"\}`); got != float64(p.Status[2]) || got < 29 {
		t.Errorf("trawl_pages_total{2xx} = %v, engine says %d", got, p.Status[2])
	}
	if got := metric(`trawl_pages_total\{class="4xx"\}`); got != 1 {
		t.Errorf("trawl_pages_total{4xx} = %v, want 1", got)
	}
	if got := metric(`trawl_body_bytes_total`); got != float64(p.Bytes) || got == 0 {
		t.Errorf("trawl_body_bytes_total = %v, engine says %d", got, p.Bytes)
	}
	for _, name := range []string{"trawl_retries_total", "trawl_robots_denied_total", "trawl_queued", "trawl_in_flight", "trawl_politeness_wait_seconds_total", "go_goroutines"} {
		metric(name)
	}
	if pp := get("/debug/pprof/"); !regexp.MustCompile(`goroutine`).MatchString(pp) {
		t.Errorf("/debug/pprof/ does not list profiles")
	}
}
