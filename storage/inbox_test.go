package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// stepWriter runs Write on a goroutine of its own, one visit at a time: step
// sends a visit and waits for its commit, so that each visit is a batch of
// its own and the test sees the file between commits, before rows is closed
// (and before the final flush's merge).
type stepWriter struct {
	rows    chan Visit       // closed by finish
	commits chan batchResult // one per commit, sent by committed on Write's goroutine
	done    chan error       // Write's result
	closed  bool
}

// startWrite starts Write on db with cfg. Should the test end without
// calling finish, a cleanup does, so that Write ends before the file closes.
func startWrite(t *testing.T, db *DB, cfg WriterConfig) *stepWriter {
	t.Helper()
	w := &stepWriter{rows: make(chan Visit), commits: make(chan batchResult, 16), done: make(chan error, 1)}
	go func() {
		// WithoutCancel: a cleanup's finish runs after t.Context ends.
		w.done <- db.Write(context.WithoutCancel(t.Context()), direct(cfg), w.rows, func(c Commit) {
			w.commits <- newBatchResult(c)
		})
	}()
	t.Cleanup(func() {
		if !w.closed {
			w.finish()
		}
	})
	return w
}

// step sends v and returns its commit. Nothing else is waiting in rows, so
// Write commits v alone.
func (w *stepWriter) step(v Visit) batchResult {
	w.rows <- v
	return <-w.commits
}

// finish closes rows and returns the commits that came after the last step
// (the final flush's) and Write's error.
func (w *stepWriter) finish() ([]batchResult, error) {
	w.closed = true
	close(w.rows)
	var rest []batchResult
	for {
		select {
		case r := <-w.commits:
			rest = append(rest, r)
		case err := <-w.done: // committed's sends happened before Write returned
			for {
				select {
				case r := <-w.commits:
					rest = append(rest, r)
				default:
					return rest, err
				}
			}
		}
	}
}

// checkLease fails the test unless Lease gives back exactly want's URLs of
// host, in order.
func checkLease(t *testing.T, db *DB, host string, want []URL) {
	t.Helper()
	want = slices.DeleteFunc(slices.Clone(want), func(u URL) bool { return u.Host != host })
	got, err := db.Lease(t.Context(), host, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Lease(%s) = %+v, want %+v", host, got, want)
	}
}

// TestWriteQueuesOnlyOnMerge: discovered URLs wait in the inbox, durable
// but not queued (no Lease, no Seen, no url row, nothing in Queued), until
// a visit asks for a merge; Stats counts them as queued meanwhile. The
// merge queues them and the visit's own discoveries in discovery order,
// each once, and a writer that ends with an empty inbox commits nothing
// more.
func TestWriteQueuesOnlyOnMerge(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	w := startWrite(t, db, WriterConfig{})
	c1 := w.step(pageVisit(0, 1, 1, 2)) // h1.test/1 discovers h1.test/11 and /12
	c2 := w.step(Visit{Discovered: []URL{{URL: "https://h2.test/", Host: "h2.test"}}})
	for i, c := range []batchResult{c1, c2} {
		if c.err != nil || len(c.queued) != 0 || c.merged != 0 {
			t.Errorf("commit %d: err %v, queued %+v, merged %d; want nil, nothing, 0", i+1, c.err, c.queued, c.merged)
		}
	}
	discovered := slices.Concat(c1.discovered[0], c2.discovered[0])
	for _, u := range discovered {
		if n := count(t, db, `SELECT count(*) FROM url WHERE id = ?`, u.ID); n != 0 {
			t.Errorf("%s in url before a merge", u.URL)
		}
		if seen, err := db.Seen(ctx, u.ID); err != nil || seen {
			t.Errorf("Seen(%s) before a merge = %v, %v; want false", u.URL, seen, err)
		}
		if n := count(t, db, `SELECT count(*) FROM inbox WHERE id = ? AND url = ? AND seq = ? AND depth = ?`, u.ID, u.URL, u.Seq, u.Depth); n != 1 {
			t.Errorf("%+v: %d inbox rows, want 1", u, n)
		}
	}
	checkLease(t, db, "h1.test", nil)
	checkLease(t, db, "h2.test", nil)
	hosts := 0
	if err := db.QueuedHosts(ctx, func(string, int) error { hosts++; return nil }); err != nil || hosts != 0 {
		t.Errorf("QueuedHosts before a merge: %d hosts, %v; want none", hosts, err)
	}
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != 3 || st.Discovered != 4 || st.Done != 1 {
		t.Errorf("Stats before a merge: queued %d, discovered %d, done %d; want 3, 4 (with the fetched page), 1",
			st.Queued, st.Discovered, st.Done)
	}

	// A repeat of a URL in the inbox counts once, with its first depth.
	c3 := w.step(Visit{Merge: true, Discovered: []URL{
		{URL: "https://h1.test/12", Host: "h1.test", Depth: 9},
		{URL: "https://h1.test/13", Host: "h1.test", Depth: 2},
	}})
	want := append(discovered, c3.discovered[0][1])
	if c3.err != nil || !slices.Equal(c3.queued, want) || c3.merged != 5 {
		t.Errorf("merge: err %v, queued %+v, merged %d;\nwant nil, %+v, 5", c3.err, c3.queued, c3.merged, want)
	}
	checkLease(t, db, "h1.test", want)
	checkLease(t, db, "h2.test", want)
	if n := count(t, db, `SELECT count(*) FROM inbox`); n != 0 {
		t.Errorf("inbox holds %d rows after the merge, want 0", n)
	}
	// The links of h1.test/1 name their targets now that url has them.
	if n := count(t, db, `SELECT count(*) FROM links WHERE dst_url IS NULL`); n != 0 {
		t.Errorf("%d links without a target URL after the merge, want 0", n)
	}
	if st, err = db.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if st.Queued != 4 || st.Discovered != 5 {
		t.Errorf("Stats after the merge: queued %d, discovered %d; want 4, 5", st.Queued, st.Discovered)
	}
	rest, err := w.finish()
	if err != nil || len(rest) != 0 {
		t.Errorf("finish: commits %+v, err %v; want none (nothing left to merge), nil", rest, err)
	}
}

// TestWriteMergeAt: the batch that brings the inbox to MergeAt rows or
// more merges it (repeats are rows too); the final flush merges the rest.
func TestWriteMergeAt(t *testing.T) {
	tests := []struct {
		name       string
		discovered []int // URLs each visit discovers, a batch each
		same       bool  // every discovery is the same URL
		merged     []int // Merged of each visit's commit
		final      int   // Merged of the final flush's commit; 0: there is none
	}{
		{"reaches it exactly", []int{2, 2, 1, 1}, false, []int{0, 0, 5, 0}, 1},
		{"passes it in one batch", []int{3, 7, 2}, false, []int{0, 10, 0}, 2},
		{"one batch alone", []int{6}, false, []int{6}, 0},
		{"below it until close", []int{1, 3}, false, []int{0, 0}, 4},
		{"repeats count", []int{3, 2, 1}, true, []int{0, 5, 0}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t)
			w := startWrite(t, db, WriterConfig{MergeAt: 5})
			var got []batchResult
			var discovered []URL // first discoveries, in order
			for i, n := range tt.discovered {
				var v Visit
				for j := range n {
					u := URL{URL: fmt.Sprintf("https://a.test/%d/%d", i, j), Host: "a.test", Depth: 1}
					if tt.same {
						u.URL = "https://a.test/same"
					}
					v.Discovered = append(v.Discovered, u)
				}
				c := w.step(v)
				got = append(got, c)
				for _, u := range c.discovered[0] {
					if !slices.ContainsFunc(discovered, func(d URL) bool { return d.ID == u.ID }) {
						discovered = append(discovered, u)
					}
				}
			}
			rest, err := w.finish()
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			var merged []int
			for _, c := range got {
				merged = append(merged, c.merged)
				if c.err != nil {
					t.Errorf("commit err = %v", c.err)
				}
			}
			if !slices.Equal(merged, tt.merged) {
				t.Errorf("Merged per visit = %v, want %v", merged, tt.merged)
			}
			final := 0
			if len(rest) > 1 || (len(rest) == 1 && len(rest[0].urls) != 0) {
				t.Errorf("final flush commits = %+v, want at most one, without visits", rest)
			} else if len(rest) == 1 {
				final = rest[0].merged
			}
			if final != tt.final {
				t.Errorf("final flush merged %d, want %d", final, tt.final)
			}
			if q := allQueued(slices.Concat(got, rest)); !slices.Equal(q, discovered) {
				t.Errorf("queued %+v, want each URL once, as first discovered: %+v", q, discovered)
			}
		})
	}
}

// TestWriteFinalMerge: once rows is closed, Write merges what the inbox
// holds in a commit of its own, with an empty Batch, and commits nothing
// when the inbox is empty.
func TestWriteFinalMerge(t *testing.T) {
	seed := Visit{Discovered: []URL{{URL: "https://h2.test/", Host: "h2.test"}}}
	merging := seed
	merging.Merge = true
	fetched := Visit{Page: &Page{URL: "https://h3.test/", Host: "h3.test", Status: 200}}
	tests := []struct {
		name    string
		visits  []Visit
		batches []int // visits per commit
		queued  []int // URLs each commit queued
	}{
		{"discoveries left", []Visit{pageVisit(0, 1, 1, 2), seed}, []int{2, 0}, []int{0, 3}},
		{"merged by the batch", []Visit{pageVisit(0, 1, 1, 2), merging}, []int{2}, []int{3}},
		{"nothing discovered", []Visit{fetched}, []int{1}, []int{0}},
		{"no visits", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openTest(t)
			// Everything lingers into one batch until rows is closed.
			got, err := runWrite(db, WriterConfig{FlushEvery: time.Hour}, tt.visits)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			var batches, queued []int
			for _, c := range got {
				batches, queued = append(batches, len(c.urls)), append(queued, len(c.queued))
			}
			if !slices.Equal(batches, tt.batches) || !slices.Equal(queued, tt.queued) {
				t.Errorf("commits: visits %v, queued %v; want %v, %v", batches, queued, tt.batches, tt.queued)
			}
			var discovered []URL
			for _, c := range got {
				discovered = append(discovered, slices.Concat(c.discovered...)...)
			}
			if q := allQueued(got); !slices.Equal(q, discovered) {
				t.Errorf("queued %+v, want every discovery %+v", q, discovered)
			}
			if n := count(t, db, `SELECT count(*) FROM inbox`); n != 0 {
				t.Errorf("inbox holds %d rows after Write, want 0", n)
			}
		})
	}
}

// snapshot copies what the file at src holds committed now into a new
// file, as a kill -9 at this moment would leave it (a commit in WAL mode is
// durable), and returns its path. It reads through a connection of its own:
// a DB's read pool is query-only, and VACUUM INTO counts as a write.
func snapshot(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "crashed.db")
	conn, err := sql.Open("sqlite3", src+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `VACUUM INTO ?`, path); err != nil {
		t.Fatalf("snapshot %s: %v", src, err)
	}
	return path
}

// TestWriteMergeAfterCrash: a writer killed between a batch and its merge
// leaves the discoveries in the inbox; the next writer queues them, each
// once, at their old seqs, at its first merge. Killed between the merge and
// emptying the inbox, it leaves URLs in both, which the next merge counts
// as known.
func TestWriteMergeAfterCrash(t *testing.T) {
	db := openTest(t)
	w := startWrite(t, db, WriterConfig{MergeAt: 1 << 30})
	c := w.step(Visit{Discovered: []URL{
		{URL: "https://a.test/1", Host: "a.test", Depth: 1},
		{URL: "https://a.test/2", Host: "a.test", Depth: 1},
		{URL: "https://b.test/", Host: "b.test"},
	}})
	if c.err != nil || len(c.queued) != 0 {
		t.Fatalf("commit: err %v, queued %+v; want nil, nothing", c.err, c.queued)
	}
	old := c.discovered[0]
	if n := count(t, db, `SELECT count(*) FROM inbox`); n != 3 {
		t.Fatalf("inbox holds %d rows in the file, want 3", n)
	}
	crashed := snapshot(t, db.abs)
	if _, err := w.finish(); err != nil { // this one merges: the crashed copy never did
		t.Fatal(err)
	}
	// reopen opens a copy of the crashed file: every subtest starts from it.
	reopen := func(t *testing.T) *DB {
		t.Helper()
		db := openAt(t, snapshot(t, crashed))
		if n := count(t, db, `SELECT count(*) FROM inbox`); n != 3 {
			t.Fatalf("inbox of the crashed file holds %d rows, want 3", n)
		}
		checkLease(t, db, "a.test", nil)
		return db
	}

	t.Run("merge visit", func(t *testing.T) {
		db := reopen(t)
		got, err := runWrite(db, WriterConfig{}, []Visit{{Merge: true, Discovered: []URL{
			{URL: "https://a.test/2", Host: "a.test", Depth: 7},
			{URL: "https://a.test/3", Host: "a.test", Depth: 2},
		}}})
		if err != nil || len(got) != 1 {
			t.Fatalf("Write: %+v, %v; want one commit", got, err)
		}
		fresh := got[0].discovered[0]
		if want := append(slices.Clone(old), fresh[1]); !slices.Equal(got[0].queued, want) || got[0].merged != 5 {
			t.Errorf("queued %+v (merged %d),\nwant the crashed writer's URLs first, each once: %+v (5)", got[0].queued, got[0].merged, want)
		}
		if fresh[0].Seq <= old[2].Seq {
			t.Errorf("seq after the crash %d, want above the crashed writer's %d", fresh[0].Seq, old[2].Seq)
		}
		checkLease(t, db, "a.test", got[0].queued)
		checkLease(t, db, "b.test", got[0].queued)
		if n := count(t, db, `SELECT count(*) FROM inbox`); n != 0 {
			t.Errorf("inbox holds %d rows after the merge, want 0", n)
		}
	})

	t.Run("no visits", func(t *testing.T) {
		db := reopen(t)
		got, err := runWrite(db, WriterConfig{}, nil)
		if err != nil || len(got) != 1 || len(got[0].urls) != 0 {
			t.Fatalf("Write: %+v, %v; want one commit, without visits", got, err)
		}
		if !slices.Equal(got[0].queued, old) || got[0].merged != 3 {
			t.Errorf("queued %+v (merged %d), want %+v (3)", got[0].queued, got[0].merged, old)
		}
	})

	t.Run("merged, inbox not emptied", func(t *testing.T) {
		db := reopen(t)
		// The merge's transaction committed; the DELETE's did not.
		if _, err := db.rw.ExecContext(t.Context(), mergeInbox); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, `SELECT count(*) FROM inbox i JOIN url u USING (id, seq)`); n != 3 {
			t.Fatalf("%d URLs in both inbox and url, want 3", n)
		}
		got, err := runWrite(db, WriterConfig{}, []Visit{{Merge: true, Discovered: []URL{
			{URL: "https://a.test/1", Host: "a.test", Depth: 7},
			{URL: "https://a.test/4", Host: "a.test", Depth: 2},
		}}})
		if err != nil || len(got) != 1 {
			t.Fatalf("Write: %+v, %v; want one commit", got, err)
		}
		if want := got[0].discovered[0][1:]; !slices.Equal(got[0].queued, want) || got[0].merged != 5 {
			t.Errorf("queued %+v (merged %d), want only a.test/4 %+v (5)", got[0].queued, got[0].merged, want)
		}
		if n := count(t, db, `SELECT count(*) FROM urls WHERE state = 'queued'`); n != 4 {
			t.Errorf("queued urls = %d, want 4", n)
		}
		checkLease(t, db, "a.test", append(slices.Clone(old), got[0].queued...))
		if n := count(t, db, `SELECT count(*) FROM inbox`); n != 0 {
			t.Errorf("inbox holds %d rows after the merge, want 0", n)
		}
	})
}

// TestWriteFailedMerge: a merge that fails after its batch committed is
// reported in Commit.Err and by Write; the batch stays stored, the merge is
// undone as a whole, and the inbox stays for the next merge, which queues
// its URLs once the cause is gone.
func TestWriteFailedMerge(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	boom := "https://h1.test/12"
	if _, err := db.rw.ExecContext(ctx, fmt.Sprintf(`CREATE TRIGGER fail_queue BEFORE INSERT ON url
		WHEN NEW.id = %d BEGIN SELECT RAISE(ABORT, 'url refused by the test'); END`, URLID(boom))); err != nil {
		t.Fatal(err)
	}
	v := pageVisit(0, 1, 1, 2) // h1.test/1 discovers h1.test/11 and /12
	v.Merge = true
	got, err := runWrite(db, WriterConfig{}, []Visit{v})
	// The batch's merge fails, and so does the final flush's.
	if len(got) != 2 || len(got[0].urls) != 1 || len(got[1].urls) != 0 {
		t.Fatalf("committed %+v, want the batch, then the final flush", got)
	}
	for i, c := range got {
		if c.err == nil || !strings.Contains(c.err.Error(), "url refused by the test") || len(c.queued) != 0 || c.merged != 0 {
			t.Errorf("commit %d: err %v, queued %+v, merged %d; want the trigger's error, nothing queued", i+1, c.err, c.queued, c.merged)
		}
	}
	if err == nil || !errors.Is(err, got[0].err) {
		t.Errorf("Write err = %v, want the first merge's %v", err, got[0].err)
	}
	for _, q := range []string{
		`SELECT count(*) FROM pages WHERE url = ?`,
		`SELECT count(*) FROM urls WHERE url = ? AND state = 'done'`,
		`SELECT count(*) / 2 FROM links WHERE src_url = ?`,
	} {
		if n := count(t, db, q, v.Page.URL); n != 1 {
			t.Errorf("%s: %d, want 1: the batch is stored", q, n)
		}
	}
	discovered := got[0].discovered[0]
	for _, u := range discovered {
		if n := count(t, db, `SELECT count(*) FROM url WHERE id = ?`, u.ID); n != 0 {
			t.Errorf("%s in url after the failed merge, want it undone", u.URL)
		}
		if n := count(t, db, `SELECT count(*) FROM inbox WHERE id = ? AND seq = ?`, u.ID, u.Seq); n != 1 {
			t.Errorf("%s: %d inbox rows at seq %d, want 1", u.URL, n, u.Seq)
		}
	}
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != 2 {
		t.Errorf("Stats.Queued after the failed merge = %d, want the 2 in the inbox", st.Queued)
	}

	if _, err := db.rw.ExecContext(ctx, `DROP TRIGGER fail_queue`); err != nil {
		t.Fatal(err)
	}
	got, err = runWrite(db, WriterConfig{}, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("next Write: %+v, %v; want one commit", got, err)
	}
	if !slices.Equal(got[0].queued, discovered) || got[0].merged != 2 {
		t.Errorf("next merge queued %+v (merged %d), want %+v (2)", got[0].queued, got[0].merged, discovered)
	}
	checkLease(t, db, "h1.test", discovered)
}

// TestWriteClearInboxFails: a merge whose inbox cannot be emptied afterwards
// still reports what it queued (it is committed), and the next merge finds
// those URLs known instead of queuing them again.
func TestWriteClearInboxFails(t *testing.T) {
	db := openTest(t)
	if _, err := db.rw.ExecContext(t.Context(), `CREATE TRIGGER keep_inbox BEFORE DELETE ON inbox BEGIN SELECT RAISE(ABORT, 'no'); END`); err != nil {
		t.Fatal(err)
	}
	got, err := runWrite(db, WriterConfig{}, []Visit{{Merge: true, Discovered: []URL{{URL: "https://a.test/", Host: "a.test"}}}})
	if err == nil {
		t.Error("Write with an inbox that cannot be emptied returned no error")
	}
	if _, err := db.rw.ExecContext(t.Context(), `DROP TRIGGER keep_inbox`); err != nil {
		t.Fatal(err)
	}
	more, err := runWrite(db, WriterConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, more...)
	if q := allQueued(got); len(q) != 1 || q[0].URL != "https://a.test/" {
		t.Errorf("reported queued = %+v, want https://a.test/ once", q)
	}
	if n := dump(t, db.ro, `SELECT count(*) FROM inbox`); n[0] != "0" {
		t.Errorf("inbox rows after the next merge = %s, want 0", n[0])
	}
}
