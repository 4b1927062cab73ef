package storage

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRobotsRoundTrip(t *testing.T) {
	fetched := time.Date(2025, 3, 1, 12, 0, 0, 123_000_000, time.UTC)
	expires := fetched.Add(24 * time.Hour)
	tests := []struct {
		name string
		rec  RobotsRecord
	}{
		{"parsed", RobotsRecord{Key: "https://a.test", Body: []byte("User-agent: *\nDisallow: /x\n"), FetchedAt: fetched, ExpiresAt: expires}},
		{"allow all", RobotsRecord{Key: "http://b.test:8080", Allow: true, FetchedAt: fetched, ExpiresAt: expires}},
		{"unavailable", RobotsRecord{Key: "http://c.test", Unavailable: true, Cause: "fetch http://c.test/robots.txt: status 503", FetchedAt: fetched, ExpiresAt: fetched.Add(time.Minute)}},
		{"binary body", RobotsRecord{Key: "https://d.test", Body: []byte{0, 0xff, '\n', 0xef, 0xbb, 0xbf}, FetchedAt: fetched, ExpiresAt: expires}},
		{"body at the size limit", RobotsRecord{Key: "https://e.test", Body: bytes.Repeat([]byte("# pad\n"), 500<<10/6+1), FetchedAt: fetched, ExpiresAt: expires}},
	}
	db := openTest(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.SaveRobots(t.Context(), tt.rec); err != nil {
				t.Fatalf("SaveRobots: %v", err)
			}
			got, err := db.LoadRobots(t.Context(), tt.rec.Key)
			if err != nil {
				t.Fatalf("LoadRobots: %v", err)
			}
			if got.Key != tt.rec.Key || !bytes.Equal(got.Body, tt.rec.Body) || got.Allow != tt.rec.Allow ||
				got.Unavailable != tt.rec.Unavailable || got.Cause != tt.rec.Cause ||
				!got.FetchedAt.Equal(tt.rec.FetchedAt) || !got.ExpiresAt.Equal(tt.rec.ExpiresAt) {
				t.Errorf("LoadRobots = %+v, want %+v", short(got), short(tt.rec))
			}
			if (got.Body == nil) != (tt.rec.Body == nil) {
				t.Errorf("LoadRobots body nil = %v, want %v", got.Body == nil, tt.rec.Body == nil)
			}
		})
	}
	// NULLs, not empty strings, for absent values.
	if n := count(t, db, `SELECT count(*) FROM robots WHERE cause IS NULL`); n != len(tests)-1 {
		t.Errorf("rows with cause NULL = %d, want %d", n, len(tests)-1)
	}
	if n := count(t, db, `SELECT count(*) FROM robots WHERE body IS NULL`); n != 2 {
		t.Errorf("rows with body NULL = %d, want 2", n)
	}
}

// short keeps a failure message readable when a record has a long body.
func short(r RobotsRecord) RobotsRecord {
	if len(r.Body) > 40 {
		r.Body = r.Body[:40]
	}
	return r
}

func TestRobotsUpsert(t *testing.T) {
	db := openTest(t)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	first := RobotsRecord{Key: "https://a.test", Unavailable: true, Cause: "status 503", FetchedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	second := RobotsRecord{Key: "https://a.test", Body: []byte("User-agent: *\nAllow: /\n"), FetchedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(25 * time.Hour)}
	for _, r := range []RobotsRecord{first, second} {
		if err := db.SaveRobots(t.Context(), r); err != nil {
			t.Fatalf("SaveRobots: %v", err)
		}
	}
	got, err := db.LoadRobots(t.Context(), "https://a.test")
	if err != nil {
		t.Fatal(err)
	}
	// The second fetch replaces every field, the unavailable flag and cause included.
	if got.Unavailable || got.Cause != "" || string(got.Body) != string(second.Body) ||
		!got.FetchedAt.Equal(second.FetchedAt) || !got.ExpiresAt.Equal(second.ExpiresAt) {
		t.Errorf("after two saves LoadRobots = %+v, want %+v", got, second)
	}
	if n := count(t, db, `SELECT count(*) FROM robots`); n != 1 {
		t.Errorf("robots rows = %d, want 1", n)
	}
}

func TestRobotsNotFoundAndInvalid(t *testing.T) {
	db := openTest(t)
	if _, err := db.LoadRobots(t.Context(), "https://nowhere.test"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LoadRobots of an unknown key = %v, want ErrNotFound", err)
	}
	exp := time.Now().Add(time.Hour)
	for _, r := range []RobotsRecord{
		{ExpiresAt: exp},
		{Key: "https://a.test"},
		{Key: "https://a.test", Allow: true, Unavailable: true, ExpiresAt: exp},
	} {
		if err := db.SaveRobots(t.Context(), r); err == nil {
			t.Errorf("SaveRobots(%+v) = nil, want an error", r)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM robots`); n != 0 {
		t.Errorf("robots rows after invalid saves = %d, want 0", n)
	}
}

func TestRobotsFetchedAtDefaultsToNow(t *testing.T) {
	db := openTest(t)
	before := time.Now().Truncate(time.Millisecond)
	if err := db.SaveRobots(t.Context(), RobotsRecord{Key: "https://a.test", Allow: true, ExpiresAt: before.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := db.LoadRobots(t.Context(), "https://a.test")
	if err != nil {
		t.Fatal(err)
	}
	if after := time.Now(); got.FetchedAt.Before(before) || got.FetchedAt.After(after) {
		t.Errorf("FetchedAt = %v, want between %v and %v", got.FetchedAt, before, after)
	}
}

func TestBackoff(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		saves []time.Time
		want  time.Time
	}{
		{"one", []time.Time{t0.Add(3 * time.Second)}, t0.Add(3 * time.Second)},
		{"rounded up to the millisecond", []time.Time{t0.Add(1500 * time.Microsecond)}, t0.Add(2 * time.Millisecond)},
		{"whole millisecond kept", []time.Time{t0.Add(7 * time.Millisecond)}, t0.Add(7 * time.Millisecond)},
		{"later replaces", []time.Time{t0.Add(time.Second), t0.Add(time.Minute)}, t0.Add(time.Minute)},
		{"earlier does not shorten", []time.Time{t0.Add(time.Minute), t0.Add(time.Second)}, t0.Add(time.Minute)},
		{"other zone", []time.Time{t0.Add(time.Hour).In(time.FixedZone("x", 5*3600))}, t0.Add(time.Hour)},
	}
	db := openTest(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := strings.Repeat("h", i+1) + ".test:8080"
			if _, err := db.LoadBackoff(t.Context(), host); !errors.Is(err, ErrNotFound) {
				t.Fatalf("LoadBackoff before any save = %v, want ErrNotFound", err)
			}
			for _, s := range tt.saves {
				if err := db.SaveBackoff(t.Context(), host, s); err != nil {
					t.Fatalf("SaveBackoff(%v): %v", s, err)
				}
			}
			got, err := db.LoadBackoff(t.Context(), host)
			if err != nil {
				t.Fatalf("LoadBackoff: %v", err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("LoadBackoff = %v, want %v", got, tt.want)
			}
		})
	}
	if err := db.SaveBackoff(t.Context(), "", t0); err == nil {
		t.Error("SaveBackoff with an empty host = nil, want an error")
	}
	if n := count(t, db, `SELECT count(*) FROM backoff`); n != len(tests) {
		t.Errorf("backoff rows = %d, want %d (one per host)", n, len(tests))
	}
}

// TestPolitenessSurvivesReopen checks that what one process saves, the next
// one reads: the point of the two tables.
func TestPolitenessSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crawl.db")
	until := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	rec := RobotsRecord{Key: "https://a.test", Body: []byte("User-agent: *\nDisallow: /\n"), ExpiresAt: until}
	db, err := Open(t.Context(), path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveRobots(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveBackoff(t.Context(), "a.test", until); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path)
	got, err := db.LoadRobots(t.Context(), rec.Key)
	if err != nil || string(got.Body) != string(rec.Body) || !got.ExpiresAt.Equal(until) {
		t.Errorf("LoadRobots after reopen = %+v, %v; want body %q expiring %v", got, err, rec.Body, until)
	}
	if b, err := db.LoadBackoff(t.Context(), "a.test"); err != nil || !b.Equal(until) {
		t.Errorf("LoadBackoff after reopen = %v, %v; want %v", b, err, until)
	}
}
