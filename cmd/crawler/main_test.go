package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/storage"
	"github.com/trawl/trawl/testserver"
)

// runCmd runs the command line and returns stdout, stderr and the exit code.
func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, &stdout, &stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(&stderr, "crawler:", err) // as main does
	}
	return stdout.String(), stderr.String(), exitCode(err)
}

func startSite(t *testing.T, cfg testserver.SiteConfig) *testserver.Site {
	t.Helper()
	site, err := testserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(site.Close)
	return site
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "crawl.db")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"no command", nil, 2, "no command"},
		{"unknown command", []string{"fly"}, 2, `unknown command "fly"`},
		{"invalid seed", []string{"crawl", "--db", db, "http//example.com"}, 2, `invalid seed URL: canonical "http//example.com"`},
		{"unsupported scheme", []string{"crawl", "--db", db, "ftp://example.com/"}, 2, `unsupported scheme "ftp"`},
		{"no seeds, new db", []string{"crawl", "--db", db}, 2, "no seed URLs given"},
		{"bad scope", []string{"crawl", "--db", db, "--scope", "planet", "http://127.0.0.1:1/"}, 2, `--scope "planet"`},
		{"bad include", []string{"crawl", "--db", db, "--include", "(", "http://127.0.0.1:1/"}, 2, "--include"},
		{"bad max-body", []string{"crawl", "--db", db, "--max-body", "lots", "http://127.0.0.1:1/"}, 2, "invalid size"},
		{"negative max-url-space", []string{"crawl", "--db", db, "--max-url-space", "-1", "http://127.0.0.1:1/"}, 2, "--max-url-space must not be negative"},
		{"unknown flag", []string{"crawl", "--frobnicate", "http://127.0.0.1:1/"}, 2, "frobnicate"},
		{"unwritable db", []string{"crawl", "--db", filepath.Join(dir, "missing", "dir", "crawl.db"), "http://127.0.0.1:1/"}, 1, "does not exist"},
		{"stats of missing file", []string{"stats", "--db", filepath.Join(dir, "nope.db")}, 1, "no such crawl file"},
		{"export bad format", []string{"export", "--db", db, "--format", "xml"}, 2, `--format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCmd(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if last := lastLine(stderr); !strings.HasPrefix(last, "crawler: ") || !strings.Contains(last, tt.contains) {
				t.Errorf("last stderr line = %q, want a crawler: line containing %q", last, tt.contains)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing (stdout is for results)", stdout)
			}
		})
	}
	if _, err := os.Stat(db); err == nil {
		t.Errorf("%s was created by a command that failed its checks", db)
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestUnreachableHost(t *testing.T) {
	db := filepath.Join(t.TempDir(), "crawl.db")
	_, stderr, code := runCmd(t, "crawl", "--db", db, "--retries", "0", "--timeout", "5s", "--quiet", "http://"+closedPort(t)+"/")
	if code != 3 {
		t.Fatalf("exit code = %d, want 3 (finished, some URLs failed); stderr:\n%s", code, stderr)
	}
	if last := lastLine(stderr); !strings.Contains(last, "1 of 1 pages failed") {
		t.Errorf("last line = %q, want it to say the page failed", last)
	}
	stdout, _, code := runCmd(t, "stats", "--db", db)
	if code != 0 || !strings.Contains(stdout, "connection refused") {
		t.Errorf("stats (exit %d) does not show the connection error:\n%s", code, stdout)
	}
}

func TestCrawlStatsExport(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Hosts: 2, Pages: 80, LinksPerPage: 5, Seed: 4,
		Overrides: map[string]testserver.Response{"/p/5": {Status: 404}}})
	db := filepath.Join(t.TempDir(), "crawl.db")
	args := append([]string{"crawl", "--db", db, "--rate", "0", "--per-host", "4", "--concurrency", "8"}, site.Seeds()...)
	stdout, stderr, code := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("crawl exit code = %d; stderr:\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("crawl wrote to stdout: %q", stdout)
	}
	if !strings.Contains(stderr, "crawled 82 pages") {
		t.Errorf("summary missing or wrong; stderr:\n%s", stderr)
	}
	if d := site.Duplicates(); len(d) > 0 {
		t.Errorf("duplicate fetches: %v", d)
	}

	stdout, _, code = runCmd(t, "stats", "--db", db, "--json")
	if code != 0 {
		t.Fatalf("stats exit %d", code)
	}
	var st struct {
		Pages    int64
		ByStatus map[string]int64
		ByHost   []struct {
			Host  string
			Pages int64
		}
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, stdout)
	}
	if st.Pages != 82 || st.ByStatus["404"] != 1 || st.ByStatus["200"] != 81 || len(st.ByHost) != 2 {
		t.Errorf("stats = %+v, want 82 pages (81x200, 1x404) over 2 hosts", st)
	}
	text, _, _ := runCmd(t, "stats", "--db", db)
	for _, want := range []string{"pages", "404", site.Hosts()[0]} {
		if !strings.Contains(text, want) {
			t.Errorf("stats output lacks %q:\n%s", want, text)
		}
	}

	stdout, _, code = runCmd(t, "export", "--db", db, "--format", "jsonl")
	if code != 0 {
		t.Fatalf("export jsonl exit %d", code)
	}
	n := 0
	for sc := bufio.NewScanner(strings.NewReader(stdout)); sc.Scan(); n++ {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("jsonl line %d: %v", n+1, err)
		}
		if u, _ := row["url"].(string); !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Fatalf("jsonl line %d has url %v", n+1, row["url"])
		}
	}
	if n != 82 {
		t.Errorf("export jsonl: %d lines, want 82", n)
	}
	stdout, _, _ = runCmd(t, "export", "--db", db, "--format", "csv")
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil || len(recs) != 83 || recs[0][0] == "" {
		t.Errorf("export csv: %d records (want header + 82), err %v", len(recs), err)
	}
}

// TestResumeKeepsSettings: a second run with no seeds and no flags continues
// the crawl in the file with its stored settings.
func TestResumeKeepsSettings(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Hosts: 1, Pages: 200, LinksPerPage: 4, Seed: 8, NoLog: true})
	db := filepath.Join(t.TempDir(), "crawl.db")
	args := append([]string{"crawl", "--db", db, "--rate", "0", "--max-pages", "30", "--quiet"}, site.Seeds()...)
	if _, stderr, code := runCmd(t, args...); code != 0 {
		t.Fatalf("first run exit %d:\n%s", code, stderr)
	}
	_, stderr, code := runCmd(t, "crawl", "--db", db)
	if code != 0 {
		t.Fatalf("resume exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "crawled 30 pages") || !strings.Contains(stderr, db+" holds 60 pages") {
		t.Errorf("resumed run's summary does not continue the totals (30 this run, 60 in all):\n%s", stderr)
	}
	if got := site.PagesServed() + 1; got != 60 { // + the root page
		t.Errorf("pages fetched over two runs of --max-pages 30 = %d, want 60", got)
	}
	if d := site.Duplicates(); len(d) > 0 {
		t.Errorf("pages fetched twice across runs: %v", d)
	}
	// A flag given again overrides the stored one.
	if _, stderr, code := runCmd(t, "crawl", "--db", db, "--quiet", "--max-pages", "5"); code != 0 {
		t.Fatalf("third run exit %d:\n%s", code, stderr)
	}
	if got := site.PagesServed() + 1; got != 65 {
		t.Errorf("after a run with --max-pages 5: %d pages, want 65", got)
	}
}

// TestResumeKeepsDefaultStripParams: resuming a crawl decodes its stored
// settings into a value built by defaultSettings; that must not write the
// resumed crawl's --strip-params into dedupe.DefaultStripParams, or a later
// default crawl in the same process would strip that list instead of the
// defaults.
func TestResumeKeepsDefaultStripParams(t *testing.T) {
	want := slices.Clone(dedupe.DefaultStripParams)
	t.Cleanup(func() { copy(dedupe.DefaultStripParams, want) }) // a failure stays in this test
	const tagged = "/landing?utm_source=news"                   // utm_* is the first default rule
	html := map[string]string{"Content-Type": "text/html; charset=utf-8"}
	site := startSite(t, testserver.SiteConfig{Overrides: map[string]testserver.Response{
		"/":        {Header: html, Body: `<!doctype html><title>root</title><a href="` + tagged + `">landing</a>`},
		"/landing": {Header: html, Body: `<!doctype html><title>landing</title>`}, // any query
	}})
	base := strings.TrimSuffix(site.Seeds()[0], "/")
	dir := t.TempDir()

	custom := filepath.Join(dir, "custom.db")
	args := append([]string{"crawl", "--db", custom, "--rate", "0", "--quiet", "--strip-params", "ref"}, site.Seeds()...)
	if _, stderr, code := runCmd(t, args...); code != 0 {
		t.Fatalf("crawl --strip-params ref: exit %d:\n%s", code, stderr)
	}
	if _, stderr, code := runCmd(t, "crawl", "--db", custom, "--quiet"); code != 0 { // decodes the stored settings
		t.Fatalf("resume: exit %d:\n%s", code, stderr)
	}
	if got := exportedURLs(t, custom); !got[base+tagged] {
		t.Errorf("crawl --strip-params ref stored %v, want %s with its utm_source", got, base+tagged)
	}

	def := filepath.Join(dir, "default.db")
	args = append([]string{"crawl", "--db", def, "--rate", "0", "--quiet"}, site.Seeds()...)
	if _, stderr, code := runCmd(t, args...); code != 0 {
		t.Fatalf("default crawl: exit %d:\n%s", code, stderr)
	}
	if !slices.Equal(dedupe.DefaultStripParams, want) {
		t.Errorf("dedupe.DefaultStripParams after resuming a --strip-params ref crawl = %q, want %q", dedupe.DefaultStripParams, want)
	}
	if got := exportedURLs(t, def); !got[base+"/landing"] || got[base+tagged] {
		t.Errorf("default crawl stored %v, want %s without its utm_source", got, base+"/landing")
	}
}

// exportedURLs returns the URLs of the pages stored in the crawl file db.
func exportedURLs(t *testing.T, db string) map[string]bool {
	t.Helper()
	stdout, stderr, code := runCmd(t, "export", "--db", db, "--format", "jsonl")
	if code != 0 {
		t.Fatalf("export %s: exit %d:\n%s", db, code, stderr)
	}
	urls := map[string]bool{}
	for sc := bufio.NewScanner(strings.NewReader(stdout)); sc.Scan(); {
		var row struct{ URL string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("export %s: %v in %q", db, err, sc.Text())
		}
		urls[row.URL] = true
	}
	return urls
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{usagef("bad"), 2},
		{fmt.Errorf("interrupted: %w", context.Canceled), 130},
		{&interruptedError{"interrupted; 3 URLs stay queued"}, 130},
		{fmt.Errorf("3 failed: %w", errPartial), 3},
		{errors.New("disk full"), 1},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true}, {"10MiB", 10 << 20, true}, {"512KiB", 512 << 10, true},
		{"2MB", 2e6, true}, {"1gib", 1 << 30, true}, {"-1", 0, false}, {"lots", 0, false}, {"9999999999GiB", 0, false},
	}
	for _, tt := range tests {
		var b byteSize
		err := b.Set(tt.in)
		if (err == nil) != tt.ok || (tt.ok && int64(b) != tt.want) {
			t.Errorf("byteSize.Set(%q) = %d, %v; want %d, ok=%v", tt.in, b, err, tt.want, tt.ok)
		}
	}
}

func TestSecondCrawlerRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "crawl.db")
	st, err := storage.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.LockCrawl(); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCmd(t, "crawl", "--db", db, "http://"+closedPort(t)+"/")
	if code != 1 || !strings.Contains(lastLine(stderr), "another crawler is using this file") {
		t.Errorf("crawl on a locked file: exit %d, last line %q; want 1 and a clear message", code, lastLine(stderr))
	}
}

func TestProgressLine(t *testing.T) {
	var p crawl.Progress
	p.Fetched, p.Failed = 7, 1
	p.Frontier.Queued, p.Frontier.InFlight, p.Frontier.Hosts = 40, 3, 2
	tests := []struct {
		name    string
		f       runFigures
		waiting string
		want    string
	}{
		{"new file", runFigures{P: p}, "", "1m5s  12 pages/s  fetched 7  failed 1  queued 40  in flight 3  hosts 2"},
		{"resumed: the file's pages continue", runFigures{P: p, Before: storage.Totals{Pages: 100, Failed: 4}}, "",
			"1m5s  12 pages/s  fetched 7 (107 in the file)  failed 1  queued 40  in flight 3  hosts 2"},
		{"recrawl: a refetch adds no page", runFigures{P: p, Before: storage.Totals{Pages: 100}, Recrawl: true}, "",
			"1m5s  12 pages/s  fetched 7  failed 1  queued 40  in flight 3  hosts 2"},
		{"waiting", runFigures{P: p}, "waiting: a.test (backoff) until 12:00:00, in 5s",
			"1m5s  12 pages/s  fetched 7  failed 1  queued 40  in flight 3  hosts 2  waiting: a.test (backoff) until 12:00:00, in 5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := progressLine(65*time.Second, 12.4, tt.f, tt.waiting); got != tt.want {
				t.Errorf("progressLine = %q, want %q", got, tt.want)
			}
		})
	}
}
