package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// batchResult is what committed was called with.
type batchResult struct {
	urls       []string // Page.URL, or the first Discovered URL for seed visits
	discovered [][]URL  // each visit's Discovered as committed saw it (New and Seq set)
	err        error
}

// runWrite sends visits through Write and returns each committed call in
// order and Write's result. It may be called from any goroutine.
func runWrite(db *DB, cfg WriterConfig, visits []Visit) ([]batchResult, error) {
	rows := make(chan Visit)
	var got []batchResult // written by committed on Write's goroutine; read after done
	done := make(chan error, 1)
	go func() {
		done <- db.Write(context.Background(), cfg, rows, func(batch []Visit, err error) {
			got = append(got, newBatchResult(batch, err))
		})
	}()
	for _, v := range visits {
		rows <- v
	}
	close(rows)
	err := <-done
	return got, err
}

// newBatchResult copies what committed may not keep: batch is reused.
func newBatchResult(batch []Visit, err error) batchResult {
	r := batchResult{err: err}
	for _, v := range batch {
		r.urls = append(r.urls, visitKey(v))
		r.discovered = append(r.discovered, slices.Clone(v.Discovered))
	}
	return r
}

// commitOne writes visits as one batch, the way Write groups what is
// already waiting when it starts, and returns each visit's Discovered as
// committed saw them. Batches are otherwise cut by timing; tests of what
// happens within one batch need this. It fails the test on any error.
func commitOne(t *testing.T, db *DB, visits ...Visit) [][]URL {
	t.Helper()
	rows := make(chan Visit, len(visits))
	for _, v := range visits {
		rows <- v
	}
	close(rows) // Write finds every visit waiting, then the close: one batch
	var got []batchResult
	err := db.Write(t.Context(), WriterConfig{BatchSize: max(len(visits), 1)}, rows, func(batch []Visit, err error) {
		got = append(got, newBatchResult(batch, err))
	})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if len(got) != 1 || len(got[0].urls) != len(visits) {
		t.Fatalf("committed %d batches (%v), want one of %d visits", len(got), got, len(visits))
	}
	return got[0].discovered
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
		want      []int // sizes of the committed batches
	}{
		{"exact multiple", 3, 9, []int{3, 3, 3}},
		{"partial batch flushed on close", 3, 10, []int{3, 3, 3, 1}},
		{"one big batch", 0, 10, []int{10}}, // default 256
		{"batch of one", 1, 3, []int{1, 1, 1}},
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
// state: one transaction, visible together.
func TestWriteCommittedSeesWholeVisit(t *testing.T) {
	db := openTest(t)
	rows := make(chan Visit)
	done := make(chan error, 1)
	var checked int
	go func() {
		done <- db.Write(t.Context(), WriterConfig{BatchSize: 4, FlushEvery: time.Hour}, rows, func(batch []Visit, err error) {
			if err != nil {
				t.Errorf("committed err = %v", err)
				return
			}
			for _, v := range batch {
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
					if got := count(t, db, `SELECT count(*) FROM urls WHERE url = ? AND state = 'queued' AND seq = ?`, u.URL, u.Seq); got != 1 {
						t.Errorf("%s: discovered %s not queued at seq %d", p.URL, u.URL, u.Seq)
					}
					if !u.New {
						t.Errorf("%s: discovered %s (never seen before) not reported New", p.URL, u.URL)
					}
				}
				checked++
			}
		})
	}()
	for n := range 10 {
		rows <- pageVisit(0, 1, n+1, 5)
	}
	close(rows)
	if err := <-done; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if checked != 10 {
		t.Errorf("checked %d visits in committed, want 10", checked)
	}
}

func TestWriteFlushEvery(t *testing.T) {
	db := openTest(t)
	rows := make(chan Visit)
	flushed := make(chan []string, 1)
	done := make(chan error, 1)
	go func() {
		done <- db.Write(t.Context(), WriterConfig{BatchSize: 100, FlushEvery: 20 * time.Millisecond}, rows,
			func(batch []Visit, err error) {
				var urls []string
				for _, v := range batch {
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
// must be rolled back (pages, states, queue, and the host it added),
// committed must get the error and report no URL as New, and Write must
// keep draining and writing later batches, and return the error.
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
	if len(got) != 3 {
		t.Fatalf("committed called %d times, want 3", len(got))
	}
	if got[0].err != nil || got[2].err != nil {
		t.Errorf("committed errs = %v, %v for the good batches, want nil", got[0].err, got[2].err)
	}
	if got[1].err == nil || !errors.Is(err, got[1].err) {
		t.Errorf("batch 2 err = %v, Write err = %v; want the same non-nil error", got[1].err, err)
	}
	for i, b := range got {
		for _, d := range b.discovered {
			for _, u := range d {
				if want := b.err == nil; u.New != want {
					t.Errorf("batch %d: %s New = %v, want %v", i+1, u.URL, u.New, want)
				}
			}
		}
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
// and 10 newly discovered URLs each.
func BenchmarkWrite(b *testing.B) {
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
	go func() {
		done <- db.Write(context.Background(), WriterConfig{}, rows, nil)
	}()
	visits := 0
	b.ReportAllocs()
	for b.Loop() {
		rows <- benchVisit(crawl, visits)
		visits++
	}
	close(rows)
	if err := <-done; err != nil { // the last flush counts
		b.Fatal(err)
	}
	b.ReportMetric(float64(visits)/b.Elapsed().Seconds(), "visits/s")
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
	for _, b := range got {
		for _, d := range b.discovered {
			for _, u := range d {
				if u.New {
					t.Errorf("%s reported New, want not: it is a recorded alias", u.URL)
				}
			}
		}
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

// TestWriteReportsNew: Write reports a URL New exactly once, the first time
// it is discovered, whether the repeat is in the same visit, in another
// visit of the batch or in a later batch; Seq is the stored queue order.
func TestWriteReportsNew(t *testing.T) {
	db := openTest(t)
	u := func(path string, depth int) URL {
		return URL{URL: "https://a.test" + path, Host: "a.test", Depth: depth}
	}
	batch1 := commitOne(t, db,
		Visit{Discovered: []URL{u("/1", 0), u("/2", 0), u("/1", 5)}},
		Visit{Discovered: []URL{u("/2", 5), u("/3", 1)}},
	)
	batch2 := commitOne(t, db, Visit{Discovered: []URL{u("/1", 5), u("/4", 2), u("/4", 5)}})

	type report struct {
		url string
		new bool
	}
	var got []report
	seqs := map[string]int64{} // of the New ones
	for _, visit := range slices.Concat(batch1, batch2) {
		for _, d := range visit {
			got = append(got, report{d.URL, d.New})
			if d.New {
				seqs[d.URL] = d.Seq
			}
			if d.ID != URLID(d.URL) {
				t.Errorf("%s: ID = %d, want URLID %d", d.URL, d.ID, URLID(d.URL))
			}
		}
	}
	want := []report{
		{"https://a.test/1", true}, {"https://a.test/2", true}, {"https://a.test/1", false},
		{"https://a.test/2", false}, {"https://a.test/3", true},
		{"https://a.test/1", false}, {"https://a.test/4", true}, {"https://a.test/4", false},
	}
	if !slices.Equal(got, want) {
		t.Errorf("New reported = %v, want %v", got, want)
	}

	// Queued once each, with the first discovery's depth, at the Seq reported.
	rows, err := db.ro.QueryContext(t.Context(), `SELECT url, depth, seq, state FROM urls ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var order []string
	for rows.Next() {
		var url, state string
		var depth int
		var seq int64
		if err := rows.Scan(&url, &depth, &seq, &state); err != nil {
			t.Fatal(err)
		}
		order = append(order, url)
		if seq != seqs[url] || state != "queued" {
			t.Errorf("urls row %s: seq %d, state %s; want the reported Seq %d, queued", url, seq, state, seqs[url])
		}
		if want := map[string]int{"/1": 0, "/2": 0, "/3": 1, "/4": 2}[url[len("https://a.test"):]]; depth != want {
			t.Errorf("urls row %s: depth %d, want %d (the first discovery's)", url, depth, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://a.test/1", "https://a.test/2", "https://a.test/3", "https://a.test/4"}; !slices.Equal(order, want) {
		t.Errorf("urls by seq = %v, want discovery order %v", order, want)
	}
}

// TestWriteAliasNotNew: a redirect target recorded as an alias is done, and
// a discovery of it in the same batch, before or after the alias, neither
// queues it nor reports it New.
func TestWriteAliasNotNew(t *testing.T) {
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
			d := got[slices.IndexFunc(visits, func(v Visit) bool { return v.Page == nil })]
			if d[0].New || !d[1].New {
				t.Errorf("New: alias %v, other %v; want false, true", d[0].New, d[1].New)
			}
			if n := count(t, db, `SELECT count(*) FROM urls WHERE url = 'https://a.test/new' AND state = 'done'`); n != 1 {
				t.Errorf("alias done rows = %d, want 1", n)
			}
			leased, err := db.Lease(t.Context(), "a.test", 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(leased) != 1 || leased[0].URL != "https://a.test/other" {
				t.Errorf("Lease = %v, want only a.test/other", leased)
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
