package storage

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// topErrors is how many distinct error messages Stats returns.
const topErrors = 10

// Seen reports whether the URL whose URLID is id is in url, the
// durable seen-set: queued, fetched or failed, in this run or an earlier one.
func (db *DB) Seen(ctx context.Context, id int64) (bool, error) {
	var ok bool
	if err := db.has.QueryRowContext(ctx, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up url %d: %w", id, err)
	}
	return ok, nil
}

// BeginCrawl records the start of a crawl run with its seeds and settings
// (anything encoding/json turns into an object; nil stores {}) and returns
// the new crawls.id, to be put in every Visit of the run.
func (db *DB) BeginCrawl(ctx context.Context, seeds []string, settings any) (int64, error) {
	seedsJSON, settingsJSON, err := EncodeRun(seeds, settings)
	if err != nil {
		return 0, err
	}
	res, err := db.rw.ExecContext(ctx, `INSERT INTO crawls (started_at, seeds, settings) VALUES (?, ?, ?)`,
		formatTime(time.Now()), string(seedsJSON), string(settingsJSON))
	if err != nil {
		return 0, fmt.Errorf("begin crawl: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("begin crawl: %w", err)
	}
	return id, nil
}

// EncodeRun encodes a run's seeds and settings as crawls stores them (nil
// seeds as [], nil settings as {}), for BeginCrawl here and in the PostgreSQL
// store. Settings must encode to a JSON object.
func EncodeRun(seeds []string, settings any) (seedsJSON, settingsJSON []byte, err error) {
	if seeds == nil {
		seeds = []string{}
	}
	if seedsJSON, err = json.Marshal(seeds); err != nil {
		return nil, nil, fmt.Errorf("begin crawl: encode seeds: %w", err)
	}
	settingsJSON = []byte("{}")
	if settings != nil {
		if settingsJSON, err = json.Marshal(settings); err != nil {
			return nil, nil, fmt.Errorf("begin crawl: encode settings: %w", err)
		}
		if !bytes.HasPrefix(settingsJSON, []byte("{")) {
			return nil, nil, fmt.Errorf("begin crawl: settings must encode to a JSON object, not %.20s", settingsJSON)
		}
	}
	return seedsJSON, settingsJSON, nil
}

// FinishCrawl records that crawl id ended normally. It returns ErrNotFound
// when there is no such crawl.
func (db *DB) FinishCrawl(ctx context.Context, id int64) error {
	res, err := db.rw.ExecContext(ctx, `UPDATE crawls SET finished_at = ? WHERE id = ?`, formatTime(time.Now()), id)
	if err != nil {
		return fmt.Errorf("finish crawl %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("finish crawl %d: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("finish crawl %d: %w", id, ErrNotFound)
	}
	return nil
}

// LastSettings returns the settings (a JSON object) and seeds of the latest
// crawl run, for resuming it. It returns ErrNotFound when no crawl ran yet.
func (db *DB) LastSettings(ctx context.Context) (json.RawMessage, []string, error) {
	var settings, seeds string
	err := db.ro.QueryRowContext(ctx, `SELECT settings, seeds FROM crawls ORDER BY id DESC LIMIT 1`).Scan(&settings, &seeds)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("last crawl settings: %w", ErrNotFound)
	} else if err != nil {
		return nil, nil, fmt.Errorf("last crawl settings: %w", err)
	}
	var list []string
	if err := json.Unmarshal([]byte(seeds), &list); err != nil {
		return nil, nil, fmt.Errorf("last crawl settings: decode seeds: %w", err)
	}
	return json.RawMessage(settings), list, nil
}

// Lease returns up to n of host's queued URLs whose seq is above after, in
// queue order. It changes nothing: the caller holds them in memory and
// remembers the last seq it took, and a URL stays queued in the file until
// its visit is written. It reads a snapshot of what was committed.
func (db *DB) Lease(ctx context.Context, host string, after int64, n int) ([]URL, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT u.id, u.url, u.depth, q.seq FROM queue q JOIN url u ON u.id = q.id
WHERE q.host_id = (SELECT id FROM hosts WHERE host = ?) AND q.seq > ? ORDER BY q.seq LIMIT ?`, host, after, n)
	if err != nil {
		return nil, fmt.Errorf("lease urls of %s: %w", host, err)
	}
	defer rows.Close()
	var out []URL
	for rows.Next() {
		u := URL{Host: host}
		if err := rows.Scan(&u.ID, &u.URL, &u.Depth, &u.Seq); err != nil {
			return nil, fmt.Errorf("lease urls of %s: %w", host, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lease urls of %s: %w", host, err)
	}
	return out, nil
}

// QueuedHosts calls fn with every host that has queued URLs and how many.
func (db *DB) QueuedHosts(ctx context.Context, fn func(host string, n int) error) error {
	return db.hostCounts(ctx, `SELECT h.host, q.n FROM (SELECT host_id, count(*) AS n FROM queue GROUP BY host_id) q
JOIN hosts h ON h.id = q.host_id`, "count queued urls", fn)
}

// hostCounts runs query, which returns (host, count) rows, and calls fn on
// each; what names the query in errors.
func (db *DB) hostCounts(ctx context.Context, query, what string, fn func(host string, n int) error) error {
	rows, err := db.ro.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var host string
		var n int
		if err := rows.Scan(&host, &n); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := fn(host, n); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Stats is a summary of a crawl database, for `crawler stats`.
type Stats struct {
	Pages      int64            // rows in pages: URLs fetched, failed fetches included
	Failed     int64            // of Pages, URLs whose last fetch failed: no usable response (urls.state 'failed')
	Queued     int64            // URLs not fetched yet (urls.state 'queued'), pages waiting for a recrawl included
	Done       int64            // of Pages, URLs answered (urls.state 'done'): any status, robots denials included
	Requeued   int64            // of Pages, URLs queued again by a recrawl and not fetched again yet
	Redirected int64            // URLs reached through a redirect: marked done, recorded with the page that redirected, no page of their own
	Robots     int64            // of Done, URLs robots.txt disallowed (pages.error_class 'robots'): never requested
	Links      int64            // rows in links: distinct (source, destination) pairs
	Discovered int64            // rows in urls: every URL ever queued
	Bytes      int64            // body bytes read, summed over pages
	ByStatus   map[int]int64    // pages per HTTP status; 0 counts fetches without a response
	ByHost     []HostCount      // every host with pages, most pages first, ties by host name
	TopErrors  []ErrorCount     // the 10 most frequent fetch errors, most frequent first
	Sitemaps   int64            // rows in sitemaps: Sitemap lines found in robots.txt files
	Drops      []Drop           // links and URLs not followed, by reason, most first
	ByClass    map[string]int64 // pages per error class (pages.error_class), errors only
	NoIndex    int64            // pages that said noindex
	NoFollow   int64            // pages that said nofollow
	Capped     int64            // pages with more links than the per-page cap
	Unchanged  int64            // pages whose latest fetch was a 304 on a recrawl
	Crawls     int              // crawl runs on this file
	First      time.Time        // start of the first crawl run; zero without one
	Last       time.Time        // latest fetch or end of a run, whichever is later; zero without either
}

// HostCount is the tally of one host in Stats.ByHost.
type HostCount struct {
	Host   string // as stored in pages.host
	Pages  int64  // pages fetched from Host
	Failed int64  // of those, fetches with no usable response (urls.state 'failed')
	Robots int64  // of those, URLs robots.txt disallowed (never requested)
}

// ErrorCount is one fetch error message and how many pages failed with it.
type ErrorCount struct {
	Error string // pages.error, verbatim
	Count int64  // pages that failed with it
}

// Stats computes the summary from one consistent snapshot of the file; it
// may run while a crawl writes to it.
func (db *DB) Stats(ctx context.Context) (*Stats, error) {
	tx, err := db.ro.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	defer tx.Rollback() // read-only: nothing to commit
	s := &Stats{ByStatus: map[int]int64{}, ByClass: map[string]int64{}}
	if err := s.load(ctx, tx); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return s, nil
}

func (s *Stats) load(ctx context.Context, tx *sql.Tx) error {
	var first, lastRun, lastFetch sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM page),
		(SELECT coalesce(sum(size_bytes), 0) FROM page),
		(SELECT count(*) FROM link),
		(SELECT count(*) FROM crawls),
		(SELECT min(started_at) FROM crawls),
		(SELECT max(finished_at) FROM crawls),
		(SELECT max(fetched_at) FROM page),
		(SELECT count(*) FROM sitemaps),
		(SELECT coalesce(sum(noindex), 0) FROM page),
		(SELECT coalesce(sum(nofollow), 0) FROM page),
		(SELECT coalesce(sum(links_capped), 0) FROM page),
		(SELECT coalesce(sum(unchanged), 0) FROM page)`).Scan(
		&s.Pages, &s.Bytes, &s.Links, &s.Crawls, &first, &lastRun, &lastFetch, &s.Sitemaps,
		&s.NoIndex, &s.NoFollow, &s.Capped, &s.Unchanged); err != nil {
		return err
	}
	var err error
	if s.First, err = parseTime(first.String); err != nil {
		return err
	}
	// Stored timestamps sort as text.
	if s.Last, err = parseTime(max(lastRun.String, lastFetch.String)); err != nil {
		return err
	}

	// Discovered URLs not merged yet (a crawl is running, or was killed)
	// are queued for all a person can tell.
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM inbox`).Scan(&s.Queued); err != nil {
		return err
	}
	s.Discovered = s.Queued
	// A URL is queued while it has a queue entry (Requeued: with a page row
	// from before, on a recrawl); otherwise its page row says done or
	// failed, and a redirect target the crawl claimed is done without one
	// (its page is the one that redirected).
	err = eachRow(ctx, tx, `SELECT q.seq IS NOT NULL, p.seq IS NOT NULL, coalesce(p.failed, 0), count(*)
FROM url u LEFT JOIN queue q ON q.host_id = u.host_id AND q.seq = u.seq LEFT JOIN page p ON p.seq = u.seq
GROUP BY 1, 2, 3`, func(rows *sql.Rows) error {
		var queued, paged, failed bool
		var n int64
		if err := rows.Scan(&queued, &paged, &failed, &n); err != nil {
			return err
		}
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
		return nil
	})
	if err != nil {
		return err
	}

	err = eachRow(ctx, tx, `SELECT coalesce(status, 0), count(*) FROM page GROUP BY 1`, func(rows *sql.Rows) error {
		var status int
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return err
		}
		s.ByStatus[status] = n
		return nil
	})
	if err != nil {
		return err
	}

	err = eachRow(ctx, tx, `SELECT h.host, c.n, c.failed, c.robots FROM (SELECT u.host_id, count(*) AS n,
		sum(p.failed AND q.seq IS NULL) AS failed, sum(p.error_class IS 'robots' AND NOT p.failed AND q.seq IS NULL) AS robots
		FROM page p JOIN url u ON u.id = p.id LEFT JOIN queue q ON q.host_id = u.host_id AND q.seq = u.seq
		GROUP BY u.host_id) c JOIN hosts h ON h.id = c.host_id ORDER BY 2 DESC, 1`,
		func(rows *sql.Rows) error {
			var h HostCount
			if err := rows.Scan(&h.Host, &h.Pages, &h.Failed, &h.Robots); err != nil {
				return err
			}
			s.ByHost = append(s.ByHost, h)
			s.Robots += h.Robots
			return nil
		})
	if err != nil {
		return err
	}

	err = eachRow(ctx, tx, `SELECT reason, count, coalesce(example, '') FROM drops ORDER BY count DESC, reason`,
		func(rows *sql.Rows) error {
			var d Drop
			if err := rows.Scan(&d.Reason, &d.Count, &d.Example); err != nil {
				return err
			}
			s.Drops = append(s.Drops, d)
			return nil
		})
	if err != nil {
		return err
	}

	err = eachRow(ctx, tx, `SELECT error_class, count(*) FROM page WHERE error_class IS NOT NULL GROUP BY 1`,
		func(rows *sql.Rows) error {
			var class string
			var n int64
			if err := rows.Scan(&class, &n); err != nil {
				return err
			}
			s.ByClass[class] = n
			return nil
		})
	if err != nil {
		return err
	}

	return eachRow(ctx, tx, `SELECT error, count(*) FROM page WHERE error IS NOT NULL
		GROUP BY error ORDER BY 2 DESC, error LIMIT ?`, func(rows *sql.Rows) error {
		var e ErrorCount
		if err := rows.Scan(&e.Error, &e.Count); err != nil {
			return err
		}
		s.TopErrors = append(s.TopErrors, e)
		return nil
	}, topErrors)
}

// eachRow runs query and calls fn on each row.
func eachRow(ctx context.Context, tx *sql.Tx, query string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Requeue starts a recrawl: every URL not queued (state 'done' or
// 'failed') is queued again, and the number requeued is returned. Their
// pages rows stay, so that the recrawl can send their validators
// (Validators) and a 304 keeps what was stored.
func (db *DB) Requeue(ctx context.Context) (int64, error) {
	res, err := db.rw.ExecContext(ctx, `INSERT INTO queue (host_id, seq, id) SELECT host_id, seq, id FROM url WHERE true
ORDER BY host_id, seq ON CONFLICT DO NOTHING`)
	if err != nil {
		return 0, fmt.Errorf("requeue for recrawl: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("requeue for recrawl: %w", err)
	}
	return n, nil
}

// Validators is what a recrawl revalidates a page with: the validators
// stored with it, for a conditional request, and where its response was
// archived, for the revisit record of a 304.
type Validators struct {
	ETag         string // the page's ETag, for If-None-Match
	LastModified string // its Last-Modified, for If-Modified-Since
	WARCFile     string // the WARC file holding its response record; "" when not archived
	WARCOffset   int64  // the offset of that record in WARCFile
}

// Validators returns the validators stored with the page of the URL whose
// URLID is id, for a conditional request; all are empty when there is no
// page or it sent no validator, or when its last fetch failed (there is
// nothing to revalidate).
func (db *DB) Validators(ctx context.Context, id int64) (Validators, error) {
	var e, lm, file sql.NullString
	var off sql.NullInt64
	err := db.ro.QueryRowContext(ctx, `SELECT p.etag, p.last_modified, p.warc_file, p.warc_offset FROM url u JOIN page p ON p.seq = u.seq
		WHERE u.id = ? AND p.error IS NULL AND p.status BETWEEN 200 AND 299`, id).Scan(&e, &lm, &file, &off)
	if errors.Is(err, sql.ErrNoRows) {
		return Validators{}, nil
	}
	if err != nil {
		return Validators{}, fmt.Errorf("validators of url %d: %w", id, err)
	}
	if e.String == "" && lm.String == "" {
		return Validators{}, nil
	}
	return Validators{ETag: e.String, LastModified: lm.String, WARCFile: file.String, WARCOffset: off.Int64}, nil
}

// URLsPerHost calls fn with every host in urls and how many URLs it has, in
// any state: a crawl that caps pages per host starts its counts from these.
func (db *DB) URLsPerHost(ctx context.Context, fn func(host string, n int) error) error {
	return db.hostCounts(ctx, `SELECT h.host, c.n FROM (SELECT host_id, count(*) AS n FROM url GROUP BY host_id) c
JOIN hosts h ON h.id = c.host_id`, "urls per host", fn)
}

// Fingerprint is one page's SimHash, for near-duplicate search.
type Fingerprint struct {
	ID      int64  // pages.id (the URL's fingerprint)
	URL     string // pages.url
	SimHash uint64 // pages.simhash
}

// EachFingerprint calls fn with every page that has a SimHash, in queue
// order.
func (db *DB) EachFingerprint(ctx context.Context, fn func(Fingerprint) error) error {
	rows, err := db.ro.QueryContext(ctx, `SELECT p.id, u.url, p.simhash FROM page p JOIN url u ON u.id = p.id WHERE p.simhash IS NOT NULL ORDER BY p.seq`)
	if err != nil {
		return fmt.Errorf("fingerprints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f Fingerprint
		var h int64
		if err := rows.Scan(&f.ID, &f.URL, &h); err != nil {
			return fmt.Errorf("fingerprints: %w", err)
		}
		f.SimHash = uint64(h)
		if err := fn(f); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("fingerprints: %w", err)
	}
	return nil
}
