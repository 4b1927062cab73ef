package crawl

import (
	"errors"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/testserver"
)

// TestPauseAddSeedsResume starts a crawl paused: its workers take a URL and
// hold it, so nothing reaches the server and the crawl cannot end. A seed
// added meanwhile is queued; once resumed, both sites are crawled whole.
func TestPauseAddSeedsResume(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Pages: 20, LinksPerPage: 3, Seed: 5})
	other := startSite(t, testserver.SiteConfig{Pages: 10, LinksPerPage: 3, Seed: 6})
	db := openDB(t, filepath.Join(t.TempDir(), "crawl.db"))
	fc, err := fetch.New(fetch.Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Workers: 2, MaxDepth: -1}, db, fc, extract.New(extract.Config{}), slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddSeeds(other.Seeds()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("AddSeeds before Run = %v, want ErrNotRunning", err)
	}
	e.Pause()
	done := make(chan error, 1)
	go func() { done <- e.Run(t.Context(), site.Seeds()) }()

	// The seed is handed to a worker, which parks with it: the readiness
	// signal is the engine's own count.
	for e.Progress().Parked < 1 {
		select {
		case err := <-done:
			t.Fatalf("a paused crawl ended: %v", err)
		default:
			runtime.Gosched()
		}
	}
	if p := e.Progress(); !p.Paused || p.Frontier.InFlight != p.Parked {
		t.Errorf("paused: Paused %v, in flight %d, parked %d; want true and all in flight parked", p.Paused, p.Frontier.InFlight, p.Parked)
	}
	if n, err := e.AddSeeds(append(other.Seeds(), site.Seeds()...)); err != nil || n != 1 {
		t.Errorf("AddSeeds(new, known) while paused = %d, %v; want 1 new", n, err)
	}
	if hits := site.TotalHits() + other.TotalHits(); hits != 0 {
		t.Errorf("%d requests reached the servers while paused, want 0", hits)
	}
	e.Resume()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := site.PagesServed()+other.PagesServed(), 30; got != want {
		t.Errorf("pages served after resume = %d, want %d (both sites whole)", got, want)
	}
	if _, err := e.AddSeeds(other.Seeds()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("AddSeeds after Run = %v, want ErrNotRunning", err)
	}
}
