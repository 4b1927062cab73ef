package storage

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// openTest opens a fresh database in t.TempDir, closed by t.Cleanup.
func openTest(t *testing.T) *DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "crawl.db"))
}

func openAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(t.Context(), path, testLogger(t))
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func userVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRowContext(t.Context(), `PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatalf("read user_version: %v", err)
	}
	return v
}

func TestOpenMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crawl.db")
	for i := range 2 { // the second Open finds the schema current and must not re-apply it
		db, err := Open(t.Context(), path, testLogger(t))
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		if got, want := userVersion(t, db.ro), len(migrations()); got != want {
			t.Errorf("Open #%d: user_version = %d, want %d", i+1, got, want)
		}
		// The tables people query (urls, pages, links) are views over the new layout.
		for _, kind := range []struct{ typ, want string }{
			{"table", "backoff,counters,crawls,drops,hosts,inbox,link,other_urls,page,page_fts,page_fts_content,page_fts_docsize,page_fts_segdir,page_fts_segments,page_fts_stat,page_text,queue,robots,sitemaps,text_pending,url"},
			{"view", "links,pages,texts,urls"},
		} {
			var names []string
			rows, err := db.ro.QueryContext(t.Context(), `SELECT name FROM sqlite_schema WHERE type = ? ORDER BY name`, kind.typ)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var name string
				if err := rows.Scan(&name); err != nil {
					t.Fatal(err)
				}
				names = append(names, name)
			}
			rows.Close()
			if got := strings.Join(names, ","); got != kind.want {
				t.Errorf("Open #%d: %ss = %s, want %s", i+1, kind.typ, got, kind.want)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
}

func TestOpenConcurrentlyOnNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crawl.db")
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			db, err := Open(t.Context(), path, nil)
			if err == nil {
				err = db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
		}
	}
}

func TestOpenNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crawl.db")
	db, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	future := len(migrations()) + 1
	if _, err := db.rw.ExecContext(t.Context(), fmt.Sprintf(`PRAGMA user_version = %d`, future)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), path, nil)
	if err == nil {
		t.Fatalf("Open of a file at schema version %d succeeded, want an error", future)
	}
	for _, want := range []string{path, fmt.Sprintf("schema version %d is newer", future), fmt.Sprintf("(%d)", future-1)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error = %q, want it to contain %q", err, want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("these are not the bytes of an SQLite file\n", 50)), 0o644); err != nil {
		t.Fatal(err)
	}
	otherDB := filepath.Join(dir, "other.db")
	other, err := sql.Open("sqlite3", otherDB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.ExecContext(t.Context(), `CREATE TABLE accounts (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	other.Close()
	otherBytes, err := os.ReadFile(otherDB)
	if err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(dir, "plain")
	if err := os.WriteFile(aFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	aDir := filepath.Join(dir, "adir")
	if err := os.Mkdir(aDir, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing directory", filepath.Join(dir, "missing", "crawl.db"), "does not exist"},
		{"parent is a file", filepath.Join(aFile, "crawl.db"), "is not a directory"},
		{"path is a directory", aDir, "is a directory"},
		{"not sqlite", notDB, "not an SQLite database"},
		{"someone else's database", otherDB, "not a trawl database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(t.Context(), tt.path, nil)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tt.path)
			}
			t.Logf("Open: %v", err)
			if msg := err.Error(); !strings.Contains(msg, tt.path) || !strings.Contains(msg, tt.want) {
				t.Errorf("Open(%q) error = %q, want the path and %q", tt.path, msg, tt.want)
			}
		})
	}

	t.Run("unwritable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root ignores permissions; 'parent is a file' covers the path")
		}
		newFile := filepath.Join(t.TempDir(), "crawl.db") // directory made read-only before the file exists
		oldDir := t.TempDir()                             // an existing crawl, directory made read-only
		oldFile := filepath.Join(oldDir, "crawl.db")
		roFile := filepath.Join(t.TempDir(), "crawl.db") // an existing crawl, file made read-only
		for _, p := range []string{oldFile, roFile} {
			db, err := Open(t.Context(), p, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		}
		for _, chmod := range []struct {
			path string
			mode os.FileMode
		}{{filepath.Dir(newFile), 0o555}, {oldDir, 0o555}, {roFile, 0o444}} {
			if err := os.Chmod(chmod.path, chmod.mode); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(chmod.path, 0o755) }) // let TempDir's cleanup remove it
		}
		for _, path := range []string{newFile, oldFile, roFile} {
			db, err := Open(t.Context(), path, nil)
			if err == nil {
				db.Close()
				t.Errorf("Open(%q) succeeded, want an error", path)
				continue
			}
			t.Logf("Open: %v", err)
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "writable") {
				t.Errorf("Open(%q) error = %q, want the path and a word on writability", path, msg)
			}
		}
	})

	// A file that is not SQLite, or not ours, must be left as it was.
	if b, err := os.ReadFile(notDB); err != nil || !strings.HasPrefix(string(b), "these are not") {
		t.Errorf("non-SQLite file changed by Open: %q, %v", b[:min(len(b), 20)], err)
	}
	if b, err := os.ReadFile(otherDB); err != nil || !bytes.Equal(b, otherBytes) {
		t.Errorf("someone else's database changed by Open (%v); its header was %x, is %x", err, otherBytes[:min(len(otherBytes), 32)], b[:min(len(b), 32)])
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(otherDB + suffix); err == nil {
			t.Errorf("Open left %s%s beside someone else's database", filepath.Base(otherDB), suffix)
		}
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir#1", "crawl?x=1&y=%20.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	openAt(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not created at the literal path: %v", err)
	}
}

// TestPragmasOnEveryConnection holds several pooled connections at once, so
// each is a distinct SQLite connection, and checks the DSN pragmas on each.
func TestPragmasOnEveryConnection(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	pools := []struct {
		name string
		pool *sql.DB
		n    int
	}{
		{"writer", db.rw, 1},
		{"readers", db.ro, readPoolSize},
	}
	for _, p := range pools {
		t.Run(p.name, func(t *testing.T) {
			conns := make([]*sql.Conn, p.n)
			for i := range conns {
				c, err := p.pool.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conns[i] = c
			}
			if got := p.pool.Stats().OpenConnections; got != p.n {
				t.Fatalf("open connections = %d, want %d distinct ones", got, p.n)
			}
			for i, c := range conns {
				var mode string
				var fk, sync, busy int
				for q, dst := range map[string]any{
					`PRAGMA journal_mode`: &mode, `PRAGMA foreign_keys`: &fk,
					`PRAGMA synchronous`: &sync, `PRAGMA busy_timeout`: &busy,
				} {
					if err := c.QueryRowContext(ctx, q).Scan(dst); err != nil {
						t.Fatalf("conn %d: %s: %v", i, q, err)
					}
				}
				if mode != "wal" || fk != 1 || sync != 1 || busy != 5000 {
					t.Errorf("conn %d: journal_mode=%s foreign_keys=%d synchronous=%d busy_timeout=%d, want wal 1 1 (NORMAL) 5000",
						i, mode, fk, sync, busy)
				}
			}
		})
	}
}

func TestReadersAreQueryOnly(t *testing.T) {
	db := openTest(t)
	if _, err := db.ro.ExecContext(t.Context(), `INSERT INTO crawls (started_at, seeds, settings) VALUES ('x', '[]', '{}')`); err == nil {
		t.Error("insert through the read pool succeeded, want query_only to refuse it")
	}
}

func TestLockCrawl(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crawl.db")
	a, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.LockCrawl(); err != nil {
		t.Fatal(err)
	}
	b, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.LockCrawl(); !errors.Is(err, ErrLocked) {
		t.Fatalf("second LockCrawl = %v, want ErrLocked", err)
	}
	a.Close()
	if err := b.LockCrawl(); err != nil {
		t.Fatalf("LockCrawl after the holder closed = %v, want nil", err)
	}
}
