package storage

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
)

// schemaV1 is the first schema. Conventions in every table: timestamps are
// TEXT in UTC RFC 3339 with milliseconds ('2006-01-02T15:04:05.000Z', so they
// sort as text), booleans are INTEGER 0 or 1, lists are JSON text, and an
// absent optional value is NULL, never the empty string.
//
// crawls — one row per run of `crawler crawl` on this file; resuming a crawl
// adds a row.
//
//	id           INTEGER PRIMARY KEY  referenced by urls.crawl_id and pages.crawl_id
//	started_at   TEXT NOT NULL        when the run began
//	finished_at  TEXT                 when it ended normally; NULL while running or if it was killed
//	seeds        TEXT NOT NULL        JSON array of the seed URLs, as given
//	settings     TEXT NOT NULL        JSON object of the run's settings (for resume and for the record)
//
// urls — the durable seen-set and the frontier: every URL ever queued, once.
// A partial index on (host, id) of the queued rows only lets the frontier
// lease a host's queued URLs in discovery order; URLs the crawler takes
// straight into memory are inserted 'leased' and never touch it. A crawler holds in memory only a window of each
// host's URLs, in state 'leased'; when a crawl starts, leases left by a run
// that died are reclaimed (back to 'queued').
//
//	id             INTEGER PRIMARY KEY  discovery order
//	url            TEXT NOT NULL UNIQUE canonical URL
//	host           TEXT NOT NULL        its host, as canonicalised
//	depth          INTEGER NOT NULL     link hops from a seed; seeds are 0
//	state          TEXT NOT NULL        'queued' (waiting on disk), 'leased' (in a running crawler's memory or in flight),
//	                                    'done' (fetched: a page or the site's answer, a 4xx or a robots.txt
//	                                    denial included) or 'failed' (no usable response)
//	discovered_at  TEXT NOT NULL        when it was first queued
//	crawl_id       INTEGER              crawls.id of the run that discovered it; NULL if unknown
//
// pages — one row per fetched canonical URL, failed fetches included (with
// error set). A URL fetched again (after a resume) replaces its row. Only
// url is indexed: every other index is one more B-tree insert per page, and
// the per-host and per-status counts of crawler stats scan the table.
//
//	id            INTEGER PRIMARY KEY
//	url           TEXT NOT NULL UNIQUE  canonical URL that was requested (urls.url)
//	host          TEXT NOT NULL         its host
//	final_url     TEXT                  URL after redirects; NULL when there was no response
//	status        INTEGER               HTTP status of the final response; 0 when there was no response
//	content_type  TEXT                  Content-Type header of the final response
//	title         TEXT                  HTML <title>, when there was one
//	depth         INTEGER NOT NULL      link hops from a seed
//	fetched_at    TEXT NOT NULL         when the fetch completed
//	duration_ms   INTEGER               time the last attempt took (redirects and body included), in milliseconds
//	size_bytes    INTEGER               body bytes read (after decompression, up to the size cap)
//	truncated     INTEGER NOT NULL      1 when the body was cut at the size cap
//	content_hash  TEXT                  fingerprint of the body, to find duplicate content
//	canonical     TEXT                  the page's <link rel=canonical>, when it declared one
//	redirects     TEXT                  JSON array of the URLs redirected through, in order; NULL when none
//	attempts      INTEGER NOT NULL      HTTP attempts made, retries included (at least 1)
//	error         TEXT                  why the fetch failed; NULL when it succeeded
//	crawl_id      INTEGER               crawls.id of the run that fetched it
//
// links — the link graph: one row per distinct (source, destination) pair;
// repeats of a link on a page collapse into one row, the first one kept. Rows
// are appended in fetch order and indexed only by page_id, which grows with
// every new page: keying them by URL text made link rows a fifth of the
// crawler's CPU. A refetched page's rows are replaced.
//
//	page_id   INTEGER NOT NULL  pages.id of the page holding the link
//	src_url   TEXT NOT NULL     canonical URL of the page holding the link (pages.url)
//	dst_url   TEXT NOT NULL     canonical URL it points to, in scope or not
//	nofollow  INTEGER NOT NULL  1 when the link carried rel=nofollow
//
// sitemaps — the Sitemap: lines of each host's robots.txt, once per host and URL.
//
//	host      TEXT NOT NULL  the host whose robots.txt lists it
//	url       TEXT NOT NULL  the sitemap URL, as written
//	found_at  TEXT NOT NULL  when it was first seen
//
// robots — the robots.txt verdict of each scheme and host, as the crawler
// cached it, so that a resumed crawl obeys it without fetching robots.txt
// again while it is fresh. One row per key, replaced when robots.txt is
// fetched again. Unlike sitemaps and backoff it is an ordinary rowid table:
// with bodies of kilobytes its rows are too large for WITHOUT ROWID to pay off
// (SQLite advises it for rows under about a twentieth of a page).
//
//	key          TEXT PRIMARY KEY  scheme://host, host in lower case ("https://example.com:8443")
//	body         BLOB              the robots.txt body as fetched (at most 500 KiB + 1 byte); NULL when none was kept
//	allow        INTEGER NOT NULL  1 when robots.txt was absent (4xx): every path allowed
//	unavailable  INTEGER NOT NULL  1 when robots.txt could not be had (5xx, 429, network error): the host is disallowed until expires_at
//	cause        TEXT              why it was unavailable; NULL otherwise
//	fetched_at   TEXT NOT NULL     when it was fetched
//	expires_at   TEXT NOT NULL     when it is fetched again; a crawl ignores the row after that
//
// backoff — hosts told to slow down (429, or 5xx with Retry-After), so that a
// resumed crawl does not contact them before the backoff ends. Rows are kept
// after they expire and overwritten by the next backoff.
//
//	host   TEXT PRIMARY KEY  url.URL.Host in lower case ("example.com:8080")
//	until  TEXT NOT NULL     no request is sent to host before this time (rounded up to the millisecond)
const schemaV1 = `
CREATE TABLE crawls (
	id          INTEGER PRIMARY KEY,
	started_at  TEXT NOT NULL,
	finished_at TEXT,
	seeds       TEXT NOT NULL,
	settings    TEXT NOT NULL
);

CREATE TABLE urls (
	id            INTEGER PRIMARY KEY,
	url           TEXT NOT NULL UNIQUE,
	host          TEXT NOT NULL,
	depth         INTEGER NOT NULL,
	state         TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'leased', 'done', 'failed')),
	discovered_at TEXT NOT NULL,
	crawl_id      INTEGER REFERENCES crawls(id)
);
CREATE INDEX urls_queued ON urls (host, id) WHERE state = 'queued';

CREATE TABLE pages (
	id           INTEGER PRIMARY KEY,
	url          TEXT NOT NULL UNIQUE,
	host         TEXT NOT NULL,
	final_url    TEXT,
	status       INTEGER,
	content_type TEXT,
	title        TEXT,
	depth        INTEGER NOT NULL,
	fetched_at   TEXT NOT NULL,
	duration_ms  INTEGER,
	size_bytes   INTEGER,
	truncated    INTEGER NOT NULL DEFAULT 0,
	content_hash TEXT,
	canonical    TEXT,
	redirects    TEXT,
	attempts     INTEGER NOT NULL DEFAULT 1,
	error        TEXT,
	crawl_id     INTEGER REFERENCES crawls(id)
);

CREATE TABLE links (
	page_id  INTEGER NOT NULL,
	src_url  TEXT NOT NULL,
	dst_url  TEXT NOT NULL,
	nofollow INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX links_page ON links (page_id);

CREATE TABLE sitemaps (
	host     TEXT NOT NULL,
	url      TEXT NOT NULL,
	found_at TEXT NOT NULL,
	PRIMARY KEY (host, url)
) WITHOUT ROWID;

CREATE TABLE robots (
	key         TEXT PRIMARY KEY,
	body        BLOB,
	allow       INTEGER NOT NULL,
	unavailable INTEGER NOT NULL,
	cause       TEXT,
	fetched_at  TEXT NOT NULL,
	expires_at  TEXT NOT NULL
);

CREATE TABLE backoff (
	host  TEXT PRIMARY KEY,
	until TEXT NOT NULL
) WITHOUT ROWID;
`

// schemaV2 adds what the crawler learns on the hostile web (issue 3): why a
// fetch failed, in classes; the page's directives and encoding; the
// validators and fingerprint a recrawl and near-duplicate detection need;
// and the drops table. Columns added to pages:
//
//	error_class    TEXT              the class of error: 'timeout', 'too-large', 'truncated-body',
//	                                 'redirect-loop', 'too-many-redirects', 'robots', 'robots-unavailable',
//	                                 'address', 'network', 'http-4xx', 'http-5xx', 'invalid-url', 'other'; NULL without error
//	charset        TEXT              the encoding the HTML was decoded from ('utf-8', 'windows-1252', ...); NULL when not parsed
//	noindex        INTEGER NOT NULL  1 when <meta name=robots> or X-Robots-Tag said noindex (or none)
//	nofollow       INTEGER NOT NULL  1 when <meta name=robots> or X-Robots-Tag said nofollow (or none): no link was followed
//	links_capped   INTEGER NOT NULL  1 when the page had more links than the per-page cap; the rest were dropped
//	simhash        INTEGER           64-bit SimHash of the page's visible text (dedupe.SimHash), stored as a signed integer
//	etag           TEXT              ETag response header, as sent
//	last_modified  TEXT              Last-Modified response header, as sent
//	unchanged      INTEGER NOT NULL  1 when the latest fetch was a recrawl answered 304 Not Modified: the content
//	                                 columns and the links are those of the earlier fetch
//
// drops — links and URLs the crawler chose not to follow, counted by reason
// over every run on the file. Already-seen URLs are not drops.
//
//	reason   TEXT PRIMARY KEY  'scope', 'excluded', 'robots', 'nofollow', 'depth', 'too-long', 'path-depth',
//	                           'repeated-segments', 'query-variants', 'host-cap', 'link-cap', 'invalid-url'
//	count    INTEGER NOT NULL  how many (for 'link-cap': pages that hit the cap)
//	example  TEXT              the latest URL dropped for this reason
const schemaV2 = `
ALTER TABLE pages ADD COLUMN error_class TEXT;
ALTER TABLE pages ADD COLUMN charset TEXT;
ALTER TABLE pages ADD COLUMN noindex INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pages ADD COLUMN nofollow INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pages ADD COLUMN links_capped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pages ADD COLUMN simhash INTEGER;
ALTER TABLE pages ADD COLUMN etag TEXT;
ALTER TABLE pages ADD COLUMN last_modified TEXT;
ALTER TABLE pages ADD COLUMN unchanged INTEGER NOT NULL DEFAULT 0;

CREATE TABLE drops (
	reason  TEXT PRIMARY KEY,
	count   INTEGER NOT NULL,
	example TEXT
) WITHOUT ROWID;
`

// migrations returns the schema changes in order: migrations()[i] takes a file
// from user_version i to i+1. Append new ones; never edit a released one.
func migrations() []string {
	return []string{schemaV1, schemaV2, schemaV3, schemaV4}
}

// migrate brings the file up to the newest schema, one transaction per
// migration, each bumping PRAGMA user_version in the same transaction. The
// version is read again inside each transaction (BEGIN IMMEDIATE on db), so
// two processes opening a new file at once apply each step once.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	ms := migrations()
	for {
		done, err := migrateStep(ctx, db, ms, log)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next migration, if any, and reports whether the
// schema is now current.
func migrateStep(ctx context.Context, db *sql.DB, ms []string, log *slog.Logger) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op returning sql.ErrTxDone
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case version > len(ms):
		return false, fmt.Errorf("schema version %d is newer than this program supports (%d): use a newer trawl", version, len(ms))
	case version == len(ms):
		return true, nil
	case version == 0:
		// A version-0 file with tables belongs to some other program: do not
		// add ours to it.
		var tables int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&tables); err != nil {
			return false, fmt.Errorf("read schema: %w", err)
		}
		if tables > 0 {
			return false, fmt.Errorf("not a trawl database: it has %d schema objects but no schema version", tables)
		}
	}
	if _, err := tx.ExecContext(ctx, ms[version]); err != nil {
		return false, fmt.Errorf("migrate schema to version %d: %w", version+1, err)
	}
	// PRAGMA takes no bound parameters; version+1 is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, version+1)); err != nil {
		return false, fmt.Errorf("set schema version %d: %w", version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit schema version %d: %w", version+1, err)
	}
	log.LogAttrs(ctx, slog.LevelInfo, "migrated database schema", slog.Int("from", version), slog.Int("to", version+1))
	return version+1 == len(ms), nil
}
