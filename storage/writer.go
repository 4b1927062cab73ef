package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Write is the single writer: it receives visits from rows until the channel
// is closed. It makes them durable in groups: each group is whatever has
// queued up since the last one (at most cfg.BatchSize, lingering
// cfg.FlushEvery for more if set), appended to the visit journal (PATH.visits)
// in one write. It then calls committed with the group (Commit.Batch), and
// applies journaled visits to SQLite many groups at a time (cfg.ApplyAt
// visits, or after cfg.ApplyEvery, or when a visit asks for a merge, or at
// the end), calling committed again with what that transaction queued
// (Commit.Queued, Commit.Merged). With cfg.ApplyAt 1 there is no journal:
// each group is one SQLite transaction, reported once with everything.
//
// committed runs on Write's goroutine and must not keep the batch: its
// backing array is reused. A failed group or transaction is reported with
// Commit.Err; Write goes on receiving and returns the first error once rows
// is closed and drained. Journaled visits whose transaction failed stay in
// the journal and are applied when the file is next written (LockCrawl or
// Write). Once rows is closed, everything is applied and the inbox merged:
// a writer that ends normally leaves every discovered URL queued or known.
//
// ctx is used for the database calls only; pass context.WithoutCancel of the
// crawl's context so that the final flush happens after a Ctrl-C. Only one
// Write may run on a DB at a time.
func (db *DB) Write(ctx context.Context, cfg WriterConfig, rows <-chan Visit, committed func(Commit)) error {
	w := db.newWriter(ctx, cfg.withDefaults(), committed)
	defer w.close()
	w.run(rows)
	db.log.LogAttrs(ctx, slog.LevelInfo, "writer stopped",
		slog.Int("visits", w.visits), slog.Int("transactions", w.txs), slog.Int("failed", w.failed))
	return w.firstErr
}

// writer is one Write's state.
type writer struct {
	db        *DB
	ctx       context.Context
	cfg       WriterConfig
	committed func(Commit)
	ws        *writeStmts // nil when the statements did not prepare (prepErr says why)
	prepErr   error
	j         *journal // nil without a journal (ApplyAt 1, or it could not be opened)

	batch    []Visit // received, not yet durable
	pending  []Visit // journaled, not yet applied
	held     int     // bytes of text, links and discovered URLs in pending, about
	last     uint64  // number of the last journal record written
	apply    *time.Timer
	armed    bool // apply is running for pending
	cacheKiB int  // the write connection's page cache, as last set
	// textBytes is how many bytes of page text this writer has committed:
	// the part of the file that sizeCache does not count.
	textBytes int64

	firstErr            error
	visits, txs, failed int
}

func (db *DB) newWriter(ctx context.Context, cfg WriterConfig, committed func(Commit)) *writer {
	w := &writer{db: db, ctx: ctx, cfg: cfg, committed: committed, batch: make([]Visit, 0, cfg.BatchSize)}
	w.apply = time.NewTimer(cfg.ApplyEvery)
	w.apply.Stop()
	w.ws, w.prepErr = db.prepareWrite(ctx) // on failure every group reports it; receiving goes on
	if w.ws == nil || cfg.ApplyAt <= 1 {
		return w
	}
	// Replay what an earlier writer journaled and did not apply, before the
	// journal is emptied; if that fails the journal is left alone and every
	// group reports why.
	last, err := w.ws.journaled, error(nil)
	if !db.replayed.Swap(false) { // LockCrawl replayed it just now; a later Write (or one without the lock) replays here
		last, err = db.replayJournal(ctx, w.ws)
	}
	if err != nil {
		w.prepErr = err
		w.ws.close()
		w.ws = nil
		return w
	}
	if w.j, err = openJournal(journalPath(db.abs), last); err != nil {
		db.log.Warn("visits are committed one group at a time", "err", err)
		w.j = nil
	}
	w.last = last
	return w
}

func (w *writer) close() {
	w.apply.Stop()
	if w.j != nil {
		w.j.close()
	}
	if w.ws != nil {
		w.ws.close()
	}
}

// run receives until rows is closed, then applies everything.
func (w *writer) run(rows <-chan Visit) {
	linger := time.NewTimer(w.cfg.FlushEvery)
	linger.Stop()
	defer linger.Stop()
	for {
		var due <-chan time.Time
		if len(w.pending) > 0 {
			if !w.armed {
				w.apply.Reset(w.cfg.ApplyEvery)
				w.armed = true
			}
			due = w.apply.C
		}
		select {
		case v, ok := <-rows:
			if !ok {
				w.flush(true)
				return
			}
			w.batch = append(w.batch, v)
			closed := w.gather(rows, linger)
			w.flush(false)
			if closed {
				w.flush(true)
				return
			}
		case <-due:
			w.armed = false
			w.applyPending(false)
		}
	}
}

// gather adds to the batch what is already waiting in rows (up to
// BatchSize), lingering FlushEvery for more, and reports whether rows was
// closed. A sender that waits for its visit to be durable (the crawl's
// workers do) loses at most the visits in flight to a crash.
func (w *writer) gather(rows <-chan Visit, timer *time.Timer) (closed bool) {
	var linger <-chan time.Time
	if w.cfg.FlushEvery > 0 {
		timer.Reset(w.cfg.FlushEvery)
		linger = timer.C
		defer timer.Stop()
	}
	return gather(w.cfg.BatchSize, rows, &w.batch, linger)
}

// flush makes the batch durable: journaled and reported, then applied when
// enough is pending, a merge is asked for, or this is the final flush.
// Without a journal it commits the batch to SQLite at once.
func (w *writer) flush(final bool) {
	merge := final && w.ws != nil && w.ws.pending > 0
	for i := range w.batch {
		merge = merge || w.batch[i].Merge
	}
	defer func() {
		clear(w.batch) // drop references to pages and links before reuse
		w.batch = w.batch[:0]
	}()
	if w.j == nil {
		if len(w.batch) > 0 || merge {
			w.commit(w.batch, merge)
		}
		return
	}
	for i := range w.batch {
		if err := w.batch[i].check(); err != nil {
			// Refused before it is journaled, so that it cannot fail the
			// transaction of the visits applied with it (or their replay).
			w.report(Commit{Batch: w.batch}, fmt.Errorf("write batch of %d visits: %w", len(w.batch), err), 0)
			return
		}
	}
	if stored(w.batch) {
		n, err := w.j.append(w.batch)
		if err != nil {
			w.report(Commit{Batch: w.batch}, err, 0)
			return
		}
		w.last = n
	}
	if len(w.batch) > 0 {
		w.report(Commit{Batch: w.batch}, nil, -1)
		for _, v := range w.batch {
			v.Ack = nil
			w.pending = append(w.pending, v)
			w.held += v.size()
		}
	}
	if final || merge || len(w.pending) >= w.cfg.ApplyAt || w.held >= applyBytes {
		w.applyPending(merge || final)
	}
}

// sizeCache grows the write connection's page cache with the file: half its
// size, between writerCacheMinKiB and writerCacheKiB. SQLite fills a cache
// before it evicts, so a 32 MiB cache held all of a small crawl's file (4 MiB
// more RSS for 1,000 pages of text), while a large crawl needs it for the
// interior pages and hot leaves of its B-trees. The page text this writer
// stored is not counted: its pages are written once and not read back by the
// writer, so caching them buys nothing.
func (w *writer) sizeCache() {
	if w.cacheKiB >= writerCacheKiB {
		return
	}
	var pages, size int64
	if err := w.db.rw.QueryRowContext(w.ctx, `SELECT page_count, page_size FROM pragma_page_count, pragma_page_size`).Scan(&pages, &size); err != nil {
		return // the cache stays as it is
	}
	hot := max(pages*size-w.textBytes, 0)
	want := min(max(hot/2048, writerCacheMinKiB), writerCacheKiB)
	if int(want) <= w.cacheKiB {
		return
	}
	if _, err := w.db.rw.ExecContext(w.ctx, fmt.Sprintf("PRAGMA cache_size = -%d", want)); err == nil {
		w.cacheKiB = int(want)
	}
}

// applyBytes bounds the memory of the visits held for the next transaction:
// with pages of text, 512 visits held 1.7 MiB of strings, which the garbage
// collector's heap goal tripled (a 1,000-page crawl peaked at 37 MiB RSS;
// 33 MiB with this bound, and with 256 KiB the crawlbench site cost 3-8 %
// more CPU per page).
const applyBytes = 1 << 20

// textBytes is how many bytes of page text visits hold.
func textBytes(visits []Visit) int64 {
	var n int64
	for i := range visits {
		if p := visits[i].Page; p != nil {
			n += int64(len(p.Text))
		}
	}
	return n
}

// size is about how many bytes of strings v holds.
func (v *Visit) size() int {
	n := 0
	if v.Page != nil {
		n += len(v.Page.Text) + len(v.Page.URL) + len(v.Page.Title) + 256
	}
	for i := range v.Links {
		n += len(v.Links[i].Dst) + 32
	}
	for i := range v.Discovered {
		n += len(v.Discovered[i].URL) + 64
	}
	return n
}

// stored reports whether any of visits holds something to store (not only
// a merge request).
func stored(visits []Visit) bool {
	for i := range visits {
		v := &visits[i]
		if v.Page != nil || len(v.Discovered) > 0 || len(v.Aliases) > 0 || len(v.Sitemaps) > 0 || len(v.Drops) > 0 {
			return true
		}
	}
	return false
}

// applyPending applies the journaled visits to SQLite in one transaction
// (merging the inbox when merge is set or it is full) and reports what it
// queued.
func (w *writer) applyPending(merge bool) {
	if w.armed {
		w.apply.Stop()
		w.armed = false
	}
	if len(w.pending) == 0 && !merge {
		return
	}
	if w.ws != nil {
		w.ws.journaled = w.last
	}
	c := Commit{Batch: w.pending}
	w.run1(&c, merge)
	c.Batch = nil // reported durable already
	w.report(c, c.Err, len(w.pending))
	if c.Err == nil {
		w.textBytes += textBytes(w.pending)
	}
	w.sizeCache()
	if c.Err == nil && w.j != nil {
		w.j.applied(w.last)
	}
	clear(w.pending)
	w.pending = w.pending[:0]
	w.held = 0
}

// commit commits batch to SQLite at once (no journal) and reports it.
func (w *writer) commit(batch []Visit, merge bool) {
	c := Commit{Batch: batch}
	w.run1(&c, merge)
	w.report(c, c.Err, len(batch))
}

// run1 runs one transaction for c.Batch, setting c's results and error.
func (w *writer) run1(c *Commit, merge bool) {
	start := time.Now()
	err := w.db.commit(w.ctx, w.ws, c, w.cfg.MergeAt, merge)
	if w.ws == nil {
		err = errors.Join(err, w.prepErr)
	}
	c.Err = err
	w.txs++
	w.db.log.LogAttrs(w.ctx, slog.LevelDebug, "committed batch", slog.Int("visits", len(c.Batch)),
		slog.Int("merged", c.Merged), slog.Duration("elapsed", time.Since(start)), slog.Bool("ok", err == nil))
}

// report counts and passes c to the committed callback. visits is how many
// visits the transaction wrote (-1: a group journaled, not a transaction).
func (w *writer) report(c Commit, err error, visits int) {
	c.Err = err
	if visits >= 0 {
		w.visits += visits
	}
	if err != nil {
		w.failed++
		if w.firstErr == nil {
			w.firstErr = err
		}
	}
	if w.committed != nil {
		w.committed(c)
	}
}
