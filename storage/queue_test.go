package storage

import (
	"slices"
	"testing"
)

// TestWriteLeasedVisit: a page written with the Seq it was leased with
// leaves its url row as it was, takes the URL out of the queue and is keyed
// by that Seq; its state (done, failed) is its page's, and a recrawl queues
// it again. The counts of Stats and Totals follow.
func TestWriteLeasedVisit(t *testing.T) {
	db := openTest(t)
	seed := Visit{Discovered: []URL{
		{URL: "https://a.test/ok", Host: "a.test"},
		{URL: "https://a.test/down", Host: "a.test"},
		{URL: "https://a.test/later", Host: "a.test"},
	}, Merge: true}
	queued := commitOne(t, db, seed).queued
	if len(queued) != 3 {
		t.Fatalf("queued %+v, want 3 URLs", queued)
	}
	leased, err := db.Lease(t.Context(), "a.test", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(leased, queued, func(a, b URL) bool { return a.URL == b.URL && a.Seq == b.Seq && a.ID == b.ID }) {
		t.Fatalf("leased %+v, want what was queued %+v", leased, queued)
	}
	before := dump(t, db.ro, `SELECT id, url, host_id, depth, seq, crawl_id FROM url ORDER BY id`)

	ok, down := leased[0], leased[1]
	commitOne(t, db,
		Visit{Page: &Page{ID: ok.ID, Seq: ok.Seq, URL: ok.URL, Host: "a.test", Status: 200, Title: "ok"},
			Links: []Link{{Dst: down.URL, Queued: true}}},
		Visit{Page: &Page{ID: down.ID, Seq: down.Seq, URL: down.URL, Host: "a.test", Error: "connection refused"}})

	if after := dump(t, db.ro, `SELECT id, url, host_id, depth, seq, crawl_id FROM url ORDER BY id`); !slices.Equal(after, before) {
		t.Errorf("url rows changed by leased visits:\n%v\nwant\n%v", after, before)
	}
	for _, tt := range []struct {
		query string
		args  []any
		want  int
	}{
		{`SELECT count(*) FROM queue`, nil, 1},
		{`SELECT count(*) FROM urls WHERE url = ? AND state = 'done'`, []any{ok.URL}, 1},
		{`SELECT count(*) FROM urls WHERE url = ? AND state = 'failed'`, []any{down.URL}, 1},
		{`SELECT count(*) FROM urls WHERE url = 'https://a.test/later' AND state = 'queued'`, nil, 1},
		{`SELECT count(*) FROM page WHERE seq = ? AND id = ? AND title = 'ok'`, []any{ok.Seq, ok.ID}, 1},
		{`SELECT count(*) FROM links WHERE src_url = ? AND dst_url = ?`, []any{ok.URL, down.URL}, 1},
	} {
		if got := count(t, db, tt.query, tt.args...); got != tt.want {
			t.Errorf("%s %v = %d, want %d", tt.query, tt.args, got, tt.want)
		}
	}
	checkCounts(t, db, "after the visits", 1, 1, 1)

	if n, err := db.Requeue(t.Context()); err != nil || n != 2 {
		t.Fatalf("Requeue = %d, %v; want the 2 fetched URLs", n, err)
	}
	checkCounts(t, db, "after Requeue", 3, 0, 0)
	again, err := db.Lease(t.Context(), "a.test", 0, 10)
	if err != nil || len(again) != 3 || again[0].Seq != ok.Seq {
		t.Errorf("lease after Requeue = %+v, %v; want the 3 URLs at their old seqs", again, err)
	}
}

// checkCounts compares Stats and Totals with the queued, done and failed
// counts wanted.
func checkCounts(t *testing.T, db *DB, when string, queued, done, failed int64) {
	t.Helper()
	s, err := db.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Queued != queued || s.Done != done || s.Failed != failed {
		t.Errorf("%s: Stats queued %d, done %d, failed %d; want %d, %d, %d", when, s.Queued, s.Done, s.Failed, queued, done, failed)
	}
	tot, err := db.Totals(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tot.Failed != failed {
		t.Errorf("%s: Totals.Failed = %d, want %d", when, tot.Failed, failed)
	}
}

// TestWritePageTwiceInBatch: a URL fetched twice in one batch (a retry
// recorded twice) keeps one page row, the last one sent.
func TestWritePageTwiceInBatch(t *testing.T) {
	db := openTest(t)
	commitOne(t, db,
		Visit{Page: &Page{URL: "https://a.test/p", Host: "a.test", Error: "connection refused"}},
		Visit{Page: &Page{URL: "https://a.test/p", Host: "a.test", Status: 200, Title: "second"}},
		Visit{Page: &Page{URL: "https://a.test/q", Host: "a.test", Status: 200, Title: "other"}})
	if got := dump(t, db.ro, `SELECT url, title, state FROM pages JOIN urls USING (url) ORDER BY url`); !slices.Equal(got,
		[]string{`"https://a.test/p" "second" "done"`, `"https://a.test/q" "other" "done"`}) {
		t.Errorf("pages = %q, want the second fetch of /p and /q, both done", got)
	}
}
