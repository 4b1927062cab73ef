package main

import (
	"bytes"
	"database/sql"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/trawl/trawl/testserver"
)

// TestKillNineResumes kills the crawler with SIGKILL at random moments, at
// least ten times during one crawl, resuming each time, then checks that the
// file holds every page exactly once, that no more pages were fetched twice
// than were in flight at the kills, that the file is intact, and that no
// robots-disallowed path was ever requested.
func TestKillNineResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the crawler 10 times: skipped in -short")
	}
	bin := crawlerBinary(t)
	const (
		hosts       = 4
		pages       = 3000
		concurrency = 8
		minKills    = 10
	)
	site := startSite(t, testserver.SiteConfig{
		Hosts: hosts, Pages: pages, LinksPerPage: 6, CrossHost: 0.2, PageSize: 1024,
		Latency: 20 * time.Millisecond, Seed: 31,
		Robots: "User-agent: *\nDisallow: /p/1\n", // /p/1, /p/10-19, /p/100-199, /p/1000-1999
	})
	disallowed := regexp.MustCompile(`^/p/1`)
	db := filepath.Join(t.TempDir(), "crawl.db")
	args := append([]string{"crawl", "--db", db, "--rate", "0", "--per-host", "2",
		"--concurrency", strconv.Itoa(concurrency), "--quiet"}, site.Seeds()...)
	rng := rand.New(rand.NewPCG(31, 7)) // reproducible "random moments"

	kills, finished := 0, false
	for run := 0; !finished; run++ {
		if run > 40 {
			t.Fatalf("the crawl did not finish in 40 runs (%d kills)", kills)
		}
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if kills < minKills {
			select {
			case err := <-done:
				t.Fatalf("run %d ended before its kill (%v):\n%s", run, err, stderr.String())
			case <-time.After(time.Duration(100+rng.IntN(400)) * time.Millisecond):
				cmd.Process.Kill() // SIGKILL: no flush, no cleanup
				<-done
				kills++
			}
			continue
		}
		if err := <-done; err != nil {
			t.Fatalf("final run: %v\n%s", err, stderr.String())
		}
		finished = true
	}

	// Every reachable page is stored exactly once.
	allowed := 0
	for i := range pages {
		if !disallowed.MatchString("/p/" + strconv.Itoa(i)) {
			allowed++
		}
	}
	if got := countRows(t, db, `SELECT COUNT(*) FROM pages WHERE status = 200`); got != allowed+hosts {
		t.Errorf("pages with status 200 = %d, want %d (every allowed page and each root)", got, allowed+hosts)
	}
	if got := countRows(t, db, `SELECT COUNT(*) - COUNT(DISTINCT url) FROM pages`); got != 0 {
		t.Errorf("%d pages stored more than once", got)
	}
	if got := countRows(t, db, `SELECT COUNT(*) FROM urls WHERE state NOT IN ('done', 'failed')`); got != 0 {
		t.Errorf("%d URLs left queued or leased after the crawl finished", got)
	}
	if got := countRows(t, db, `SELECT COUNT(*) FROM urls u LEFT JOIN pages p USING (url) WHERE p.url IS NULL`); got != 0 {
		t.Errorf("%d URLs marked done or failed without a page row", got)
	}
	if got := countRows(t, db, `SELECT COUNT(*) FROM pages p LEFT JOIN urls u USING (url) WHERE u.url IS NULL OR u.state NOT IN ('done', 'failed')`); got != 0 {
		t.Errorf("%d pages stored without their URL marked done", got)
	}

	// Fetched twice: at most what was in flight at each kill.
	hits := map[string]int{}
	for _, r := range site.Requests() {
		if r.Path == "/robots.txt" {
			continue
		}
		if disallowed.MatchString(r.Path) {
			t.Errorf("robots-disallowed %s%s was requested", r.Host, r.Path)
		}
		hits[r.Host+r.Path]++
	}
	extra := 0
	for _, n := range hits {
		extra += n - 1
	}
	// A fetch is in flight until its row is committed: a worker waits for
	// its visit's commit before it takes another URL, so at most
	// --concurrency visits are lost at a kill, whatever the writer was doing.
	bound := kills * concurrency
	t.Logf("%d kills, %d runs; %d requests, %d refetched after a kill (bound %d)", kills, kills+1, len(site.Requests()), extra, bound)
	if extra > bound {
		t.Errorf("%d duplicate fetches, want at most kills × in flight = %d", extra, bound)
	}

	if got := integrity(t, db); got != "ok" {
		t.Errorf("PRAGMA integrity_check = %q", got)
	}
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		t.Errorf("PRAGMA foreign_key_check reports a violation")
		break
	}
	// One row per run that got as far as starting its crawl: a kill on a
	// loaded machine may come before that. The last run finished.
	if got := countRows(t, db, `SELECT COUNT(*) FROM crawls`); got < 2 || got > kills+1 {
		t.Errorf("crawls rows = %d, want 2 to one per run (%d)", got, kills+1)
	}
	if got := countRows(t, db, `SELECT COUNT(*) FROM crawls WHERE id = (SELECT max(id) FROM crawls) AND finished_at IS NOT NULL`); got != 1 {
		t.Errorf("the last run's crawls row has no finished_at")
	}
}
