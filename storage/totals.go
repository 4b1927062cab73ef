package storage

import (
	"context"
	"database/sql"
	"fmt"
)

// Totals are a crawl file's running totals, cheap enough to read when a
// crawl starts: the progress line adds the run's own counts to them, so that
// a resumed crawl's figures continue instead of starting again from zero.
type Totals struct {
	Pages  int64 // rows in pages
	Failed int64 // URLs whose fetch failed (urls.state 'failed')
	Queued int64 // URLs not fetched yet: the queue table's rows, and discovered URLs not merged yet (as Stats.Queued)
}

// Totals reads the totals.
func (db *DB) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	err := db.ro.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM page), (SELECT count(*) FROM queue) + (SELECT count(*) FROM inbox)`).
		Scan(&t.Pages, &t.Queued)
	if err != nil {
		return t, fmt.Errorf("read totals: %w", err)
	}
	if t.Failed, err = countFailed(ctx, db.ro); err != nil {
		return t, fmt.Errorf("read totals: %w", err)
	}
	return t, nil
}

// countFailed counts the URLs in state 'failed': a page row that says so,
// and no queue entry (a recrawl queues them again).
func countFailed(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM page p JOIN url u ON u.id = p.id
WHERE p.failed AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.host_id = u.host_id AND q.seq = u.seq)`).Scan(&n)
	return n, err
}
