package storage

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWalbufCommitsReachTheFile: through the buffering VFS, every committed
// transaction is in the WAL file when Commit returns, whatever its size
// (larger than the buffer, or a few bytes): a raw copy of the file and its
// WAL taken then, as a kill -9 would leave them, opens with SQLite's own VFS,
// passes integrity_check and holds every committed row.
func TestWalbufCommitsReachTheFile(t *testing.T) {
	if err := registerWalbuf(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "w.db")
	w, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=NORMAL&vfs="+walbufVFS)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	// No checkpoint: the WAL holds everything, so the copy tests the WAL.
	if _, err := w.Exec(`PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)`); err != nil {
		t.Fatal(err)
	}
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
		crashed := filepath.Join(t.TempDir(), "copy.db")
		for _, suffix := range []string{"", "-wal"} {
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
}
