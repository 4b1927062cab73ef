// Package pgtest gives tests a crawl of their own in the machine's
// PostgreSQL: a schema that the test creates (through pgstore.Open) and
// drops when it ends. A test calling it is skipped, saying why, when no
// server answers. For tests only.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable that overrides the server tests
// use (a libpq URL); unset means DefaultDSN.
const EnvDSN = "TRAWL_TEST_POSTGRES"

// DefaultDSN is the development machines' server: 127.0.0.1:5432, trust
// auth, user postgres, database test.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DSN returns the server's URL, or skips t when no server answers there.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		dsn = DefaultDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		shown := dsn
		if u, err := url.Parse(dsn); err == nil {
			shown = u.Redacted()
		}
		t.Skipf("no PostgreSQL server answers at %s (set %s to use another): %v", shown, EnvDSN, err)
	}
	conn.Close(ctx)
	return dsn
}

// Crawl returns the server's URL and a new crawl name, whose schema is
// dropped when t ends. It skips t when no server answers.
func Crawl(t testing.TB) (dsn, crawl string) {
	t.Helper()
	dsn = DSN(t)
	b := make([]byte, 6)
	rand.Read(b)
	crawl = "test_" + hex.EncodeToString(b)
	t.Cleanup(func() { Drop(t, dsn, crawl) })
	return dsn, crawl
}

// Drop drops the crawl's schema, if there is one.
func Drop(t testing.TB, dsn, crawl string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Errorf("drop crawl %s: %v", crawl, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{crawl}.Sanitize()+` CASCADE`); err != nil {
		t.Errorf("drop crawl %s: %v", crawl, err)
	}
}

// Count runs a query returning one integer in the crawl's schema.
func Count(t testing.TB, dsn, crawl, query string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = crawl
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
