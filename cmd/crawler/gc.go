package main

import (
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// The garbage collector's setting follows the crawl's size. A crawl's live
// heap is small (bounded queues and caches) while every page makes
// short-lived garbage (body, tokenizer buffer, URLs), so collecting at 3x the
// live heap (GOGC=200) instead of 2x saves CPU per page; a small crawl does
// not need the saving and is better off with the smaller heap. So a crawl
// starts at GOGC=100 and moves to 200 once its file holds gcGrowAt pages.
// Measured: a 1,000-page crawl of the testserver site with its text peaks at
// 32-33 MiB RSS with 200, 28-29 MiB with 100 (3 interleaved pairs, the same
// CPU); on 100,000 pages of a 2,000,000-page site GOGC=400 peaked at 125 MB
// RSS for 46.6 CPU-s, 200 at 105 MB for 48.2 CPU-s.
const (
	gcSmall  = 100
	gcLarge  = 200
	gcGrowAt = 5_000
)

// gcGrows is whether the crawl may move the collector to gcLarge: GOGC was
// not set by the user.
var gcGrows bool

// tuneGC sets the collector for a small crawl, and a soft limit of 80 MiB on
// the Go runtime (which, with SQLite's own memory, keeps the process near
// 110 MiB however large the crawl), unless GOGC or GOMEMLIMIT say otherwise.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcSmall)
		gcGrows = true
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(80 << 20)
	}
}

// growGC calls set(gcLarge) once start plus fetched() reaches gcGrowAt,
// checking at each tick (at once when start is already there), and does
// nothing when the user set GOGC. stop ends the watch and returns after it.
func growGC(tick <-chan time.Time, fetched func() int64, start int64, set func(int)) (stop func()) {
	if !gcGrows {
		return func() {}
	}
	if start >= gcGrowAt {
		set(gcLarge)
		return func() {}
	}
	return onTicks(tick, func() bool {
		if start+fetched() >= gcGrowAt {
			set(gcLarge)
			return true
		}
		return false
	})
}

// onTicks calls f at each tick, in a goroutine of its own, until f reports
// that it is done or stop is called; stop returns once the goroutine has
// ended.
func onTicks(tick <-chan time.Time, f func() (done bool)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-tick:
				if f() {
					return
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
