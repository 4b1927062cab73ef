package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trawl/trawl/storage"
)

// The robots and backoff tables hold the politeness state of the whole
// fleet: the worker that holds a host reads them when it first meets the
// host, and writes what it learns, so the next holder obeys it. Times are
// stored as text in storage.TimeLayout, as in the file.

// LoadRobots returns the robots.txt verdict stored under key, expired or
// not; storage.ErrNotFound when there is none.
func (db *DB) LoadRobots(ctx context.Context, key string) (storage.RobotsRecord, error) {
	r := storage.RobotsRecord{Key: key}
	var allow, unavailable int32
	var cause *string
	var fetched, expires string
	err := db.pool.QueryRow(ctx, `SELECT body, allow, unavailable, cause, fetched_at, expires_at FROM robots WHERE key = $1`, key).
		Scan(&r.Body, &allow, &unavailable, &cause, &fetched, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("load robots.txt %s: %w", key, storage.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("load robots.txt %s: %w", key, err)
	}
	r.Allow, r.Unavailable = allow != 0, unavailable != 0
	if cause != nil {
		r.Cause = *cause
	}
	if r.FetchedAt, err = time.Parse(storage.TimeLayout, fetched); err != nil {
		return r, fmt.Errorf("load robots.txt %s: %w", key, err)
	}
	if r.ExpiresAt, err = time.Parse(storage.TimeLayout, expires); err != nil {
		return r, fmt.Errorf("load robots.txt %s: %w", key, err)
	}
	return r, nil
}

// SaveRobots stores r, replacing the row with the same key.
func (db *DB) SaveRobots(ctx context.Context, r storage.RobotsRecord) error {
	switch {
	case r.Key == "":
		return errors.New("save robots.txt: empty key")
	case r.ExpiresAt.IsZero():
		return fmt.Errorf("save robots.txt %s: no expiry time", r.Key)
	case r.Allow && r.Unavailable:
		return fmt.Errorf("save robots.txt %s: both allow-all and unavailable", r.Key)
	}
	fetched := time.Now()
	if !r.FetchedAt.IsZero() {
		fetched = r.FetchedAt
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO robots (key, body, allow, unavailable, cause, fetched_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (key) DO UPDATE SET body = excluded.body, allow = excluded.allow, unavailable = excluded.unavailable,
	cause = excluded.cause, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
		r.Key, r.Body, flag(r.Allow), flag(r.Unavailable), nullString(r.Cause),
		fetched.UTC().Format(storage.TimeLayout), r.ExpiresAt.UTC().Format(storage.TimeLayout))
	if err != nil {
		return fmt.Errorf("save robots.txt %s: %w", r.Key, err)
	}
	return nil
}

// LoadBackoff returns the end of host's stored backoff; storage.ErrNotFound
// when it was never backed off.
func (db *DB) LoadBackoff(ctx context.Context, host string) (time.Time, error) {
	var until string
	err := db.pool.QueryRow(ctx, `SELECT until FROM backoff WHERE host = $1`, host).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, fmt.Errorf("load backoff of %s: %w", host, storage.ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("load backoff of %s: %w", host, err)
	}
	t, err := time.Parse(storage.TimeLayout, until)
	if err != nil {
		return time.Time{}, fmt.Errorf("load backoff of %s: %w", host, err)
	}
	return t, nil
}

// SaveBackoff records that no request may go to host before until (rounded
// up to the millisecond), unless a later end is stored already. No worker
// claims the host while it lasts (lease.go).
func (db *DB) SaveBackoff(ctx context.Context, host string, until time.Time) error {
	if host == "" {
		return errors.New("save backoff: empty host")
	}
	if r := until.Truncate(time.Millisecond); r.Before(until) {
		until = r.Add(time.Millisecond)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO backoff (host, until) VALUES ($1, $2)
ON CONFLICT (host) DO UPDATE SET until = greatest(backoff.until, excluded.until)`, host, until.UTC().Format(storage.TimeLayout))
	if err != nil {
		return fmt.Errorf("save backoff of %s: %w", host, err)
	}
	return nil
}

// LoadBackoffs returns every stored backoff that ends after now, by host.
func (db *DB) LoadBackoffs(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	rows, err := db.pool.Query(ctx, `SELECT host, until FROM backoff WHERE until > $1`, now.UTC().Format(storage.TimeLayout))
	if err != nil {
		return nil, fmt.Errorf("load backoffs: %w", err)
	}
	out := map[string]time.Time{}
	var host, until string
	_, err = pgx.ForEachRow(rows, []any{&host, &until}, func() error {
		t, err := time.Parse(storage.TimeLayout, until)
		if err != nil {
			return fmt.Errorf("backoff of %s: %w", host, err)
		}
		out[host] = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load backoffs: %w", err)
	}
	return out, nil
}
