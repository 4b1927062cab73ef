package storage

import (
	"context"
	"fmt"
)

// Totals are a crawl file's running totals, cheap enough to read when a
// crawl starts: the progress line adds the run's own counts to them, so that
// a resumed crawl's figures continue instead of starting again from zero.
type Totals struct {
	Pages  int64 // rows in pages
	Failed int64 // URLs whose fetch failed (urls.state 'failed')
	Queued int64 // URLs not fetched yet: urls.state 'queued' (the partial index url_queue counts them), and discovered URLs not merged yet (as Stats.Queued)
}

// Totals reads the totals.
func (db *DB) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	err := db.ro.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM page), (SELECT count(*) FROM url WHERE state = 3),
		(SELECT count(*) FROM url WHERE state = 0) + (SELECT count(*) FROM inbox)`).
		Scan(&t.Pages, &t.Failed, &t.Queued)
	if err != nil {
		return t, fmt.Errorf("read totals: %w", err)
	}
	return t, nil
}
