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

// Has reports whether url is in urls, the durable seen-set: queued, fetched
// or failed, in this run or an earlier one.
func (db *DB) Has(ctx context.Context, url string) (bool, error) {
	var ok bool
	if err := db.has.QueryRowContext(ctx, url).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up %s: %w", url, err)
	}
	return ok, nil
}

// BeginCrawl records the start of a crawl run with its seeds and settings
// (anything encoding/json turns into an object; nil stores {}) and returns
// the new crawls.id, to be put in every Visit of the run.
func (db *DB) BeginCrawl(ctx context.Context, seeds []string, settings any) (int64, error) {
	if seeds == nil {
		seeds = []string{}
	}
	seedsJSON, err := json.Marshal(seeds)
	if err != nil {
		return 0, fmt.Errorf("begin crawl: encode seeds: %w", err)
	}
	settingsJSON := []byte("{}")
	if settings != nil {
		if settingsJSON, err = json.Marshal(settings); err != nil {
			return 0, fmt.Errorf("begin crawl: encode settings: %w", err)
		}
		if !bytes.HasPrefix(settingsJSON, []byte("{")) {
			return 0, fmt.Errorf("begin crawl: settings must encode to a JSON object, not %.20s", settingsJSON)
		}
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

// Queued calls fn for every URL still in state queued, in discovery order,
// to restore the frontier when a crawl resumes. It stops at the first error
// from fn and returns it unchanged. fn runs while a read connection is held
// and must not call Queued itself.
func (db *DB) Queued(ctx context.Context, fn func(URL) error) error {
	rows, err := db.ro.QueryContext(ctx, `SELECT url, host, depth FROM urls WHERE state = 'queued' ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read queued urls: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u URL
		if err := rows.Scan(&u.URL, &u.Host, &u.Depth); err != nil {
			return fmt.Errorf("read queued urls: %w", err)
		}
		if err := fn(u); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read queued urls: %w", err)
	}
	return nil
}

// Stats is a summary of a crawl database, for `crawler stats`.
type Stats struct {
	Pages      int64         // rows in pages: URLs fetched, failed fetches included
	Failed     int64         // URLs whose last fetch failed (urls.state 'failed')
	Queued     int64         // URLs not fetched yet (urls.state 'queued')
	Done       int64         // URLs fetched without error (urls.state 'done')
	Links      int64         // rows in links: distinct (source, destination) pairs
	Discovered int64         // rows in urls: every URL ever queued
	Bytes      int64         // body bytes read, summed over pages
	ByStatus   map[int]int64 // pages per HTTP status; 0 counts fetches without a response
	ByHost     []HostCount   // every host with pages, most pages first, ties by host name
	TopErrors  []ErrorCount  // the 10 most frequent fetch errors, most frequent first
	Sitemaps   int64         // rows in sitemaps: Sitemap lines found in robots.txt files
	Crawls     int           // crawl runs on this file
	First      time.Time     // start of the first crawl run; zero without one
	Last       time.Time     // latest fetch or end of a run, whichever is later; zero without either
}

// HostCount is the tally of one host in Stats.ByHost.
type HostCount struct {
	Host   string // as stored in pages.host
	Pages  int64  // pages fetched from Host
	Errors int64  // of those, fetches that failed (pages.error set)
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
	s := &Stats{ByStatus: map[int]int64{}}
	if err := s.load(ctx, tx); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return s, nil
}

func (s *Stats) load(ctx context.Context, tx *sql.Tx) error {
	var first, lastRun, lastFetch sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM pages),
		(SELECT coalesce(sum(size_bytes), 0) FROM pages),
		(SELECT count(*) FROM links),
		(SELECT count(*) FROM crawls),
		(SELECT min(started_at) FROM crawls),
		(SELECT max(finished_at) FROM crawls),
		(SELECT max(fetched_at) FROM pages),
		(SELECT count(*) FROM sitemaps)`).Scan(
		&s.Pages, &s.Bytes, &s.Links, &s.Crawls, &first, &lastRun, &lastFetch, &s.Sitemaps); err != nil {
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

	err = eachRow(ctx, tx, `SELECT state, count(*) FROM urls GROUP BY state`, func(rows *sql.Rows) error {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return err
		}
		s.Discovered += n
		switch state {
		case "queued":
			s.Queued = n
		case "done":
			s.Done = n
		case "failed":
			s.Failed = n
		}
		return nil
	})
	if err != nil {
		return err
	}

	err = eachRow(ctx, tx, `SELECT coalesce(status, 0), count(*) FROM pages GROUP BY 1`, func(rows *sql.Rows) error {
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

	err = eachRow(ctx, tx, `SELECT host, count(*), count(error) FROM pages GROUP BY host ORDER BY 2 DESC, host`,
		func(rows *sql.Rows) error {
			var h HostCount
			if err := rows.Scan(&h.Host, &h.Pages, &h.Errors); err != nil {
				return err
			}
			s.ByHost = append(s.ByHost, h)
			return nil
		})
	if err != nil {
		return err
	}

	return eachRow(ctx, tx, `SELECT error, count(*) FROM pages WHERE error IS NOT NULL
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
