package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Statements of the writer. Rows of one table go in as multi-row statements
// (head, then chunk copies of row joined by commas, then tail), the rows of
// the whole batch sorted by key, so that each B-tree is walked once in order.
const (
	// markHead/markTail add fetched URLs whose seq the caller does not know
	// and redirect targets to url (those not queued before: the seen-set
	// stays complete) and return the seq of each, new or not, so that their
	// queue entries can be deleted (the DO UPDATE, which changes nothing, is
	// what makes an existing row return).
	markHead  = `INSERT INTO url (id, url, host_id, depth, seq, crawl_id) VALUES `
	markTail  = ` ON CONFLICT (id) DO UPDATE SET id = excluded.id RETURNING id, seq`
	urlValues = `(?, ?, ?, ?, ?, ?)`

	// dequeueHead/dequeueValues delete visited URLs from the queue.
	dequeueHead   = `DELETE FROM queue WHERE (host_id, seq) IN (VALUES `
	dequeueValues = `(?, ?)`
	dequeueTail   = `)`

	inboxHead   = `INSERT INTO inbox (seq, id, url, host_id, depth, crawl_id) VALUES `
	inboxValues = `(?, ?, ?, ?, ?, ?)`

	linkHead   = `INSERT INTO link (page_seq, dst_id, nofollow) VALUES `
	linkValues = `(?, ?, ?)`
	linkTail   = ` ON CONFLICT DO NOTHING`

	otherHead   = `INSERT INTO other_urls (id, url) VALUES `
	otherValues = `(?, ?)`
	otherTail   = ` ON CONFLICT DO NOTHING`

	// insertPage replaces the row of a URL fetched again.
	insertPage = `INSERT INTO page (seq, id, final_url, status, content_type, title, fetched_at,
	duration_ms, size_bytes, truncated, content_hash, canonical, redirects, attempts, error, crawl_id,
	error_class, charset, noindex, nofollow, links_capped, simhash, etag, last_modified, failed, unchanged,
	lang, warc_file, warc_offset)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
ON CONFLICT (seq) DO UPDATE SET id = excluded.id, final_url = excluded.final_url,
	status = excluded.status, content_type = excluded.content_type, title = excluded.title,
	fetched_at = excluded.fetched_at, duration_ms = excluded.duration_ms,
	size_bytes = excluded.size_bytes, truncated = excluded.truncated, content_hash = excluded.content_hash,
	canonical = excluded.canonical, redirects = excluded.redirects, attempts = excluded.attempts,
	error = excluded.error, crawl_id = excluded.crawl_id, error_class = excluded.error_class,
	charset = excluded.charset, noindex = excluded.noindex, nofollow = excluded.nofollow,
	links_capped = excluded.links_capped, simhash = excluded.simhash, etag = excluded.etag,
	last_modified = excluded.last_modified, failed = excluded.failed, unchanged = 0,
	lang = excluded.lang, warc_file = excluded.warc_file, warc_offset = excluded.warc_offset`

	// insertText stores a page's text, to be indexed (text_pending); dropText removes a
	// refetched page's from the index (nothing when it was not indexed) and dropText2 from
	// page_text.
	insertText = `INSERT INTO page_text (seq, title, text) VALUES (?, ?, ?)
	ON CONFLICT (seq) DO UPDATE SET title = excluded.title, text = excluded.text`
	pendText  = `INSERT OR IGNORE INTO text_pending (seq) VALUES (?)`
	dropText  = `DELETE FROM page_fts WHERE docid = ?`
	dropText2 = `DELETE FROM page_text WHERE seq = ?`

	// touchPage records a 304 on a recrawl: the stored content stays.
	touchPage = `UPDATE page SET fetched_at = ?, duration_ms = ?, attempts = ?, crawl_id = ?, unchanged = 1,
	error = NULL, error_class = NULL, failed = 0 WHERE seq = ?`

	// dropLinks clears a refetched page's old links before its new ones go in.
	dropLinks = `DELETE FROM link WHERE page_seq = ?`

	// hostID returns a host's id, adding the host when it is new.
	hostID = `INSERT INTO hosts (host) VALUES (?) ON CONFLICT (host) DO UPDATE SET host = excluded.host RETURNING id`

	readSeq = `SELECT value FROM counters WHERE name = 'seq'`
	saveSeq = `UPDATE counters SET value = ? WHERE name = 'seq'`
	// The number of the last visit journal record applied (see journal.go).
	readJournaled = `SELECT coalesce((SELECT value FROM counters WHERE name = 'journal'), 0)`
	saveJournaled = `INSERT INTO counters (name, value) VALUES ('journal', ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value`

	// countDrops adds to a reason's tally.
	countDrops = `INSERT INTO drops (reason, count, example) VALUES (?, ?, ?)
ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count, example = excluded.example`

	insertSitemap = `INSERT OR IGNORE INTO sitemaps (host, url, found_at) VALUES (?, ?, ?)`
)

// chunks are the row counts of the multi-row statements: n rows go in as
// few statements as these sizes allow (70 rows: 64 + 4 + 1 + 1). Each
// execution has a fixed cost through database/sql and cgo.
var chunks = [...]int{64, 16, 4, 1}

// multiRow is one multi-row statement prepared for every size of chunks.
type multiRow [len(chunks)]*sql.Stmt

// maxHostIDs bounds the writer's map of host ids; past it the map starts
// again empty (ids are then read back from the hosts table).
const maxHostIDs = 100_000

// writeStmts are the writer's statements, prepared once on the write
// connection for the life of a Write, and its reusable buffers.
type writeStmts struct {
	page, touch, dropLinks, host, saveSeq, saveJournal, drops, sitemap, merge, clear, hostName *sql.Stmt
	text, pendText, dropText, dropText2                                                        *sql.Stmt
	mark, dequeue, inbox, link, other                                                          multiRow

	nextSeq   int64            // url.seq of the next URL queued
	journaled uint64           // the last visit journal record in the file (or in the transaction being written)
	saved     uint64           // journaled as last stored
	seqs      map[int64]int64  // url.seq by url.id of the batch's fetched URLs
	pending   int              // rows in the inbox, committed
	hostIDs   map[string]int64 // hosts.id by host, for hosts committed or in this batch
	hostNames map[int64]string // the reverse of hostIDs
	args      []any            // reused argument buffer

	marks    []urlRow   // fetched URLs of unknown seq and redirect targets
	dequeued []queueRow // queue entries of the batch's fetched URLs and redirect targets
	inboxd   []urlRow
	links    []linkRow
	others   []otherRow
}

type urlRow struct {
	id, hostID, seq int64
	url             string
	depth           int
	crawlID         any
}

type queueRow struct{ hostID, seq int64 }

type linkRow struct {
	page, dst int64
	nofollow  bool
	order     int // position in the batch: the first of a repeated link wins
}

type otherRow struct {
	id  int64
	url string
}

// prepareWrite prepares the writer's statements on db.rw and reads the
// next queue sequence number.
func (db *DB) prepareWrite(ctx context.Context) (*writeStmts, error) {
	ws := &writeStmts{hostIDs: map[string]int64{}, hostNames: map[int64]string{}, seqs: map[int64]int64{}}
	single := []struct {
		dst **sql.Stmt
		sql string
	}{{&ws.page, insertPage}, {&ws.touch, touchPage}, {&ws.dropLinks, dropLinks}, {&ws.host, hostID},
		{&ws.saveSeq, saveSeq}, {&ws.saveJournal, saveJournaled}, {&ws.drops, countDrops}, {&ws.sitemap, insertSitemap},
		{&ws.merge, mergeInbox}, {&ws.clear, clearInbox}, {&ws.hostName, hostName},
		{&ws.text, insertText}, {&ws.pendText, pendText}, {&ws.dropText, dropText}, {&ws.dropText2, dropText2}}
	for _, q := range single {
		st, err := db.rw.PrepareContext(ctx, q.sql)
		if err != nil {
			ws.close()
			return nil, fmt.Errorf("prepare writer statements: %w", err)
		}
		*q.dst = st
	}
	multi := []struct {
		dst             *multiRow
		head, row, tail string
	}{{&ws.mark, markHead, urlValues, markTail}, {&ws.dequeue, dequeueHead, dequeueValues, dequeueTail},
		{&ws.inbox, inboxHead, inboxValues, ""},
		{&ws.link, linkHead, linkValues, linkTail}, {&ws.other, otherHead, otherValues, otherTail}}
	for _, m := range multi {
		for i, n := range chunks {
			rows := strings.Repeat(m.row+", ", n)
			st, err := db.rw.PrepareContext(ctx, m.head+rows[:len(rows)-2]+m.tail)
			if err != nil {
				ws.close()
				return nil, fmt.Errorf("prepare writer statements: %w", err)
			}
			m.dst[i] = st
		}
	}
	if err := db.rw.QueryRowContext(ctx, readSeq).Scan(&ws.nextSeq); err != nil {
		ws.close()
		return nil, fmt.Errorf("read queue sequence: %w", err)
	}
	if err := db.rw.QueryRowContext(ctx, readJournaled).Scan(&ws.journaled); err != nil {
		ws.close()
		return nil, fmt.Errorf("read the visit journal's place: %w", err)
	}
	ws.saved = ws.journaled
	if err := db.rw.QueryRowContext(ctx, countInbox).Scan(&ws.pending); err != nil {
		ws.close()
		return nil, fmt.Errorf("count the inbox: %w", err)
	}
	return ws, nil
}

func (ws *writeStmts) close() {
	for _, st := range []*sql.Stmt{ws.page, ws.touch, ws.dropLinks, ws.host, ws.saveSeq, ws.saveJournal, ws.drops, ws.sitemap, ws.merge, ws.clear, ws.hostName, ws.text, ws.pendText, ws.dropText, ws.dropText2} {
		if st != nil {
			st.Close()
		}
	}
	for _, m := range []*multiRow{&ws.mark, &ws.dequeue, &ws.inbox, &ws.link, &ws.other} {
		for _, st := range m {
			if st != nil {
				st.Close()
			}
		}
	}
}
