package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RobotsRecord is the robots.txt verdict of one scheme and host, remembered
// across crawl runs: a row of the robots table.
type RobotsRecord struct {
	Key         string    // scheme://host, host in lower case ("https://example.com"); required
	Body        []byte    // the robots.txt body as fetched; nil when none was kept (stored as NULL)
	Allow       bool      // robots.txt was absent (4xx): every path allowed
	Unavailable bool      // robots.txt could not be had (5xx, 429, network error): every path disallowed until ExpiresAt
	Cause       string    // why it was unavailable; "" is stored as NULL
	FetchedAt   time.Time // when it was fetched; zero means the time of the save
	ExpiresAt   time.Time // when it is to be fetched again; required
}

const (
	loadRobots = `SELECT body, allow, unavailable, cause, fetched_at, expires_at FROM robots WHERE key = ?`

	// saveRobots replaces the row of a robots.txt fetched again.
	saveRobots = `INSERT INTO robots (key, body, allow, unavailable, cause, fetched_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET body = excluded.body, allow = excluded.allow,
	unavailable = excluded.unavailable, cause = excluded.cause, fetched_at = excluded.fetched_at,
	expires_at = excluded.expires_at`

	loadBackoff = `SELECT until FROM backoff WHERE host = ?`

	// saveBackoff keeps the later end when the host is backed off already:
	// stored times compare as text.
	saveBackoff = `INSERT INTO backoff (host, until) VALUES (?, ?)
ON CONFLICT (host) DO UPDATE SET until = max(until, excluded.until)`
)

// LoadRobots returns the robots.txt verdict stored under key, expired or
// not: the caller decides whether it is still fresh. It returns ErrNotFound
// when there is none. It reads through the query-only pool.
func (db *DB) LoadRobots(ctx context.Context, key string) (RobotsRecord, error) {
	r := RobotsRecord{Key: key}
	var cause sql.NullString
	var fetched, expires string
	err := db.ro.QueryRowContext(ctx, loadRobots, key).Scan(&r.Body, &r.Allow, &r.Unavailable, &cause, &fetched, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return RobotsRecord{}, fmt.Errorf("load robots.txt %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return RobotsRecord{}, fmt.Errorf("load robots.txt %s: %w", key, err)
	}
	r.Cause = cause.String
	if r.FetchedAt, err = parseTime(fetched); err != nil {
		return RobotsRecord{}, fmt.Errorf("load robots.txt %s: %w", key, err)
	}
	if r.ExpiresAt, err = parseTime(expires); err != nil {
		return RobotsRecord{}, fmt.Errorf("load robots.txt %s: %w", key, err)
	}
	return r, nil
}

// SaveRobots stores r, replacing the row with the same key. It is one
// statement on the write connection, so it waits for a batch that Write is
// committing.
func (db *DB) SaveRobots(ctx context.Context, r RobotsRecord) error {
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
	_, err := db.rw.ExecContext(ctx, saveRobots, r.Key, r.Body, r.Allow, r.Unavailable, nullString(r.Cause),
		formatTime(fetched), formatTime(r.ExpiresAt))
	if err != nil {
		return fmt.Errorf("save robots.txt %s: %w", r.Key, err)
	}
	return nil
}

// LoadBackoff returns the end of host's stored backoff, past or not. It
// returns ErrNotFound when host was never backed off. It reads through the
// query-only pool.
func (db *DB) LoadBackoff(ctx context.Context, host string) (time.Time, error) {
	var until string
	err := db.ro.QueryRowContext(ctx, loadBackoff, host).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("load backoff of %s: %w", host, ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("load backoff of %s: %w", host, err)
	}
	t, err := parseTime(until)
	if err != nil {
		return time.Time{}, fmt.Errorf("load backoff of %s: %w", host, err)
	}
	return t, nil
}

// SaveBackoff records that no request may be sent to host before until,
// unless a later end is stored already. until is rounded up to the
// millisecond, so that the stored backoff never ends early. It is one
// statement on the write connection, so it waits for a batch that Write is
// committing.
func (db *DB) SaveBackoff(ctx context.Context, host string, until time.Time) error {
	if host == "" {
		return errors.New("save backoff: empty host")
	}
	if _, err := db.rw.ExecContext(ctx, saveBackoff, host, formatTime(ceilMilli(until))); err != nil {
		return fmt.Errorf("save backoff of %s: %w", host, err)
	}
	return nil
}

// ceilMilli rounds t up to the next whole millisecond, the precision of
// stored times.
func ceilMilli(t time.Time) time.Time {
	if r := t.Truncate(time.Millisecond); r.Before(t) {
		return r.Add(time.Millisecond)
	}
	return t
}

// LoadBackoffs returns every stored backoff that ends after now, by host.
func (db *DB) LoadBackoffs(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT host, until FROM backoff WHERE until > ?`, formatTime(now))
	if err != nil {
		return nil, fmt.Errorf("load backoffs: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var host, until string
		if err := rows.Scan(&host, &until); err != nil {
			return nil, fmt.Errorf("load backoffs: %w", err)
		}
		t, err := parseTime(until)
		if err != nil {
			return nil, fmt.Errorf("load backoff of %s: %w", host, err)
		}
		out[host] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load backoffs: %w", err)
	}
	return out, nil
}
