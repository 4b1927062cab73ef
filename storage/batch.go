package storage

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Statements of the writer. Rows of one table go in as multi-row statements
// (head, then chunk copies of row joined by commas, then tail), the rows of
// the whole batch sorted by key, so that each B-tree is walked once in order.
const (
	// markHead/markTail set the state of fetched URLs and redirect targets,
	// adding those not queued before, so that the seen-set stays complete.
	markHead  = `INSERT INTO url (id, url, host_id, depth, state, seq, crawl_id) VALUES `
	markTail  = ` ON CONFLICT (id) DO UPDATE SET state = excluded.state RETURNING id, seq`
	urlValues = `(?, ?, ?, ?, ?, ?, ?)`

	inboxHead   = `INSERT INTO inbox (seq, id, url, host_id, depth, crawl_id) VALUES `
	inboxValues = `(?, ?, ?, ?, ?, ?)`

	// mergeInbox queues the inbox's URLs that url does not have, in key
	// order (one sorted pass over the B-tree), the first discovery of a URL
	// winning, and returns them. The WHERE is SQLite's way of telling an
	// upsert's ON from a join's.
	mergeInbox = `INSERT INTO url (id, url, host_id, depth, state, seq, crawl_id)
SELECT id, url, host_id, depth, 0, seq, crawl_id FROM inbox WHERE true ORDER BY id, seq
ON CONFLICT (id) DO NOTHING RETURNING id, url, host_id, depth, seq`
	clearInbox = `DELETE FROM inbox`
	countInbox = `SELECT count(*) FROM inbox`
	hostName   = `SELECT host FROM hosts WHERE id = ?`

	linkHead   = `INSERT INTO link (page_seq, dst_id, nofollow) VALUES `
	linkValues = `(?, ?, ?)`
	linkTail   = ` ON CONFLICT DO NOTHING`

	otherHead   = `INSERT INTO other_urls (id, url) VALUES `
	otherValues = `(?, ?)`
	otherTail   = ` ON CONFLICT DO NOTHING`

	// insertPage replaces the row of a URL fetched again.
	insertPage = `INSERT INTO page (seq, id, final_url, status, content_type, title, fetched_at,
	duration_ms, size_bytes, truncated, content_hash, canonical, redirects, attempts, error, crawl_id,
	error_class, charset, noindex, nofollow, links_capped, simhash, etag, last_modified, unchanged)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
ON CONFLICT (seq) DO UPDATE SET id = excluded.id, final_url = excluded.final_url,
	status = excluded.status, content_type = excluded.content_type, title = excluded.title,
	fetched_at = excluded.fetched_at, duration_ms = excluded.duration_ms,
	size_bytes = excluded.size_bytes, truncated = excluded.truncated, content_hash = excluded.content_hash,
	canonical = excluded.canonical, redirects = excluded.redirects, attempts = excluded.attempts,
	error = excluded.error, crawl_id = excluded.crawl_id, error_class = excluded.error_class,
	charset = excluded.charset, noindex = excluded.noindex, nofollow = excluded.nofollow,
	links_capped = excluded.links_capped, simhash = excluded.simhash, etag = excluded.etag,
	last_modified = excluded.last_modified, unchanged = 0`

	// touchPage records a 304 on a recrawl: the stored content stays.
	touchPage = `UPDATE page SET fetched_at = ?, duration_ms = ?, attempts = ?, crawl_id = ?, unchanged = 1,
	error = NULL, error_class = NULL WHERE seq = ?`

	// dropLinks clears a refetched page's old links before its new ones go in.
	dropLinks = `DELETE FROM link WHERE page_seq = ?`

	// hostID returns a host's id, adding the host when it is new.
	hostID = `INSERT INTO hosts (host) VALUES (?) ON CONFLICT (host) DO UPDATE SET host = excluded.host RETURNING id`

	readSeq = `SELECT value FROM counters WHERE name = 'seq'`
	saveSeq = `UPDATE counters SET value = ? WHERE name = 'seq'`

	// countDrops adds to a reason's tally.
	countDrops = `INSERT INTO drops (reason, count, example) VALUES (?, ?, ?)
ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count, example = excluded.example`

	insertSitemap = `INSERT OR IGNORE INTO sitemaps (host, url, found_at) VALUES (?, ?, ?)`
)

// URL states as stored in url.state.
const (
	stateQueued = 0
	stateLeased = 1 // reserved for a crawl shared by several processes
	stateDone   = 2
	stateFailed = 3
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
	page, touch, dropLinks, host, saveSeq, drops, sitemap, merge, clear, hostName *sql.Stmt
	mark, inbox, link, other                                                      multiRow

	nextSeq   int64            // url.seq of the next URL queued
	seqs      map[int64]int64  // url.seq by url.id of the batch's visited URLs
	pending   int              // rows in the inbox, committed
	hostIDs   map[string]int64 // hosts.id by host, for hosts committed or in this batch
	hostNames map[int64]string // the reverse of hostIDs
	args      []any            // reused argument buffer

	marks  []urlRow
	inboxd []urlRow
	links  []linkRow
	others []otherRow
}

type urlRow struct {
	id, hostID, seq int64
	url             string
	depth, state    int
	crawlID         any
}

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
		{&ws.saveSeq, saveSeq}, {&ws.drops, countDrops}, {&ws.sitemap, insertSitemap},
		{&ws.merge, mergeInbox}, {&ws.clear, clearInbox}, {&ws.hostName, hostName}}
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
	}{{&ws.mark, markHead, urlValues, markTail}, {&ws.inbox, inboxHead, inboxValues, ""},
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
	if err := db.rw.QueryRowContext(ctx, countInbox).Scan(&ws.pending); err != nil {
		ws.close()
		return nil, fmt.Errorf("count the inbox: %w", err)
	}
	return ws, nil
}

func (ws *writeStmts) close() {
	for _, st := range []*sql.Stmt{ws.page, ws.touch, ws.dropLinks, ws.host, ws.saveSeq, ws.drops, ws.sitemap, ws.merge, ws.clear, ws.hostName} {
		if st != nil {
			st.Close()
		}
	}
	for _, m := range []*multiRow{&ws.mark, &ws.inbox, &ws.link, &ws.other} {
		for _, st := range m {
			if st != nil {
				st.Close()
			}
		}
	}
}

// commit writes c.Batch in one transaction, then merges the inbox when merge
// is set or the inbox reaches mergeAt, filling c.Queued and c.Merged. On a
// failed batch the host ids learnt in it are forgotten (they were rolled back
// with it).
func (db *DB) commit(ctx context.Context, ws *writeStmts, c *Commit, mergeAt int, merge bool) error {
	batch := c.Batch
	if ws == nil {
		return fmt.Errorf("write batch of %d visits: %w", len(batch), errNoStatements)
	}
	added, err := db.commitTx(ctx, ws, batch)
	if err != nil {
		clear(ws.hostIDs)
		clear(ws.hostNames)
		return err
	}
	ws.pending += added
	if !merge && ws.pending < mergeAt {
		return nil
	}
	queued, err := ws.mergeInbox(context.WithoutCancel(ctx))
	if err == nil || queued != nil {
		c.Queued, c.Merged = queued, ws.pending
	}
	if err != nil {
		// The batch is stored; the inbox keeps its rows for the next merge.
		return fmt.Errorf("merge %d discovered URLs: %w", ws.pending, err)
	}
	ws.pending = 0
	return nil
}

// commitTx runs the batch's transaction and returns how many rows it added
// to the inbox.
func (db *DB) commitTx(ctx context.Context, ws *writeStmts, batch []Visit) (int, error) {
	tx, err := db.rw.BeginTx(ctx, nil) // database/sql rolls it back if ctx ends
	if err != nil {
		return 0, fmt.Errorf("write batch of %d visits: begin: %w", len(batch), err)
	}
	defer tx.Rollback() // after Commit, a no-op returning sql.ErrTxDone
	added, err := ws.writeBatch(ctx, tx, batch)
	if err != nil {
		return 0, fmt.Errorf("write batch of %d visits: %w", len(batch), err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("write batch of %d visits: commit: %w", len(batch), err)
	}
	return added, nil
}

// mergeInbox queues the inbox's new URLs and empties it, and returns the
// URLs queued, in queue order. The merge is one statement in a transaction
// of its own: inside a larger one SQLite would keep a statement journal of
// every page it changes (all of url's leaves, held in memory), and on its
// own it needs none. Emptying the inbox is a second one: a crash between
// the two leaves URLs in the inbox that are in url already, which the next
// merge finds known.
func (ws *writeStmts) mergeInbox(ctx context.Context) ([]URL, error) {
	rows, err := ws.merge.QueryContext(ctx)
	if err != nil {
		return nil, err
	}
	var queued []URL
	var hostIDs []int64
	for rows.Next() {
		var u URL
		var hid int64
		if err := rows.Scan(&u.ID, &u.URL, &hid, &u.Depth, &u.Seq); err != nil {
			rows.Close()
			return nil, err
		}
		queued = append(queued, u)
		hostIDs = append(hostIDs, hid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, hid := range hostIDs {
		if queued[i].Host, err = ws.hostOf(ctx, hid); err != nil {
			return nil, err // nothing is lost: the URLs are queued in url, and leased back by host
		}
	}
	slices.SortFunc(queued, func(a, b URL) int { return cmp.Compare(a.Seq, b.Seq) })
	if _, err := ws.clear.ExecContext(ctx); err != nil {
		// The merge is committed: report what it queued. The inbox keeps its
		// rows, which the next merge finds known.
		return queued, fmt.Errorf("empty the inbox: %w", err)
	}
	return queued, nil
}

// hostOf returns the name of the host with id hid.
func (ws *writeStmts) hostOf(ctx context.Context, hid int64) (string, error) {
	if h, ok := ws.hostNames[hid]; ok {
		return h, nil
	}
	var h string
	if err := ws.hostName.QueryRowContext(ctx, hid).Scan(&h); err != nil {
		return "", fmt.Errorf("host %d: %w", hid, err)
	}
	ws.remember(h, hid)
	return h, nil
}

// remember records host's id in both maps, bounded by maxHostIDs.
func (ws *writeStmts) remember(host string, id int64) {
	if len(ws.hostIDs) >= maxHostIDs {
		clear(ws.hostIDs)
		clear(ws.hostNames)
	}
	ws.hostIDs[host] = id
	ws.hostNames[id] = host
}

// errNoStatements stands for the writer's statements failing to prepare.
var errNoStatements = errors.New("writer statements not prepared")

// writeBatch writes the batch's rows table by table: pages, the states of
// visited URLs (a redirect target recorded as done is never queued: its row
// is in url before the inbox is merged), the discovered URLs into the inbox,
// links and the text of link targets never queued. It returns how many rows
// it added to the inbox.
func (ws *writeStmts) writeBatch(ctx context.Context, tx *sql.Tx, batch []Visit) (int, error) {
	// With a cancellable ctx, go-sqlite3 runs every Exec on a new goroutine
	// so that it can interrupt it. Rows are microseconds each, so they run
	// without that watch; the transaction as a whole still ends with ctx.
	ectx := context.WithoutCancel(ctx)
	now := formatTime(time.Now())
	defer ws.reset()
	if err := ws.collect(ectx, tx, batch, now); err != nil {
		return 0, err
	}
	if err := ws.writeMarks(ectx, tx); err != nil {
		return 0, fmt.Errorf("mark %d visited URLs: %w", len(ws.marks), err)
	}
	if err := ws.writePages(ectx, tx, batch, now); err != nil {
		return 0, err
	}
	added := len(ws.inboxd)
	err := ws.run(ectx, tx, &ws.inbox, added, func(i int, args []any) []any {
		r := &ws.inboxd[i]
		return append(args, r.seq, r.id, r.url, r.hostID, r.depth, r.crawlID)
	})
	if err != nil {
		return 0, fmt.Errorf("keep %d discovered URLs: %w", added, err)
	}
	if err := ws.writeLinks(ectx, tx); err != nil {
		return 0, err
	}
	if err := ws.writeDrops(ectx, tx, batch, now); err != nil {
		return 0, err
	}
	if _, err := tx.StmtContext(ectx, ws.saveSeq).ExecContext(ectx, ws.nextSeq); err != nil {
		return 0, fmt.Errorf("save queue sequence: %w", err)
	}
	return added, nil
}

// reset drops the batch's rows (and their strings) from the buffers.
func (ws *writeStmts) reset() {
	clear(ws.marks)
	clear(ws.seqs)
	clear(ws.inboxd)
	clear(ws.others)
	clear(ws.args)
	ws.marks, ws.inboxd, ws.links, ws.others = ws.marks[:0], ws.inboxd[:0], ws.links[:0], ws.others[:0]
}

// collect sorts the batch's rows into the buffers: visited URLs and
// redirect targets (marks), discovered URLs (for the inbox, numbered in
// batch order), links and the targets to keep in other_urls.
func (ws *writeStmts) collect(ctx context.Context, tx *sql.Tx, batch []Visit, now string) error {
	for i := range batch {
		v := &batch[i]
		crawlID := nullInt(v.CrawlID)
		if len(v.Links) > 0 && v.Page == nil {
			return fmt.Errorf("links of a visit without its page (first: %s)", v.Links[0].Dst)
		}
		var pageID int64
		if p := v.Page; p != nil {
			if p.URL == "" {
				return errors.New("page without a URL")
			}
			p.ID = idOf(p.ID, p.URL)
			pageID = p.ID
			hid, err := ws.hostID(ctx, tx, p.Host)
			if err != nil {
				return err
			}
			state := stateDone
			if p.Error != "" && !p.Answered {
				state = stateFailed
			}
			// A URL fetched without being queued first gets a place in the
			// queue too: Requeue queues it again, and Lease reads seq > after
			// from after = 0, so a seq of 0 would never be leased back.
			ws.marks = append(ws.marks, urlRow{id: p.ID, url: p.URL, hostID: hid, depth: p.Depth, state: state,
				seq: ws.takeSeq(), crawlID: crawlID})
		}
		for _, a := range v.Aliases { // redirect targets: done, never fetched on their own
			hid, err := ws.hostID(ctx, tx, a.Host)
			if err != nil {
				return err
			}
			ws.marks = append(ws.marks, urlRow{id: idOf(a.ID, a.URL), url: a.URL, hostID: hid, depth: a.Depth,
				state: stateDone, seq: ws.takeSeq(), crawlID: crawlID})
		}
		for j := range v.Discovered {
			u := &v.Discovered[j]
			u.ID = idOf(u.ID, u.URL)
			hid, err := ws.hostID(ctx, tx, u.Host)
			if err != nil {
				return err
			}
			u.Seq = ws.takeSeq()
			ws.inboxd = append(ws.inboxd, urlRow{id: u.ID, url: u.URL, hostID: hid, depth: u.Depth,
				state: stateQueued, seq: u.Seq, crawlID: crawlID})
		}
		for j := range v.Links {
			l := &v.Links[j]
			l.DstID = idOf(l.DstID, l.Dst)
			ws.links = append(ws.links, linkRow{page: pageID, dst: l.DstID, nofollow: l.Nofollow, order: len(ws.links)})
			if !l.Queued {
				ws.others = append(ws.others, otherRow{id: l.DstID, url: l.Dst})
			}
		}
	}
	slices.SortFunc(ws.marks, func(a, b urlRow) int { return cmp.Compare(a.id, b.id) })
	slices.SortFunc(ws.others, func(a, b otherRow) int { return cmp.Compare(a.id, b.id) })
	ws.marks = slices.CompactFunc(ws.marks, func(a, b urlRow) bool { return a.id == b.id })
	ws.others = slices.CompactFunc(ws.others, func(a, b otherRow) bool { return a.id == b.id })
	return nil
}

// takeSeq returns the next queue sequence number.
func (ws *writeStmts) takeSeq() int64 {
	s := ws.nextSeq
	ws.nextSeq++
	return s
}

// hostID returns host's id in the hosts table, adding it when new.
func (ws *writeStmts) hostID(ctx context.Context, tx *sql.Tx, host string) (int64, error) {
	if id, ok := ws.hostIDs[host]; ok {
		return id, nil
	}
	var id int64
	if err := tx.StmtContext(ctx, ws.host).QueryRowContext(ctx, host).Scan(&id); err != nil {
		return 0, fmt.Errorf("host %q: %w", host, err)
	}
	ws.remember(host, id)
	return id, nil
}

// writePages upserts each visit's page row (or touches it on a 304) and
// clears a refetched page's old links.
func (ws *writeStmts) writePages(ctx context.Context, tx *sql.Tx, batch []Visit, now string) error {
	var page, touch, drop *sql.Stmt
	for i := range batch {
		p := batch[i].Page
		if p == nil {
			continue
		}
		if page == nil {
			page, touch, drop = tx.StmtContext(ctx, ws.page), tx.StmtContext(ctx, ws.touch), tx.StmtContext(ctx, ws.dropLinks)
		}
		seq, ok := ws.seqs[p.ID]
		if !ok {
			return fmt.Errorf("page %s: its URL has no seq", p.URL)
		}
		crawlID := nullInt(batch[i].CrawlID)
		fetchedAt := now
		if !p.FetchedAt.IsZero() {
			fetchedAt = formatTime(p.FetchedAt)
		}
		attempts := max(p.Attempts, 1)
		if p.Unchanged {
			res, err := touch.ExecContext(ctx, fetchedAt, p.Duration.Milliseconds(), attempts, crawlID, seq)
			if err != nil {
				return fmt.Errorf("page %s unchanged: %w", p.URL, err)
			}
			if n, err := res.RowsAffected(); err == nil && n > 0 {
				continue
			}
		}
		redirects, err := jsonList(p.Redirects)
		if err != nil {
			return fmt.Errorf("page %s: redirects: %w", p.URL, err)
		}
		var simhash any
		if p.SimHash != 0 {
			simhash = int64(p.SimHash) // SQLite integers are signed; the bits are kept
		}
		finalURL := p.FinalURL
		if finalURL == p.URL && p.Status > 0 {
			finalURL = "" // the view shows the URL itself
		}
		if _, err := page.ExecContext(ctx, seq, p.ID, nullString(finalURL), p.Status,
			nullString(p.ContentType), nullString(p.Title), fetchedAt, p.Duration.Milliseconds(),
			p.Size, p.Truncated, nullString(p.ContentHash), nullString(p.Canonical), redirects,
			attempts, nullString(p.Error), crawlID, nullString(p.ErrorClass), nullString(p.Charset),
			p.NoIndex, p.NoFollow, p.LinksCapped, simhash, nullString(p.ETag), nullString(p.LastMod)); err != nil {
			return fmt.Errorf("page %s: %w", p.URL, err)
		}
		if p.Refetch { // a refetch replaces its links
			if _, err := drop.ExecContext(ctx, seq); err != nil {
				return fmt.Errorf("page %s: clear old links: %w", p.URL, err)
			}
		}
	}
	return nil
}

// writeMarks upserts the states of the batch's visited URLs and redirect
// targets and learns each one's seq (ws.seqs), which keys its page and links.
func (ws *writeStmts) writeMarks(ctx context.Context, tx *sql.Tx) error {
	rows := ws.marks
	done := 0
	for i, size := range chunks {
		if len(rows)-done < size {
			continue
		}
		st := tx.StmtContext(ctx, ws.mark[i])
		for len(rows)-done >= size {
			args := ws.args[:0]
			for _, r := range rows[done : done+size] {
				args = append(args, r.id, r.url, r.hostID, r.depth, r.state, r.seq, r.crawlID)
			}
			ws.args = args
			if err := ws.readSeqs(ctx, st, args); err != nil {
				return err
			}
			done += size
		}
	}
	return nil
}

// readSeqs runs st, which returns (id, seq) rows, into ws.seqs.
func (ws *writeStmts) readSeqs(ctx context.Context, st *sql.Stmt, args []any) error {
	res, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer res.Close()
	for res.Next() {
		var id, seq int64
		if err := res.Scan(&id, &seq); err != nil {
			return err
		}
		ws.seqs[id] = seq
	}
	return res.Err()
}

// writeLinks inserts the batch's links (keyed by their page's seq, which
// writeMarks learnt) and the targets kept in other_urls.
func (ws *writeStmts) writeLinks(ctx context.Context, tx *sql.Tx) error {
	for i := range ws.links {
		seq, ok := ws.seqs[ws.links[i].page]
		if !ok {
			return fmt.Errorf("links of page %d: its URL has no seq", ws.links[i].page)
		}
		ws.links[i].page = seq
	}
	slices.SortFunc(ws.links, func(a, b linkRow) int {
		return cmp.Or(cmp.Compare(a.page, b.page), cmp.Compare(a.dst, b.dst), cmp.Compare(a.order, b.order))
	})
	ws.links = slices.CompactFunc(ws.links, func(a, b linkRow) bool { return a.page == b.page && a.dst == b.dst })
	err := ws.run(ctx, tx, &ws.link, len(ws.links), func(i int, args []any) []any {
		l := &ws.links[i]
		return append(args, l.page, l.dst, l.nofollow)
	})
	if err != nil {
		return fmt.Errorf("insert %d links: %w", len(ws.links), err)
	}
	err = ws.run(ctx, tx, &ws.other, len(ws.others), func(i int, args []any) []any {
		return append(args, ws.others[i].id, ws.others[i].url)
	})
	if err != nil {
		return fmt.Errorf("insert %d link targets: %w", len(ws.others), err)
	}
	return nil
}

// run executes n rows through m bound to tx, in as few statements as chunks
// allow; row appends the arguments of row i to args.
func (ws *writeStmts) run(ctx context.Context, tx *sql.Tx, m *multiRow, n int, row func(i int, args []any) []any) error {
	done := 0
	for i, size := range chunks {
		if n-done < size {
			continue
		}
		st := tx.StmtContext(ctx, m[i])
		for n-done >= size {
			args := ws.args[:0]
			for r := done; r < done+size; r++ {
				args = row(r, args)
			}
			ws.args = args
			if _, err := st.ExecContext(ctx, args...); err != nil {
				return err
			}
			done += size
		}
	}
	return nil
}

// writeDrops adds the batch's drops by reason and records sitemaps.
func (ws *writeStmts) writeDrops(ctx context.Context, tx *sql.Tx, batch []Visit, now string) error {
	var dropped map[string]Drop // the batch's drops by reason, written once per reason
	var sitemap *sql.Stmt
	for i := range batch {
		v := &batch[i]
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
			if sitemap == nil {
				sitemap = tx.StmtContext(ctx, ws.sitemap)
			}
			if _, err := sitemap.ExecContext(ctx, sm.Host, sm.URL, now); err != nil {
				return fmt.Errorf("sitemap %s of %s: %w", sm.URL, sm.Host, err)
			}
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	drops := tx.StmtContext(ctx, ws.drops)
	for _, d := range dropped {
		if _, err := drops.ExecContext(ctx, d.Reason, d.Count, nullString(d.Example)); err != nil {
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
