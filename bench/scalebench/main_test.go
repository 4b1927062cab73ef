package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRatesBefore(t *testing.T) {
	// 1,000 pages a second of wall time, 500 per CPU-second, sampled every 0.5 s.
	var samples []sample
	for i := range 41 {
		at := time.Duration(i) * 500 * time.Millisecond
		samples = append(samples, sample{at: at, fetched: float64(i * 500), cpu: at.Seconds() * 2})
	}
	i := firstAt(samples, 20_000)
	if i != 40 || samples[i].fetched != 20_000 {
		t.Fatalf("firstAt(20000) = %d (fetched %v), want 40", i, samples[i].fetched)
	}
	wall, cpu := ratesBefore(samples, i, 10_000)
	if wall != 1000 || cpu != 500 {
		t.Errorf("ratesBefore = %v pages/s, %v pages/CPU-s; want 1000 and 500", wall, cpu)
	}
	if firstAt(samples, 1e9) != -1 {
		t.Error("firstAt past the end should be -1")
	}
	if w, c := ratesBefore(samples, 0, 10_000); w != 0 || c != 0 {
		t.Errorf("ratesBefore at the first sample = %v, %v; want 0, 0", w, c)
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Join([]string{
			"# HELP trawl_pages_total Pages recorded.",
			`trawl_pages_total{class="2xx"} 120`,
			`trawl_pages_total{class="4xx"} 3`,
			"trawl_discovered_total 4567",
			"process_resident_memory_bytes 1.048576e+08",
			"process_cpu_seconds_total 12.5",
			"trawl_links_total 999",
		}, "\n"))
	}))
	defer srv.Close()
	s, err := scrape(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if s.fetched != 123 || s.discovered != 4567 || s.rss != 100<<20 || s.cpu != 12.5 {
		t.Errorf("scrape = %+v, want fetched 123 (all classes), discovered 4567, rss 100 MiB, cpu 12.5", s)
	}
}
