package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"
)

// journalWriter runs Write with the visit journal on and never applies by
// time, and sends visits one at a time, waiting for each to be durable.
type journalWriter struct {
	rows chan Visit
	done chan error
	acks chan error
}

func startJournal(t *testing.T, db *DB, applyAt int) *journalWriter {
	t.Helper()
	w := &journalWriter{rows: make(chan Visit), done: make(chan error, 1), acks: make(chan error, 1)}
	go func() {
		w.done <- db.Write(context.WithoutCancel(t.Context()), WriterConfig{ApplyAt: applyAt, ApplyEvery: time.Hour}, w.rows, func(c Commit) {
			if c.Err != nil {
				t.Errorf("commit: %v", c.Err)
			}
			for _, v := range c.Batch {
				if v.Ack != nil {
					v.Ack <- c.Err
				}
			}
		})
	}()
	return w
}

// send hands v to the writer and waits until it is durable.
func (w *journalWriter) send(t *testing.T, v Visit) {
	t.Helper()
	v.Ack = w.acks
	w.rows <- v
	if err := <-w.acks; err != nil {
		t.Fatalf("visit %s: %v", v.Page.URL, err)
	}
}

func (w *journalWriter) stop(t *testing.T) {
	t.Helper()
	close(w.rows)
	if err := <-w.done; err != nil {
		t.Errorf("Write: %v", err)
	}
}

// crashed copies the crawl file as snapshot does, and its visit journal, as
// a kill -9 would leave them now (the writer is idle: every visit sent is
// acknowledged, and it applies only by count).
func crashed(t *testing.T, db *DB) string {
	t.Helper()
	dst := snapshot(t, db.abs)
	b, err := os.ReadFile(db.abs + ".visits")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".visits", b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestJournalReplay: visits acknowledged as durable but not yet applied to
// SQLite when the process dies are applied when the file is next locked, each
// once: those applied before the crash are not applied again, and a record
// cut short by the kill is ignored.
func TestJournalReplay(t *testing.T) {
	for _, torn := range []bool{false, true} {
		name := "clean"
		if torn {
			name = "torn last write"
		}
		t.Run(name, func(t *testing.T) {
			db := openTest(t)
			w := startJournal(t, db, 4)
			for n := 1; n <= 10; n++ {
				w.send(t, pageVisit(0, 1, n, 2))
			}
			// Applied so far: two transactions of 4 visits; 2 wait in the journal.
			if got := count(t, db, `SELECT count(*) FROM page`); got != 8 {
				t.Errorf("%d pages applied before the crash, want 8 (ApplyAt 4)", got)
			}
			path := crashed(t, db)
			w.stop(t)
			if torn {
				f, err := os.OpenFile(path+".visits", os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				// A header promising 500 bytes, and 3 of them.
				f.Write([]byte{0xf4, 0x01, 0, 0, 1, 2, 3, 4, 11, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c'})
				f.Close()
			}

			again := openAt(t, path)
			if got := count(t, again, `SELECT count(*) FROM page`); got != 8 {
				t.Fatalf("%d pages before the crawl is locked, want the 8 applied", got)
			}
			if err := again.LockCrawl(); err != nil {
				t.Fatalf("LockCrawl: %v", err)
			}
			if got := count(t, again, `SELECT count(*) FROM page`); got != 10 {
				t.Errorf("%d pages after the replay, want 10", got)
			}
			if got := count(t, again, `SELECT count(*) FROM url`); got != 10 {
				t.Errorf("%d url rows after the replay, want 10 (each page once)", got)
			}
			if got := count(t, again, `SELECT count(*) FROM inbox`) + count(t, again, `SELECT count(*) FROM queue`); got != 20 {
				t.Errorf("%d discovered URLs kept, want 20 (2 per page)", got)
			}
			// A second writer replays nothing more and appends after it.
			w2 := startJournal(t, again, 4)
			w2.send(t, pageVisit(0, 1, 11, 1))
			w2.stop(t)
			if got := count(t, again, `SELECT count(*) FROM page`); got != 11 {
				t.Errorf("%d pages after one more visit, want 11", got)
			}
		})
	}
}

// TestJournalNotOurs: a PATH.visits that is not a visit journal stops the
// crawl from locking the file, and is left as it was.
func TestJournalNotOurs(t *testing.T) {
	db := openTest(t)
	foreign := []byte("my notes about the crawl\n")
	if err := os.WriteFile(db.abs+".visits", foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	err := db.LockCrawl()
	if !errors.Is(err, errJournalForeign) {
		t.Fatalf("LockCrawl = %v, want %v", err, errJournalForeign)
	}
	if b, _ := os.ReadFile(db.abs + ".visits"); !bytes.Equal(b, foreign) {
		t.Errorf("the file became %q", b)
	}
}

// TestJournalRefusesInvalidVisit: a visit that cannot be stored fails its
// group before it reaches the journal, so that it fails neither the
// transaction of the visits applied with it nor a replay.
func TestJournalRefusesInvalidVisit(t *testing.T) {
	db := openTest(t)
	var errs []error
	rows := make(chan Visit, 3)
	rows <- pageVisit(0, 1, 1, 1)
	close(rows)
	err := db.Write(t.Context(), WriterConfig{}, rows, func(c Commit) { errs = append(errs, c.Err) })
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	rows = make(chan Visit, 3)
	rows <- Visit{Page: &Page{Host: "h1.test"}}
	close(rows)
	errs = nil
	if err := db.Write(t.Context(), WriterConfig{}, rows, func(c Commit) { errs = append(errs, c.Err) }); err == nil {
		t.Error("Write of a page without a URL succeeded")
	}
	if len(errs) == 0 || errs[0] == nil {
		t.Errorf("committed errors %v, want the group to fail", errs)
	}
	if err := db.LockCrawl(); err != nil {
		t.Fatalf("LockCrawl after the refused visit: %v", err)
	}
	if got := count(t, db, `SELECT count(*) FROM page`); got != 1 {
		t.Errorf("%d pages, want 1", got)
	}
}

// TestJournalRewind: a journal written again from its start once applied
// (past journalRewindAt) keeps its old records after the new ones; a crash
// then replays the new records that SQLite lacks, each once, and never an
// old one.
func TestJournalRewind(t *testing.T) {
	old := journalRewindAt
	t.Cleanup(func() { journalRewindAt = old })
	// run sends 14 visits, long records first, then short ones (after a
	// rewind, the short new records end inside the old long ones), and
	// returns the database and its journal's size.
	run := func() (*DB, *journalWriter, int64) {
		db := openTest(t)
		w := startJournal(t, db, 4)
		for n := 1; n <= 8; n++ {
			w.send(t, pageVisit(0, 1, n, 6))
		}
		for n := 9; n <= 14; n++ {
			w.send(t, pageVisit(0, 1, n, 1))
		}
		// Applied: 12 pages in three transactions; 13 and 14 wait.
		if got := count(t, db, `SELECT count(*) FROM page`); got != 12 {
			t.Fatalf("%d pages applied before the crash, want 12", got)
		}
		st, err := os.Stat(db.abs + ".visits")
		if err != nil {
			t.Fatal(err)
		}
		return db, w, st.Size()
	}
	journalRewindAt = 1 << 40
	db, w, whole := run()
	w.stop(t)
	journalRewindAt = 1 // a rewind after every apply that leaves nothing pending
	db, w, rewound := run()
	if rewound >= whole {
		t.Errorf("journal of %d bytes with rewinds, %d without: no rewind", rewound, whole)
	}
	path := crashed(t, db)
	w.stop(t)

	again := openAt(t, path)
	if err := again.LockCrawl(); err != nil {
		t.Fatalf("LockCrawl: %v", err)
	}
	if got := count(t, again, `SELECT count(*) FROM page`); got != 14 {
		t.Errorf("%d pages after the replay, want 14", got)
	}
	if got := count(t, again, `SELECT count(*) FROM url`); got != 14 {
		t.Errorf("%d url rows after the replay, want 14 (each page once)", got)
	}
}

// TestJournalStopsAtOldRecords: after a rewind, a new record as long as the
// old one it overwrote is followed by old records that are whole; the reader
// stops at the first whose number does not follow.
func TestJournalStopsAtOldRecords(t *testing.T) {
	path := t.TempDir() + "/c.db.visits"
	j, err := openJournal(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	v := []Visit{pageVisit(0, 1, 1, 2)}
	for range 3 {
		if _, err := j.append(v); err != nil {
			t.Fatal(err)
		}
	}
	j.applied(3)                      // journalRewindAt is 8 MiB: no rewind yet
	j.size = int64(len(journalMagic)) // the rewind applied does past journalRewindAt
	if _, err := j.append(v); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	if err := readJournal(path, func(n uint64, _ []Visit) error { got = append(got, n); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []uint64{4}) {
		t.Errorf("read records %v, want [4] (2 and 3 are old)", got)
	}
}
