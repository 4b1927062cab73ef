package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Page is the record of one fetch of a canonical URL, successful or not. It
// becomes a row of the pages table; empty strings are stored as NULL.
type Page struct {
	URL         string        // canonical URL requested; required
	Host        string        // host of URL
	FinalURL    string        // URL after redirects; "" when there was no response
	Status      int           // HTTP status of the final response; 0 when there was no response
	ContentType string        // Content-Type of the final response
	Title       string        // HTML <title>
	Depth       int           // link hops from a seed
	FetchedAt   time.Time     // when the fetch completed; zero means the commit time
	Duration    time.Duration // time of the last attempt; stored in milliseconds
	Size        int64         // body bytes read
	Truncated   bool          // body was cut at the size cap
	ContentHash string        // body fingerprint
	Canonical   string        // the page's <link rel=canonical>
	Redirects   []string      // URLs redirected through, in order; nil or empty is stored as NULL
	Attempts    int           // HTTP attempts, retries included; 0 means 1
	Error       string        // why the fetch failed; "" when it succeeded
	Answered    bool          // Error is the site's answer (a robots.txt denial, an HTTP 4xx), not a failure: the URL is 'done'
	ErrorClass  string        // the class of Error (see the schema's pages.error_class); "" without error
	Charset     string        // encoding the HTML was decoded from
	NoIndex     bool          // meta robots or X-Robots-Tag said noindex
	NoFollow    bool          // meta robots or X-Robots-Tag said nofollow: no link was followed
	LinksCapped bool          // the page had more links than the per-page cap
	SimHash     uint64        // SimHash of the visible text; 0 (no text, or not HTML) is stored as NULL
	ETag        string        // ETag response header
	LastMod     string        // Last-Modified response header
	// Unchanged records a recrawl answered 304 Not Modified: only the fetch
	// time, duration, attempts and crawl id of the existing row change, and
	// unchanged is set; its content columns and links stay. A URL without a
	// row gets one as any other page.
	Unchanged bool
	// Refetch says the URL may already have a page row with links (a
	// recrawl): its old links are deleted before the new ones go in. A
	// first fetch leaves it false and saves that statement: in an ordinary
	// crawl a URL is stored once, in the transaction that marks it done.
	Refetch bool
}

// Drop counts URLs not followed for one reason (see the schema's drops
// table).
type Drop struct {
	Reason  string // e.g. "scope", "too-long"
	Count   int    // how many; at least 1
	Example string // one of them, the latest
}

// Link is one outgoing link of a page.
type Link struct {
	Src      string // canonical URL of the page holding the link
	Dst      string // canonical URL it points to
	Nofollow bool   // the link carried rel=nofollow
}

// URL is a newly discovered URL to queue; Queued also returns them.
type URL struct {
	URL    string // canonical URL
	Host   string // its host
	Depth  int    // link hops from a seed
	Leased bool   // the crawler holds it in memory already: stored as 'leased', not 'queued'
}

// Sitemap is one Sitemap: line of a host's robots.txt.
type Sitemap struct {
	Host string // url.URL.Host of the robots.txt
	URL  string // as written in robots.txt
}

// Visit is one unit of work for Write, committed atomically: Page (nil for
// seeds, which only discover), its Links, the URLs it Discovered (queued
// unless already known) and the new state of the visited URL (urls.state
// becomes 'failed' when Page.Error is set, else 'done').
type Visit struct {
	Page       *Page     // the fetch's record; nil for a visit that only queues (seeds)
	Links      []Link    // the page's outgoing links; requires Page
	Discovered []URL     // new URLs to queue
	Aliases    []URL     // redirect targets this fetch followed: recorded as done so they are never fetched on their own
	Sitemaps   []Sitemap // Sitemap lines of a robots.txt read during this fetch
	Drops      []Drop    // links and URLs not followed, by reason
	CrawlID    int64     // crawls.id from BeginCrawl; 0 stores NULL
}

// WriterConfig tunes Write. The zero value is ready to use.
type WriterConfig struct {
	BatchSize  int           // visits per transaction; 0 means 256
	FlushEvery time.Duration // how long a partial batch may linger for more visits; 0 means none (group commit)
}

func (c WriterConfig) withDefaults() WriterConfig {
	if c.BatchSize <= 0 {
		c.BatchSize = 256
	}

	return c
}

// Write is the single writer: it receives visits from rows until the channel
// is closed and commits them in batches, one transaction per batch: each
// batch is whatever has queued up since the last commit (at most
// cfg.BatchSize, lingering cfg.FlushEvery for more if set). It never stops receiving, even after an error, so senders need
// no select; the caller closes rows.
//
// After each transaction Write calls committed (if not nil) with the batch and
// the transaction's error, nil on success; a failed batch is rolled back as a
// whole. committed runs on Write's goroutine and must not keep batch: its
// backing array is reused. Write goes on with later batches after a failure
// and returns the first error once rows is closed and drained.
//
// ctx is used for the database calls only; pass context.WithoutCancel of the
// crawl's context so that the final flush happens after a Ctrl-C. Only one
// Write may run on a DB at a time.
func (db *DB) Write(ctx context.Context, cfg WriterConfig, rows <-chan Visit, committed func(batch []Visit, err error)) error {
	cfg = cfg.withDefaults()
	ws, prepErr := db.prepareWrite(ctx) // on failure every batch reports it; receiving goes on
	if ws != nil {
		defer ws.close()
	}
	batch := make([]Visit, 0, cfg.BatchSize)
	timer := time.NewTimer(cfg.FlushEvery)
	timer.Stop()
	defer timer.Stop()

	var firstErr error
	var visits, batches, failed int
	flush := func() {
		if len(batch) == 0 {
			return
		}
		start := time.Now()
		err := db.commit(ctx, ws, batch)
		if ws == nil {
			err = errors.Join(err, prepErr)
		}
		batches++
		visits += len(batch)
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
		db.log.LogAttrs(ctx, slog.LevelDebug, "committed batch",
			slog.Int("visits", len(batch)), slog.Duration("elapsed", time.Since(start)), slog.Bool("ok", err == nil))
		if committed != nil {
			committed(batch, err)
		}
		clear(batch) // drop references to pages and links before reuse
		batch = batch[:0]
	}

	closed := false
	for !closed {
		v, ok := <-rows
		if !ok {
			break
		}
		batch = append(batch, v)
		// Group commit: take what is already waiting (up to BatchSize), then
		// commit. Under load visits pile up while a transaction runs, so
		// batches grow by themselves; when the writer keeps up, a visit is
		// durable within one commit of being sent, which bounds what a
		// crash loses to about the fetches in flight.
		var linger <-chan time.Time
		if cfg.FlushEvery > 0 {
			timer.Reset(cfg.FlushEvery)
			linger = timer.C
		}
	gather:
		for len(batch) < cfg.BatchSize {
			select {
			case v, ok := <-rows:
				if !ok {
					closed = true
					break gather
				}
				batch = append(batch, v)
				continue
			default:
			}
			if linger == nil {
				break
			}
			select {
			case v, ok := <-rows:
				if !ok {
					closed = true
					break gather
				}
				batch = append(batch, v)
			case <-linger:
				linger = nil
			}
		}
		timer.Stop()
		flush()
	}
	flush()
	db.log.LogAttrs(ctx, slog.LevelInfo, "writer stopped",
		slog.Int("visits", visits), slog.Int("batches", batches), slog.Int("failed_batches", failed))
	return firstErr
}

// SQL run once per row by commit, prepared once per transaction.
const (
	// insertPage replaces the row of a URL fetched again, keeping its id.
	insertPage = `INSERT INTO pages (url, host, final_url, status, content_type, title, depth, fetched_at,
	duration_ms, size_bytes, truncated, content_hash, canonical, redirects, attempts, error, crawl_id,
	error_class, charset, noindex, nofollow, links_capped, simhash, etag, last_modified, unchanged)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
ON CONFLICT (url) DO UPDATE SET host = excluded.host, final_url = excluded.final_url,
	status = excluded.status, content_type = excluded.content_type, title = excluded.title,
	depth = excluded.depth, fetched_at = excluded.fetched_at, duration_ms = excluded.duration_ms,
	size_bytes = excluded.size_bytes, truncated = excluded.truncated, content_hash = excluded.content_hash,
	canonical = excluded.canonical, redirects = excluded.redirects, attempts = excluded.attempts,
	error = excluded.error, crawl_id = excluded.crawl_id, error_class = excluded.error_class,
	charset = excluded.charset, noindex = excluded.noindex, nofollow = excluded.nofollow,
	links_capped = excluded.links_capped, simhash = excluded.simhash, etag = excluded.etag,
	last_modified = excluded.last_modified, unchanged = 0
RETURNING id`

	// touchPage records a 304 on a recrawl: the stored content stays.
	touchPage = `UPDATE pages SET fetched_at = ?, duration_ms = ?, attempts = ?, crawl_id = ?, unchanged = 1,
	error = NULL, error_class = NULL WHERE url = ? RETURNING id`

	// countDrops adds to a reason's tally.
	countDrops = `INSERT INTO drops (reason, count, example) VALUES (?, ?, ?)
ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count, example = excluded.example`

	// markVisited (rows appended, then markConflict) sets the state of
	// fetched URLs, adding those the caller never queued to urls, so that
	// the seen-set stays complete.
	markVisited  = `INSERT INTO urls (url, host, depth, state, discovered_at, crawl_id) VALUES `
	markConflict = ` ON CONFLICT (url) DO UPDATE SET state = excluded.state`

	insertLinks = `INSERT INTO links (page_id, src_url, dst_url, nofollow) VALUES `

	insertSitemap = `INSERT OR IGNORE INTO sitemaps (host, url, found_at) VALUES (?, ?, ?)`

	// dropLinks clears a refetched page's old links before its new ones go in.
	dropLinks = `DELETE FROM links WHERE page_id = ?`

	// queueURLs (rows appended, then queueConflict) only ignores a known
	// URL: other constraint failures still fail.
	queueURLs     = `INSERT INTO urls (url, host, depth, state, discovered_at, crawl_id) VALUES `
	queueConflict = ` ON CONFLICT (url) DO NOTHING`
)

// commit writes batch in one transaction.
func (db *DB) commit(ctx context.Context, ws *writeStmts, batch []Visit) error {
	if ws == nil {
		return fmt.Errorf("write batch of %d visits: %w", len(batch), errNoStatements)
	}
	tx, err := db.rw.BeginTx(ctx, nil) // database/sql rolls it back if ctx ends
	if err != nil {
		return fmt.Errorf("write batch of %d visits: begin: %w", len(batch), err)
	}
	defer tx.Rollback() // after Commit, a no-op returning sql.ErrTxDone
	if err := ws.writeBatch(ctx, tx, batch); err != nil {
		return fmt.Errorf("write batch of %d visits: %w", len(batch), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write batch of %d visits: commit: %w", len(batch), err)
	}
	return nil
}

// errNoStatements stands for the writer's statements failing to prepare.
var errNoStatements = errors.New("writer statements not prepared")

// chunks are the row counts of the multi-row inserts (links, queued URLs):
// a page's rows go in as few statements as these sizes allow (10 links:
// 8 + 2). Each statement execution has a fixed cost through database/sql
// and cgo that one row per statement paid ten times a page.
var chunks = [...]int{16, 8, 4, 2, 1}

// multiRow is one multi-row INSERT prepared for every size of chunks.
type multiRow [len(chunks)]*sql.Stmt

// writeStmts are the writer's statements, prepared once on the write
// connection for the life of a Write and bound to each transaction.
type writeStmts struct {
	page, drop, sitemap, touch, drops *sql.Stmt
	links, queue, visited             multiRow
	args                              []any  // reused argument buffer for multi-row inserts
	marks                             []mark // the batch's visited URLs, marked at its end
}

// mark is one visited URL's new state.
type mark struct {
	url, host, state, at string
	depth                int
	crawlID              any
}

// all returns every statement of ws.
func (ws *writeStmts) all() []*sql.Stmt {
	return slices.Concat([]*sql.Stmt{ws.page, ws.drop, ws.sitemap, ws.touch, ws.drops}, ws.links[:], ws.queue[:], ws.visited[:])
}

// bind returns m's statements bound to tx, for one transaction.
func (m *multiRow) bind(ctx context.Context, tx *sql.Tx) multiRow {
	var b multiRow
	for i, st := range m {
		b[i] = tx.StmtContext(ctx, st)
	}
	return b
}

// insertRows inserts n rows through m (bound to a transaction), as few
// statements as chunks allow; row appends the arguments of row i to args.
func (ws *writeStmts) insertRows(ctx context.Context, m *multiRow, n int, row func(i int, args []any) []any) error {
	done := 0
	for i, size := range chunks {
		for n-done >= size {
			args := ws.args[:0]
			for r := done; r < done+size; r++ {
				args = row(r, args)
			}
			ws.args = args
			if _, err := m[i].ExecContext(ctx, args...); err != nil {
				return err
			}
			done += size
		}
	}
	clear(ws.args) // drop references to this batch's strings
	return nil
}

// prepareWrite prepares the writer's statements on db.rw.
func (db *DB) prepareWrite(ctx context.Context) (*writeStmts, error) {
	ws := &writeStmts{}
	queries := []struct {
		dst **sql.Stmt
		sql string
	}{{&ws.page, insertPage}, {&ws.drop, dropLinks}, {&ws.sitemap, insertSitemap}, {&ws.touch, touchPage}, {&ws.drops, countDrops}}
	for i, n := range chunks {
		links := strings.Repeat("(?, ?, ?, ?), ", n)
		urls := strings.Repeat("(?, ?, ?, ?, ?, ?), ", n)
		queries = append(queries, struct {
			dst **sql.Stmt
			sql string
		}{&ws.links[i], insertLinks + links[:len(links)-2]}, struct {
			dst **sql.Stmt
			sql string
		}{&ws.queue[i], queueURLs + urls[:len(urls)-2] + queueConflict}, struct {
			dst **sql.Stmt
			sql string
		}{&ws.visited[i], markVisited + urls[:len(urls)-2] + markConflict})
	}
	for _, q := range queries {
		st, err := db.rw.PrepareContext(ctx, q.sql)
		if err != nil {
			ws.close()
			return nil, fmt.Errorf("prepare writer statements: %w", err)
		}
		*q.dst = st
	}
	return ws, nil
}

func (ws *writeStmts) close() {
	for _, st := range ws.all() {
		if st != nil {
			st.Close()
		}
	}
}

func (ws *writeStmts) writeBatch(ctx context.Context, tx *sql.Tx, batch []Visit) error {
	page, drop, sitemap := tx.StmtContext(ctx, ws.page), tx.StmtContext(ctx, ws.drop), tx.StmtContext(ctx, ws.sitemap)
	links, queue, visited := ws.links.bind(ctx, tx), ws.queue.bind(ctx, tx), ws.visited.bind(ctx, tx)
	// Visited URLs are marked at the end of the batch, in one multi-row
	// upsert: it finds each URL whether or not its queueing came first.
	marks := ws.marks[:0]
	touch, drops := tx.StmtContext(ctx, ws.touch), tx.StmtContext(ctx, ws.drops)
	seenDst := make(map[string]bool) // a page's link targets so far: repeats collapse, the first kept
	var unique []Link
	var dropped map[string]Drop // the batch's drops by reason, written once per reason

	// With a cancellable ctx, go-sqlite3 runs every Exec on a new goroutine
	// so that it can interrupt it. Rows are microseconds each, so they run
	// without that watch; the transaction as a whole still ends with ctx.
	ectx := context.WithoutCancel(ctx)
	now := formatTime(time.Now())
	for i := range batch {
		v := &batch[i]
		crawlID := nullInt(v.CrawlID)
		var pageID int64
		if p := v.Page; p != nil {
			fetchedAt := now
			if !p.FetchedAt.IsZero() {
				fetchedAt = formatTime(p.FetchedAt)
			}
			redirects, err := jsonList(p.Redirects)
			if err != nil {
				return fmt.Errorf("page %s: redirects: %w", p.URL, err)
			}
			attempts := max(p.Attempts, 1)
			touched := false
			if p.Unchanged {
				err := touch.QueryRowContext(ectx, fetchedAt, p.Duration.Milliseconds(), attempts, crawlID, p.URL).Scan(&pageID)
				switch {
				case err == nil:
					touched = true
				case !errors.Is(err, sql.ErrNoRows):
					return fmt.Errorf("page %s unchanged: %w", p.URL, err)
				}
			}
			if !touched {
				var simhash any
				if p.SimHash != 0 {
					simhash = int64(p.SimHash) // SQLite integers are signed; the bits are kept
				}
				if err := page.QueryRowContext(ectx, p.URL, p.Host, nullString(p.FinalURL), p.Status,
					nullString(p.ContentType), nullString(p.Title), p.Depth, fetchedAt, p.Duration.Milliseconds(),
					p.Size, p.Truncated, nullString(p.ContentHash), nullString(p.Canonical), redirects,
					attempts, nullString(p.Error), crawlID, nullString(p.ErrorClass), nullString(p.Charset),
					p.NoIndex, p.NoFollow, p.LinksCapped, simhash, nullString(p.ETag), nullString(p.LastMod)).Scan(&pageID); err != nil {
					return fmt.Errorf("page %s: %w", p.URL, err)
				}
				if p.Refetch { // a refetch replaces its links
					if _, err := drop.ExecContext(ectx, pageID); err != nil {
						return fmt.Errorf("page %s: clear old links: %w", p.URL, err)
					}
				}
			}
			state := "done"
			if p.Error != "" && !p.Answered {
				state = "failed"
			}
			marks = append(marks, mark{url: p.URL, host: p.Host, depth: p.Depth, state: state, at: fetchedAt, crawlID: crawlID})
		}
		for _, u := range v.Aliases { // redirect targets: done, never fetched on their own
			marks = append(marks, mark{url: u.URL, host: u.Host, depth: u.Depth, state: "done", at: now, crawlID: crawlID})
		}
		if len(v.Links) > 0 && v.Page == nil {
			return fmt.Errorf("links of %s without its page", v.Links[0].Src)
		}
		clear(seenDst)
		unique = unique[:0]
		for _, l := range v.Links {
			if !seenDst[l.Dst] {
				seenDst[l.Dst] = true
				unique = append(unique, l)
			}
		}
		err := ws.insertRows(ectx, &links, len(unique), func(i int, args []any) []any {
			l := &unique[i]
			return append(args, pageID, l.Src, l.Dst, l.Nofollow)
		})
		if err != nil {
			return fmt.Errorf("links of %s: %w", unique[0].Src, err)
		}
		for _, d := range v.Drops {
			if dropped == nil {
				dropped = map[string]Drop{}
			}
			sum := dropped[d.Reason]
			sum.Reason, sum.Count = d.Reason, sum.Count+max(d.Count, 1)
			if d.Example != "" {
				sum.Example = d.Example
			}
			dropped[d.Reason] = sum
		}
		for _, sm := range v.Sitemaps {
			if _, err := sitemap.ExecContext(ectx, sm.Host, sm.URL, now); err != nil {
				return fmt.Errorf("sitemap %s of %s: %w", sm.URL, sm.Host, err)
			}
		}
		err = ws.insertRows(ectx, &queue, len(v.Discovered), func(i int, args []any) []any {
			u := &v.Discovered[i]
			state := "queued"
			if u.Leased {
				state = "leased"
			}
			return append(args, u.URL, u.Host, u.Depth, state, now, crawlID)
		})
		if err != nil {
			return fmt.Errorf("queue %d URLs (%s, ...): %w", len(v.Discovered), v.Discovered[0].URL, err)
		}
	}
	err := ws.insertRows(ectx, &visited, len(marks), func(i int, args []any) []any {
		m := &marks[i]
		return append(args, m.url, m.host, m.depth, m.state, m.at, m.crawlID)
	})
	clear(marks) // drop references to this batch's strings
	ws.marks = marks[:0]
	if err != nil {
		return fmt.Errorf("mark %d visited URLs done or failed: %w", len(marks), err)
	}
	for _, d := range dropped {
		if _, err := drops.ExecContext(ectx, d.Reason, d.Count, nullString(d.Example)); err != nil {
			return fmt.Errorf("count drops (%s): %w", d.Reason, err)
		}
	}
	return nil
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullInt stores 0 as NULL.
func nullInt(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}

// jsonList stores an empty list as NULL and others as a JSON array.
func jsonList(l []string) (any, error) {
	if len(l) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}
