package main

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/trawl/trawl/testserver"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildBin != "" { // built once for every test and run (-count), removed at the end
		os.RemoveAll(filepath.Dir(buildBin))
	}
	os.Exit(code)
}

// crawlerBinary builds this command once per test run.
func crawlerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crawler-test-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "crawler")
		out, err := exec.Command("go", "build", "-o", buildBin, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build crawler: %v", buildErr)
	}
	return buildBin
}

func countRows(t *testing.T, path, query string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitFor polls cond every 10ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestInterruptDrainsAndResumes: the first SIGINT lets in-flight fetches
// finish, records them, exits 130; the next run finishes the crawl without
// fetching any page twice.
func TestInterruptDrainsAndResumes(t *testing.T) {
	bin := crawlerBinary(t)
	const pages = 400
	site := startSite(t, testserver.SiteConfig{Hosts: 2, Pages: pages, LinksPerPage: 4, Latency: 20 * time.Millisecond, Seed: 21, NoLog: true})
	db := filepath.Join(t.TempDir(), "crawl.db")
	cmd := exec.Command(bin, append([]string{"crawl", "--db", db, "--rate", "0", "--per-host", "4", "--concurrency", "8"}, site.Seeds()...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "100 pages", func() bool { return site.PagesServed() >= 100 })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit code after SIGINT = %d (%v), want 130; stderr:\n%s", code, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr does not say the crawl was interrupted:\n%s", stderr.String())
	}
	served := site.PagesServed()
	stored := countRows(t, db, `SELECT COUNT(*) FROM pages WHERE url LIKE '%/p/%'`)
	if stored != served {
		t.Errorf("after SIGINT: %d pages served but %d stored; in-flight fetches must be recorded", served, stored)
	}
	if q := countRows(t, db, `SELECT COUNT(*) FROM urls WHERE state = 'queued'`); q == 0 || served >= pages {
		t.Fatalf("after SIGINT: %d queued, %d served; want a partial crawl", q, served)
	}

	out, err := exec.Command(bin, "crawl", "--db", db, "--quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if got := countRows(t, db, `SELECT COUNT(*) FROM pages`); got != pages+2 {
		t.Errorf("after resume: %d pages, want %d", got, pages+2)
	}
	if d := site.Duplicates(); len(d) > 0 {
		t.Errorf("pages fetched twice across the interrupt: %v", d)
	}
}

// TestSecondInterruptExitsAtOnce: while the first SIGINT waits for slow
// fetches, a second one ends the process at once; what was committed stays.
func TestSecondInterruptExitsAtOnce(t *testing.T) {
	bin := crawlerBinary(t)
	site := startSite(t, testserver.SiteConfig{Hosts: 1, Pages: 100, LinksPerPage: 4, Seed: 22, NoLog: true})
	slow := startSite(t, testserver.SiteConfig{Hosts: 1, Pages: 10, Latency: time.Hour, NoLog: true})
	db := filepath.Join(t.TempDir(), "crawl.db")
	// The fast site is crawled completely; the slow one's root never answers.
	cmd := exec.Command(bin, "crawl", "--db", db, "--rate", "0", "--grace", "1h", site.Seeds()[0], slow.Seeds()[0])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the fast site crawled", func() bool { return site.PagesServed() == 100 })
	waitFor(t, 10*time.Second, "the fast site's pages committed", func() bool {
		return countRows(t, db, `SELECT COUNT(*) FROM pages`) == 101
	})
	cmd.Process.Signal(os.Interrupt)
	time.Sleep(300 * time.Millisecond) // the first signal is now waiting for the slow fetch (grace 1h)
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the second SIGINT did not end the process; stderr:\n%s", stderr.String())
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() && ws.ExitStatus() != 130 {
		t.Errorf("after a second SIGINT: %v, want killed by the signal or exit 130", cmd.ProcessState)
	}
	t.Logf("second SIGINT ended the process after %v", time.Since(start))
	if got := countRows(t, db, `SELECT COUNT(*) FROM pages`); got != 101 {
		t.Errorf("pages after a hard stop = %d, want the 101 committed before it", got)
	}
	if got := integrity(t, db); got != "ok" {
		t.Errorf("PRAGMA integrity_check after a hard stop = %q, want ok", got)
	}
}

func integrity(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		t.Fatal(err)
	}
	return res
}
