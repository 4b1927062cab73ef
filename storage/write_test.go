package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// batchResult is what committed was called with, copied: the callback may
// not keep the batch.
type batchResult struct {
	urls       []string // Page.URL, or the first Discovered URL for seed visits
	discovered [][]URL  // each visit's Discovered as committed saw it (ID and Seq set)
	queued     []URL    // Commit.Queued
	merged     int      // Commit.Merged
	err        error
}

// runWrite sends visits through Write and returns each committed call in
// order and Write's result. It may be called from any goroutine.
func runWrite(db *DB, cfg WriterConfig, visits []Visit) ([]batchResult, error) {
	rows := make(chan Visit)
	var got []batchResult // written by committed on Write's goroutine; read after done
	done := make(chan error, 1)
	go func() {
		done <- db.Write(context.Background(), direct(cfg), rows, func(c Commit) {
			got = append(got, newBatchResult(c))
		})
	}()
	for _, v := range visits {
		rows <- v
	}
	close(rows)
	err := <-done
	return got, err
}

// direct turns the visit journal off unless cfg sets ApplyAt: most tests here
// are about what one SQLite transaction does (journal_test.go has the rest).
func direct(cfg WriterConfig) WriterConfig {
	if cfg.ApplyAt == 0 {
		cfg.ApplyAt = 1
	}
	return cfg
}

// newBatchResult copies what committed may not keep: the batch is reused.
func newBatchResult(c Commit) batchResult {
	r := batchResult{queued: slices.Clone(c.Queued), merged: c.Merged, err: c.Err}
	for _, v := range c.Batch {
		r.urls = append(r.urls, visitKey(v))
		r.discovered = append(r.discovered, slices.Clone(v.Discovered))
	}
	return r
}

// allQueued returns the Queued of every commit, in order.
func allQueued(got []batchResult) []URL {
	var all []URL
	for _, b := range got {
		all = append(all, b.queued...)
	}
	return all
}

// commitOne writes visits as one batch, the way Write groups what is
// already waiting when it starts, then lets Write's final flush merge the
// inbox. Batches are otherwise cut by timing; tests of what happens within
// one batch need this. It returns the batch's commit, with queued and merged
// summed over the batch's own merge (if it had one) and the final one. It
// fails the test on any error.
func commitOne(t *testing.T, db *DB, visits ...Visit) batchResult {
	t.Helper()
	rows := make(chan Visit, len(visits))
	for _, v := range visits {
		rows <- v
	}
	close(rows) // Write finds every visit waiting, then the close: one batch
	var got []batchResult
	err := db.Write(t.Context(), WriterConfig{BatchSize: max(len(visits), 1), ApplyAt: 1}, rows, func(c Commit) {
		got = append(got, newBatchResult(c))
	})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	// One commit for the batch, and one more when the final flush had
	// something left to merge.
	if len(got) == 0 || len(got) > 2 || len(got[0].urls) != len(visits) || (len(got) == 2 && len(got[1].urls) != 0) {
		t.Fatalf("committed %d times (%+v), want one batch of %d visits, then at most a merge", len(got), got, len(visits))
	}
	r := got[0]
	r.queued = allQueued(got)
	for _, b := range got[1:] {
		r.merged += b.merged
	}
	return r
}

func visitKey(v Visit) string {
	if v.Page != nil {
		return v.Page.URL
	}
	if len(v.Discovered) > 0 {
		return v.Discovered[0].URL
	}
	return ""
}

// pageVisit is a successful fetch of https://h<host>.test/<n> with links
// to and discoveries of n*10+1 ... n*10+k.
func pageVisit(crawl int64, host, n, k int) Visit {
	src := fmt.Sprintf("https://h%d.test/%d", host, n)
	v := Visit{CrawlID: crawl, Page: &Page{
		URL: src, Host: fmt.Sprintf("h%d.test", host), FinalURL: src, Status: 200,
		ContentType: "text/html", Title: "page " + strconv.Itoa(n), Depth: 1,
		FetchedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), Duration: 25 * time.Millisecond, Size: 1000,
		ContentHash: "h" + strconv.Itoa(n), Attempts: 1,
	}}
	for i := 1; i <= k; i++ {
		dst := fmt.Sprintf("https://h%d.test/%d", host, n*10+i)
		v.Links = append(v.Links, Link{Dst: dst, Queued: true})
		v.Discovered = append(v.Discovered, URL{URL: dst, Host: fmt.Sprintf("h%d.test", host), Depth: 2})
	}
	return v
}

// count runs a count query; on error it reports it and returns -1. It may
// be called from any goroutine.
func count(t *testing.T, db *DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.ro.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Errorf("%s: %v", query, err)
		return -1
	}
	return n
}

func TestWriteBatches(t *testing.T) {
	tests := []struct {
		name      string
		batchSize int
		visits    int
		want      []int // sizes of the committed batches; the last 0 is the final flush's merge
	}{
		{"exact multiple", 3, 9, []int{3, 3, 3, 0}},
		{"partial batch flushed on close", 3, 10, []int{3, 3, 3, 1, 0}},
		{"one big batch", 0, 10, []int{10, 0}}, // default 256
		{"batch of one", 1, 3, []int{1, 1, 1, 0}},
		{"nothing", 4, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t)
			crawl, err := db.BeginCrawl(t.Context(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var visits []Visit
			for n := range tt.visits {
				visits = append(visits, pageVisit(crawl, n%2, n, 3))
			}
			// FlushEvery is long: only size and close may cut a batch.
			got, err := runWrite(db, WriterConfig{BatchSize: tt.batchSize, FlushEvery: time.Hour}, visits)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			var sizes []int
			var order []string
			for _, b := range got {
				if b.err != nil {
					t.Errorf("committed err = %v", b.err)
				}
				sizes = append(sizes, len(b.urls))
				order = append(order, b.urls...)
			}
			if !slices.Equal(sizes, tt.want) {
				t.Errorf("batch sizes = %v, want %v", sizes, tt.want)
			}
			for i, v := range visits {
				if i >= len(order) || order[i] != v.Page.URL {
					t.Fatalf("committed visits out of order: %v", order)
				}
			}
			if n := count(t, db, `SELECT count(*) FROM pages`); n != tt.visits {
				t.Errorf("pages = %d, want %d", n, tt.visits)
			}
			if n := count(t, db, `SELECT count(*) FROM links`); n != 3*tt.visits {
				t.Errorf("links = %d, want %d", n, 3*tt.visits)
			}
			// Visited URLs were never queued: Write adds them as done.
			if n := count(t, db, `SELECT count(*) FROM urls WHERE state = 'done'`); n != tt.visits {
				t.Errorf("done urls = %d, want %d", n, tt.visits)
			}
		})
	}
}

// TestWriteCommittedSeesWholeVisit checks, from committed, that each visit
// of the batch is in the database with its page, links, discoveries and
// state: one transaction, visible together. Discoveries are in the inbox
// until a merge; what a commit reports Queued is in the queue when it is
// called, at the seq of its first discovery.
func TestWriteCommittedSeesWholeVisit(t *testing.T) {
	db := openTest(t)
	rows := make(chan Visit)
	done := make(chan error, 1)
	var checked int
	queued := map[string]int{} // how many commits reported each URL queued
	var commits []int          // visits per commit
	go func() {
		done <- db.Write(t.Context(), WriterConfig{BatchSize: 4, FlushEvery: time.Hour, ApplyAt: 1}, rows, func(c Commit) {
			commits = append(commits, len(c.Batch))
			if c.Err != nil {
				t.Errorf("committed err = %v", c.Err)
				return
			}
			inQueue := map[string]bool{}
			for _, u := range c.Queued {
				queued[u.URL]++
				inQueue[u.URL] = true
				if got := count(t, db, `SELECT count(*) FROM urls WHERE url = ? AND host = ? AND state = 'queued' AND seq = ? AND depth = ?`,
					u.URL, u.Host, u.Seq, u.Depth); got != 1 {
					t.Errorf("reported queued %+v, not in urls as queued", u)
				}
			}
			if c.Merged > 0 {
				if n := count(t, db, `SELECT count(*) FROM inbox`); n != 0 {
					t.Errorf("inbox holds %d rows after a merge, want 0", n)
				}
			}
			for _, v := range c.Batch {
				p := v.Page
				if got := count(t, db, `SELECT count(*) FROM pages WHERE url = ?`, p.URL); got != 1 {
					t.Errorf("%s: pages rows = %d, want 1", p.URL, got)
				}
				if got := count(t, db, `SELECT count(*) FROM links WHERE src_url = ?`, p.URL); got != len(v.Links) {
					t.Errorf("%s: links = %d, want %d", p.URL, got, len(v.Links))
				}
				if got := count(t, db, `SELECT count(*) FROM urls WHERE url = ? AND state = 'done'`, p.URL); got != 1 {
					t.Errorf("%s: not marked done", p.URL)
				}
				for _, u := range v.Discovered {
					if inQueue[u.URL] {
						continue // checked above
					}
					// Never seen before, so it is queued by this commit's
					// merge or waiting in the inbox.
					if got := count(t, db, `SELECT count(*) FROM inbox WHERE id = ? AND url = ? AND seq = ?`, u.ID, u.URL, u.Seq); got != 1 {
						t.Errorf("%s: discovered %s neither queued nor in the inbox at seq %d", p.URL, u.URL, u.Seq)
					}
					if got := count(t, db, `SELECT count(*) FROM url WHERE id = ?`, u.ID); got != 0 {
						t.Errorf("%s: discovered %s in url before a merge", p.URL, u.URL)
					}
				}
				checked++
			}
		})
	}()
	for n := range 10 {
		v := pageVisit(0, 1, n+1, 5)
		v.Merge = n == 5 // the second batch's merge takes the first's discoveries too
		rows <- v
	}
	close(rows)
	if err := <-done; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if checked != 10 {
		t.Errorf("checked %d visits in committed, want 10", checked)
	}
	// 4 + 4 + 2 visits, then the final flush merges the last batch's.
	if want := []int{4, 4, 2, 0}; !slices.Equal(commits, want) {
		t.Errorf("visits per commit = %v, want %v", commits, want)
	}
	if len(queued) != 50 {
		t.Errorf("%d URLs reported queued, want the 50 discovered", len(queued))
	}
	for u, n := range queued {
		if n != 1 {
			t.Errorf("%s reported queued %d times, want once", u, n)
		}
	}
}

func TestWriteFlushEvery(t *testing.T) {
	db := openTest(t)
	rows := make(chan Visit)
	flushed := make(chan []string, 1)
	done := make(chan error, 1)
	go func() {
		done <- db.Write(t.Context(), WriterConfig{BatchSize: 100, FlushEvery: 20 * time.Millisecond, ApplyAt: 1}, rows,
			func(c Commit) {
				if len(c.Batch) == 0 {
					return // the final flush's merge, after close
				}
				var urls []string
				for _, v := range c.Batch {
					urls = append(urls, v.Page.URL)
				}
				flushed <- urls
			})
	}()
	defer func() {
		close(rows)
		if err := <-done; err != nil {
			t.Errorf("Write: %v", err)
		}
	}()

	rows <- pageVisit(0, 1, 1, 2)
	rows <- pageVisit(0, 1, 2, 2)
	select {
	case urls := <-flushed: // the channel is still open: only the timer can have flushed
		if len(urls) != 2 {
			t.Errorf("flushed %v, want the 2 visits sent", urls)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("partial batch not flushed after FlushEvery")
	}
	if n := count(t, db, `SELECT count(*) FROM pages`); n != 2 {
		t.Errorf("pages after timed flush = %d, want 2", n)
	}
	// The timer restarts with the next batch.
	rows <- pageVisit(0, 1, 3, 2)
	select {
	case urls := <-flushed:
		if len(urls) != 1 {
			t.Errorf("second flush = %v, want 1 visit", urls)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second partial batch not flushed after FlushEvery")
	}
}

// TestWriteFailedBatch makes the last row of a batch fail: the whole batch
// must be rolled back (pages, states, inbox, and the host it added),
// committed must get the error, and none of its discoveries may ever be
// queued; Write must keep draining and writing later batches, whose
// discoveries the final flush queues, and return the error.
func TestWriteFailedBatch(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	crawl, err := db.BeginCrawl(ctx, []string{"https://h1.test/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Links are the writer's last table: the trigger fails the batch after
	// everything else in it went in. (The schema has no constraint a
	// well-formed Visit can break.)
	boom := "https://h1.test/62" // a link of page 6
	if _, err := db.rw.ExecContext(ctx, fmt.Sprintf(`CREATE TRIGGER fail_link BEFORE INSERT ON link
		WHEN NEW.dst_id = %d BEGIN SELECT RAISE(ABORT, 'link refused by the test'); END`, URLID(boom))); err != nil {
		t.Fatal(err)
	}
	visits := []Visit{
		pageVisit(crawl, 1, 1, 2), pageVisit(crawl, 1, 2, 2), pageVisit(crawl, 1, 3, 2), // batch 1: ok
		pageVisit(crawl, 1, 4, 2), pageVisit(crawl, 9, 5, 2), pageVisit(crawl, 1, 6, 2), // batch 2: h9.test is new; /62 fails
		pageVisit(crawl, 1, 7, 2), pageVisit(crawl, 9, 8, 2), // batch 3: ok, partial; h9.test again
	}
	got, err := runWrite(db, WriterConfig{BatchSize: 3, FlushEvery: time.Hour}, visits)
	if err == nil {
		t.Fatal("Write returned nil, want the failed batch's error")
	}
	if len(got) != 4 || len(got[3].urls) != 0 {
		t.Fatalf("committed %+v, want 3 batches and the final merge", got)
	}
	if got[0].err != nil || got[2].err != nil || got[3].err != nil {
		t.Errorf("committed errs = %v, %v, %v for the good batches and the merge, want nil", got[0].err, got[2].err, got[3].err)
	}
	if got[1].err == nil || !errors.Is(err, got[1].err) {
		t.Errorf("batch 2 err = %v, Write err = %v; want the same non-nil error", got[1].err, err)
	}
	// Only the good batches' discoveries are queued, once, by the final
	// merge, with the seqs Write gave them; h9.test, rolled back with batch
	// 2 and added again by batch 3, is named right.
	want := slices.Concat(slices.Concat(got[0].discovered...), slices.Concat(got[2].discovered...))
	if len(want) != 10 {
		t.Fatalf("discovered in the good batches: %d URLs, want 10", len(want))
	}
	if q := allQueued(got); !slices.Equal(q, want) || got[3].merged != 10 {
		t.Errorf("queued = %+v (merged %d),\nwant the good batches' discoveries %+v (10)", q, got[3].merged, want)
	}
	for n := 1; n <= 8; n++ {
		url := visits[n-1].Page.URL
		want := 1
		if n >= 4 && n <= 6 {
			want = 0 // rolled back with the failing visit
		}
		for _, q := range []string{
			`SELECT count(*) FROM pages WHERE url = ?`,
			`SELECT count(*) FROM links WHERE src_url = ?`,
			`SELECT count(*) FROM urls WHERE url = ?`, // joins hosts: a host id rolled back would hide it
			`SELECT count(*) FROM urls WHERE url = ? || '1'`,
		} {
			if got := min(count(t, db, q, url), 1); got != want {
				t.Errorf("%s with %s: %d, want %d", q, url, got, want)
			}
		}
	}
	if n := count(t, db, `SELECT count(*) FROM url u WHERE NOT EXISTS (SELECT 1 FROM hosts h WHERE h.id = u.host_id)`); n != 0 {
		t.Errorf("%d url rows point to no host", n)
	}
}

// TestWriteRows checks what one visit stores, column by column.
func TestWriteRows(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	crawl, err := db.BeginCrawl(ctx, []string{"https://a.test/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fetched := time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.FixedZone("CET", 3600))
	visits := []Visit{
		{CrawlID: crawl, Discovered: []URL{{URL: "https://a.test/", Host: "a.test"}, {URL: "https://a.test/dead", Host: "a.test"}}},
		{CrawlID: crawl,
			Page: &Page{URL: "https://a.test/", Host: "a.test", FinalURL: "https://a.test/home", Status: 200,
				ContentType: "text/html; charset=utf-8", Title: "Home", FetchedAt: fetched,
				Duration: 1500 * time.Microsecond, Size: 5120, Truncated: true, ContentHash: "abc",
				Canonical: "https://a.test/home", Redirects: []string{"https://a.test/home"}, Attempts: 2},
			Links: []Link{
				{Dst: "https://a.test/x", Nofollow: true, Queued: true},
				{Dst: "https://a.test/x", Queued: true}, // repeat: collapses, first kept
				{Dst: "https://b.test/"},
			},
			Discovered: []URL{
				{URL: "https://a.test/x", Host: "a.test", Depth: 1},
				{URL: "https://a.test/", Host: "a.test", Depth: 1}, // known: stays done, depth 0
			}},
		{CrawlID: crawl, Page: &Page{URL: "https://a.test/dead", Host: "a.test", Error: "dial tcp: connection refused"}},
	}
	if _, err := runWrite(db, WriterConfig{}, visits); err != nil {
		t.Fatalf("Write: %v", err)
	}

	var (
		finalURL, contentType, title, fetchedAt, hash, canonical, redirects sql.NullString
		status, duration, size, truncated, attempts, crawlID                sql.NullInt64
		errText                                                             sql.NullString
	)
	err = db.ro.QueryRowContext(ctx, `SELECT final_url, status, content_type, title, fetched_at, duration_ms,
		size_bytes, truncated, content_hash, canonical, redirects, attempts, error, crawl_id FROM pages WHERE url = ?`,
		"https://a.test/").Scan(&finalURL, &status, &contentType, &title, &fetchedAt, &duration, &size, &truncated,
		&hash, &canonical, &redirects, &attempts, &errText, &crawlID)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		col       string
		got, want any
	}{
		{"final_url", finalURL.String, "https://a.test/home"},
		{"status", status.Int64, int64(200)},
		{"content_type", contentType.String, "text/html; charset=utf-8"},
		{"title", title.String, "Home"},
		{"fetched_at", fetchedAt.String, "2025-03-01T11:30:45.123Z"},
		{"duration_ms", duration.Int64, int64(1)},
		{"size_bytes", size.Int64, int64(5120)},
		{"truncated", truncated.Int64, int64(1)},
		{"content_hash", hash.String, "abc"},
		{"canonical", canonical.String, "https://a.test/home"},
		{"redirects", redirects.String, `["https://a.test/home"]`},
		{"attempts", attempts.Int64, int64(2)},
		{"error is NULL", errText.Valid, false},
		{"crawl_id", crawlID.Int64, crawl},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("pages.%s = %v, want %v", c.col, c.got, c.want)
		}
	}

	// The failed fetch: NULLs for what it never got, attempts defaulted, state failed.
	var nulls, attemptsDead int
	if err := db.ro.QueryRowContext(ctx, `SELECT (final_url IS NULL) + (content_type IS NULL) + (title IS NULL)
		+ (redirects IS NULL) + (content_hash IS NULL) + (canonical IS NULL), attempts, status
		FROM pages WHERE url = 'https://a.test/dead'`).Scan(&nulls, &attemptsDead, &status); err != nil {
		t.Fatal(err)
	}
	if nulls != 6 || attemptsDead != 1 || status.Int64 != 0 {
		t.Errorf("failed page: %d NULL columns, attempts %d, status %d; want 6, 1, 0", nulls, attemptsDead, status.Int64)
	}

	states := map[string]string{}
	depths := map[string]int{}
	rows, err := db.ro.QueryContext(ctx, `SELECT url, state, depth FROM urls`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var u, s string
		var d int
		if err := rows.Scan(&u, &s, &d); err != nil {
			t.Fatal(err)
		}
		states[u], depths[u] = s, d
	}
	rows.Close()
	wantStates := map[string]string{"https://a.test/": "done", "https://a.test/dead": "failed", "https://a.test/x": "queued"}
	for u, want := range wantStates {
		if states[u] != want {
			t.Errorf("urls[%s].state = %q, want %q", u, states[u], want)
		}
	}
	if len(states) != len(wantStates) {
		t.Errorf("urls = %v, want only %v", states, wantStates)
	}
	if depths["https://a.test/"] != 0 || depths["https://a.test/x"] != 1 {
		t.Errorf("depths = %v, want seed 0 and /x 1", depths)
	}

	var nofollow int
	if err := db.ro.QueryRowContext(ctx, `SELECT nofollow FROM links WHERE dst_url = 'https://a.test/x'`).Scan(&nofollow); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM links`); n != 2 || nofollow != 1 {
		t.Errorf("links = %d, nofollow of the repeated link = %d; want 2 rows and the first occurrence (1)", n, nofollow)
	}
}

func TestWriteRefetchReplacesPage(t *testing.T) {
	db := openTest(t)
	first := Visit{Page: &Page{URL: "https://a.test/", Host: "a.test", Error: "timeout"}}
	second := Visit{Page: &Page{URL: "https://a.test/", Host: "a.test", Status: 200, Title: "ok"}}
	for _, v := range []Visit{first, second} {
		if _, err := runWrite(db, WriterConfig{}, []Visit{v}); err != nil {
			t.Fatal(err)
		}
	}
	var title, state string
	var errText sql.NullString
	if err := db.ro.QueryRowContext(t.Context(), `SELECT p.title, p.error, u.state FROM pages p JOIN urls u USING (url)`).
		Scan(&title, &errText, &state); err != nil {
		t.Fatal(err)
	}
	if title != "ok" || errText.Valid || state != "done" {
		t.Errorf("after refetch: title %q, error %v, state %q; want ok, NULL, done", title, errText, state)
	}
	if n := count(t, db, `SELECT count(*) FROM pages`); n != 1 {
		t.Errorf("pages = %d, want 1", n)
	}
}

// BenchmarkWrite measures the writer with realistic visits: a page, 20 links
// and 10 newly discovered URLs each, each committed before it is reported
// durable (no journal).
func BenchmarkWrite(b *testing.B) {
	benchWrite(b, WriterConfig{ApplyAt: 1}, benchVisit)
}

// BenchmarkWriteJournal measures the writer as the crawler runs it (visits
// journaled, applied 512 at a time), with and without 3.4 KB of page text a
// visit, the text the crawlbench site's pages yield: the difference is what
// keeping page text costs the writer per page.
func BenchmarkWriteJournal(b *testing.B) {
	words := strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor " +
		"incididunt ut labore et dolore magna aliqua hosts ordered by the time each may next be contacted " +
		"before a url is queued the seen set remembers what was fetched so that nothing is fetched twice")
	for _, textBytes := range []int{0, 3400} {
		b.Run(fmt.Sprintf("text=%d", textBytes), func(b *testing.B) {
			var text strings.Builder
			benchWrite(b, WriterConfig{}, func(crawl int64, n int) Visit {
				v := benchVisit(crawl, n)
				if textBytes > 0 {
					text.Reset()
					for i := n; text.Len() < textBytes; i += 7 {
						text.WriteString(words[i%len(words)])
						text.WriteByte(' ')
					}
					v.Page.Text = text.String()
				}
				return v
			})
		})
	}
}

// benchWrite runs Write on a new file with cfg, sending visit(crawl, n) for
// each iteration, and reports visits per second and the process's CPU per
// visit (the writer's goroutines are the process's work).
func benchWrite(b *testing.B, cfg WriterConfig, visit func(crawl int64, n int) Visit) {
	db, err := Open(b.Context(), b.TempDir()+"/bench.db", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	crawl, err := db.BeginCrawl(b.Context(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	rows := make(chan Visit, 256)
	done := make(chan error, 1)
	go func() { done <- db.Write(context.Background(), cfg, rows, nil) }()
	visits := 0
	cpu0 := processCPU(b)
	b.ReportAllocs()
	for b.Loop() {
		rows <- visit(crawl, visits)
		visits++
	}
	close(rows)
	if err := <-done; err != nil { // the last commit counts
		b.Fatal(err)
	}
	b.ReportMetric(float64(visits)/b.Elapsed().Seconds(), "visits/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(visits), "cpu-µs/visit")
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchVisit(crawl int64, n int) Visit {
	host := "h" + strconv.Itoa(n%50) + ".example"
	src := "https://" + host + "/section/page-" + strconv.Itoa(n)
	v := Visit{CrawlID: crawl,
		Page: &Page{URL: src, Host: host, FinalURL: src, Status: 200, ContentType: "text/html; charset=utf-8",
			Title: "A page title of typical length " + strconv.Itoa(n), Depth: 3, FetchedAt: time.Now(),
			Duration: 120 * time.Millisecond, Size: 48_000, ContentHash: "0123456789abcdef", Attempts: 1},
		Links:      make([]Link, 20),
		Discovered: make([]URL, 10),
	}
	// Ten links lead to the new pages it discovers, ten to navigation
	// pages that every page of the host links to.
	for i := range v.Discovered {
		dst := "https://" + host + "/section/page-" + strconv.Itoa(n) + "-" + strconv.Itoa(i)
		v.Discovered[i] = URL{URL: dst, Host: host, Depth: 4}
		v.Links[2*i] = Link{Dst: dst, Queued: true}
		v.Links[2*i+1] = Link{Dst: "https://" + host + "/nav/item-" + strconv.Itoa(i), Queued: true} // queued by an earlier page
	}
	return v
}

// TestWriteAliases: a redirect target absorbed by a fetch is recorded as done
// in urls (so a resumed crawl never fetches it) without a pages row of its own.
func TestWriteAliases(t *testing.T) {
	db := openTest(t)
	v := Visit{
		Page:    &Page{URL: "https://a.test/old", Host: "a.test", FinalURL: "https://a.test/new", Status: 200, Redirects: []string{"https://a.test/new"}},
		Aliases: []URL{{URL: "https://a.test/new", Host: "a.test"}},
	}
	queued := Visit{Discovered: []URL{{URL: "https://a.test/new", Host: "a.test", Depth: 3}}}
	got, err := runWrite(db, WriterConfig{}, []Visit{v, queued})
	if err != nil {
		t.Fatal(err)
	}
	if q := allQueued(got); len(q) != 0 {
		t.Errorf("queued %+v, want nothing: the discovered URL is a recorded alias", q)
	}
	if n := count(t, db, `SELECT count(*) FROM urls WHERE url = 'https://a.test/new' AND state = 'done'`); n != 1 {
		t.Errorf("redirect target in state done: %d rows, want 1", n)
	}
	if n := count(t, db, `SELECT count(*) FROM urls WHERE state = 'queued'`); n != 0 {
		t.Errorf("queued urls = %d, want 0: a later discovery must not requeue an alias", n)
	}
	if n := count(t, db, `SELECT count(*) FROM pages`); n != 1 {
		t.Errorf("pages = %d, want 1", n)
	}
}

// TestWriteRefetchReplacesLinks: a page fetched again (a recrawl) keeps
// one set of links, the latest, under the same page id.
func TestWriteRefetchReplacesLinks(t *testing.T) {
	db := openTest(t)
	src := "https://a.test/"
	first := Visit{Page: &Page{URL: src, Host: "a.test", Status: 200}, Links: []Link{{Dst: "https://a.test/1"}, {Dst: "https://a.test/2"}}}
	other := Visit{Page: &Page{URL: "https://a.test/9", Host: "a.test", Status: 200}, Links: []Link{{Dst: src, Queued: true}}}
	second := Visit{Page: &Page{URL: src, Host: "a.test", Status: 200, Refetch: true}, Links: []Link{{Dst: "https://a.test/3"}}}
	// A recrawl fetches a URL once: the refetch comes in a later batch.
	commitOne(t, db, first, other)
	commitOne(t, db, second)
	if n := count(t, db, `SELECT count(*) FROM links WHERE src_url = ? AND dst_url = 'https://a.test/3'`, src); n != 1 {
		t.Errorf("latest link stored %d times, want 1", n)
	}
	if n := count(t, db, `SELECT count(*) FROM links`); n != 2 {
		t.Errorf("links = %d, want 2 (the refetched page's new link and the other page's)", n)
	}
	if n := count(t, db, `SELECT count(*) FROM links l JOIN pages p ON p.id = l.page_id WHERE p.url = l.src_url`); n != 2 {
		t.Errorf("links whose page_id matches their src_url = %d, want 2", n)
	}
}

func TestWriterPragmas(t *testing.T) {
	db := openTest(t)
	var pages int
	if err := db.rw.QueryRowContext(t.Context(), `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != walCheckpointPages {
		t.Errorf("wal_autocheckpoint on the writer = %d, want %d", pages, walCheckpointPages)
	}
}

func TestWriteSitemaps(t *testing.T) {
	db := openTest(t)
	sm := []Sitemap{{Host: "a.test", URL: "https://a.test/sitemap.xml"}, {Host: "a.test", URL: "https://a.test/news.xml"}}
	visits := []Visit{
		{Page: &Page{URL: "https://a.test/", Host: "a.test", Status: 200}, Sitemaps: sm},
		{Page: &Page{URL: "https://a.test/1", Host: "a.test", Status: 200}, Sitemaps: sm[:1]}, // robots.txt reloaded later: no repeat rows
	}
	if _, err := runWrite(db, WriterConfig{}, visits); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM sitemaps WHERE host = 'a.test'`); n != 2 {
		t.Errorf("sitemaps rows = %d, want 2", n)
	}
	st, err := db.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Sitemaps != 2 {
		t.Errorf("Stats.Sitemaps = %d, want 2", st.Sitemaps)
	}
}

// TestWriteAnswered: a page whose error is the site's answer (a 404, a
// robots.txt denial) is done, not failed; its error text is kept.
func TestWriteAnswered(t *testing.T) {
	db := openTest(t)
	visits := []Visit{
		{Page: &Page{URL: "https://a.test/gone", Host: "a.test", Status: 404, Error: "status 404", Answered: true}},
		{Page: &Page{URL: "https://a.test/down", Host: "a.test", Error: "connection refused"}},
	}
	if _, err := runWrite(db, WriterConfig{}, visits); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM urls WHERE url = 'https://a.test/gone' AND state = 'done'`); n != 1 {
		t.Errorf("answered page not done")
	}
	if n := count(t, db, `SELECT count(*) FROM urls WHERE url = 'https://a.test/down' AND state = 'failed'`); n != 1 {
		t.Errorf("failed page not failed")
	}
	if n := count(t, db, `SELECT count(*) FROM pages WHERE error IS NOT NULL`); n != 2 {
		t.Errorf("error texts kept for %d pages, want 2", n)
	}
}

// TestWriteQueuesOnce: a URL is queued exactly once, by the merge after its
// first discovery, whether the repeat is in the same visit, in another
// visit of the batch or in a later batch, and never when it was fetched
// before; every discovery gets its own Seq, and the URL is queued with the
// first discovery's Seq and depth. Queued is in queue order.
func TestWriteQueuesOnce(t *testing.T) {
	db := openTest(t)
	u := func(path string, depth int) URL {
		return URL{URL: "https://a.test" + path, Host: "a.test", Depth: depth}
	}
	batch1 := commitOne(t, db,
		Visit{Discovered: []URL{u("/1", 0), u("/2", 0), u("/1", 5)}},
		Visit{Discovered: []URL{u("/2", 5), u("/3", 1)}},
	)
	batch2 := commitOne(t, db, Visit{Discovered: []URL{u("/1", 5), u("/4", 2), u("/4", 5)}})
	fetched := commitOne(t, db, Visit{Page: &Page{URL: "https://a.test/9", Host: "a.test", Status: 200, Depth: 3}})
	batch3 := commitOne(t, db, Visit{Discovered: []URL{u("/9", 4), u("/2", 4), u("/5", 4)}})

	var prev int64
	for _, visit := range slices.Concat(batch1.discovered, batch2.discovered, batch3.discovered) {
		for _, d := range visit {
			if d.ID != URLID(d.URL) || d.Host != "a.test" {
				t.Errorf("%s: ID %d, host %q; want URLID %d, a.test", d.URL, d.ID, d.Host, URLID(d.URL))
			}
			if d.Seq <= prev {
				t.Errorf("%s: Seq %d, want above the previous discovery's %d", d.URL, d.Seq, prev)
			}
			prev = d.Seq
		}
	}
	d1, d2, d3 := batch1.discovered, batch2.discovered, batch3.discovered
	tests := []struct {
		name   string
		got    batchResult
		want   []URL // the first discoveries, as Write numbered them
		merged int
	}{
		{"repeats within a visit and a batch", batch1, []URL{d1[0][0], d1[0][1], d1[1][1]}, 5},
		{"a repeat of a queued URL", batch2, []URL{d2[0][1]}, 3},
		{"no discovery", fetched, nil, 0},
		{"a fetched URL and a queued one", batch3, []URL{d3[0][2]}, 3},
	}
	seqs := map[string]int64{} // of the URLs queued
	for _, tt := range tests {
		if !slices.Equal(tt.got.queued, tt.want) || tt.got.merged != tt.merged {
			t.Errorf("%s: queued %+v (merged %d), want %+v (%d)", tt.name, tt.got.queued, tt.got.merged, tt.want, tt.merged)
		}
		for _, q := range tt.got.queued {
			seqs[q.URL] = q.Seq
		}
	}
	if q := batch1.queued; len(q) == 3 && (q[0].Depth != 0 || q[1].Depth != 0 || q[2].Depth != 1) {
		t.Errorf("batch 1 queued depths %d, %d, %d; want the first discoveries' 0, 0, 1", q[0].Depth, q[1].Depth, q[2].Depth)
	}

	// Stored once each, with the first discovery's depth, at the Seq reported.
	rows, err := db.ro.QueryContext(t.Context(), `SELECT url, depth, seq FROM urls WHERE state = 'queued' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var order []string
	for rows.Next() {
		var url string
		var depth int
		var seq int64
		if err := rows.Scan(&url, &depth, &seq); err != nil {
			t.Fatal(err)
		}
		order = append(order, url)
		if seq != seqs[url] {
			t.Errorf("urls row %s: seq %d, want the Seq reported queued %d", url, seq, seqs[url])
		}
		if want := map[string]int{"/1": 0, "/2": 0, "/3": 1, "/4": 2, "/5": 4}[url[len("https://a.test"):]]; depth != want {
			t.Errorf("urls row %s: depth %d, want %d (the first discovery's)", url, depth, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://a.test/1", "https://a.test/2", "https://a.test/3", "https://a.test/4", "https://a.test/5"}; !slices.Equal(order, want) {
		t.Errorf("queued urls by seq = %v, want discovery order %v", order, want)
	}
	if n := count(t, db, `SELECT count(*) FROM urls WHERE url = 'https://a.test/9' AND state = 'done' AND depth = 3`); n != 1 {
		t.Errorf("fetched a.test/9: %d done rows at depth 3, want 1: a later discovery changes nothing", n)
	}
}

// TestWriteAliasNotQueued: a redirect target recorded as an alias is done,
// and a discovery of it in the same batch, before or after the alias, does
// not queue it.
func TestWriteAliasNotQueued(t *testing.T) {
	for _, discoverFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("discovered first %v", discoverFirst), func(t *testing.T) {
			db := openTest(t)
			redirect := Visit{
				Page: &Page{URL: "https://a.test/old", Host: "a.test", FinalURL: "https://a.test/new", Status: 200,
					Redirects: []string{"https://a.test/new"}},
				Aliases: []URL{{URL: "https://a.test/new", Host: "a.test", Depth: 1}},
			}
			discover := Visit{Discovered: []URL{
				{URL: "https://a.test/new", Host: "a.test", Depth: 2},
				{URL: "https://a.test/other", Host: "a.test", Depth: 2},
			}}
			visits := []Visit{redirect, discover}
			if discoverFirst {
				visits = []Visit{discover, redirect}
			}
			got := commitOne(t, db, visits...)
			d := got.discovered[slices.IndexFunc(visits, func(v Visit) bool { return v.Page == nil })]
			if want := []URL{d[1]}; !slices.Equal(got.queued, want) || got.merged != 2 {
				t.Errorf("queued %+v (merged %d), want only a.test/other %+v (2)", got.queued, got.merged, want)
			}
			if n := count(t, db, `SELECT count(*) FROM urls WHERE url = 'https://a.test/new' AND state = 'done'`); n != 1 {
				t.Errorf("alias done rows = %d, want 1", n)
			}
			leased, err := db.Lease(t.Context(), "a.test", 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(leased, got.queued) {
				t.Errorf("Lease = %+v, want what was queued, %+v", leased, got.queued)
			}
		})
	}
}

// TestWriteInvalidVisit: a visit Write cannot store fails its batch, with
// an error saying why, and nothing of the batch is kept.
func TestWriteInvalidVisit(t *testing.T) {
	tests := []struct {
		name  string
		visit Visit
		want  string
	}{
		{"page without a URL", Visit{Page: &Page{Host: "a.test", Status: 200}}, "page without a URL"},
		{"links without a page", Visit{Links: []Link{{Dst: "https://a.test/x"}}}, "links of a visit without its page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t)
			good := pageVisit(0, 1, 1, 2)
			got, err := runWrite(db, WriterConfig{BatchSize: 2, FlushEvery: time.Hour}, []Visit{good, tt.visit})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write err = %v, want one saying %q", err, tt.want)
			}
			if len(got) != 1 || got[0].err == nil {
				t.Fatalf("committed = %+v, want one failed batch", got)
			}
			if n := count(t, db, `SELECT (SELECT count(*) FROM url) + (SELECT count(*) FROM page) + (SELECT count(*) FROM hosts)`); n != 0 {
				t.Errorf("%d url, page and hosts rows after the failed batch, want 0", n)
			}
		})
	}
}
