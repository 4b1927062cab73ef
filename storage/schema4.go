package storage

// schemaV4 keeps what a crawl fetched (issue 13):
//
// page gains
//
//	warc_file    TEXT     the WARC file (base name, in the crawl's --warc directory) holding the
//	                      response record of the page's final response; NULL when not archived
//	warc_offset  INTEGER  the offset of that record (its gzip member) in the file
//	lang         TEXT     the language the page declares (<html lang>, Content-Language), as written
//
// page_text — the readable text of each HTML page (seq = page.seq), with its title, written
// by the crawl: storing it is cheap. The full-text index, page_fts (FTS4), is filled from it
// by Search's caller (IndexText) from text_pending, the seqs whose text is not indexed yet:
// indexing costs the crawl more than three times what storing does (measured: 35 µs a page
// to store 3.4 KB of text, 80-150 µs to index it), so a crawl that nobody searches does not
// pay for it, and one that is searched pays once, in bulk. page_fts keeps its own copy of
// what it indexed (not content="page_text": SQLite's integrity_check reports an
// external-content index that lags its table as malformed). FTS4 rather than FTS5:
// mattn/go-sqlite3 compiles FTS4 in by default, where FTS5 needs the build tag sqlite_fts5
// on every build and test command (README, scripts, CI, benchmarks, anyone's go install);
// FTS4's matchinfo() gives what a BM25 ranking needs (trawl_bm25, registered on every
// connection).
//
//	page_text     seq INTEGER PRIMARY KEY, title, text
//	text_pending  seq INTEGER PRIMARY KEY: written, not yet in page_fts
//	page_fts      FTS4 (title, text), docid = seq
//
// The views: pages gains lang, warc_file and warc_offset; texts lists the pages with text:
//
//	texts  id, url, title, lang, text
const schemaV4 = `
ALTER TABLE page ADD COLUMN warc_file TEXT;
ALTER TABLE page ADD COLUMN warc_offset INTEGER;
ALTER TABLE page ADD COLUMN lang TEXT;

CREATE TABLE page_text (
	seq   INTEGER PRIMARY KEY,
	title TEXT,
	text  TEXT NOT NULL
);
CREATE TABLE text_pending (seq INTEGER PRIMARY KEY);
CREATE VIRTUAL TABLE page_fts USING fts4(title, text, tokenize=unicode61);

DROP VIEW pages;
` + ViewsV4

// ViewsV4 are schema 4's views, pages and texts, in SQL that SQLite and
// PostgreSQL read alike: the PostgreSQL store's migration to the same layout
// creates them with this text, so that the two stay the same.
const ViewsV4 = `
CREATE VIEW pages AS
SELECT p.id, u.url, h.host, CASE WHEN p.status > 0 THEN coalesce(p.final_url, u.url) END AS final_url,
	p.status, p.content_type, p.title, u.depth, p.fetched_at, p.duration_ms, p.size_bytes, p.truncated,
	p.content_hash, p.canonical, p.redirects, p.attempts, p.error, p.crawl_id, p.error_class, p.charset,
	p.noindex, p.nofollow, p.links_capped, p.simhash, p.etag, p.last_modified, p.unchanged,
	p.lang, p.warc_file, p.warc_offset
FROM page p JOIN url u ON u.id = p.id JOIN hosts h ON h.id = u.host_id;

CREATE VIEW texts AS
SELECT p.id, u.url, t.title, p.lang, t.text
FROM page_text t JOIN page p ON p.seq = t.seq JOIN url u ON u.id = p.id;
`
