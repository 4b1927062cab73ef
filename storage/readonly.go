package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/mattn/go-sqlite3"
)

// ErrNotTrawl is returned (wrapped, with the path) by OpenReadOnly when the
// file is empty, not an SQLite database, or another program's database.
var ErrNotTrawl = errors.New("not a trawl crawl file")

// OpenReadOnly opens an existing crawl file for inspection (stats, export,
// the dashboard) without changing it: the connections are opened with
// SQLite's mode=ro and query_only, no pragma that writes is sent (the
// journal mode is left as it is), and no migration runs. A file that is
// empty, not SQLite, another program's database, or of an older or newer
// schema than this program's is refused with an error naming it, before
// anything could touch it; a missing file is an error matching
// fs.ErrNotExist. It may be used while a crawl writes the file: in WAL mode,
// readers never block the writer and see its last committed transaction.
//
// A file no crawler has open (no PATH-wal beside it: the last writer closed
// it and everything is in the file) is opened as immutable, so that not even
// the -wal and -shm files a WAL reader needs are created; then the DB sees
// the file as it was, which suits a one-off inspection (stats, export). With
// follow set it is opened as a live reader in any case, to follow a crawl
// started later (the dashboard): SQLite then creates PATH-wal and PATH-shm
// beside an idle file, and leaves them, as every reader of a WAL file does;
// the database file itself is never written.
//
// Only the read methods may be used on the returned DB (Stats, Export,
// Totals, the Browse queries, LastSettings, Seen, ...); the writing ones
// fail with SQLite's "attempt to write a readonly database".
func OpenReadOnly(ctx context.Context, path string, follow bool, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("open %s: is a directory, not a crawl file", path)
	case fi.Size() == 0:
		return nil, fmt.Errorf("open %s: empty file: %w", path, ErrNotTrawl)
	}
	_, werr := os.Stat(abs + "-wal")
	immutable := !follow && errors.Is(werr, fs.ErrNotExist)
	db := &DB{path: path, abs: abs, log: log}
	if err := db.openReadOnly(ctx, readOnlyDSN(abs, immutable)); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

func (db *DB) openReadOnly(ctx context.Context, dsn string) error {
	var err error
	db.ro = sql.OpenDB(connector{dsn: dsn, driver: &sqlite3.SQLiteDriver{ConnectHook: registerFunctions}})
	db.ro.SetMaxOpenConns(readPoolSize)
	db.ro.SetMaxIdleConns(readPoolSize)
	var version, objects int
	err = db.ro.QueryRowContext(ctx, `SELECT (SELECT user_version FROM pragma_user_version),
		(SELECT count(*) FROM sqlite_schema)`).Scan(&version, &objects)
	if err != nil {
		if se, ok := errors.AsType[sqlite3.Error](err); ok && se.Code == sqlite3.ErrNotADB {
			return fmt.Errorf("not an SQLite database: %w", ErrNotTrawl)
		}
		return explainReadOnly(err)
	}
	switch ms := len(migrations()); {
	case version == 0:
		return fmt.Errorf("another program's SQLite database (%d schema objects, no trawl schema version): %w", objects, ErrNotTrawl)
	case version > ms:
		return fmt.Errorf("schema version %d is newer than this program supports (%d): use a newer trawl", version, ms)
	case version < ms:
		return fmt.Errorf("schema version %d is older than this program's (%d): run 'crawler crawl --db %s' once to upgrade it", version, ms, db.path)
	}
	db.has, err = db.ro.PrepareContext(ctx, `SELECT EXISTS(SELECT 1 FROM url WHERE id = ?)`)
	return err
}

// readOnlyDSN is dsn's read-only sibling: mode=ro and query_only, and no
// journal mode, so that opening the file sends no pragma that writes;
// immutable also tells SQLite that nothing else changes the file.
func readOnlyDSN(abs string, immutable bool) string {
	q := url.Values{}
	q.Set("mode", "ro")
	if immutable {
		q.Set("immutable", "1")
	}
	q.Set("_query_only", "1")
	q.Set("_busy_timeout", "5000")
	q.Set("_txlock", "deferred")
	p := (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath()
	return "file:" + p + "?" + q.Encode()
}

// explainReadOnly adds a readable cause to the errors of a read-only open.
func explainReadOnly(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("file is not readable: %w", err)
	}
	return explain(err)
}
