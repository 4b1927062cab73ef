package storage

import (
	"database/sql"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWalbufCommitsReachTheFile: through the buffering VFS, every committed
// transaction is in the WAL file when Commit returns, whatever its size
// (larger than the buffer, or a few bytes), and what a checkpoint copied is in
// the database file when it returns: a raw copy of the file and its WAL taken
// then, as a kill -9 would leave them, opens with SQLite's own VFS, passes
// integrity_check and holds every committed row. Without checkpoints the WAL
// holds everything; with them, pages move to the database file as the
// transactions go, and at the end the copy is of the file alone.
func TestWalbufCommitsReachTheFile(t *testing.T) {
	for _, autocheckpoint := range []int{0, 100} {
		t.Run(fmt.Sprintf("wal_autocheckpoint=%d", autocheckpoint), func(t *testing.T) {
			testWalbuf(t, autocheckpoint)
		})
	}
}

// openWalbuf opens a new database through walbufVFS, on one connection, with
// table t (id, body) and the WAL checkpointed every autocheckpoint pages (0:
// only when asked); it returns the file's path and the connection.
func openWalbuf(t *testing.T, autocheckpoint int) (string, *sql.DB) {
	t.Helper()
	if err := registerWalbuf(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.db")
	w, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=NORMAL&vfs="+walbufVFS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d; CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)`, autocheckpoint)); err != nil {
		t.Fatal(err)
	}
	return path, w
}

func testWalbuf(t *testing.T, autocheckpoint int) {
	path, w := openWalbuf(t, autocheckpoint)
	big := strings.Repeat("x", 3000)
	rows := 0
	for i, n := range []int{1, 700, 3, 2000, 1} { // 700 rows of 3 KB: about 2 MB, many buffers
		tx, err := w.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			if _, err := tx.Exec(`INSERT INTO t (body) VALUES (?)`, big); err != nil {
				t.Fatal(err)
			}
		}
		if i == 3 { // rewrite what this transaction wrote: frames overwritten, read back
			if _, err := tx.Exec(`UPDATE t SET body = 'y' || body WHERE id > ?`, rows); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		rows += n
		checkCopy(t, path, []string{"", "-wal"}, rows, i)
	}
	if _, err := w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	checkCopy(t, path, []string{""}, rows, -1)
}

// checkCopy copies the file at path with the suffixes given (a kill -9 now)
// and checks that the copy holds rows rows and passes integrity_check.
func checkCopy(t *testing.T, path string, suffixes []string, rows, i int) {
	t.Helper()
	crashed := filepath.Join(t.TempDir(), "copy.db")
	for _, suffix := range suffixes {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := sql.Open("sqlite3", "file:"+crashed)
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var check string
	if err := c.QueryRow(`SELECT count(*) FROM t`).Scan(&got); err != nil {
		t.Fatalf("after transaction %d: %v", i, err)
	}
	if err := c.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got != rows || check != "ok" {
		t.Errorf("after transaction %d: the copy holds %d rows (integrity %q), want %d (ok)", i, got, check, rows)
	}
}

// TestWalbufReadAheadSeesRewrittenFrames: a checkpoint reads the WAL through
// the read-ahead buffer; once the WAL is checkpointed the next transaction
// starts it again from the beginning, writing new frames where the old ones
// were, so a buffer kept from an earlier checkpoint holds other pages. Rounds
// of transactions of random sizes rewrite random rows (about a page each),
// then checkpoint: the database file, copied alone and read by SQLite's own
// VFS, must hold each row's last value and pass integrity_check.
func TestWalbufReadAheadSeesRewrittenFrames(t *testing.T) {
	path, w := openWalbuf(t, 0)
	const rows = 300
	want := make(map[int]string, rows)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 25 {
		for txn := range 1 + rng.IntN(3) {
			tx, err := w.Begin()
			if err != nil {
				t.Fatal(err)
			}
			for range 1 + rng.IntN(rows) {
				id := rng.IntN(rows)
				body := strings.Repeat(fmt.Sprintf("%d.%d.%d;", round, txn, id), 600)[:3000]
				if _, err := tx.Exec(`INSERT OR REPLACE INTO t (id, body) VALUES (?, ?)`, id, body); err != nil {
					t.Fatal(err)
				}
				want[id] = body
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Exec(`PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
			t.Fatal(err)
		}
		checkRows(t, path, round, want)
	}
}

// TestWalbufCheckpointWithReaders: with readers holding older snapshots, a
// checkpoint copies only part of the WAL and records how far; readers that
// start afterwards read the copied pages from the database file. Each must
// see every row's last committed value: the pages the checkpoint gathered
// are in the file before SQLite records them as copied.
func TestWalbufCheckpointWithReaders(t *testing.T) {
	path, w := openWalbuf(t, 0)
	r, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const rows = 200
	want := make(map[int]string, rows)
	rng := rand.New(rand.NewPCG(3, 4))
	var held *sql.Tx // a reader's snapshot, held over a round
	for round := range 30 {
		if round%3 == 0 {
			if held != nil {
				held.Rollback()
			}
			if held, err = r.Begin(); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := held.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		tx, err := w.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for range 1 + rng.IntN(rows) {
			id := rng.IntN(rows)
			body := strings.Repeat(fmt.Sprintf("%d.%d;", round, id), 1000)[:3000]
			if _, err := tx.Exec(`INSERT OR REPLACE INTO t (id, body) VALUES (?, ?)`, id, body); err != nil {
				t.Fatal(err)
			}
			want[id] = body
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Exec(`PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
			t.Fatal(err)
		}
		fresh, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
		if err != nil {
			t.Fatal(err)
		}
		got := readRows(t, fresh)
		fresh.Close()
		if !maps.Equal(got, want) {
			t.Fatalf("round %d: a new reader sees %d rows, %d of them not the last value written", round, len(got), differing(got, want))
		}
	}
	if held != nil {
		held.Rollback()
	}
}

// readRows reads table t of db.
func readRows(t *testing.T, db *sql.DB) map[int]string {
	t.Helper()
	got := make(map[int]string)
	r, err := db.Query(`SELECT id, body FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		var id int
		var body string
		if err := r.Scan(&id, &body); err != nil {
			t.Fatal(err)
		}
		got[id] = body
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// differing counts the ids of want whose value got does not hold.
func differing(got, want map[int]string) int {
	n := 0
	for id, body := range want {
		if got[id] != body {
			n++
		}
	}
	return n
}

// checkRows copies the database file at path alone (its WAL checkpointed)
// and checks that it passes integrity_check and holds want.
func checkRows(t *testing.T, path string, round int, want map[int]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(crashed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := sql.Open("sqlite3", "file:"+crashed)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var check string
	if err := c.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("round %d: integrity_check %q, %v", round, check, err)
	}
	if got := readRows(t, c); !maps.Equal(got, want) {
		t.Fatalf("round %d: %d of %d rows in the database file are not the last value written (%d rows)", round, differing(got, want), len(want), len(got))
	}
}
