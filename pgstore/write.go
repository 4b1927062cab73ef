package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trawl/trawl/storage"
)

// The writer's statements: each table's rows of a batch go in as one
// statement over arrays (unnest), sorted by key, so a batch costs a handful
// of round trips whatever its size, and rows of a table are locked in one
// order by every worker (no deadlock between two workers' batches). pgx
// prepares each once per connection and keeps it.
const (
	// addHosts adds the batch's hosts that are new; hostIDs reads them back.
	addHosts = `INSERT INTO hosts (host) SELECT h FROM unnest($1::text[]) AS t(h) ORDER BY h ON CONFLICT (host) DO NOTHING`
	hostIDs  = `SELECT id, host FROM hosts WHERE host = ANY($1::text[])`

	// markURLs adds fetched URLs whose seq the caller does not know, and
	// redirect targets, to url when new, and returns the seq of each, new or
	// not (the DO UPDATE, which changes nothing, is what makes an existing
	// row return).
	markURLs = `INSERT INTO url (id, url, host_id, depth, seq, crawl_id)
SELECT id, url, host_id, depth, nextval('url_seq'), crawl_id
FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::int[], $5::bigint[]) AS t(id, url, host_id, depth, crawl_id)
ORDER BY id ON CONFLICT (id) DO UPDATE SET id = excluded.id RETURNING id, seq, host_id`

	dequeue = `DELETE FROM queue WHERE (host_id, seq) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))`

	// queueURLs adds the discovered URLs that url does not have and queues
	// them, in one statement, and returns them. Each takes its place in
	// the queue (url_seq, shared by the fleet) in the order the batch found
	// them; rows go in by id, so that every worker locks url's rows in one
	// order.
	queueURLs = `WITH d AS MATERIALIZED (SELECT id, url, host_id, depth, crawl_id, nextval('url_seq') AS seq FROM (
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::int[], $5::bigint[])
		WITH ORDINALITY AS t(id, url, host_id, depth, crawl_id, ord) ORDER BY ord) o),
ins AS (INSERT INTO url (id, url, host_id, depth, seq, crawl_id) SELECT id, url, host_id, depth, seq, crawl_id FROM d
	ORDER BY id ON CONFLICT (id) DO NOTHING RETURNING id, url, host_id, depth, seq),
q AS (INSERT INTO queue (host_id, seq, id) SELECT host_id, seq, id FROM ins)
SELECT id, url, host_id, depth, seq FROM ins`

	// insertPages upserts pages; insertAbsent adds the row of a 304 whose
	// URL had none (after touchPage updated those that had one).
	insertPages = insertPagesHead + ` ON CONFLICT (seq) DO UPDATE SET id = excluded.id, final_url = excluded.final_url,
	status = excluded.status, content_type = excluded.content_type, title = excluded.title,
	fetched_at = excluded.fetched_at, duration_ms = excluded.duration_ms,
	size_bytes = excluded.size_bytes, truncated = excluded.truncated, content_hash = excluded.content_hash,
	canonical = excluded.canonical, redirects = excluded.redirects, attempts = excluded.attempts,
	error = excluded.error, crawl_id = excluded.crawl_id, error_class = excluded.error_class,
	charset = excluded.charset, noindex = excluded.noindex, nofollow = excluded.nofollow,
	links_capped = excluded.links_capped, simhash = excluded.simhash, etag = excluded.etag,
	last_modified = excluded.last_modified, failed = excluded.failed, unchanged = 0, lang = excluded.lang,
	warc_file = excluded.warc_file, warc_offset = excluded.warc_offset`
	insertAbsent    = insertPagesHead + ` ON CONFLICT (seq) DO NOTHING`
	insertPagesHead = `INSERT INTO page (seq, id, final_url, status, content_type, title, fetched_at,
	duration_ms, size_bytes, truncated, content_hash, canonical, redirects, attempts, error, crawl_id,
	error_class, charset, noindex, nofollow, links_capped, simhash, etag, last_modified, failed, lang, warc_file,
	warc_offset, unchanged)
SELECT *, 0 FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[],
	$8::bigint[], $9::bigint[], $10::int[], $11::text[], $12::text[], $13::text[], $14::int[], $15::text[], $16::bigint[],
	$17::text[], $18::text[], $19::int[], $20::int[], $21::int[], $22::bigint[], $23::text[], $24::text[], $25::int[],
	$26::text[], $27::text[], $28::bigint[])`

	// insertText stores pages' text (page_text, as in the file); a refetch
	// replaces it.
	insertText = `INSERT INTO page_text (seq, title, text) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])
ON CONFLICT (seq) DO UPDATE SET title = excluded.title, text = excluded.text`

	// touchPage records a 304 on a recrawl: the stored content stays.
	touchPage = `UPDATE page SET fetched_at = $1, duration_ms = $2, attempts = $3, crawl_id = $4, unchanged = 1,
	error = NULL, error_class = NULL, failed = 0 WHERE seq = $5`
	dropLinks = `DELETE FROM link WHERE page_seq = ANY($1::bigint[])`

	insertLinks = `INSERT INTO link (page_seq, dst_id, nofollow)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[]) ON CONFLICT DO NOTHING`
	insertOthers = `INSERT INTO other_urls (id, url) SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING`
	countDrops   = `INSERT INTO drops (reason, count, example) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
ON CONFLICT (reason) DO UPDATE SET count = drops.count + excluded.count, example = coalesce(excluded.example, drops.example)`
	insertSitemaps = `INSERT INTO sitemaps (host, url, found_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
ON CONFLICT DO NOTHING`
)

// maxHostIDs bounds the writer's map of host ids; past it the map starts
// again empty.
const maxHostIDs = 100_000

// Write is the single writer of this process (crawl.State): it commits the
// visits it receives from rows in batches, one transaction each, until rows
// is closed, and calls committed after each. The URLs a batch discovered
// are checked against url and the new ones queued in the batch's own
// transaction, so every Commit reports them (Queued) and Merged is every
// URL the batch discovered. A batch that fails for a passing reason (the
// server restarting, a connection dropped, a deadlock with another worker)
// is tried again, for up to Options.RetryFor; ctx bounds the whole.
func (db *DB) Write(ctx context.Context, cfg storage.WriterConfig, rows <-chan storage.Visit, committed func(storage.Commit)) error {
	w := &writer{db: db, hostIDs: map[string]int64{}, hostNames: map[int64]string{}}
	var firstErr error
	var visits, batches, failed int
	storage.Gather(cfg, rows, func(batch []storage.Visit, final bool) {
		if len(batch) == 0 {
			return
		}
		start := time.Now()
		c := storage.Commit{Batch: batch}
		err := db.do(ctx, fmt.Sprintf("write batch of %d visits", len(batch)), func(ctx context.Context) error {
			return w.commit(ctx, &c)
		})
		batches++
		visits += len(batch)
		if err != nil {
			failed++
			firstErr = cmp.Or(firstErr, err)
			c.Queued = nil
		}
		db.log.LogAttrs(ctx, slog.LevelDebug, "committed batch", slog.Int("visits", len(batch)),
			slog.Int("queued", len(c.Queued)), slog.Duration("elapsed", time.Since(start)), slog.Bool("ok", err == nil))
		c.Err = err
		if committed != nil {
			committed(c)
		}
	})
	db.log.LogAttrs(ctx, slog.LevelInfo, "writer stopped",
		slog.Int("visits", visits), slog.Int("batches", batches), slog.Int("failed_batches", failed))
	return firstErr
}

// writer holds what Write learns across batches.
type writer struct {
	db        *DB
	hostIDs   map[string]int64
	hostNames map[int64]string
}

// commit writes c.Batch in one transaction and fills c.Queued and c.Merged.
// The transaction's statements go to the server as one pipeline (one round
// trip, BEGIN to COMMIT), after a round trip of its own for the marks when
// there are any (fetched URLs of unknown seq, redirect targets: their seqs
// key the pages and links).
func (w *writer) commit(ctx context.Context, c *storage.Commit) error {
	b := &batchRows{}
	if err := w.hosts(ctx, c.Batch); err != nil {
		return err
	}
	if err := b.collect(c.Batch, w.hostIDs); err != nil {
		return err
	}
	conn, err := w.db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	open := false
	fail := func(err error) error {
		if open { // the server keeps a failed pipeline's transaction open until told
			conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		return err
	}
	if len(b.marks.id) > 0 {
		mb := &pgx.Batch{}
		mb.Queue("BEGIN")
		b.queueMarks(mb)
		open = true
		if err := conn.SendBatch(ctx, mb).Close(); err != nil {
			return fail(fmt.Errorf("add %d fetched URLs: %w", len(b.marks.id), err))
		}
	}
	tb := &pgx.Batch{}
	if !open {
		tb.Queue("BEGIN")
	}
	if len(b.dqHost) > 0 {
		tb.Queue(dequeue, b.dqHost, b.dqSeq)
	}
	if err := b.queuePages(tb, c.Batch); err != nil {
		return fail(err)
	}
	var queued []storage.URL
	b.queueDiscovered(tb, w.hostNames, &queued)
	if err := b.queueLinks(tb); err != nil {
		return fail(err)
	}
	b.queueDrops(tb, c.Batch)
	tb.Queue("COMMIT")
	open = true
	if err := conn.SendBatch(ctx, tb).Close(); err != nil {
		return fail(fmt.Errorf("write %d visits: %w", len(c.Batch), err))
	}
	slices.SortFunc(queued, func(a, b storage.URL) int { return cmp.Compare(a.Seq, b.Seq) })
	c.Queued, c.Merged = queued, b.discovered
	return nil
}

// hosts learns the ids of the batch's hosts, adding those that are new (in
// a statement of its own: a host added by a batch that fails stays, unused).
func (w *writer) hosts(ctx context.Context, batch []storage.Visit) error {
	var missing []string
	need := func(h string) {
		if _, ok := w.hostIDs[h]; !ok {
			missing = append(missing, h)
		}
	}
	for i := range batch {
		v := &batch[i]
		if v.Page != nil {
			need(v.Page.Host)
		}
		for _, a := range v.Aliases {
			need(a.Host)
		}
		for _, u := range v.Discovered {
			need(u.Host)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	if len(w.hostIDs)+len(missing) > maxHostIDs {
		clear(w.hostIDs)
		clear(w.hostNames)
	}
	if _, err := w.db.pool.Exec(ctx, addHosts, missing); err != nil {
		return fmt.Errorf("add %d hosts: %w", len(missing), err)
	}
	rows, err := w.db.pool.Query(ctx, hostIDs, missing)
	if err != nil {
		return fmt.Errorf("read %d host ids: %w", len(missing), err)
	}
	var id int64
	var host string
	_, err = pgx.ForEachRow(rows, []any{&id, &host}, func() error {
		w.hostIDs[host], w.hostNames[id] = id, host
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %d host ids: %w", len(missing), err)
	}
	return nil
}

// batchRows are a batch's rows, table by table.
type batchRows struct {
	marks, disc   urlCols
	discovered    int             // URLs the batch discovered, repeats included (Commit.Merged)
	seqs          map[int64]int64 // url.seq by url.id of the batch's fetched URLs
	dqHost, dqSeq []int64         // queue entries to delete
	linkPage      []int64         // url.id of the source until writeLinks
	linkDst       []int64
	linkNofollow  []int32
	otherID       []int64
	otherURL      []string
}

// collect sorts the batch's rows into columns.
func (b *batchRows) collect(batch []storage.Visit, hostIDs map[string]int64) error {
	b.seqs = map[int64]int64{}
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
			if p.ID == 0 {
				p.ID = storage.URLID(p.URL)
			}
			pageID = p.ID
			if p.Seq > 0 { // leased: its url row stays as it is
				b.seqs[p.ID] = p.Seq
				b.dqHost, b.dqSeq = append(b.dqHost, hostIDs[p.Host]), append(b.dqSeq, p.Seq)
			} else {
				b.marks.add(p.ID, p.URL, hostIDs[p.Host], p.Depth, crawlID)
			}
		}
		for _, a := range v.Aliases {
			b.marks.add(idOf(a.ID, a.URL), a.URL, hostIDs[a.Host], a.Depth, crawlID)
		}
		for j := range v.Discovered {
			u := &v.Discovered[j]
			u.ID = idOf(u.ID, u.URL)
			b.disc.add(u.ID, u.URL, hostIDs[u.Host], u.Depth, crawlID)
			b.discovered++
		}
		for _, l := range v.Links {
			b.linkPage, b.linkDst = append(b.linkPage, pageID), append(b.linkDst, idOf(l.DstID, l.Dst))
			b.linkNofollow = append(b.linkNofollow, flag(l.Nofollow))
			if !l.Queued {
				b.otherID, b.otherURL = append(b.otherID, idOf(l.DstID, l.Dst)), append(b.otherURL, l.Dst)
			}
		}
	}
	b.marks.sortByID()
	b.disc.dedupe()
	return nil
}

// queueMarks adds the marks to url, and learns each one's seq and queue
// entry when the batch is sent.
func (b *batchRows) queueMarks(pb *pgx.Batch) {
	pb.Queue(markURLs, b.marks.id, b.marks.url, b.marks.hostID, b.marks.depth, b.marks.crawlID).Query(func(rows pgx.Rows) error {
		var id, seq, hostID int64
		_, err := pgx.ForEachRow(rows, []any{&id, &seq, &hostID}, func() error {
			b.seqs[id] = seq
			b.dqHost, b.dqSeq = append(b.dqHost, hostID), append(b.dqSeq, seq)
			return nil
		})
		return err
	})
}

// queueDiscovered queues the discovered URLs url does not have; once the
// batch is sent, queued holds them.
func (b *batchRows) queueDiscovered(pb *pgx.Batch, hostNames map[int64]string, queued *[]storage.URL) {
	if len(b.disc.id) == 0 {
		return
	}
	pb.Queue(queueURLs, b.disc.id, b.disc.url, b.disc.hostID, b.disc.depth, b.disc.crawlID).Query(func(rows pgx.Rows) error {
		var u storage.URL
		var hostID int64
		var depth int32
		_, err := pgx.ForEachRow(rows, []any{&u.ID, &u.URL, &hostID, &depth, &u.Seq}, func() error {
			u.Host, u.Depth = hostNames[hostID], int(depth)
			*queued = append(*queued, u)
			return nil
		})
		return err
	})
}

// queuePages upserts each visit's page row (or touches it on a 304, adding
// it when the URL had none) and clears a refetched page's old links.
func (b *batchRows) queuePages(pb *pgx.Batch, batch []storage.Visit) error {
	var c, absent pageCols
	var refetched []int64
	now := time.Now().UTC().Format(storage.TimeLayout)
	last := map[int64]int{} // by seq: the batch's last visit of the URL, whose page is stored (one statement cannot upsert a row twice)
	for i := range batch {
		if p := batch[i].Page; p != nil {
			last[b.seqs[p.ID]] = i
		}
	}
	for i := range batch {
		p := batch[i].Page
		if p == nil {
			continue
		}
		seq, ok := b.seqs[p.ID]
		if !ok {
			return fmt.Errorf("page %s: its URL has no seq", p.URL)
		}
		if last[seq] != i {
			continue
		}
		fetchedAt := now
		if !p.FetchedAt.IsZero() {
			fetchedAt = p.FetchedAt.UTC().Format(storage.TimeLayout)
		}
		crawlID := nullInt(batch[i].CrawlID)
		attempts := int32(max(p.Attempts, 1))
		rows := &c
		if p.Unchanged {
			pb.Queue(touchPage, fetchedAt, p.Duration.Milliseconds(), attempts, crawlID, seq)
			rows = &absent
		} else if p.Refetch {
			refetched = append(refetched, seq)
		}
		var redirects *string
		if len(p.Redirects) > 0 {
			j, err := json.Marshal(p.Redirects)
			if err != nil {
				return fmt.Errorf("page %s: redirects: %w", p.URL, err)
			}
			s := string(j)
			redirects = &s
		}
		var simhash *int64
		if p.SimHash != 0 {
			h := int64(p.SimHash) // the bits are kept, as in the file
			simhash = &h
		}
		rows.add(p, seq, fetchedAt, crawlID, attempts, redirects, simhash)
	}
	for _, rows := range []struct {
		cols  *pageCols
		query string
	}{{&c, insertPages}, {&absent, insertAbsent}} {
		if c := rows.cols; len(c.seq) > 0 {
			pb.Queue(rows.query, c.seq, c.id, c.finalURL, c.status, c.contentType, c.title, c.fetchedAt,
				c.duration, c.size, c.truncated, c.contentHash, c.canonical, c.redirects, c.attempts, c.errText, c.crawlID,
				c.errorClass, c.charset, c.noindex, c.nofollow, c.capped, c.simhash, c.etag, c.lastMd, c.failed,
				c.lang, c.warcFile, c.warcOffset)
		}
	}
	if len(c.textSeq) > 0 {
		pb.Queue(insertText, c.textSeq, c.textTitle, c.text)
	}
	if len(refetched) > 0 {
		pb.Queue(dropLinks, refetched)
	}
	return nil
}

// queueLinks inserts the batch's links, keyed by their page's seq, and the
// targets kept in other_urls, each sorted by key.
func (b *batchRows) queueLinks(pb *pgx.Batch) error {
	if len(b.linkPage) > 0 {
		type link struct {
			page, dst int64
			nofollow  int32
		}
		links := make([]link, len(b.linkPage))
		for i := range links {
			seq, ok := b.seqs[b.linkPage[i]]
			if !ok {
				return fmt.Errorf("links of page %d: its URL has no seq", b.linkPage[i])
			}
			links[i] = link{seq, b.linkDst[i], b.linkNofollow[i]}
		}
		slices.SortStableFunc(links, func(a, b link) int { return cmp.Or(cmp.Compare(a.page, b.page), cmp.Compare(a.dst, b.dst)) })
		links = slices.CompactFunc(links, func(a, b link) bool { return a.page == b.page && a.dst == b.dst })
		page, dst, nofollow := make([]int64, len(links)), make([]int64, len(links)), make([]int32, len(links))
		for i, l := range links {
			page[i], dst[i], nofollow[i] = l.page, l.dst, l.nofollow
		}
		pb.Queue(insertLinks, page, dst, nofollow)
	}
	if len(b.otherID) > 0 {
		var others urlCols
		for i := range b.otherID {
			others.add(b.otherID[i], b.otherURL[i], 0, 0, nil)
		}
		others.sortByID()
		pb.Queue(insertOthers, others.id, others.url)
	}
	return nil
}

// queueDrops adds the batch's drops by reason and records sitemaps.
func (b *batchRows) queueDrops(pb *pgx.Batch, batch []storage.Visit) {
	dropped := map[string]storage.Drop{}
	var smHost, smURL, smAt []string
	now := time.Now().UTC().Format(storage.TimeLayout)
	for i := range batch {
		for _, d := range batch[i].Drops {
			sum := dropped[d.Reason]
			sum.Reason, sum.Count = d.Reason, sum.Count+max(d.Count, 1)
			sum.Example = cmp.Or(d.Example, sum.Example)
			dropped[d.Reason] = sum
		}
		for _, sm := range batch[i].Sitemaps {
			smHost, smURL, smAt = append(smHost, clean(sm.Host)), append(smURL, clean(sm.URL)), append(smAt, now)
		}
	}
	if len(smHost) > 0 {
		pb.Queue(insertSitemaps, smHost, smURL, smAt)
	}
	if len(dropped) == 0 {
		return
	}
	reasons := make([]string, 0, len(dropped))
	for r := range dropped {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons) // every worker updates the rows in one order
	counts, examples := make([]int64, len(reasons)), make([]*string, len(reasons))
	for i, r := range reasons {
		counts[i], examples[i] = int64(dropped[r].Count), nullString(dropped[r].Example)
	}
	pb.Queue(countDrops, reasons, counts, examples)
}
