package storage

// schemaV3 is the layout made for a crawl of a billion URLs (issue 9): every
// URL is keyed by its 64-bit fingerprint (URLID) as the INTEGER PRIMARY
// KEY, so the seen check, the page row and the link rows are integer B-tree
// lookups and the text of a URL is stored once. The tables of schemas 1 and 2
// that people query (urls, pages, links) become views over the new tables
// with the same column names, so the README's queries keep working.
//
// hosts — one row per host ever queued; url rows hold its small integer id.
//
//	id    INTEGER PRIMARY KEY  small, in order of first sight
//	host  TEXT NOT NULL UNIQUE url.URL.Host as canonicalised ("example.com:8080")
//
// url — the durable seen-set: every URL the crawl ever queued (or fetched
// through a redirect), once, written when it is queued and never again: a
// visit does not touch its URL's row (an update there cost a random leaf
// per fetched page in every commit: 13 % of the crawler's CPU, measured).
//
//	id        INTEGER PRIMARY KEY  URLID(url)
//	url       TEXT NOT NULL        canonical URL
//	host_id   INTEGER NOT NULL     hosts.id
//	depth     INTEGER NOT NULL     link hops from a seed; seeds are 0
//	seq       INTEGER NOT NULL     discovery order (counters 'seq'): FIFO per host
//	crawl_id  INTEGER              crawls.id of the run that discovered it
//
// queue — the URLs waiting to be fetched, in discovery order per host:
// (host_id, seq, id). Every new url row is queued by the trigger url_queued;
// the visit of a URL (or following a redirect to it) deletes its entry in the
// same transaction as its page row. A crawler holds a window of a host's
// queue in memory and remembers the highest seq it took, so nothing is
// marked while it waits there, and a killed crawler leaves nothing to
// reclaim. A URL's state is where it is: in queue it is queued, otherwise
// its page row says failed (page.failed) or it is done.
//
// page — one row per fetched URL, keyed by its URL's seq (url.seq), with
// its url.id beside it: URLs are fetched roughly in queue order, so page
// rows are appended near the end of the B-tree instead of at random places
// (which cost a dirty leaf per page in every commit). Columns as the pages
// view below, less url, host and depth (in url), and final_url is NULL when
// it equals the URL requested.
//
// link — the link graph as integer pairs: (page.seq, id of the target) once
// per page, the first occurrence's nofollow kept. Keyed by (page_seq,
// dst_id): one B-tree, a page's links stored together, appended in fetch
// order.
//
// other_urls — the text of link targets that were never queued (out of
// scope, nofollow, past the depth limit, traps), keyed by fingerprint: a
// link's target is in url or here.
//
// inbox — URLs discovered and not yet checked against url: appended with
// the visit that found them (in seq order, so each batch adds to the end of
// one B-tree), and merged into url in large sorted batches (storage.Commit),
// the URL-seen structure of IRLbot's DRUM: a seen check costs a share of a
// sorted pass instead of a random leaf. Empty whenever a writer has ended
// normally.
//
//	seq       INTEGER PRIMARY KEY  the URL's place in the queue, taken when it was discovered
//	id, url, host_id, depth, crawl_id  as in url
//
// counters — named integers of the file: 'seq' is the next url.seq.
//
// The views:
//
//	urls   id, url, host, depth, state ('queued', 'done', 'failed'), seq, crawl_id
//	pages  the columns of schemas 1 and 2 (discovered order is not kept: id is the fingerprint)
//	links  page_id, src_url, dst_url, nofollow, and dst_id for fast joins
const schemaV3 = `
CREATE TABLE hosts (
	id   INTEGER PRIMARY KEY,
	host TEXT NOT NULL UNIQUE
);
INSERT INTO hosts (host) SELECT host FROM urls UNION SELECT host FROM pages;

CREATE TABLE url (
	id       INTEGER PRIMARY KEY,
	url      TEXT NOT NULL,
	host_id  INTEGER NOT NULL,
	depth    INTEGER NOT NULL,
	seq      INTEGER NOT NULL,
	crawl_id INTEGER
);
INSERT OR IGNORE INTO url (id, url, host_id, depth, seq, crawl_id)
	SELECT trawl_fingerprint(u.url), u.url, h.id, u.depth, u.id, u.crawl_id
	FROM urls u JOIN hosts h ON h.host = u.host ORDER BY u.id;
INSERT OR IGNORE INTO url (id, url, host_id, depth, seq, crawl_id)
	SELECT trawl_fingerprint(p.url), p.url, h.id, p.depth, 0, p.crawl_id
	FROM pages p JOIN hosts h ON h.host = p.host;

CREATE TABLE queue (
	host_id INTEGER NOT NULL,
	seq     INTEGER NOT NULL,
	id      INTEGER NOT NULL,
	PRIMARY KEY (host_id, seq)
) WITHOUT ROWID;
INSERT INTO queue (host_id, seq, id)
	SELECT h.id, u.id, trawl_fingerprint(u.url) FROM urls u JOIN hosts h ON h.host = u.host
	WHERE u.state IN ('queued', 'leased') ORDER BY 1, 2;
CREATE TRIGGER url_queued AFTER INSERT ON url BEGIN
	INSERT INTO queue (host_id, seq, id) VALUES (NEW.host_id, NEW.seq, NEW.id);
END;

CREATE TABLE inbox (
	seq      INTEGER PRIMARY KEY,
	id       INTEGER NOT NULL,
	url      TEXT NOT NULL,
	host_id  INTEGER NOT NULL,
	depth    INTEGER NOT NULL,
	crawl_id INTEGER
);

CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('seq', (SELECT coalesce(max(id), 0) + 1 FROM urls));

CREATE TABLE page (
	seq          INTEGER PRIMARY KEY,
	id           INTEGER NOT NULL,
	final_url    TEXT,
	status       INTEGER,
	content_type TEXT,
	title        TEXT,
	fetched_at   TEXT NOT NULL,
	duration_ms  INTEGER,
	size_bytes   INTEGER,
	truncated    INTEGER NOT NULL DEFAULT 0,
	content_hash TEXT,
	canonical    TEXT,
	redirects    TEXT,
	attempts     INTEGER NOT NULL DEFAULT 1,
	error        TEXT,
	crawl_id     INTEGER,
	error_class  TEXT,
	charset      TEXT,
	noindex      INTEGER NOT NULL DEFAULT 0,
	nofollow     INTEGER NOT NULL DEFAULT 0,
	links_capped INTEGER NOT NULL DEFAULT 0,
	simhash      INTEGER,
	etag         TEXT,
	last_modified TEXT,
	unchanged    INTEGER NOT NULL DEFAULT 0,
	failed       INTEGER NOT NULL DEFAULT 0
);
INSERT OR REPLACE INTO page SELECT u.seq, u.id, CASE WHEN p.final_url = p.url THEN NULL ELSE p.final_url END,
	p.status, p.content_type, p.title, p.fetched_at, p.duration_ms, p.size_bytes, p.truncated, p.content_hash,
	p.canonical, p.redirects, p.attempts, p.error, p.crawl_id, p.error_class, p.charset, p.noindex, p.nofollow,
	p.links_capped, p.simhash, p.etag, p.last_modified, p.unchanged,
	coalesce((SELECT o.state = 'failed' FROM urls o WHERE o.url = p.url), p.error IS NOT NULL)
	FROM pages p JOIN url u ON u.id = trawl_fingerprint(p.url) ORDER BY u.seq;

CREATE TABLE other_urls (
	id  INTEGER PRIMARY KEY,
	url TEXT NOT NULL
);
INSERT OR IGNORE INTO other_urls (id, url)
	SELECT trawl_fingerprint(dst_url), dst_url FROM links WHERE dst_url NOT IN (SELECT url FROM urls);

CREATE TABLE link (
	page_seq INTEGER NOT NULL,
	dst_id   INTEGER NOT NULL,
	nofollow INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (page_seq, dst_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO link (page_seq, dst_id, nofollow)
	SELECT u.seq, trawl_fingerprint(l.dst_url), l.nofollow FROM links l JOIN url u ON u.id = trawl_fingerprint(l.src_url)
	ORDER BY l.rowid;

DROP TABLE links;
DROP TABLE pages;
DROP TABLE urls;

CREATE VIEW urls AS
SELECT u.id, u.url, h.host, u.depth,
	CASE WHEN q.seq IS NOT NULL THEN 'queued' WHEN p.failed THEN 'failed' ELSE 'done' END AS state,
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
`
