package storage

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

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
		ws.journaled = ws.saved
		return 0, fmt.Errorf("write batch of %d visits: %w", len(batch), err)
	}
	if err := tx.Commit(); err != nil {
		ws.journaled = ws.saved
		return 0, fmt.Errorf("write batch of %d visits: commit: %w", len(batch), err)
	}
	ws.saved = ws.journaled
	return added, nil
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

// writeBatch writes the batch's rows table by table: fetched URLs unknown
// to url and redirect targets (a redirect target is never queued: its row
// is in url before the inbox is merged), the queue entries of what was
// fetched, pages, the discovered URLs into the inbox, links and the text of
// link targets never queued. It returns how many rows it added to the inbox.
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
		return 0, fmt.Errorf("add %d fetched URLs: %w", len(ws.marks), err)
	}
	if err := ws.writeDequeue(ectx, tx); err != nil {
		return 0, fmt.Errorf("dequeue %d fetched URLs: %w", len(ws.dequeued), err)
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
	if ws.journaled != ws.saved {
		if _, err := tx.StmtContext(ectx, ws.saveJournal).ExecContext(ectx, int64(ws.journaled)); err != nil {
			return 0, fmt.Errorf("save the visit journal's place: %w", err)
		}
	}
	return added, nil
}

// reset drops the batch's rows (and their strings) from the buffers.
func (ws *writeStmts) reset() {
	clear(ws.marks)
	clear(ws.seqs)
	ws.dequeued = ws.dequeued[:0]
	clear(ws.inboxd)
	clear(ws.others)
	clear(ws.args)
	ws.marks, ws.inboxd, ws.links, ws.others = ws.marks[:0], ws.inboxd[:0], ws.links[:0], ws.others[:0]
}

// check reports what makes v impossible to store.
func (v *Visit) check() error {
	if len(v.Links) > 0 && v.Page == nil {
		return fmt.Errorf("links of a visit without its page (first: %s)", v.Links[0].Dst)
	}
	if v.Page != nil && v.Page.URL == "" {
		return errors.New("page without a URL")
	}
	return nil
}

// collect sorts the batch's rows into the buffers: fetched URLs (their
// queue entries, or marks when their seq is unknown) and redirect targets
// (marks), discovered URLs (for the inbox, numbered in batch order), links
// and the targets to keep in other_urls.
func (ws *writeStmts) collect(ctx context.Context, tx *sql.Tx, batch []Visit, now string) error {
	for i := range batch {
		v := &batch[i]
		crawlID := nullInt(v.CrawlID)
		if err := v.check(); err != nil {
			return err
		}
		var pageID int64
		if p := v.Page; p != nil {
			p.ID = idOf(p.ID, p.URL)
			pageID = p.ID
			hid, err := ws.hostID(ctx, tx, p.Host)
			if err != nil {
				return err
			}
			if p.Seq > 0 { // leased: its url row stays as it is
				ws.seqs[p.ID] = p.Seq
				ws.dequeued = append(ws.dequeued, queueRow{hostID: hid, seq: p.Seq})
			} else {
				// A URL fetched without being queued first gets a place in
				// the queue order too: its page is keyed by it.
				ws.marks = append(ws.marks, urlRow{id: p.ID, url: p.URL, hostID: hid, depth: p.Depth,
					seq: ws.takeSeq(), crawlID: crawlID})
			}
		}
		for _, a := range v.Aliases { // redirect targets: done, never fetched on their own
			hid, err := ws.hostID(ctx, tx, a.Host)
			if err != nil {
				return err
			}
			ws.marks = append(ws.marks, urlRow{id: idOf(a.ID, a.URL), url: a.URL, hostID: hid, depth: a.Depth,
				seq: ws.takeSeq(), crawlID: crawlID})
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
				seq: u.Seq, crawlID: crawlID})
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
	// The transaction's statements, made once a batch (each StmtContext
	// allocates): the text's two were made again for every page.
	var page, touch, drop, text, pendText *sql.Stmt
	for i := range batch {
		p := batch[i].Page
		if p == nil {
			continue
		}
		if page == nil {
			page, touch, drop = tx.StmtContext(ctx, ws.page), tx.StmtContext(ctx, ws.touch), tx.StmtContext(ctx, ws.dropLinks)
			text, pendText = tx.StmtContext(ctx, ws.text), tx.StmtContext(ctx, ws.pendText)
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
		failed := p.Error != "" && !p.Answered
		var warcOffset any // NULL when not archived (a record's offset may be 0)
		if p.WARCFile != "" {
			warcOffset = p.WARCOffset
		}
		finalURL := p.FinalURL
		if finalURL == p.URL && p.Status > 0 {
			finalURL = "" // the view shows the URL itself
		}
		if _, err := page.ExecContext(ctx, seq, p.ID, nullString(finalURL), p.Status,
			nullString(p.ContentType), nullString(p.Title), fetchedAt, p.Duration.Milliseconds(),
			p.Size, p.Truncated, nullString(p.ContentHash), nullString(p.Canonical), redirects,
			attempts, nullString(p.Error), crawlID, nullString(p.ErrorClass), nullString(p.Charset),
			p.NoIndex, p.NoFollow, p.LinksCapped, simhash, nullString(p.ETag), nullString(p.LastMod), failed,
			nullString(p.Lang), nullString(p.WARCFile), warcOffset); err != nil {
			return fmt.Errorf("page %s: %w", p.URL, err)
		}
		if p.Refetch { // a refetch replaces its links and text
			if _, err := drop.ExecContext(ctx, seq); err != nil {
				return fmt.Errorf("page %s: clear old links: %w", p.URL, err)
			}
			for _, st := range []*sql.Stmt{ws.dropText, ws.dropText2} {
				if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, seq); err != nil {
					return fmt.Errorf("page %s: clear old text: %w", p.URL, err)
				}
			}
		}
		if p.Text != "" {
			if _, err := text.ExecContext(ctx, seq, nullString(p.Title), p.Text); err != nil {
				return fmt.Errorf("page %s: text: %w", p.URL, err)
			}
			if _, err := pendText.ExecContext(ctx, seq); err != nil {
				return fmt.Errorf("page %s: text: %w", p.URL, err)
			}
		}
	}
	return nil
}

// writeMarks adds the batch's marks (fetched URLs of unknown seq, redirect
// targets) to url when new, and learns each one's seq (ws.seqs), which keys
// a page and its links, and its queue entry (ws.dequeued).
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
				args = append(args, r.id, r.url, r.hostID, r.depth, r.seq, r.crawlID)
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

// readSeqs runs st, which returns the (id, seq) of marks, into ws.seqs and
// ws.dequeued.
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
		i, ok := slices.BinarySearchFunc(ws.marks, id, func(r urlRow, id int64) int { return cmp.Compare(r.id, id) })
		if !ok {
			return fmt.Errorf("url %d returned by no mark", id)
		}
		ws.dequeued = append(ws.dequeued, queueRow{hostID: ws.marks[i].hostID, seq: seq})
	}
	return res.Err()
}

// writeDequeue deletes the queue entries of the batch's fetched URLs and
// redirect targets, in key order.
func (ws *writeStmts) writeDequeue(ctx context.Context, tx *sql.Tx) error {
	slices.SortFunc(ws.dequeued, func(a, b queueRow) int {
		return cmp.Or(cmp.Compare(a.hostID, b.hostID), cmp.Compare(a.seq, b.seq))
	})
	ws.dequeued = slices.Compact(ws.dequeued)
	return ws.run(ctx, tx, &ws.dequeue, len(ws.dequeued), func(i int, args []any) []any {
		return append(args, ws.dequeued[i].hostID, ws.dequeued[i].seq)
	})
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
