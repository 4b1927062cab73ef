package pgstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trawl/trawl/pgstore/pgtest"
	"github.com/trawl/trawl/storage"
)

// open opens the crawl as worker name.
func open(t *testing.T, dsn, crawl, name string, ttl time.Duration) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn, Options{Crawl: crawl, Worker: name, LeaseTTL: ttl, RetryFor: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// write commits visits through Write and returns the commits.
func write(t *testing.T, db *DB, visits ...storage.Visit) []storage.Commit {
	t.Helper()
	rows := make(chan storage.Visit, len(visits))
	for _, v := range visits {
		rows <- v
	}
	close(rows)
	var commits []storage.Commit
	err := db.Write(t.Context(), storage.WriterConfig{}, rows, func(c storage.Commit) {
		c.Batch = nil // not kept by contract
		commits = append(commits, c)
	})
	if err != nil {
		t.Fatal(err)
	}
	return commits
}

func u(host, path string, depth int) storage.URL {
	return storage.URL{URL: "http://" + host + path, Host: host, Depth: depth}
}

func TestOpenMigratesOnceAndRefusesForeignSchema(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	open(t, dsn, crawl, "a", 0)
	open(t, dsn, crawl, "b", 0) // the second open finds it up to date
	if got := pgtest.Count(t, dsn, crawl, `SELECT version FROM schema_version`); got != len(migrations) {
		t.Errorf("schema_version = %d, want %d", got, len(migrations))
	}

	// A schema that is not a crawl's is never touched.
	_, other := pgtest.Crawl(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), `CREATE SCHEMA `+other+`; CREATE TABLE `+other+`.mine (x int)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), dsn, Options{Crawl: other}); err == nil {
		t.Fatal("Open of a schema that is not a crawl succeeded")
	}
	if got := pgtest.Count(t, dsn, other, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, other); got != 1 {
		t.Errorf("the foreign schema has %d tables, want its 1", got)
	}
	for _, bad := range []string{"", "Crawl", "1x", "a-b", "a;drop"} {
		if bad == "" {
			continue // "" means the default name
		}
		if _, err := Open(t.Context(), dsn, Options{Crawl: bad}); err == nil {
			t.Errorf("Open with crawl name %q succeeded", bad)
		}
	}
	if _, err := Open(t.Context(), "postgres://postgres@127.0.0.1:1/x?connect_timeout=2", Options{}); !errors.Is(err, errNoServer) {
		t.Errorf("Open with no server: %v, want errNoServer", err)
	}
}

// TestWriteQueuesOnceAcrossWriters: URLs discovered by two workers are
// queued once, in discovery order per host; a visit dequeues its URL and
// stores its page and links.
func TestWriteQueuesOnceAcrossWriters(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	a, b := open(t, dsn, crawl, "a", 0), open(t, dsn, crawl, "b", 0)
	ca := write(t, a, storage.Visit{Discovered: []storage.URL{u("x.test", "/", 0), u("x.test", "/2", 1), u("x.test", "/", 0)}})
	cb := write(t, b, storage.Visit{Discovered: []storage.URL{u("x.test", "/2", 1), u("y.test", "/", 0)}})
	if len(ca) != 1 || len(ca[0].Queued) != 2 || ca[0].Merged != 3 {
		t.Fatalf("first writer's commit = %+v, want 2 queued of 3 merged", ca)
	}
	if len(cb) != 1 || len(cb[0].Queued) != 1 || cb[0].Queued[0].Host != "y.test" {
		t.Fatalf("second writer's commit = %+v, want y.test/ queued alone", cb)
	}
	leased, err := a.Lease(t.Context(), "x.test", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(leased) != 2 || leased[0].URL != "http://x.test/" || leased[1].Seq <= leased[0].Seq {
		t.Fatalf("Lease = %+v, want / then /2 in seq order", leased)
	}
	root := leased[0]
	write(t, b, storage.Visit{
		Page:  &storage.Page{URL: root.URL, Host: "x.test", Seq: root.Seq, Status: 200, Title: "root", FinalURL: root.URL},
		Links: []storage.Link{{Dst: "http://x.test/2", Queued: true}, {Dst: "http://elsewhere.test/", Nofollow: true}},
	})
	for q, want := range map[string]int{
		`SELECT count(*) FROM urls WHERE state = 'queued'`:                                     2,
		`SELECT count(*) FROM pages WHERE title = 'root' AND final_url = 'http://x.test/'`:     1,
		`SELECT count(*) FROM links WHERE src_url = 'http://x.test/'`:                          2,
		`SELECT count(*) FROM links WHERE dst_url = 'http://elsewhere.test/' AND nofollow = 1`: 1,
	} {
		if got := pgtest.Count(t, dsn, crawl, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	tot, err := a.Totals(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tot != (storage.Totals{Pages: 1, Queued: 2}) {
		t.Errorf("Totals = %+v, want 1 page, 2 queued", tot)
	}
	if seen, err := a.Seen(t.Context(), storage.URLID("http://x.test/2")); err != nil || !seen {
		t.Errorf("Seen(x.test/2) = %v, %v; want true", seen, err)
	}
}

// claimAll claims up to n hosts for db and returns them sorted.
func claimAll(t *testing.T, db *DB, n int) []string {
	t.Helper()
	var got []string
	if err := db.ClaimHosts(t.Context(), n, func(h string, _ int, _ []time.Time) { got = append(got, h) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

// TestLeaseCarriesRecent: a host given back carries when its holder's
// requests of the last second were answered to its next holder (as ages on
// the server's clock: the workers' clocks need not agree); older ones, and
// a host never given back, carry none.
func TestLeaseCarriesRecent(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	a, b := open(t, dsn, crawl, "a", 10*time.Second), open(t, dsn, crawl, "b", 10*time.Second)
	write(t, a, storage.Visit{Discovered: []storage.URL{u("h1.test", "/", 0)}})
	claim := func(db *DB) (hosts []string, recent [][]time.Time) {
		t.Helper()
		err := db.ClaimHosts(t.Context(), 10, func(h string, _ int, r []time.Time) { hosts, recent = append(hosts, h), append(recent, r) })
		if err != nil {
			t.Fatal(err)
		}
		return hosts, recent
	}
	if hosts, recent := claim(a); len(hosts) != 1 || recent[0] != nil {
		t.Fatalf("a claimed %v with recent %v; want h1 with none", hosts, recent)
	}
	now := time.Now()
	sent := []time.Time{now.Add(-2 * time.Second), now.Add(-600 * time.Millisecond), now.Add(-200 * time.Millisecond)}
	if err := a.ReleaseHosts(t.Context(), []string{"h1.test"}, []time.Duration{0}, [][]time.Time{sent}); err != nil {
		t.Fatal(err)
	}
	hosts, recent := claim(b)
	if len(hosts) != 1 || len(recent[0]) != 2 {
		t.Fatalf("b claimed %v with recent %v; want h1 with the 2 times of the last second", hosts, recent)
	}
	// The round trips take a little time; the times come back as they were
	// (to the microsecond), give or take how long the claim took.
	took := time.Since(now)
	for i, got := range recent[0] {
		if d := got.Sub(sent[i+1]); d < -time.Millisecond || d > took+time.Millisecond {
			t.Errorf("recent[%d] = %v, %v after the time given; want within %v", i, got, d, took)
		}
	}
}

// TestLeasesExclusive: a host is claimed by one worker at a time, not taken
// over while its lease is valid, taken over once it expired, not claimable
// while backed off or before its ready time after a release, and a renewal
// reports a lease lost to another worker.
func TestLeasesExclusive(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	const ttl = time.Second
	a, b := open(t, dsn, crawl, "a", ttl), open(t, dsn, crawl, "b", ttl)
	write(t, a, storage.Visit{Discovered: []storage.URL{u("h1.test", "/", 0), u("h2.test", "/", 0), u("h3.test", "/", 0)}})

	// Every lease below is claimed after this: valid until deadline at least
	// (on a loaded machine the claims themselves may take a while).
	deadline := time.Now().Add(ttl)
	if got := claimAll(t, a, 2); !slices.Equal(got, []string{"h1.test", "h2.test"}) {
		t.Fatalf("a claimed %v, want h1 and h2", got)
	}
	if got := claimAll(t, b, 10); !slices.Equal(got, []string{"h3.test"}) {
		t.Fatalf("b claimed %v, want h3 alone (h1, h2 are a's)", got)
	}
	if got := claimAll(t, a, 10); len(got) != 0 {
		t.Fatalf("a claimed %v more, want none", got)
	}
	// a renews h1 only; h2 expires and goes to b, never before. b renews
	// h3 (claimed a little after h2, so it would expire just after it, and
	// a poll that came after both would see b claim both again).
	renew := func() {
		t.Helper()
		if _, err := a.RenewHosts(t.Context(), []string{"h1.test"}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := b.RenewHosts(t.Context(), []string{"h3.test"}, 0); err != nil {
			t.Fatal(err)
		}
	}
	for time.Now().Before(deadline.Add(-200 * time.Millisecond)) {
		renew()
		if got := claimAll(t, b, 10); len(got) != 0 {
			t.Fatalf("b took %v while a's leases were valid", got)
		}
		time.Sleep(50 * time.Millisecond) // deliberate: leases expire on the server's clock, sampled while a's are valid
	}
	var got []string
	for len(got) == 0 && time.Now().Before(deadline.Add(5*time.Second)) {
		renew()
		got = claimAll(t, b, 10)
		time.Sleep(20 * time.Millisecond) // deliberate: waits for the server's clock to pass h2's expiry
	}
	if !slices.Equal(got, []string{"h2.test"}) {
		t.Fatalf("after h2's lease expired b claimed %v, want h2", got)
	}
	lost, err := a.RenewHosts(t.Context(), []string{"h1.test", "h2.test"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lost, []string{"h2.test"}) {
		t.Errorf("a's renewal reported %v lost, want h2", lost)
	}

	// Released with a gap: nobody claims it before the gap has passed.
	if err := a.ReleaseHosts(t.Context(), []string{"h1.test"}, []time.Duration{time.Hour}, nil); err != nil {
		t.Fatal(err)
	}
	if got := claimAll(t, b, 10); slices.Contains(got, "h1.test") {
		t.Errorf("b claimed %v: h1 before its ready time", got)
	}
	if err := a.ReleaseHosts(t.Context(), []string{"h1.test"}, []time.Duration{0}, nil); err != nil {
		t.Fatal(err)
	}
	// Backed off: nobody claims it until the backoff ends.
	if err := a.SaveBackoff(t.Context(), "h1.test", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := claimAll(t, b, 10); slices.Contains(got, "h1.test") {
		t.Errorf("b claimed %v: h1 while it was backed off", got)
	}
	if err := a.StopWorker(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.StopWorker(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if got := pgtest.Count(t, dsn, crawl, `SELECT count(*) FROM host_lease WHERE expires_at > now()`); got != 0 {
		t.Errorf("%d leases valid after both workers stopped", got)
	}
}

// TestWriteSurvivesDroppedConnections: the server drops every connection
// of the crawl (as a restart does) while a worker writes: the writer waits,
// reconnects and commits everything, once.
func TestWriteSurvivesDroppedConnections(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	db := open(t, dsn, crawl, "a", 0)
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(t.Context())
	terminate := func() int {
		var n int
		err := admin.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = $1`, "trawl "+db.Worker()).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	const n = 200
	rows := make(chan storage.Visit)
	committed := 0
	done := make(chan error, 1)
	go func() {
		done <- db.Write(context.WithoutCancel(t.Context()), storage.WriterConfig{BatchSize: 8}, rows, func(c storage.Commit) {
			if c.Err == nil {
				committed += len(c.Batch)
			}
		})
	}()
	killed := 0
	for i := range n {
		ack := make(chan error, 1)
		rows <- storage.Visit{Discovered: []storage.URL{u("x.test", "/"+strconv.Itoa(i), 1)}, Ack: ack}
		if i%50 == 25 {
			killed += terminate()
		}
	}
	close(rows)
	if err := <-done; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if killed == 0 {
		t.Fatal("no connection was terminated: the test tested nothing")
	}
	if committed != n {
		t.Errorf("%d visits committed, want %d", committed, n)
	}
	if got := pgtest.Count(t, dsn, crawl, `SELECT count(*) FROM urls WHERE state = 'queued'`); got != n {
		t.Errorf("%d URLs queued, want %d", got, n)
	}
}

// TestWriteBatchAtomic: a batch that fails in the middle of its pipeline
// (here a trigger refuses one link) stores nothing of its visits, says so in
// its Commit, and the next batch commits on the same connections; text
// PostgreSQL refuses (NUL, invalid UTF-8) is stored cleaned, never failing
// its batch.
func TestWriteBatchAtomic(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	db := open(t, dsn, crawl, "a", 0)
	db.retry = time.Second
	if _, err := db.pool.Exec(t.Context(), `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'refused link'; END$$;
CREATE TRIGGER refuse BEFORE INSERT ON link FOR EACH ROW WHEN (NEW.dst_id = 42) EXECUTE FUNCTION refuse()`); err != nil {
		t.Fatal(err)
	}
	seed := write(t, db, storage.Visit{Discovered: []storage.URL{u("x.test", "/", 0), u("x.test", "/ok", 0)}})
	root, ok := seed[0].Queued[0], seed[0].Queued[1]
	rows := make(chan storage.Visit, 2)
	rows <- storage.Visit{
		Page:       &storage.Page{URL: root.URL, Host: "x.test", Seq: root.Seq, Status: 200},
		Links:      []storage.Link{{Dst: "http://x.test/refused", DstID: 42}},
		Discovered: []storage.URL{u("x.test", "/new", 1)},
	}
	var commits []storage.Commit
	err := db.Write(t.Context(), storage.WriterConfig{BatchSize: 1}, rows, func(c storage.Commit) {
		commits = append(commits, storage.Commit{Queued: c.Queued, Err: c.Err})
		if len(commits) == 1 { // the next batch, after the failed one
			rows <- storage.Visit{Page: &storage.Page{URL: ok.URL, Host: "x.test", Seq: ok.Seq, Status: 200,
				Title: "nul\x00 and \xff bad", Error: "server said \x00"}}
			close(rows)
		}
	})
	if err == nil || len(commits) != 2 || commits[0].Err == nil || commits[1].Err != nil {
		t.Fatalf("Write = %v with commits %+v; want the first batch failed, the second committed", err, commits)
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM page`: 1,
		`SELECT count(*) FROM url`:  2, // not /new
		`SELECT count(*) FROM link`: 0,
		`SELECT count(*) FROM pages WHERE title = 'nul` + "\uFFFD" + ` and ` + "\uFFFD" + ` bad'`: 1,
		`SELECT count(*) FROM urls WHERE state = 'queued'`:                                        1, // the root, whose visit failed
	} {
		if got := pgtest.Count(t, dsn, crawl, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
}

func TestIsURLAndRedact(t *testing.T) {
	for dsn, want := range map[string]bool{
		"postgres://u@h/db": true, "postgresql://h/db": true, "host=db1 dbname=crawls": true, "dbname=x": true,
		"crawl.db": false, "/tmp/host=x/crawl.db": false, "": false,
	} {
		if got := IsURL(dsn); got != want {
			t.Errorf("IsURL(%q) = %v, want %v", dsn, got, want)
		}
	}
	for dsn, want := range map[string]string{
		"postgres://u:secret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"host=h password=secret dbname=x":               "host=h password=xxxxx dbname=x",
		"host=h password='se cret' dbname=x":            "host=h password=xxxxx dbname=x",
		"postgres://u@h/db":                             "postgres://u@h/db",
	} {
		if got := Redact(dsn); got != want {
			t.Errorf("Redact(%q) = %q, want %q", dsn, got, want)
		}
	}
}

// TestCrawlsApart: two crawls in one database do not see each other's rows.
func TestCrawlsApart(t *testing.T) {
	dsn, one := pgtest.Crawl(t)
	_, two := pgtest.Crawl(t)
	a, b := open(t, dsn, one, "a", 0), open(t, dsn, two, "b", 0)
	write(t, a, storage.Visit{Discovered: []storage.URL{u("x.test", "/", 0), u("x.test", "/2", 0)}})
	write(t, b, storage.Visit{Discovered: []storage.URL{u("y.test", "/", 0)}})
	ta, err := a.Totals(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Totals(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ta.Queued != 2 || tb.Queued != 1 {
		t.Errorf("queued: %d in %s, %d in %s; want 2 and 1", ta.Queued, one, tb.Queued, two)
	}
	if got := claimAll(t, b, 10); !slices.Equal(got, []string{"y.test"}) {
		t.Errorf("the second crawl's worker claimed %v, want its own y.test only", got)
	}
}

// TestTextLangAndArchive: a page's text, language and the place of its
// response in the WARC archive are kept as in the file (page_text, and the
// pages view's lang, warc_file, warc_offset), a refetch replaces the text,
// and ExportText gives the text as a last column.
func TestTextLangAndArchive(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	db := open(t, dsn, crawl, "a", 0)
	seed := write(t, db, storage.Visit{Discovered: []storage.URL{u("x.test", "/", 0), u("x.test", "/plain", 0)}})
	root, plain := seed[0].Queued[0], seed[0].Queued[1]
	write(t, db,
		storage.Visit{Page: &storage.Page{URL: root.URL, Host: "x.test", Seq: root.Seq, Status: 200, Title: "Root",
			Text: "first words", Lang: "en", WARCFile: "c-00001.warc.gz", WARCOffset: 0}},
		storage.Visit{Page: &storage.Page{URL: plain.URL, Host: "x.test", Seq: plain.Seq, Status: 200}})
	write(t, db, storage.Visit{Page: &storage.Page{URL: root.URL, Host: "x.test", Seq: root.Seq, Status: 200, Title: "Root",
		Text: "second words", Lang: "en", WARCFile: "c-00001.warc.gz", WARCOffset: 512, Refetch: true, ETag: `"e1"`}})
	// A recrawl's 304 names the capture its validators revalidate.
	v, err := db.Validators(t.Context(), storage.URLID(root.URL))
	if err != nil || v != (storage.Validators{ETag: `"e1"`, WARCFile: "c-00001.warc.gz", WARCOffset: 512}) {
		t.Errorf("Validators = %+v, %v; want the ETag and the archived location", v, err)
	}
	if v, err := db.Validators(t.Context(), storage.URLID(plain.URL)); err != nil || v != (storage.Validators{}) {
		t.Errorf("Validators of a page without validators = %+v, %v; want none", v, err)
	}
	for q, want := range map[string]int{
		`SELECT count(*) FROM page_text`:                                                              1,
		`SELECT count(*) FROM texts WHERE text = 'second words' AND lang = 'en'`:                      1,
		`SELECT count(*) FROM pages WHERE warc_file = 'c-00001.warc.gz' AND warc_offset = 512`:        1,
		`SELECT count(*) FROM pages WHERE warc_file IS NULL AND warc_offset IS NULL AND lang IS NULL`: 1,
	} {
		if got := pgtest.Count(t, dsn, crawl, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	var out strings.Builder
	if err := db.ExportText(t.Context(), &out, "csv"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], ",lang,warc_file,warc_offset,text") ||
		!strings.Contains(out.String(), ",en,c-00001.warc.gz,512,second words") {
		t.Errorf("ExportText csv =\n%s\nwant a header ending in lang,warc_file,warc_offset,text and the root's row with them", out.String())
	}
}

// TestRequeueOncePerFleet: a recrawl's Requeue queues every URL again when
// no other worker is at work, and only then: a worker requeueing while
// another is alive (its heartbeat, recorded by its own Requeue) gets
// ErrFleetAtWork and queues nothing; once that one stopped, it may.
func TestRequeueOncePerFleet(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	a, b := open(t, dsn, crawl, "a", 10*time.Second), open(t, dsn, crawl, "b", 10*time.Second)
	write(t, a, storage.Visit{Discovered: []storage.URL{u("h1.test", "/", 0), u("h1.test", "/x", 1)}})
	if _, err := a.pool.Exec(t.Context(), `DELETE FROM queue`); err != nil { // as if both were fetched
		t.Fatal(err)
	}
	if n, err := a.Requeue(t.Context()); err != nil || n != 2 {
		t.Fatalf("a.Requeue = %d, %v; want 2, nil", n, err)
	}
	if n, err := b.Requeue(t.Context()); !errors.Is(err, ErrFleetAtWork) || n != 0 {
		t.Errorf("b.Requeue while a is at work = %d, %v; want 0, ErrFleetAtWork", n, err)
	}
	if err := a.StopWorker(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Requeue(t.Context()); err != nil || n != 0 {
		t.Errorf("b.Requeue after a stopped = %d, %v; want 0 (all queued already), nil", n, err)
	}
}
