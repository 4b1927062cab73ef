package main

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trawl/trawl/pgstore/pgtest"
	"github.com/trawl/trawl/testserver"
)

// TestRecrawlFleet: `crawl --recrawl` on a crawl in PostgreSQL asks for every
// page again with its stored validators, as on a file, and a second worker
// started with --recrawl while the first is at it joins that recrawl instead
// of queueing every URL again: each page is requested once (a 304), and
// stats counts them all unchanged.
func TestRecrawlFleet(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	const pages = 100
	site := startSite(t, testserver.SiteConfig{Hosts: 2, Pages: pages, LinksPerPage: 5, Seed: 13, Validators: true, Latency: 20 * time.Millisecond})
	args := append([]string{"crawl", "--db", dsn, "--crawl", crawl, "--rate", "0", "--per-host", "1", "--concurrency", "2", "--lease", "5s", "--quiet"}, site.Seeds()...)
	if _, stderr, code := runBinary(t, args...); code != 0 {
		t.Fatalf("crawl exit code = %d; stderr:\n%s", code, stderr)
	}
	logFrom := len(site.Requests())

	bin := crawlerBinary(t)
	recrawl := []string{"--recrawl", "--db", dsn, "--crawl", crawl, "--lease", "5s", "--hosts", "1"} // not --quiet: the log says who joins
	first := startWorker(t, bin, "trawl-fleet-w1", recrawl)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for site.NotModified() < pages/5 { // the first worker's recrawl is under way
		<-tick.C
	}
	second := startWorker(t, bin, "trawl-fleet-w2", recrawl)
	for i, w := range []*fleetWorker{first, second} {
		if err := <-w.done; err != nil {
			t.Fatalf("worker %d: %v\n%s", i+1, err, w.stderr)
		}
	}
	if !strings.Contains(second.stderr.String(), "joins") {
		t.Errorf("the second worker's log does not say it joined the recrawl:\n%s", second.stderr)
	}
	seen := map[string]int{}
	agents := map[string]bool{}
	for _, r := range site.Requests()[logFrom:] {
		if r.Path == "/robots.txt" {
			continue
		}
		seen[r.Host+r.Path]++
		agents[r.Agent] = true
		if r.Status != http.StatusNotModified {
			t.Errorf("recrawl: %s%s answered %d, want 304", r.Host, r.Path, r.Status)
		}
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("recrawl: %s requested %d times, want once", k, n)
		}
	}
	if len(seen) != pages+2 || site.NotModified() != pages+2 {
		t.Errorf("recrawl: %d pages requested, %d 304s; want %d of each", len(seen), site.NotModified(), pages+2)
	}
	if len(agents) != 2 {
		t.Errorf("recrawl requests came from %d workers, want both", len(agents))
	}
	stdout, stderr, code := runBinary(t, "stats", "--db", dsn, "--crawl", crawl)
	if code != 0 {
		t.Fatalf("stats exit code = %d; stderr:\n%s", code, stderr)
	}
	m := regexp.MustCompile(`(?m)^unchanged on recrawl \(304\)\s+(\d+)$`).FindStringSubmatch(stdout)
	if m == nil || m[1] != strconv.Itoa(pages+2) {
		t.Errorf("stats: want \"unchanged on recrawl (304)\" with %d; got %q in:\n%s", pages+2, m, stdout)
	}
	if got := pgtest.Count(t, dsn, crawl, `SELECT count(*) FROM urls WHERE state = 'queued'`); got != 0 {
		t.Errorf("%d URLs still queued after the recrawl", got)
	}
}
