package pgstore

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trawl/trawl/storage"
)

// Stats computes the crawl's summary (as storage.DB.Stats) from one
// snapshot (a repeatable-read transaction); it may run while workers write.
func (db *DB) Stats(ctx context.Context) (*storage.Stats, error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	s := &storage.Stats{ByStatus: map[int]int64{}, ByClass: map[string]int64{}}
	if err := loadStats(ctx, tx, s); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return s, nil
}

func loadStats(ctx context.Context, tx pgx.Tx, s *storage.Stats) error {
	var first, lastRun, lastFetch *string
	var crawls int64
	if err := tx.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM page), (SELECT coalesce(sum(size_bytes), 0)::bigint FROM page), (SELECT count(*) FROM link),
		(SELECT count(*) FROM crawls), (SELECT min(started_at) FROM crawls), (SELECT max(finished_at) FROM crawls),
		(SELECT max(fetched_at) FROM page), (SELECT count(*) FROM sitemaps),
		(SELECT coalesce(sum(noindex), 0)::bigint FROM page), (SELECT coalesce(sum(nofollow), 0)::bigint FROM page),
		(SELECT coalesce(sum(links_capped), 0)::bigint FROM page), (SELECT coalesce(sum(unchanged), 0)::bigint FROM page)`).Scan(
		&s.Pages, &s.Bytes, &s.Links, &crawls, &first, &lastRun, &lastFetch, &s.Sitemaps,
		&s.NoIndex, &s.NoFollow, &s.Capped, &s.Unchanged); err != nil {
		return err
	}
	s.Crawls = int(crawls)
	if first != nil {
		s.First, _ = time.Parse(storage.TimeLayout, *first)
	}
	if last := max(deref(lastRun), deref(lastFetch)); last != "" { // stored times sort as text
		s.Last, _ = time.Parse(storage.TimeLayout, last)
	}
	var queued, paged, failed bool
	var n int64
	if err := each(ctx, tx, `SELECT q.seq IS NOT NULL, p.seq IS NOT NULL, coalesce(p.failed, 0) <> 0, count(*)
FROM url u LEFT JOIN queue q ON q.host_id = u.host_id AND q.seq = u.seq LEFT JOIN page p ON p.seq = u.seq
GROUP BY 1, 2, 3`, []any{&queued, &paged, &failed, &n}, func() {
		s.Discovered += n
		switch {
		case queued:
			s.Queued += n
			if paged {
				s.Requeued += n
			}
		case !paged:
			s.Redirected += n
		case failed:
			s.Failed += n
		default:
			s.Done += n
		}
	}); err != nil {
		return err
	}
	var status int32
	if err := each(ctx, tx, `SELECT coalesce(status, 0), count(*) FROM page GROUP BY 1`, []any{&status, &n}, func() {
		s.ByStatus[int(status)] = n
	}); err != nil {
		return err
	}
	var h storage.HostCount
	if err := each(ctx, tx, `SELECT h.host, c.n, c.failed, c.robots FROM (SELECT u.host_id, count(*) AS n,
		count(*) FILTER (WHERE p.failed <> 0 AND q.seq IS NULL) AS failed,
		count(*) FILTER (WHERE p.error_class = 'robots' AND p.failed = 0 AND q.seq IS NULL) AS robots
		FROM page p JOIN url u ON u.id = p.id LEFT JOIN queue q ON q.host_id = u.host_id AND q.seq = u.seq
		GROUP BY u.host_id) c JOIN hosts h ON h.id = c.host_id ORDER BY 2 DESC, 1`, []any{&h.Host, &h.Pages, &h.Failed, &h.Robots}, func() {
		s.ByHost = append(s.ByHost, h)
		s.Robots += h.Robots
	}); err != nil {
		return err
	}
	var d storage.Drop
	var count int64
	if err := each(ctx, tx, `SELECT reason, count, coalesce(example, '') FROM drops ORDER BY count DESC, reason`,
		[]any{&d.Reason, &count, &d.Example}, func() {
			d.Count = int(count)
			s.Drops = append(s.Drops, d)
		}); err != nil {
		return err
	}
	var class string
	if err := each(ctx, tx, `SELECT error_class, count(*) FROM page WHERE error_class IS NOT NULL GROUP BY 1`,
		[]any{&class, &n}, func() { s.ByClass[class] = n }); err != nil {
		return err
	}
	var e storage.ErrorCount
	return each(ctx, tx, `SELECT error, count(*) FROM page WHERE error IS NOT NULL GROUP BY error ORDER BY 2 DESC, error LIMIT 10`,
		[]any{&e.Error, &e.Count}, func() { s.TopErrors = append(s.TopErrors, e) })
}

// each runs query in tx and calls fn after scanning each row into dest.
func each(ctx context.Context, tx pgx.Tx, query string, dest []any, fn func()) error {
	rows, err := tx.Query(ctx, query)
	if err != nil {
		return err
	}
	_, err = pgx.ForEachRow(rows, dest, func() error { fn(); return nil })
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// EachFingerprint calls fn with every page that has a SimHash, in queue
// order (as storage.DB.EachFingerprint).
func (db *DB) EachFingerprint(ctx context.Context, fn func(storage.Fingerprint) error) error {
	rows, err := db.pool.Query(ctx, `SELECT p.id, u.url, p.simhash FROM page p JOIN url u ON u.id = p.id
WHERE p.simhash IS NOT NULL ORDER BY p.seq`)
	if err != nil {
		return fmt.Errorf("fingerprints: %w", err)
	}
	var f storage.Fingerprint
	var h int64
	_, err = pgx.ForEachRow(rows, []any{&f.ID, &f.URL, &h}, func() error {
		f.SimHash = uint64(h)
		return fn(f)
	})
	if err != nil {
		return fmt.Errorf("fingerprints: %w", err)
	}
	return nil
}

// Export writes every pages row to w as format, jsonl or csv (as
// storage.DB.Export), from one snapshot.
func (db *DB) Export(ctx context.Context, w io.Writer, format string) error {
	return db.export(ctx, w, format, false)
}

// ExportText is Export with the page's text as a last column (as
// storage.DB.ExportText).
func (db *DB) ExportText(ctx context.Context, w io.Writer, format string) error {
	return db.export(ctx, w, format, true)
}

func (db *DB) export(ctx context.Context, w io.Writer, format string, text bool) error {
	return storage.ExportPages(w, format, text, func() (storage.PageRows, func(), error) {
		tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, nil, err
		}
		textCol := ""
		if text {
			textCol = `, (SELECT t.text FROM url u JOIN page_text t ON t.seq = u.seq WHERE u.id = pages.id)`
		}
		// The flags are 0/1 integers, as in the file; the export shows them as booleans.
		rows, err := tx.Query(ctx, `SELECT id, url, host, final_url, status::bigint, content_type, title, depth::bigint,
	fetched_at, duration_ms, size_bytes, truncated <> 0, content_hash, canonical, redirects, attempts::bigint, error,
	crawl_id, error_class, charset, noindex <> 0, nofollow <> 0, links_capped <> 0, simhash, etag, last_modified,
	unchanged <> 0, lang, warc_file, warc_offset`+textCol+` FROM pages ORDER BY id`)
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx))
			return nil, nil, err
		}
		return rows, func() { rows.Close(); tx.Rollback(context.WithoutCancel(ctx)) }, nil
	})
}
