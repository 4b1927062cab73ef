// Package storage owns the SQLite file of a crawl: its schema and versioned
// migrations, the single writer that batches crawl results into transactions,
// and the read queries behind inspection (Stats) and export (Export).
//
// The file is meant to be opened by people with the sqlite3 shell, so the
// schema stays plain: timestamps are TEXT in UTC RFC 3339 with milliseconds
// ('2006-01-02T15:04:05.000Z'), booleans are INTEGER 0/1 and lists are JSON
// text. The tables are documented on schemaV1, schemaV2 and schemaV3 (the
// layout of today: integer keys, views with the older tables' columns).
//
// A DB holds two connection pools on the same file: one connection for writes
// (every transaction starts with BEGIN IMMEDIATE, so writers queue instead of
// failing on lock upgrades) and a small pool of query-only connections for
// reads, which in WAL mode never block the writer and are never blocked by it.
package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"
)

// ErrNotFound is returned (possibly wrapped) when a requested row does not
// exist. Callers branch on it with errors.Is.
var ErrNotFound = errors.New("storage: not found")

// readPoolSize is the number of read connections: enough for the crawl's
// seen-set lookups and a concurrent Stats or Export, small because every
// connection keeps its own page cache.
const readPoolSize = 4

// timeLayout is how every timestamp is stored: UTC, millisecond precision,
// sortable as text.
const timeLayout = "2006-01-02T15:04:05.000Z"

// TimeLayout is how timestamps are stored, for a sibling store that keeps
// the same text columns.
const TimeLayout = timeLayout

// DB is an open crawl database. Its methods are safe for concurrent use, but
// only one Write should run at a time: it is the single writer. Close it when
// done.
type DB struct {
	path string
	abs  string   // absolute path of the file
	lock *os.File // held by LockCrawl until Close
	log  *slog.Logger
	rw   *sql.DB   // one connection; BEGIN IMMEDIATE; migrations and all writes
	ro   *sql.DB   // readPoolSize query-only connections; BEGIN DEFERRED
	has  *sql.Stmt // prepared on ro: SELECT EXISTS(... url WHERE id = ?)

	replayed atomic.Bool // LockCrawl applied the visit journal: Write does not read it again
}

// Open opens the crawl database at path, creating the file if it does not
// exist, and brings its schema up to date. It fails with an error naming the
// path when the directory is missing or unwritable, when the file is not an
// SQLite database or not a Trawl one, or when its schema is newer than this
// program knows. A nil log discards. Open starts no goroutines of its own.
func Open(ctx context.Context, path string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkDir(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkFile(abs); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Several processes opening a new file at once can get SQLITE_BUSY
	// while one of them switches it to WAL: SQLite does not run the busy
	// handler for that, so retry here within the same 5 s budget.
	deadline := time.Now().Add(5 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		db := &DB{path: path, abs: abs, log: log}
		err := db.open(ctx, abs)
		if err == nil {
			return db, nil
		}
		db.Close()
		if !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("open %s: %w", path, explain(err))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open %s: %w", path, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// isBusy reports whether err is SQLite's "database is locked" or "busy".
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

func (db *DB) open(ctx context.Context, abs string) error {
	if err := checkOurs(ctx, abs); err != nil {
		return err
	}
	var err error
	// Per-connection pragmas go in the DSN: a one-off PRAGMA would reach
	// only one pooled connection.
	if err := registerWalbuf(); err != nil {
		return err
	}
	db.rw = sql.OpenDB(connector{dsn: dsn(abs, "immediate", false) + "&vfs=" + walbufVFS, driver: &sqlite3.SQLiteDriver{ConnectHook: writerPragmas}})
	db.rw.SetMaxOpenConns(1)
	db.rw.SetMaxIdleConns(1)
	if err := db.rw.PingContext(ctx); err != nil {
		return err
	}
	if err := migrate(ctx, db.rw, db.log); err != nil {
		return err
	}

	// Readers are opened after the migrations so that they see WAL mode and
	// the current schema from their first statement.
	// They have our SQL functions too (Search ranks with trawl_bm25).
	db.ro = sql.OpenDB(connector{dsn: dsn(abs, "deferred", true), driver: &sqlite3.SQLiteDriver{ConnectHook: registerFunctions}})
	db.ro.SetMaxOpenConns(readPoolSize)
	db.ro.SetMaxIdleConns(readPoolSize)
	if err := db.ro.PingContext(ctx); err != nil {
		return err
	}
	db.has, err = db.ro.PrepareContext(ctx, `SELECT EXISTS(SELECT 1 FROM url WHERE id = ?)`)
	return err
}

// checkOurs refuses an existing SQLite file that holds another program's
// schema, before the writer's DSN (journal_mode=WAL) rewrites its header:
// migrate refuses it too, but only after the switch to WAL has changed the
// file. It opens the file with no pragma that writes; a new or empty file
// passes.
func checkOurs(ctx context.Context, abs string) error {
	if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
		return nil // SQLite creates it, or reports why it cannot
	}
	p := (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath()
	conn, err := sql.Open("sqlite3", "file:"+p+"?_busy_timeout=5000&_query_only=1")
	if err != nil {
		return err
	}
	defer conn.Close()
	var version, objects int
	if err := conn.QueryRowContext(ctx, `SELECT (SELECT user_version FROM pragma_user_version),
		(SELECT count(*) FROM sqlite_schema)`).Scan(&version, &objects); err != nil {
		return err
	}
	if version == 0 && objects > 0 {
		return fmt.Errorf("not a trawl database: it has %d schema objects but no schema version", objects)
	}
	return nil
}

// walCheckpointPages is how many pages the WAL grows to before a commit
// checkpoints it into the database file (SQLite's default is 1000). A crawl
// rewrites the same hot B-tree pages in every batch; checkpointing less often
// copies each of them once per checkpoint instead of many times (5% less CPU
// per crawled page, measured), at the cost of a WAL file of up to ~40 MiB.
const walCheckpointPages = 10_000

// writerCacheKiB is the most the write connection's page cache holds, in
// KiB; it starts at writerCacheMinKiB and grows with the file (see
// writer.sizeCache).
const (
	writerCacheKiB    = 32 << 10
	writerCacheMinKiB = 1 << 10
)

// writerPragmas sets the writer connection's pragmas that go-sqlite3's DSN
// cannot carry. It runs on every new connection of the write pool.
func writerPragmas(conn *sqlite3.SQLiteConn) error {
	if _, err := conn.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", walCheckpointPages), nil); err != nil {
		return err
	}
	// Every multi-row INSERT ... ON CONFLICT inside a transaction keeps a
	// statement journal, which SQLite opens as a temporary file by default:
	// a file opened, written and deleted per statement (724 opens of
	// /var/tmp in 3,000 pages, and about a quarter of the crawler's CPU).
	// In memory, it is a buffer.
	if _, err := conn.Exec("PRAGMA temp_store = MEMORY", nil); err != nil {
		return err
	}
	// The writer's inserts land all over the url, page and link B-trees
	// (their keys are fingerprints): with SQLite's default 2 MiB cache most
	// of them read their page back from the file first. 32 MiB holds the
	// interior pages and the hot leaves of a crawl of millions of URLs; it
	// is allocated as it fills, so a small crawl does not pay for it.
	// Measured on 30,000 pages of a 2,000,000-page site: 16.6 CPU-s against
	// 20.7 with the default (16 MiB: 17.5; 64 MiB: 16.0).
	if _, err := conn.Exec(fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheMinKiB), nil); err != nil {
		return err
	}
	return registerFunctions(conn)
}

// connector opens go-sqlite3 connections to one DSN with a driver of our own,
// so that a ConnectHook applies without registering a global driver name.
type connector struct {
	dsn    string
	driver *sqlite3.SQLiteDriver
}

// Connect opens a new connection; the driver runs its ConnectHook on it.
func (c connector) Connect(context.Context) (driver.Conn, error) { return c.driver.Open(c.dsn) }

// Driver returns the connector's driver.
func (c connector) Driver() driver.Driver { return c.driver }

// dsn builds a go-sqlite3 DSN for the file at abs. The path is written as a
// file: URI so that names holding '?', '#' or '%' survive intact.
func dsn(abs, txlock string, queryOnly bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "5000")
	q.Set("_txlock", txlock)
	if queryOnly {
		q.Set("_query_only", "1")
		q.Set("_cache_size", "-512")
	}
	p := (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath()
	return "file:" + p + "?" + q.Encode()
}

// checkDir reports, in words, why dir cannot hold the database, or nil.
// SQLite would only say "unable to open database file".
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return fmt.Errorf("directory %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// checkFile reports why an existing file at abs cannot be written, or nil.
// SQLite would open a read-only file read-only, and fail only at the first
// write, deep into a crawl.
func checkFile(abs string) error {
	f, err := os.OpenFile(abs, os.O_RDWR, 0)
	if err == nil {
		return f.Close()
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil // SQLite creates it
	}
	if errors.Is(err, fs.ErrPermission) {
		return errors.New("file is not writable")
	}
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err // the path is in the caller's message already
	}
	return err
}

// explain adds a readable cause to the SQLite errors that Open can meet.
func explain(err error) error {
	se, ok := errors.AsType[sqlite3.Error](err)
	if !ok {
		return err
	}
	switch se.Code {
	case sqlite3.ErrNotADB:
		return fmt.Errorf("not an SQLite database: %w", err)
	case sqlite3.ErrCantOpen:
		return fmt.Errorf("cannot create the file (is its directory writable?): %w", err)
	case sqlite3.ErrReadonly, sqlite3.ErrPerm:
		return fmt.Errorf("file or directory is not writable: %w", err)
	}
	return err
}

// Close releases the database. It does not wait for a running Write: stop
// that first by closing its channel.
func (db *DB) Close() error {
	var errs []error
	if db.has != nil {
		errs = append(errs, db.has.Close())
	}
	if db.ro != nil {
		errs = append(errs, db.ro.Close())
	}
	if db.rw != nil {
		errs = append(errs, db.rw.Close())
	}
	if db.lock != nil {
		errs = append(errs, db.lock.Close()) // closing the file releases the flock
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close %s: %w", db.path, err)
	}
	return nil
}

// ErrLocked is returned by LockCrawl when another process crawls into the file.
var ErrLocked = errors.New("storage: another crawler is using this file")

// LockCrawl takes the file's crawl lock, an exclusive flock on PATH.lock, so
// that one crawler at a time writes a crawl and reads its queue. It
// fails at once with ErrLocked when another process holds it; Close releases
// it, and so does the death of the process.
func (db *DB) LockCrawl() error {
	f, err := os.OpenFile(db.abs+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("lock %s: %w", db.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", db.path, ErrLocked)
		}
		return fmt.Errorf("lock %s: %w", db.path, err)
	}
	db.lock = f
	// The crawl is ours now: apply the visits an earlier writer made
	// durable in the journal and did not apply, before anything reads the
	// queue.
	if err := db.replay(context.Background()); err != nil {
		return fmt.Errorf("lock %s: %w", db.path, err)
	}
	return nil
}

// formatTime renders t as stored in the database.
func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// parseTime reads a stored timestamp; "" gives the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t, nil
}
