package crawl

import (
	"context"
	"errors"
	"time"

	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/storage"
)

// Memory returns db as the fetch.Client's politeness memory (fetch.Config.Memory):
// robots.txt verdicts and host backoffs kept in the crawl file's robots and backoff
// tables, so that a resumed crawl obeys what the last run learnt. Loads read through
// db's query-only pool; saves are single statements on its write connection,
// queued with the writer's batches. The result is safe for concurrent use.
// A PostgreSQL state (pgstore.DB) keeps them for the whole fleet of workers.
func Memory(db PolitenessStore) fetch.Memory { return memory{db} }

// PolitenessStore is where a crawl's state keeps robots.txt verdicts and
// host backoffs: storage.DB, or pgstore.DB. Loads return storage.ErrNotFound
// (wrapped) for a key or host they have nothing of.
type PolitenessStore interface {
	LoadRobots(ctx context.Context, key string) (storage.RobotsRecord, error)
	SaveRobots(ctx context.Context, r storage.RobotsRecord) error
	LoadBackoff(ctx context.Context, host string) (time.Time, error)
	SaveBackoff(ctx context.Context, host string, until time.Time) error
	LoadBackoffs(ctx context.Context, now time.Time) (map[string]time.Time, error)
}

// memory adapts a PolitenessStore to fetch.Memory.
type memory struct{ db PolitenessStore }

// LoadRobots implements fetch.Memory.
func (m memory) LoadRobots(ctx context.Context, key string) (fetch.RobotsRecord, bool, error) {
	r, err := m.db.LoadRobots(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return fetch.RobotsRecord{}, false, nil
	}
	if err != nil {
		return fetch.RobotsRecord{}, false, err
	}
	return fetch.RobotsRecord{
		Key: r.Key, Body: r.Body, Allow: r.Allow, Unavailable: r.Unavailable, Cause: r.Cause,
		Fetched: r.FetchedAt, Expires: r.ExpiresAt,
	}, true, nil
}

// SaveRobots implements fetch.Memory.
func (m memory) SaveRobots(ctx context.Context, r fetch.RobotsRecord) error {
	return m.db.SaveRobots(ctx, storage.RobotsRecord{
		Key: r.Key, Body: r.Body, Allow: r.Allow, Unavailable: r.Unavailable, Cause: r.Cause,
		FetchedAt: r.Fetched, ExpiresAt: r.Expires,
	})
}

// LoadBackoff implements fetch.Memory.
func (m memory) LoadBackoff(ctx context.Context, host string) (time.Time, bool, error) {
	until, err := m.db.LoadBackoff(ctx, host)
	if errors.Is(err, storage.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return until, true, nil
}

// SaveBackoff implements fetch.Memory.
func (m memory) SaveBackoff(ctx context.Context, host string, until time.Time) error {
	return m.db.SaveBackoff(ctx, host, until)
}

// LoadBackoffs implements fetch.BackoffLister: the fetcher loads every
// unexpired backoff once, instead of one read per new host under the
// frontier's lock.
func (m memory) LoadBackoffs(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	return m.db.LoadBackoffs(ctx, now)
}
