package main

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/trawl/trawl/testserver"
)

// runBinary runs the built crawler with args and returns its stdout, stderr
// and exit code.
func runBinary(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), crawlerBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, exited := errors.AsType[*exec.ExitError](err); err != nil && !exited {
		t.Fatalf("run crawler %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// TestRecrawlCommand: `crawl --recrawl` on a finished crawl file asks for
// every page again with its validators; the server answers every one 304,
// and `stats` counts them as unchanged.
func TestRecrawlCommand(t *testing.T) {
	const pages = 100
	site := startSite(t, testserver.SiteConfig{Hosts: 2, Pages: pages, LinksPerPage: 5, Seed: 13, Validators: true})
	db := filepath.Join(t.TempDir(), "crawl.db")
	args := append([]string{"crawl", "--db", db, "--rate", "0", "--per-host", "4", "--concurrency", "8", "--quiet"}, site.Seeds()...)
	if _, stderr, code := runBinary(t, args...); code != 0 {
		t.Fatalf("crawl exit code = %d; stderr:\n%s", code, stderr)
	}
	if n := countRows(t, db, `SELECT count(*) FROM pages WHERE status = 200`); n != pages+2 {
		t.Fatalf("first crawl stored %d pages with 200, want %d", n, pages+2)
	}
	logFrom, bytesBefore := len(site.Requests()), site.BodyBytes()

	if _, stderr, code := runBinary(t, "crawl", "--recrawl", "--db", db, "--quiet"); code != 0 {
		t.Fatalf("crawl --recrawl exit code = %d; stderr:\n%s", code, stderr)
	}
	seen := map[string]bool{}
	for _, r := range site.Requests()[logFrom:] {
		if r.Path != "/" && !strings.HasPrefix(r.Path, "/p/") {
			continue // robots.txt
		}
		if r.Status != http.StatusNotModified {
			t.Errorf("recrawl: %s%s answered %d, want 304", r.Host, r.Path, r.Status)
		}
		key := r.Host + r.Path
		if seen[key] {
			t.Errorf("recrawl: %s requested twice", key)
		}
		seen[key] = true
	}
	if len(seen) != pages+2 || site.NotModified() != pages+2 {
		t.Errorf("recrawl: %d pages requested, %d 304s; want %d of each", len(seen), site.NotModified(), pages+2)
	}
	if b := site.BodyBytes() - bytesBefore; b != 0 {
		t.Errorf("recrawl transferred %d page body bytes, want 0", b)
	}

	stdout, stderr, code := runBinary(t, "stats", "--db", db)
	if code != 0 {
		t.Fatalf("stats exit code = %d; stderr:\n%s", code, stderr)
	}
	m := regexp.MustCompile(`(?m)^unchanged on recrawl \(304\)\s+(\d+)$`).FindStringSubmatch(stdout)
	if m == nil || m[1] != strconv.Itoa(pages+2) {
		t.Errorf("stats: want \"unchanged on recrawl (304)\" with %d; got %q in:\n%s", pages+2, m, stdout)
	}
}

// TestRecrawlMissingFile: --recrawl needs a crawl file; without one it is a
// usage error that says so and creates nothing.
func TestRecrawlMissingFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "missing.db")
	stdout, stderr, code := runBinary(t, "crawl", "--recrawl", "--db", db)
	if code != 2 {
		t.Errorf("exit code = %d, want 2; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "--recrawl needs an existing crawl file") || !strings.Contains(stderr, db) {
		t.Errorf("stderr does not say the crawl file is missing:\n%s", stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat %s after the refused recrawl: %v, want not exist", db, err)
	}
}
