package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/storage"
)

// progressLine renders the progress line (with a carriage return and
// clear-to-end-of-line in front, to redraw it in place).
func progressLine(elapsed time.Duration, rate float64, p crawl.Progress, before storage.Totals) string {
	return fmt.Sprintf("\r\033[K%s  %.0f pages/s  fetched %d  queued %d  in flight %d  errors %d  hosts %d",
		elapsed.Round(time.Second), rate, before.Pages+p.Fetched, p.Frontier.Queued, p.Frontier.InFlight, before.Failed+p.Failed, p.Frontier.Hosts)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startProgress redraws one progress line on w every second while enabled;
// fetched and errors include before, what earlier runs on the file did. The
// returned stop clears the line and returns after the ticker goroutine exits.
func startProgress(w io.Writer, enabled bool, e *crawl.Engine, before storage.Totals) (stop func()) {
	if !enabled {
		return func() {}
	}
	done := make(chan struct{}) // closed by stop
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start, last, lastAt := time.Now(), int64(0), time.Now()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				p := e.Progress()
				rate := float64(p.Fetched-last) / now.Sub(lastAt).Seconds()
				last, lastAt = p.Fetched, now
				fmt.Fprint(w, progressLine(time.Since(start), rate, p, before))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
