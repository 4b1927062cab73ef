package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Host leases: a host belongs to one worker at a time. A worker claims hosts
// that have queued URLs and that no valid lease holds, whose ready time has
// come and that no stored backoff holds back; the claim locks each host's
// row with FOR UPDATE SKIP LOCKED, so two workers claiming at once take
// different hosts, and the upsert takes over an old lease only once it has
// expired. The holder renews its leases while it works (heartbeat), and gives
// a host back when it has nothing queued, setting the host's ready time a
// little ahead (the time its rate limiter needs to refill), so that the next
// holder, whose limiter starts full, cannot exceed the host's rate, and
// leaving when its requests of the last second were answered (recent), which
// the next holder counts in the host's window (fetch). A worker
// that dies stops renewing: its hosts are claimable once its leases expire,
// and the URLs it was fetching are still queued (a URL leaves the queue only
// in the transaction that records its visit).
//
// These calls try once and fail fast: the engine's lease loop calls them
// again on its next tick, and a lease it cannot renew lapses in its own
// memory before it lapses in the database.

// ClaimHosts claims up to n hosts for this worker and calls fn with each one,
// how many URLs it has queued, and when the requests of the second before
// its last holder gave it back were answered (oldest first; see
// ReleaseHosts), in this process's clock.
func (db *DB) ClaimHosts(ctx context.Context, n int, fn func(host string, queued int, recent []time.Time)) error {
	rows, err := db.pool.Query(ctx, claimSQL, db.worker, n, db.ttl.Seconds(), now())
	if err != nil {
		return fmt.Errorf("claim hosts: %w", err)
	}
	var host string
	var queued int64
	var ages []float64
	_, err = pgx.ForEachRow(rows, []any{&host, &queued, &ages}, func() error {
		fn(host, int(queued), fromAges(time.Now(), ages))
		return nil
	})
	if err != nil {
		return fmt.Errorf("claim hosts: %w", err)
	}
	return nil
}

// claimSQL claims hosts: $1 the worker, $2 how many at most, $3 the lease
// TTL in seconds, $4 the backoff's "now". The candidates are the hosts with
// queued URLs, read off the queue's key (host_id, seq) one host at a time,
// in ascending order: a skip scan, one index probe per queued host, which
// stops at the LIMIT. Walking the hosts table instead probed the queue once
// for every host ever seen, finished ones included (BenchmarkClaimHosts).
const claimSQL = `WITH RECURSIVE queued(host_id) AS (
	(SELECT host_id FROM queue ORDER BY host_id LIMIT 1)
	UNION ALL
	SELECT (SELECT q.host_id FROM queue q WHERE q.host_id > queued.host_id ORDER BY q.host_id LIMIT 1)
	FROM queued WHERE queued.host_id IS NOT NULL),
cand AS (
	SELECT h.id FROM queued JOIN hosts h ON h.id = queued.host_id
	WHERE NOT EXISTS (SELECT 1 FROM host_lease l WHERE l.host_id = h.id AND (l.expires_at > now() OR l.ready_at > now()))
		AND NOT EXISTS (SELECT 1 FROM backoff b WHERE b.host = h.host AND b.until > $4)
	LIMIT $2
	FOR UPDATE OF h SKIP LOCKED),` + claimFromCand

// claimFromCand is the claim after the candidates (cand): leases taken
// over only once expired, and each claimed host with its queued count and
// its last holder's recent times, as ages.
const claimFromCand = `
claimed AS (
	INSERT INTO host_lease (host_id, worker, expires_at, ready_at, claimed_at)
	SELECT id, $1, now() + make_interval(secs => $3), now(), now() FROM cand
	ON CONFLICT (host_id) DO UPDATE SET worker = excluded.worker, expires_at = excluded.expires_at, claimed_at = excluded.claimed_at
		WHERE host_lease.expires_at <= now() AND host_lease.ready_at <= now()
	RETURNING host_id, recent)
SELECT h.host, (SELECT count(*) FROM queue q WHERE q.host_id = c.host_id),
	ARRAY(SELECT extract(epoch FROM now() - t)::float8 FROM unnest(c.recent) t WHERE t > now() - interval '1 second' ORDER BY t)
FROM claimed c JOIN hosts h ON h.id = c.host_id`

// RenewHosts extends this worker's leases of hosts by the lease TTL, records
// its heartbeat (hosts held, pages recorded), and returns the hosts that are
// no longer its own (another worker took them after they expired).
func (db *DB) RenewHosts(ctx context.Context, hosts []string, pages int64) ([]string, error) {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO workers (id, started_at, heartbeat, hosts, pages) VALUES ($1, now(), now(), $2, $3)
ON CONFLICT (id) DO UPDATE SET heartbeat = now(), hosts = excluded.hosts, pages = excluded.pages, stopped_at = NULL`,
		db.worker, len(hosts), pages)
	renewed := map[string]bool{}
	b.Queue(`UPDATE host_lease l SET expires_at = now() + make_interval(secs => $3) FROM hosts h
WHERE h.id = l.host_id AND h.host = ANY($2::text[]) AND l.worker = $1 RETURNING h.host`, db.worker, hosts, db.ttl.Seconds()).
		Query(func(rows pgx.Rows) error {
			var h string
			_, err := pgx.ForEachRow(rows, []any{&h}, func() error { renewed[h] = true; return nil })
			return err
		})
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("renew %d host leases: %w", len(hosts), err)
	}
	var lost []string
	for _, h := range hosts {
		if !renewed[h] {
			lost = append(lost, h)
		}
	}
	return lost, nil
}

// ReleaseHosts gives hosts back: their leases end now, no worker may claim
// hosts[i] before gaps[i] has passed, and the next holder's ClaimHosts
// returns recent[i] (when this worker's latest requests to it were
// answered; nil when none). The times travel as ages on the database's
// clock, so that the workers' clocks need not agree.
func (db *DB) ReleaseHosts(ctx context.Context, hosts []string, gaps []time.Duration, recent [][]time.Time) error {
	secs := make([]float64, len(hosts))
	ages := make([]string, len(hosts))
	now := time.Now()
	for i := range hosts {
		secs[i] = gaps[i].Seconds()
		if i < len(recent) {
			ages[i] = toAges(now, recent[i])
		}
	}
	_, err := db.pool.Exec(ctx, `UPDATE host_lease l SET expires_at = now(), ready_at = now() + make_interval(secs => r.gap),
	recent = ARRAY(SELECT now() - make_interval(secs => a) FROM unnest(string_to_array(r.ages, ',')::float8[]) a ORDER BY a DESC)
FROM unnest($2::text[], $3::float8[], $4::text[]) AS r(host, gap, ages) JOIN hosts h ON h.host = r.host
WHERE h.id = l.host_id AND l.worker = $1 AND l.expires_at > now()`, db.worker, hosts, secs, ages)
	if err != nil {
		return fmt.Errorf("release %d hosts: %w", len(hosts), err)
	}
	return nil
}

// toAges returns how long before now each of times was, in seconds, as a
// comma-separated list ("" when none).
func toAges(now time.Time, times []time.Time) string {
	var b strings.Builder
	for i, t := range times {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(max(now.Sub(t).Seconds(), 0), 'f', 6, 64))
	}
	return b.String()
}

// fromAges returns the times ages seconds before now (nil when none).
func fromAges(now time.Time, ages []float64) []time.Time {
	if len(ages) == 0 {
		return nil
	}
	out := make([]time.Time, len(ages))
	for i, a := range ages {
		out[i] = now.Add(-time.Duration(a * float64(time.Second)))
	}
	return out
}

// QueuedOf calls fn with each of hosts and how many URLs it has queued.
func (db *DB) QueuedOf(ctx context.Context, hosts []string, fn func(host string, queued int)) error {
	rows, err := db.pool.Query(ctx, `SELECT h.host, (SELECT count(*) FROM queue q WHERE q.host_id = h.id)
FROM hosts h WHERE h.host = ANY($1::text[])`, hosts)
	if err != nil {
		return fmt.Errorf("count queued urls of %d hosts: %w", len(hosts), err)
	}
	var host string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&host, &n}, func() error { fn(host, int(n)); return nil })
	if err != nil {
		return fmt.Errorf("count queued urls of %d hosts: %w", len(hosts), err)
	}
	return nil
}

// FleetIdle reports whether the crawl is finished for the whole fleet:
// nothing is queued, and no other worker holds a valid lease (it might
// still discover URLs).
func (db *DB) FleetIdle(ctx context.Context) (bool, error) {
	var idle bool
	err := db.pool.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM queue)
	AND NOT EXISTS (SELECT 1 FROM host_lease WHERE worker <> $1 AND expires_at > now())`, db.worker).Scan(&idle)
	if err != nil {
		return false, fmt.Errorf("is the crawl finished: %w", err)
	}
	return idle, nil
}

// StopWorker gives back every host this worker still holds (claimable at
// once) and records that it stopped, having recorded pages.
func (db *DB) StopWorker(ctx context.Context, pages int64) error {
	return db.do(ctx, "stop worker", func(ctx context.Context) error {
		b := &pgx.Batch{}
		b.Queue(`UPDATE host_lease SET expires_at = now() WHERE worker = $1 AND expires_at > now()`, db.worker)
		b.Queue(`INSERT INTO workers (id, started_at, heartbeat, stopped_at, pages) VALUES ($1, now(), now(), now(), $2)
ON CONFLICT (id) DO UPDATE SET stopped_at = now(), hosts = 0, heartbeat = now(), pages = excluded.pages`, db.worker, pages)
		return db.pool.SendBatch(ctx, b).Close()
	})
}

// Worker is one crawler process of the fleet, as Workers reports it.
type Worker struct {
	ID        string    // host name, pid and start time, unless Options.Worker named it
	Started   time.Time // when it first renewed its leases
	Heartbeat time.Time // its last renewal
	Stopped   time.Time // when it stopped normally; zero while it runs, or if it died
	Hosts     int       // hosts held at the last heartbeat
	Pages     int64     // pages recorded, at the last heartbeat
	Live      bool      // its heartbeat is younger than the lease TTL and it did not stop
	Leases    int       // valid leases it holds now
}

// Workers lists the crawl's workers, the live ones first, latest heartbeat first.
func (db *DB) Workers(ctx context.Context) ([]Worker, error) {
	rows, err := db.pool.Query(ctx, `SELECT w.id, w.started_at, w.heartbeat, w.stopped_at, w.hosts, w.pages,
	w.stopped_at IS NULL AND w.heartbeat > now() - make_interval(secs => $1),
	(SELECT count(*) FROM host_lease l WHERE l.worker = w.id AND l.expires_at > now())
FROM workers w ORDER BY 7 DESC, w.heartbeat DESC`, db.ttl.Seconds())
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	var out []Worker
	var w Worker
	var stopped *time.Time
	var leases int64
	var hosts int32
	_, err = pgx.ForEachRow(rows, []any{&w.ID, &w.Started, &w.Heartbeat, &stopped, &hosts, &w.Pages, &w.Live, &leases}, func() error {
		w.Stopped, w.Leases, w.Hosts = time.Time{}, int(leases), int(hosts)
		if stopped != nil {
			w.Stopped = *stopped
		}
		out = append(out, w)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	return out, nil
}
