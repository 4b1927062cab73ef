package storage

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// TestMigrateV1File opens a file at schema version 1 holding a page, and
// checks that it is brought to the current version, version 2's columns
// arrive with their defaults and the row survives.
func TestMigrateV1File(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{schemaV1, `PRAGMA user_version = 1`,
		`INSERT INTO pages (url, host, depth, fetched_at) VALUES ('https://a.test/', 'a.test', 0, '2025-01-01T00:00:00.000Z')`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db := openAt(t, path)
	if got, want := userVersion(t, db.ro), len(migrations()); got != want {
		t.Fatalf("user_version = %d, want %d", got, want)
	}
	var noindex, unchanged int
	var simhash sql.NullInt64
	if err := db.ro.QueryRow(`SELECT noindex, unchanged, simhash FROM pages WHERE url = 'https://a.test/'`).Scan(&noindex, &unchanged, &simhash); err != nil {
		t.Fatalf("read migrated page: %v", err)
	}
	if noindex != 0 || unchanged != 0 || simhash.Valid {
		t.Errorf("migrated page: noindex %d unchanged %d simhash %v, want 0 0 NULL", noindex, unchanged, simhash)
	}
}

// TestWriteV2Columns stores every column schema version 2 added and reads
// them back, the SimHash's top bit included.
func TestWriteV2Columns(t *testing.T) {
	db := openTest(t)
	v := pageVisit(0, 1, 1, 2)
	p := v.Page
	p.ErrorClass, p.Charset, p.NoIndex, p.NoFollow, p.LinksCapped = "", "windows-1252", true, true, true
	p.SimHash = 1<<63 | 0xabc
	p.ETag, p.LastMod = `"v1"`, "Mon, 02 Jan 2006 15:04:05 GMT"
	v.Drops = []Drop{{Reason: "scope", Count: 3, Example: "https://out.test/"}, {Reason: "too-long", Count: 1}, {Reason: "scope", Count: 2, Example: "https://out2.test/"}}
	if _, err := runWrite(db, WriterConfig{}, []Visit{v}); err != nil {
		t.Fatal(err)
	}
	var charset, etag, lm string
	var noindex, nofollow, capped int
	var h int64
	if err := db.ro.QueryRow(`SELECT charset, noindex, nofollow, links_capped, simhash, etag, last_modified FROM pages WHERE url = ?`, p.URL).
		Scan(&charset, &noindex, &nofollow, &capped, &h, &etag, &lm); err != nil {
		t.Fatal(err)
	}
	if charset != "windows-1252" || noindex != 1 || nofollow != 1 || capped != 1 || uint64(h) != p.SimHash || etag != p.ETag || lm != p.LastMod {
		t.Errorf("row = %q %d %d %d %#x %q %q", charset, noindex, nofollow, capped, uint64(h), etag, lm)
	}
	var fps []Fingerprint
	if err := db.EachFingerprint(t.Context(), func(f Fingerprint) error { fps = append(fps, f); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(fps) != 1 || fps[0].SimHash != p.SimHash || fps[0].URL != p.URL {
		t.Errorf("fingerprints = %+v", fps)
	}
	st, err := db.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []Drop{{"scope", 5, "https://out2.test/"}, {"too-long", 1, ""}}
	if len(st.Drops) != 2 || st.Drops[0] != want[0] || st.Drops[1] != want[1] {
		t.Errorf("drops = %+v, want %+v", st.Drops, want)
	}
	if st.NoIndex != 1 || st.NoFollow != 1 || st.Capped != 1 {
		t.Errorf("stats noindex %d nofollow %d capped %d, want 1 1 1", st.NoIndex, st.NoFollow, st.Capped)
	}
}

// TestRecrawlUnchanged requeues a fetched page, reads its validators, and
// records a 304: the content and links stay, unchanged is set, and a later
// 200 clears it.
func TestRecrawlUnchanged(t *testing.T) {
	db := openTest(t)
	v := pageVisit(0, 1, 1, 3)
	v.Page.ETag, v.Page.LastMod = `"abc"`, "Tue, 01 Jul 2025 00:00:00 GMT"
	v.Page.WARCFile, v.Page.WARCOffset = "c-00001.warc.gz", 1234
	failedPage := Visit{Page: &Page{URL: "https://h1.test/dead", Host: "h1.test", Error: "connection refused", ErrorClass: "network", ETag: `"x"`}}
	if _, err := runWrite(db, WriterConfig{}, []Visit{v, failedPage}); err != nil {
		t.Fatal(err)
	}
	n, err := db.Requeue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The two fetched URLs are queued again; the three the page discovered were queued already.
	if got := count(t, db, `SELECT count(*) FROM urls WHERE state = 'queued'`); n != 2 || got != 5 {
		t.Fatalf("Requeue = %d, queued now %d, want 2 and 5", n, got)
	}
	perHost := map[string]int{}
	if err := db.URLsPerHost(t.Context(), func(h string, n int) error { perHost[h] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	if perHost["h1.test"] != 5 || len(perHost) != 1 { // every state counts
		t.Errorf("URLsPerHost = %v, want h1.test: 5", perHost)
	}
	// The recrawl leases them back: every requeued URL is in its host's queue.
	leased, err := db.Lease(t.Context(), "h1.test", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(leased) != 5 {
		t.Errorf("Lease after Requeue = %+v, want the 5 queued URLs", leased)
	}
	val, err := db.Validators(t.Context(), URLID(v.Page.URL))
	if err != nil || val != (Validators{ETag: `"abc"`, LastModified: v.Page.LastMod, WARCFile: "c-00001.warc.gz", WARCOffset: 1234}) {
		t.Fatalf("Validators = %+v %v", val, err)
	}
	if val, err := db.Validators(t.Context(), URLID("https://h1.test/dead")); err != nil || val != (Validators{}) {
		t.Errorf("Validators of a failed page = %+v %v, want none", val, err)
	}
	if val, err := db.Validators(t.Context(), URLID("https://nowhere.test/")); err != nil || val != (Validators{}) {
		t.Errorf("Validators of an unknown URL = %+v %v", val, err)
	}

	later := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	notModified := Visit{CrawlID: 0, Page: &Page{URL: v.Page.URL, Host: v.Page.Host, Status: 304, FetchedAt: later, Unchanged: true}}
	if _, err := runWrite(db, WriterConfig{}, []Visit{notModified}); err != nil {
		t.Fatal(err)
	}
	var status, unchanged int
	var title, fetched string
	if err := db.ro.QueryRow(`SELECT status, title, unchanged, fetched_at FROM pages WHERE url = ?`, v.Page.URL).Scan(&status, &title, &unchanged, &fetched); err != nil {
		t.Fatal(err)
	}
	if status != 200 || title != v.Page.Title || unchanged != 1 || fetched != "2026-01-01T00:00:00.000Z" {
		t.Errorf("after 304: status %d title %q unchanged %d fetched %s", status, title, unchanged, fetched)
	}
	if got := count(t, db, `SELECT count(*) FROM links WHERE src_url = ?`, v.Page.URL); got != 3 {
		t.Errorf("links after 304 = %d, want 3 kept", got)
	}
	if got := count(t, db, `SELECT count(*) FROM urls WHERE url = ? AND state = 'done'`, v.Page.URL); got != 1 {
		t.Errorf("URL not done after 304")
	}
	if _, err := runWrite(db, WriterConfig{}, []Visit{pageVisit(0, 1, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, `SELECT unchanged FROM pages WHERE url = ?`, v.Page.URL); got != 0 {
		t.Errorf("unchanged = %d after a 200, want 0", got)
	}
	st, err := db.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.ByClass["network"] != 1 {
		t.Errorf("ByClass = %v, want network: 1", st.ByClass)
	}
}

// TestLoadBackoffs lists the backoffs that end after now, and only those.
func TestLoadBackoffs(t *testing.T) {
	db := openTest(t)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for host, until := range map[string]time.Time{"a.test": now.Add(time.Minute), "b.test:8080": now.Add(-time.Minute), "c.test": now.Add(time.Hour)} {
		if err := db.SaveBackoff(t.Context(), host, until); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.LoadBackoffs(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["a.test"].Equal(now.Add(time.Minute)) || !got["c.test"].Equal(now.Add(time.Hour)) {
		t.Errorf("LoadBackoffs = %v, want a.test and c.test", got)
	}
}
