// Package pgstore keeps a crawl's state in PostgreSQL: the second
// implementation, beside the SQLite file of package storage, of the
// interfaces through which the engine (package crawl) reads and writes it.
// Several crawler processes, on one machine or many, work on one crawl in
// one database: each host is leased to one worker at a time (lease.go), so
// that per-host limits, Crawl-delay, robots.txt and backoffs hold for the
// whole fleet.
//
// Each crawl lives in a schema of its own, named after the crawl: the tables
// and views have the SQLite file's names and columns, so a person runs the
// README's queries in psql after SET search_path TO <crawl>. A schema per
// crawl rather than a crawl column in every table keeps every key and index
// what it is in the file (no crawl id in front of each), lets several
// independent crawls share a database without seeing each other's rows, and
// drops a crawl with one DROP SCHEMA.
//
// It imports the storage package for the row types the engine exchanges
// with both stores (storage.Visit, storage.Commit, storage.URL, ...): they
// are the engine's vocabulary, and a copy would have to be converted on
// every visit.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options configures a DB. The zero value is ready to use.
type Options struct {
	// Crawl names the crawl: the schema its tables live in. "" means
	// "crawl". Lower-case letters, digits and underscores, starting with a
	// letter, at most 63 characters.
	Crawl string
	// Worker names this process in the workers and host_lease tables; ""
	// means host name, pid and start time.
	Worker string
	// LeaseTTL is how long a host lease lasts unless renewed; 0 means 30s.
	// A worker that dies loses its hosts after it.
	LeaseTTL time.Duration
	// RetryFor is how long a call waits for the server to come back (a
	// restart, a dropped connection) before it fails; 0 means 2 minutes.
	RetryFor time.Duration
	// Log receives the store's logs; nil discards.
	Log *slog.Logger
	// Existing refuses to create the crawl: for inspecting one (stats,
	// export).
	Existing bool
}

// DB is one crawl in a PostgreSQL database. Safe for concurrent use; only
// one Write may run at a time.
type DB struct {
	pool   *pgxpool.Pool
	crawl  string
	worker string
	ttl    time.Duration
	retry  time.Duration
	log    *slog.Logger
}

// crawlName is what a crawl may be called: a schema name that needs no quoting.
var crawlName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// IsURL reports whether dsn names a PostgreSQL database rather than a file:
// a libpq URL (postgres:// or postgresql://) or a key=value string naming
// a host or a database ("host=db1 dbname=crawls").
func IsURL(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return true
	}
	return dsnKey.MatchString(dsn)
}

// dsnKey matches a key=value connection string.
var dsnKey = regexp.MustCompile(`(^|\s)(host|hostaddr|dbname|service)=`)

// Redact returns dsn with its password, if any, replaced by xxxxx, for
// messages and logs.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return dsnPassword.ReplaceAllString(dsn, "${1}password=xxxxx")
}

// dsnPassword matches the password of a key=value connection string.
var dsnPassword = regexp.MustCompile(`(^|\s)password=('(\\.|[^'])*'|\S*)`)

// Open connects to the database dsn (a libpq URL or key=value string),
// creates the crawl's schema when new and brings it up to date. It fails
// with a clear error when no server answers, when the schema exists and is
// not a Trawl crawl, or when its version is newer than this program knows.
func Open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	if opt.Crawl == "" {
		opt.Crawl = "crawl"
	}
	if !crawlName.MatchString(opt.Crawl) {
		return nil, fmt.Errorf("crawl name %q: want lower-case letters, digits and _, starting with a letter", opt.Crawl)
	}
	if opt.LeaseTTL <= 0 {
		opt.LeaseTTL = 30 * time.Second
	}
	if opt.RetryFor <= 0 {
		opt.RetryFor = 2 * time.Minute
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Worker == "" {
		name, _ := os.Hostname()
		opt.Worker = name + ":" + strconv.Itoa(os.Getpid()) + ":" + time.Now().UTC().Format("150405.000")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err) // pgx's message hides the password
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("postgres at %s:%d: %w: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, errNoServer, err)
	}
	err = migrate(ctx, conn, opt.Crawl, opt.Existing)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("postgres: crawl %s: %w", opt.Crawl, err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = opt.Crawl
	cfg.ConnConfig.RuntimeParams["application_name"] = "trawl " + opt.Worker
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &DB{pool: pool, crawl: opt.Crawl, worker: opt.Worker, ttl: opt.LeaseTTL, retry: opt.RetryFor, log: opt.Log}, nil
}

// Close closes the connections.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Crawl returns the crawl's name (its schema).
func (db *DB) Crawl() string { return db.crawl }

// Worker returns this process's name in the workers table.
func (db *DB) Worker() string { return db.worker }

// LeaseTTL returns how long a host lease lasts unless renewed.
func (db *DB) LeaseTTL() time.Duration { return db.ttl }

// do runs fn, and again while it fails for a reason that passes (the server
// restarting, a connection dropped, a deadlock or serialization failure),
// waiting longer each time, for up to db.retry. It returns fn's last error.
func (db *DB) do(ctx context.Context, what string, fn func(context.Context) error) error {
	deadline := time.Now().Add(db.retry)
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !transient(err) || ctx.Err() != nil || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if attempt > 1 {
				db.log.Info("postgres: back", "op", what, "attempts", attempt)
			}
			return nil
		}
		if attempt == 1 || attempt%10 == 0 {
			db.log.Warn("postgres: waiting for the server", "op", what, "attempt", attempt, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", what, errors.Join(err, ctx.Err()))
		case <-t.C:
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// transient reports whether err may pass if the call is made again: the
// connection failed or the server is restarting, or the transaction lost a
// deadlock or a serialization conflict.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch {
		case pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock
			return true
		case pe.Code[:2] == "08", pe.Code[:2] == "57": // connection exception, operator intervention (shutdown)
			return true
		}
		return false
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, net.ErrClosed) || isConnClosed(err)
}

// isConnClosed recognises pgx's errors for a connection lost mid-call.
func isConnClosed(err error) bool {
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"conn closed", "connection reset", "broken pipe", "unexpected EOF", "EOF", "terminating connection", "the database system is"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
