package storage

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// dirFiles returns the names and contents of every file in dir.
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// sameFiles fails unless dir holds exactly want, byte for byte.
func sameFiles(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	got := dirFiles(t, dir)
	for name, b := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s was removed", name)
		} else if !bytes.Equal(g, b) {
			t.Errorf("%s changed: %d bytes, header % x, want %d bytes, header % x", name, len(g), g[:min(len(g), 20)], len(b), b[:min(len(b), 20)])
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s was created", name)
		}
	}
}

// foreignDB writes another program's SQLite database (rollback journal,
// one table) at path.
func foreignDB(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hello')`); err != nil {
		t.Fatal(err)
	}
}

func TestOpenReadOnlyRefusesUntouched(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, path string)
	}{
		{"empty file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"text file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("not a database\n"), 300), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"another program's SQLite database", foreignDB},
	} {
		for _, follow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/follow=%v", tc.name, follow), func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "other.db")
				tc.write(t, path)
				before := dirFiles(t, dir)
				db, err := OpenReadOnly(t.Context(), path, follow, testLogger(t))
				if err == nil {
					db.Close()
					t.Fatalf("OpenReadOnly(%s) = nil error, want ErrNotTrawl", tc.name)
				}
				if !errors.Is(err, ErrNotTrawl) {
					t.Errorf("OpenReadOnly(%s) = %v, want ErrNotTrawl", tc.name, err)
				}
				sameFiles(t, dir, before)
			})
		}
	}
}

func TestOpenReadOnlyMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenReadOnly(t.Context(), filepath.Join(dir, "none.db"), false, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenReadOnly(missing) = %v, want fs.ErrNotExist", err)
	}
	sameFiles(t, dir, map[string][]byte{})
}

// TestOpenReadOnlyClosedCrawl inspects a crawl file no crawler has open:
// its data is read and no byte of any file changes.
func TestOpenReadOnlyClosedCrawl(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "crawl.db")
	w, err := Open(t.Context(), path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	commitOne(t, w, pageVisit(0, 1, 1, 3), pageVisit(0, 1, 2, 2))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	before := dirFiles(t, dir)

	db, err := OpenReadOnly(t.Context(), path, false, testLogger(t))
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	st, err := db.Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Pages != 2 || st.Links != 5 {
		t.Errorf("Stats: %d pages, %d links, want 2 and 5", st.Pages, st.Links)
	}
	if _, err := db.ro.ExecContext(t.Context(), `DELETE FROM page`); err == nil {
		t.Errorf("DELETE on a read-only DB succeeded")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, dir, before)
}

// TestOpenReadOnlyWhileWriting reads a file that a writer holds open and
// keeps writing: the reader sees each committed batch.
func TestOpenReadOnlyWhileWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crawl.db")
	w := openAt(t, path)
	commitOne(t, w, pageVisit(0, 1, 1, 3))
	db, err := OpenReadOnly(t.Context(), path, true, testLogger(t))
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer db.Close()
	for want := int64(1); want <= 3; want++ {
		st, err := db.Stats(t.Context())
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if st.Pages != want {
			t.Fatalf("Stats.Pages = %d, want %d", st.Pages, want)
		}
		commitOne(t, w, pageVisit(0, 1, int(want)+1, 1))
	}
}
