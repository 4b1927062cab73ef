package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trawl/trawl/storage"
)

// Lease returns up to n of host's queued URLs with a seq above after, in
// queue order, changing nothing (crawl.State): the host lease (lease.go), not
// the URL, says who may fetch them.
func (db *DB) Lease(ctx context.Context, host string, after int64, n int) ([]storage.URL, error) {
	var out []storage.URL
	err := db.do(ctx, "lease urls of "+host, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `SELECT u.id, u.url, u.depth, q.seq FROM queue q JOIN url u ON u.id = q.id
WHERE q.host_id = (SELECT id FROM hosts WHERE host = $1) AND q.seq > $2 ORDER BY q.seq LIMIT $3`, host, after, n)
		if err != nil {
			return err
		}
		out = out[:0]
		u := storage.URL{Host: host}
		var depth int32
		_, err = pgx.ForEachRow(rows, []any{&u.ID, &u.URL, &depth, &u.Seq}, func() error {
			u.Depth = int(depth)
			out = append(out, u)
			return nil
		})
		return err
	})
	return out, err
}

// QueuedHosts calls fn with every host that has queued URLs and how many.
func (db *DB) QueuedHosts(ctx context.Context, fn func(host string, n int) error) error {
	return db.hostCounts(ctx, `SELECT h.host, q.n FROM (SELECT host_id, count(*) AS n FROM queue GROUP BY host_id) q
JOIN hosts h ON h.id = q.host_id`, "count queued urls", fn)
}

// URLsPerHost calls fn with every host in url and how many URLs it has.
func (db *DB) URLsPerHost(ctx context.Context, fn func(host string, n int) error) error {
	return db.hostCounts(ctx, `SELECT h.host, c.n FROM (SELECT host_id, count(*) AS n FROM url GROUP BY host_id) c
JOIN hosts h ON h.id = c.host_id`, "urls per host", fn)
}

// hostCounts runs query, which returns (host, count) rows, and calls fn on each.
func (db *DB) hostCounts(ctx context.Context, query, what string, fn func(host string, n int) error) error {
	type row struct {
		host string
		n    int64
	}
	var all []row
	err := db.do(ctx, what, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, query)
		if err != nil {
			return err
		}
		all = all[:0]
		var r row
		_, err = pgx.ForEachRow(rows, []any{&r.host, &r.n}, func() error { all = append(all, r); return nil })
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range all {
		if err := fn(r.host, int(r.n)); err != nil {
			return err
		}
	}
	return nil
}

// Seen reports whether the URL with this id is in url.
func (db *DB) Seen(ctx context.Context, id int64) (bool, error) {
	var ok bool
	err := db.do(ctx, fmt.Sprintf("look up url %d", id), func(ctx context.Context) error {
		return db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM url WHERE id = $1)`, id).Scan(&ok)
	})
	return ok, err
}

// Validators returns the validators of the URL with this id and where its
// response was archived (as storage.DB.Validators).
func (db *DB) Validators(ctx context.Context, id int64) (storage.Validators, error) {
	var e, lm, file *string
	var off *int64
	err := db.do(ctx, fmt.Sprintf("validators of url %d", id), func(ctx context.Context) error {
		err := db.pool.QueryRow(ctx, `SELECT p.etag, p.last_modified, p.warc_file, p.warc_offset FROM url u JOIN page p ON p.seq = u.seq
		WHERE u.id = $1 AND p.error IS NULL AND p.status BETWEEN 200 AND 299`, id).Scan(&e, &lm, &file, &off)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	var v storage.Validators
	if err != nil || (e == nil && lm == nil) {
		return v, err
	}
	if e != nil {
		v.ETag = *e
	}
	if lm != nil {
		v.LastModified = *lm
	}
	if v.ETag == "" && v.LastModified == "" {
		return storage.Validators{}, nil
	}
	if file != nil && off != nil {
		v.WARCFile, v.WARCOffset = *file, *off
	}
	return v, nil
}

// BeginCrawl records the start of a run of this worker with its seeds and
// settings, and returns its crawls.id (as storage.DB.BeginCrawl).
func (db *DB) BeginCrawl(ctx context.Context, seeds []string, settings any) (int64, error) {
	seedsJSON, settingsJSON, err := storage.EncodeRun(seeds, settings)
	if err != nil {
		return 0, err
	}
	var id int64
	err = db.do(ctx, "begin crawl", func(ctx context.Context) error {
		return db.pool.QueryRow(ctx, `INSERT INTO crawls (started_at, seeds, settings) VALUES ($1, $2, $3) RETURNING id`,
			now(), string(seedsJSON), string(settingsJSON)).Scan(&id)
	})
	return id, err
}

// FinishCrawl records that run id ended.
func (db *DB) FinishCrawl(ctx context.Context, id int64) error {
	return db.do(ctx, fmt.Sprintf("finish crawl %d", id), func(ctx context.Context) error {
		tag, err := db.pool.Exec(ctx, `UPDATE crawls SET finished_at = $1 WHERE id = $2`, now(), id)
		if err == nil && tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		return err
	})
}

// LastSettings returns the settings and seeds of the latest run, for a
// worker that joins or resumes the crawl; storage.ErrNotFound when none ran.
func (db *DB) LastSettings(ctx context.Context) (json.RawMessage, []string, error) {
	var settings, seeds string
	err := db.do(ctx, "last crawl settings", func(ctx context.Context) error {
		return db.pool.QueryRow(ctx, `SELECT settings, seeds FROM crawls ORDER BY id DESC LIMIT 1`).Scan(&settings, &seeds)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, fmt.Errorf("last crawl settings: %w", storage.ErrNotFound)
	} else if err != nil {
		return nil, nil, err
	}
	var list []string
	if err := json.Unmarshal([]byte(seeds), &list); err != nil {
		return nil, nil, fmt.Errorf("last crawl settings: decode seeds: %w", err)
	}
	return json.RawMessage(settings), list, nil
}

// Totals reads the crawl's running totals (as storage.DB.Totals).
func (db *DB) Totals(ctx context.Context) (storage.Totals, error) {
	var t storage.Totals
	err := db.do(ctx, "read totals", func(ctx context.Context) error {
		return db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM page), (SELECT count(*) FROM queue),
	(SELECT count(*) FROM page p JOIN url u ON u.id = p.id WHERE p.failed <> 0
		AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.host_id = u.host_id AND q.seq = u.seq))`).Scan(&t.Pages, &t.Queued, &t.Failed)
	})
	return t, err
}

// ErrFleetAtWork is returned by Requeue when other workers are at work on
// the crawl: a recrawl starts only when none is, and a worker started for
// one while others work joins them instead.
var ErrFleetAtWork = errors.New("other workers are at work on this crawl")

// Requeue starts a recrawl: it queues every URL not queued again and returns
// how many, unless another worker is at work on the crawl (its heartbeat is
// younger than the lease TTL and it did not stop, or it holds a valid
// lease), when it queues nothing and returns ErrFleetAtWork: several
// workers started with --recrawl make one recrawl, not one each. It decides
// under the crawl's advisory lock and records this worker's heartbeat in the
// same transaction, so that of workers starting together exactly one
// requeues and the others see it at work.
func (db *DB) Requeue(ctx context.Context) (int64, error) {
	var n int64
	var busy bool
	err := db.do(ctx, "requeue for recrawl", func(ctx context.Context) error {
		n, busy = 0, false
		return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('trawl:recrawl:' || $1))`, db.crawl); err != nil {
				return err
			}
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM workers WHERE id <> $1 AND stopped_at IS NULL
		AND heartbeat > now() - make_interval(secs => $2))
	OR EXISTS (SELECT 1 FROM host_lease WHERE worker <> $1 AND expires_at > now())`, db.worker, db.ttl.Seconds()).Scan(&busy)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO workers (id, started_at, heartbeat) VALUES ($1, now(), now())
ON CONFLICT (id) DO UPDATE SET heartbeat = now(), stopped_at = NULL`, db.worker); err != nil {
				return err
			}
			if busy {
				return nil
			}
			tag, err := tx.Exec(ctx, `INSERT INTO queue (host_id, seq, id) SELECT host_id, seq, id FROM url
ORDER BY host_id, seq ON CONFLICT DO NOTHING`)
			n = tag.RowsAffected()
			return err
		})
	})
	switch {
	case err != nil:
		return 0, err
	case busy:
		return 0, fmt.Errorf("requeue for recrawl: %w", ErrFleetAtWork)
	}
	return n, nil
}

// now is the current time as stored.
func now() string { return time.Now().UTC().Format(storage.TimeLayout) }
