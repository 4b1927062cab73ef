package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// sample writes a line "sample t_us=N hits=N pages=N" to w at each tick of
// every whose counts differ from the last line's (from the zero counts before
// the first request), until ctx ends. It returns nil then, or the first write
// error. t_us is the time since sample was called, in microseconds on the
// monotonic clock.
//
// No last line is written when ctx ends: its time would be the shutdown's,
// not the last page's, and would stretch the last stretch of the crawl. A
// crawler that exits within one interval of its last page loses at most that
// interval's pages from the record, never from the totals.
func sample(ctx context.Context, w io.Writer, every time.Duration, counts func() (hits, pages int)) error {
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastHits, lastPages := 0, 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		at := time.Since(start) // taken first, so the counts include every page served by then
		hits, pages := counts()
		if hits == lastHits && pages == lastPages {
			continue
		}
		lastHits, lastPages = hits, pages
		if _, err := fmt.Fprintf(w, "sample t_us=%d hits=%d pages=%d\n", at.Microseconds(), hits, pages); err != nil {
			return fmt.Errorf("write sample: %w", err)
		}
	}
}
