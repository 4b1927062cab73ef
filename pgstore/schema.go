package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/trawl/trawl/storage"
)

// migrations are the schema's versions, applied in order inside the crawl's
// own schema (see Open): migrations[i] takes version i to i+1, and the
// version is the row of schema_version. Never edit a released one; add one.
//
// The tables are the SQLite file's (storage/schema3.go), with the same names
// and columns, so that the README's queries work in psql once search_path
// names the crawl: url keyed by the URL's 64-bit fingerprint, queue (host_id,
// seq, id) in discovery order per host, page keyed by the URL's seq, link,
// other_urls, hosts, crawls, drops, sitemaps, robots, backoff, and the views
// urls, pages and links. Flags stay integers (0/1) and timestamps text in
// storage.TimeLayout, as in the file. Two things differ: there is no inbox
// (a worker's discovered URLs are merged into url in its batch's own
// transaction: PostgreSQL's B-trees and row locks make that cheap and safe
// with several writers), and url.seq comes from the sequence url_seq, shared
// by every worker. And two tables are the fleet's own:
//
// host_lease — which worker holds which host (see lease.go):
//
//	host_id     BIGINT PRIMARY KEY  hosts.id
//	worker      TEXT NOT NULL       workers.id of the holder (or the last one)
//	expires_at  TIMESTAMPTZ         the lease is valid until then; renewed while the worker works on the host
//	ready_at    TIMESTAMPTZ         no worker may claim the host before then (set when it is given back)
//	claimed_at  TIMESTAMPTZ
//	recent      TIMESTAMPTZ[]       when the holder's requests of the second before it gave the host back were answered
//
// workers — one row per crawler process that joined the crawl:
//
//	id          TEXT PRIMARY KEY    host name, pid and start time
//	started_at  TIMESTAMPTZ
//	heartbeat   TIMESTAMPTZ         the last renewal of its leases
//	stopped_at  TIMESTAMPTZ         set when it stopped normally
//	hosts       INTEGER             hosts held at the heartbeat
//	pages       BIGINT              pages it recorded, at the heartbeat
var migrations = []string{`
CREATE TABLE crawls (
	id          BIGSERIAL PRIMARY KEY,
	started_at  TEXT NOT NULL,
	finished_at TEXT,
	seeds       TEXT NOT NULL,
	settings    TEXT NOT NULL
);
CREATE TABLE hosts (
	id   BIGSERIAL PRIMARY KEY,
	host TEXT NOT NULL UNIQUE
);
CREATE SEQUENCE url_seq;
CREATE TABLE url (
	id       BIGINT PRIMARY KEY,
	url      TEXT NOT NULL,
	host_id  BIGINT NOT NULL,
	depth    INTEGER NOT NULL,
	seq      BIGINT NOT NULL,
	crawl_id BIGINT
);
CREATE TABLE queue (
	host_id BIGINT NOT NULL,
	seq     BIGINT NOT NULL,
	id      BIGINT NOT NULL,
	PRIMARY KEY (host_id, seq)
);
CREATE TABLE page (
	seq           BIGINT PRIMARY KEY,
	id            BIGINT NOT NULL,
	final_url     TEXT,
	status        INTEGER,
	content_type  TEXT,
	title         TEXT,
	fetched_at    TEXT NOT NULL,
	duration_ms   BIGINT,
	size_bytes    BIGINT,
	truncated     INTEGER NOT NULL DEFAULT 0,
	content_hash  TEXT,
	canonical     TEXT,
	redirects     TEXT,
	attempts      INTEGER NOT NULL DEFAULT 1,
	error         TEXT,
	crawl_id      BIGINT,
	error_class   TEXT,
	charset       TEXT,
	noindex       INTEGER NOT NULL DEFAULT 0,
	nofollow      INTEGER NOT NULL DEFAULT 0,
	links_capped  INTEGER NOT NULL DEFAULT 0,
	simhash       BIGINT,
	etag          TEXT,
	last_modified TEXT,
	unchanged     INTEGER NOT NULL DEFAULT 0,
	failed        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE other_urls (
	id  BIGINT PRIMARY KEY,
	url TEXT NOT NULL
);
CREATE TABLE link (
	page_seq BIGINT NOT NULL,
	dst_id   BIGINT NOT NULL,
	nofollow INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (page_seq, dst_id)
);
CREATE TABLE sitemaps (
	host     TEXT NOT NULL,
	url      TEXT NOT NULL,
	found_at TEXT NOT NULL,
	PRIMARY KEY (host, url)
);
CREATE TABLE robots (
	key         TEXT PRIMARY KEY,
	body        BYTEA,
	allow       INTEGER NOT NULL,
	unavailable INTEGER NOT NULL,
	cause       TEXT,
	fetched_at  TEXT NOT NULL,
	expires_at  TEXT NOT NULL
);
CREATE TABLE backoff (
	host  TEXT PRIMARY KEY,
	until TEXT NOT NULL
);
CREATE TABLE drops (
	reason  TEXT PRIMARY KEY,
	count   BIGINT NOT NULL,
	example TEXT
);
CREATE TABLE host_lease (
	host_id    BIGINT PRIMARY KEY,
	worker     TEXT NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	ready_at   TIMESTAMPTZ NOT NULL,
	claimed_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE workers (
	id         TEXT PRIMARY KEY,
	started_at TIMESTAMPTZ NOT NULL,
	heartbeat  TIMESTAMPTZ NOT NULL,
	stopped_at TIMESTAMPTZ,
	hosts      INTEGER NOT NULL DEFAULT 0,
	pages      BIGINT NOT NULL DEFAULT 0
);

CREATE VIEW urls AS
SELECT u.id, u.url, h.host, u.depth,
	CASE WHEN q.seq IS NOT NULL THEN 'queued' WHEN p.failed <> 0 THEN 'failed' ELSE 'done' END AS state,
	u.seq, u.crawl_id
FROM url u JOIN hosts h ON h.id = u.host_id
	LEFT JOIN queue q ON q.host_id = u.host_id AND q.seq = u.seq LEFT JOIN page p ON p.seq = u.seq;

CREATE VIEW pages AS
SELECT p.id, u.url, h.host, CASE WHEN p.status > 0 THEN coalesce(p.final_url, u.url) END AS final_url,
	p.status, p.content_type, p.title, u.depth, p.fetched_at, p.duration_ms, p.size_bytes, p.truncated,
	p.content_hash, p.canonical, p.redirects, p.attempts, p.error, p.crawl_id, p.error_class, p.charset,
	p.noindex, p.nofollow, p.links_capped, p.simhash, p.etag, p.last_modified, p.unchanged
FROM page p JOIN url u ON u.id = p.id JOIN hosts h ON h.id = u.host_id;

CREATE VIEW links AS
SELECT p.id AS page_id, s.url AS src_url, coalesce(d.url, o.url) AS dst_url, l.nofollow, l.dst_id
FROM link l JOIN page p ON p.seq = l.page_seq JOIN url s ON s.id = p.id
	LEFT JOIN url d ON d.id = l.dst_id LEFT JOIN other_urls o ON o.id = l.dst_id;
`, `
-- Version 2: what the file's schema 4 added (storage/schema4.go): a page's
-- language and the place of its response in the WARC archive, and its text.
-- (Full-text search stays with the file's FTS4 index.)
ALTER TABLE page ADD COLUMN lang TEXT, ADD COLUMN warc_file TEXT, ADD COLUMN warc_offset BIGINT;
CREATE TABLE page_text (
	seq   BIGINT PRIMARY KEY,
	title TEXT,
	text  TEXT NOT NULL
);
DROP VIEW pages;
` + storage.ViewsV4, `
-- Version 3: a host given back keeps its window, when its latest requests
-- were answered, for the next holder to count (lease.go).
ALTER TABLE host_lease ADD COLUMN recent TIMESTAMPTZ[] NOT NULL DEFAULT '{}';
`}

// migrate brings the crawl's schema up to date, creating it when new. It
// runs under an advisory lock keyed by the schema's name, so that workers
// starting together migrate once.
func migrate(ctx context.Context, conn *pgx.Conn, schema string, existing bool) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // after Commit, a no-op
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('trawl:' || $1))`, schema); err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return err
	}
	ident := pgx.Identifier{schema}.Sanitize()
	version := 0
	if !exists && existing {
		return fmt.Errorf("no crawl named %s in this database: %w", schema, ErrNoCrawl)
	}
	if !exists {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+ident+`; CREATE TABLE `+ident+`.schema_version (version INTEGER NOT NULL);
INSERT INTO `+ident+`.schema_version VALUES (0)`); err != nil {
			return err
		}
	} else {
		err := tx.QueryRow(ctx, `SELECT version FROM `+ident+`.schema_version`).Scan(&version)
		if err != nil {
			return fmt.Errorf("schema %s exists and is not a Trawl crawl (no schema_version): %w", schema, err)
		}
	}
	if version > len(migrations) {
		return fmt.Errorf("crawl %s has schema version %d, newer than this program knows (%d)", schema, version, len(migrations))
	}
	if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+ident); err != nil {
		return err
	}
	for ; version < len(migrations); version++ {
		if _, err := tx.Exec(ctx, migrations[version]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", version+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, version); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// ErrNoCrawl is returned by Open with Options.Existing when the database
// has no crawl of that name.
var ErrNoCrawl = errors.New("no such crawl")

// errNoServer wraps a failure to reach the server at Open.
var errNoServer = errors.New("no PostgreSQL server answers")
