package pgstore

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/trawl/trawl/pgstore/pgtest"
)

// fillHosts gives the crawl hosts h1.test to h<hosts>.test, URLs queued
// (3 each) for those from first to last, and leases held by worker "other"
// on those from first to leasedTo (none when leasedTo < first).
func fillHosts(tb testing.TB, db *DB, hosts, first, last, leasedTo int) {
	tb.Helper()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO hosts (id, host) SELECT g, 'h' || g || '.test' FROM generate_series(1, $1::int) g`, []any{hosts}},
		{`INSERT INTO queue (host_id, seq, id) SELECT h, h * 10 + s, h * 10 + s FROM generate_series($1::int, $2::int) h, generate_series(1, 3) s`,
			[]any{first, last}},
		{`INSERT INTO host_lease (host_id, worker, expires_at, ready_at, claimed_at)
			SELECT h, 'other', now() + interval '1 hour', now(), now() FROM generate_series($1::int, $2::int) h`, []any{first, leasedTo}},
		{`ANALYZE`, nil},
	} {
		if _, err := db.pool.Exec(tb.Context(), q.sql, q.args...); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestClaimSkipsFinishedHosts: among many hosts, a claim takes only those
// with URLs queued and no valid lease, lowest id first, up to n.
func TestClaimSkipsFinishedHosts(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	db := open(t, dsn, crawl, "a", time.Minute)
	fillHosts(t, db, 5000, 4001, 4100, 4060) // 100 hosts queued, the first 60 of them leased
	var got []string
	if err := db.ClaimHosts(t.Context(), 25, func(h string, queued int, _ []time.Time) {
		if queued != 3 {
			t.Errorf("%s: %d queued, want 3", h, queued)
		}
		got = append(got, h)
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	var want []string
	for h := 4061; h <= 4085; h++ {
		want = append(want, "h"+strconv.Itoa(h)+".test")
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want h4061 to h4085 (queued, not leased, lowest first)", got)
	}
	got = claimAll(t, db, 100)
	if len(got) != 15 || slices.ContainsFunc(got, func(h string) bool { return slices.Contains(want, h) }) {
		t.Errorf("second claim %v, want the 15 hosts left (h4086 to h4100)", got)
	}
	if got := claimAll(t, db, 100); len(got) != 0 {
		t.Errorf("third claim %v, want none", got)
	}
}

// claimSQLHostsWalk is the claim's candidate search as it was before the
// skip scan: every host, probing the queue for each. Kept to measure
// against (BenchmarkClaimHosts).
const claimSQLHostsWalk = `WITH cand AS (
	SELECT h.id FROM hosts h
	WHERE EXISTS (SELECT 1 FROM queue q WHERE q.host_id = h.id)
		AND NOT EXISTS (SELECT 1 FROM host_lease l WHERE l.host_id = h.id AND (l.expires_at > now() OR l.ready_at > now()))
		AND NOT EXISTS (SELECT 1 FROM backoff b WHERE b.host = h.host AND b.until > $4)
	ORDER BY h.id LIMIT $2
	FOR UPDATE OF h SKIP LOCKED),` + claimFromCand

// BenchmarkClaimHosts claims 64 hosts of a crawl of 500,000 hosts whose
// last 2,000 have URLs queued, 1,500 of those leased by another worker (a
// large crawl near its end), with the claim query and with the walk over
// every host it replaced; the leases taken are dropped between claims:
//
//	go test -run '^$' -bench ClaimHosts -benchtime 20x ./pgstore
func BenchmarkClaimHosts(b *testing.B) {
	dsn, crawl := pgtest.Crawl(b)
	db, err := Open(b.Context(), dsn, Options{Crawl: crawl, Worker: "a", LeaseTTL: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	fillHosts(b, db, 500_000, 498_001, 500_000, 499_500)
	for _, bc := range []struct{ name, sql string }{{"skip-scan", claimSQL}, {"hosts-walk", claimSQLHostsWalk}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				rows, err := db.pool.Query(b.Context(), bc.sql, db.worker, 64, 60.0, now())
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					n++
				}
				if rows.Close(); rows.Err() != nil || n != 64 {
					b.Fatalf("claimed %d hosts (%v), want 64", n, rows.Err())
				}
				b.StopTimer()
				if _, err := db.pool.Exec(b.Context(), `DELETE FROM host_lease WHERE worker = 'a'`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
