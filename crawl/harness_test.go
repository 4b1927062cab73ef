package crawl

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/storage"
	"github.com/trawl/trawl/testserver"
)

// bounded is the outcome of a crawl run under watch: its error, the peak
// live heap above the heap before it started, and the file.
type bounded struct {
	err      error
	peakHeap uint64 // bytes of live heap objects above the baseline, sampled every 2 ms
	path     string // the crawl file, closed: read it with count
	engine   *Engine
	also     []*testserver.Site // run.Also's sites, closed
}

// heapBytes returns the bytes of live and not-yet-swept heap objects.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// run describes one watched crawl.
type run struct {
	Site     testserver.SiteConfig
	Fetch    fetch.Config
	Crawl    Config
	Extract  extract.Config
	Deadline time.Duration // 0 means 60 s
	// Paths, when set, are the seeds: paths on the site's first host
	// ("/hostile/hang"); otherwise the site's roots are.
	Paths []string
	// Also are more sites started alongside; their roots are seeds too.
	Also []testserver.SiteConfig
	// Warm are paths on the site's first host requested once before the
	// heap baseline is taken, so that what the server builds on first use
	// (the bombs) is not counted as the crawler's; each adds one hit.
	Warm []string
}

// crawlBounded starts a testserver site, crawls it as r says under a
// deadline, and checks what every hostile-web test must: the crawl ended by
// itself before the deadline, and once the site is closed every goroutine
// it and the crawl started is gone. It returns the run's outcome and the
// site (closed: its counters still read).
func crawlBounded(t *testing.T, r run) (*bounded, *testserver.Site) {
	t.Helper()
	scfg, fcfg, cfg, deadline := r.Site, r.Fetch, r.Crawl, r.Deadline
	if deadline == 0 {
		deadline = 60 * time.Second
	}
	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	site, err := testserver.Start(scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	seeds := site.Seeds()
	if len(r.Paths) > 0 {
		seeds = nil
		for _, p := range r.Paths {
			seeds = append(seeds, "http://"+site.Hosts()[0]+p)
		}
	}
	var also []*testserver.Site
	for _, c := range r.Also {
		s, err := testserver.Start(c)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		also = append(also, s)
		seeds = append(seeds, s.Seeds()...)
	}
	for _, p := range r.Warm {
		warm(t, "http://"+site.Hosts()[0]+p)
	}
	path := filepath.Join(t.TempDir(), "crawl.db")
	db, err := storage.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeDB := sync.OnceValue(db.Close)
	t.Cleanup(func() { closeDB() })

	tr := fetch.NewTransport(fcfg)
	fc, err := fetch.New(fcfg, &http.Client{Transport: tr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.BeginCrawl(t.Context(), seeds, map[string]any{"test": t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	cfg.CrawlID = id
	e, err := New(cfg, db, fc, extract.New(r.Extract), slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	base := heapBytes()
	var peak uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, heapBytes())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	runErr := e.Run(ctx, seeds)
	close(stop)
	sampler.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the crawl did not end by itself within %v (err %v)", deadline, runErr)
	}

	site.Close()
	for _, s := range also {
		s.Close()
	}
	tr.CloseIdleConnections()
	if err := closeDB(); err != nil { // its pools' goroutines go with it
		t.Fatal(err)
	}
	waitGoroutines(t, baseGoroutines)
	res := &bounded{err: runErr, path: path, engine: e, also: also}
	if peak > base {
		res.peakHeap = peak - base
	}
	return res, site
}

// waitGoroutines fails t unless the goroutine count falls back to base
// within 5 s (connections and handlers take a moment to wind down).
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d, want at most the %d before the test; stacks:\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dropCount returns the drops table's count for reason (0 when absent).
func dropCount(t *testing.T, path, reason string) int {
	t.Helper()
	return count(t, path, `SELECT coalesce(sum(count), 0) FROM drops WHERE reason = ?`, reason)
}
