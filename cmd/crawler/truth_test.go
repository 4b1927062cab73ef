package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/storage"
	"github.com/trawl/trawl/testserver"
)

// dirFiles returns the names and contents of every file in dir.
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// sameFiles fails unless dir holds exactly want, byte for byte.
func sameFiles(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	got := dirFiles(t, dir)
	for name, b := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s was removed", name)
		} else if !bytes.Equal(g, b) {
			t.Errorf("%s changed: %d bytes, header % x; was %d bytes, header % x", name, len(g), g[:min(len(g), 20)], len(b), b[:min(len(b), 20)])
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s was created", name)
		}
	}
}

// TestInspectionNeverChangesAFile runs every command that reads a crawl file
// on files that are not one: each is refused with a clear error, and no
// byte of the directory changes (no WAL switch, no schema, no side file).
func TestInspectionNeverChangesAFile(t *testing.T) {
	files := map[string]func(t *testing.T, path string){
		"empty": func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"text": func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("a text file, not a database\n"), 200), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"foreign SQLite": func(t *testing.T, path string) {
			db, err := sql.Open("sqlite3", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')`); err != nil {
				t.Fatal(err)
			}
		},
	}
	commands := map[string][]string{
		"stats":  {"stats"},
		"export": {"export", "--format", "csv"},
		"serve":  {"serve", "--addr", "127.0.0.1:0"},
	}
	for fname, write := range files {
		for cname, args := range commands {
			t.Run(fname+"/"+cname, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "their.db")
				write(t, path)
				before := dirFiles(t, dir)
				stdout, stderr, code := runCmd(t, append(args, "--db", path)...)
				if code != 1 || !strings.Contains(lastLine(stderr), "not a trawl crawl file") {
					t.Errorf("exit %d, last line %q; want 1 and 'not a trawl crawl file'", code, lastLine(stderr))
				}
				if stdout != "" {
					t.Errorf("stdout = %q, want nothing", stdout)
				}
				sameFiles(t, dir, before)
			})
		}
	}
	t.Run("foreign SQLite/crawl", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "their.db")
		files["foreign SQLite"](t, path)
		before := dirFiles(t, dir)
		_, stderr, code := runCmd(t, "crawl", "--db", path, "http://"+closedPort(t)+"/")
		if code != 1 || !strings.Contains(lastLine(stderr), "not a trawl database") {
			t.Errorf("exit %d, last line %q; want 1 and 'not a trawl database'", code, lastLine(stderr))
		}
		sameFiles(t, dir, before)
	})
}

// TestFlagsCheckedFirst gives bad flags to a crawl: each is a usage error
// (exit 2) found before any file is created or any run recorded.
func TestFlagsCheckedFirst(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	seed := "http://" + closedPort(t) + "/"
	tests := []struct {
		name     string
		args     []string
		contains string
	}{
		{"empty db", []string{"--db", ""}, "--db must name a file"},
		{"negative depth", []string{"--depth", "-5"}, "--depth"},
		{"zero grace", []string{"--grace", "0s"}, "--grace"},
		{"bad metrics address", []string{"--metrics", "nowhere"}, "--metrics nowhere"},
		{"busy metrics address", []string{"--metrics", busy.Addr().String()}, "address already in use"},
		{"bad ui address", []string{"--ui", "127.0.0.1"}, "--ui 127.0.0.1"},
		{"busy ui address", []string{"--ui", busy.Addr().String()}, "address already in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			wd, err := os.Getwd()
			if err != nil {
				t.Fatal(err)
			}
			t.Chdir(dir) // the default --db, crawl.db, would land here
			args := append([]string{"crawl", "--db", filepath.Join(dir, "crawl.db")}, tt.args...)
			_, stderr, code := runCmd(t, append(args, seed)...)
			if code != 2 || !strings.Contains(lastLine(stderr), tt.contains) {
				t.Errorf("exit %d, last line %q; want 2 and %q", code, lastLine(stderr), tt.contains)
			}
			sameFiles(t, dir, map[string][]byte{})
			t.Chdir(wd)
		})
	}

	t.Run("existing file: no run recorded", func(t *testing.T) {
		site := startSite(t, testserver.SiteConfig{Pages: 3, LinksPerPage: 2})
		db := filepath.Join(t.TempDir(), "crawl.db")
		if _, stderr, code := runCmd(t, "crawl", "--db", db, "--rate", "0", site.Seeds()[0]); code != 0 {
			t.Fatalf("first crawl: exit %d\n%s", code, stderr)
		}
		runs := countRows(t, db, `SELECT count(*) FROM crawls`)
		if _, _, code := runCmd(t, "crawl", "--db", db, "--metrics", busy.Addr().String()); code != 2 {
			t.Errorf("resume with a busy --metrics: exit %d, want 2", code)
		}
		if got := countRows(t, db, `SELECT count(*) FROM crawls`); got != runs {
			t.Errorf("crawl runs = %d after a refused resume, want %d", got, runs)
		}
	})
}

// TestHelpAndVersion: -h of every command prints its usage on stdout and
// exits 0; --version prints the version on stdout.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"crawl", "-h"}, {"stats", "--help"}, {"export", "-h"}, {"serve", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, code := runCmd(t, args...)
			if code != 0 || stderr != "" || !strings.Contains(stdout, "usage: crawler") {
				t.Errorf("exit %d, stdout %.60q, stderr %q; want 0, the usage on stdout, nothing on stderr", code, stdout, stderr)
			}
		})
	}
	for _, arg := range []string{"--version", "version"} {
		stdout, stderr, code := runCmd(t, arg)
		if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "crawler ") || !strings.Contains(stdout, runtime.Version()) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and 'crawler VERSION go...'", arg, code, stdout, stderr)
		}
	}
	// A mistake prints the usage on stderr, not stdout.
	stdout, stderr, code := runCmd(t, "stats", "--nope")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "usage: crawler stats") {
		t.Errorf("stats --nope: exit %d, stdout %q, stderr %.80q; want 2 and the usage on stderr", code, stdout, stderr)
	}
}

// TestBuildWithoutCgoSaysGcc builds the crawler with cgo off: the build
// fails, and its first error says that gcc is needed.
func TestBuildWithoutCgoSaysGcc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the crawler")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gobin, "build", "-o", os.DevNull, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("CGO_ENABLED=0 go build succeeded; want a failure that says gcc is needed")
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || !strings.Contains(lines[1], "needs cgo and a C compiler: install gcc") {
		t.Errorf("CGO_ENABLED=0 go build: first error %q, want it to say gcc is needed; output:\n%s", lines[min(1, len(lines)-1)], out)
	}
}

// summaryFigures parses the end-of-crawl summary line.
func summaryFigures(t *testing.T, stderr string) map[string]int64 {
	t.Helper()
	re := regexp.MustCompile(`crawled (\d+) pages in .*\): (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx, (\d+) failed, (\d+) robots-denied, (\d+) retries; (\d+) links, (\d+) new URLs; .* holds (\d+) pages \((\d+) failed\), (\d+) queued`)
	m := re.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary line in:\n%s", stderr)
	}
	names := []string{"fetched", "2xx", "3xx", "4xx", "5xx", "failed", "robots", "retries", "links", "new", "file pages", "file failed", "file queued"}
	out := map[string]int64{}
	for i, n := range names {
		out[n], _ = strconv.ParseInt(m[i+1], 10, 64)
	}
	return out
}

// TestCountersAgree crawls a site with redirects, robots.txt denials, a
// 404, a 500 and repeated links, then checks that the summary, 'crawler
// stats' and the dashboard give the same figures, and that they add up.
func TestCountersAgree(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Hosts: 2, Pages: 60, LinksPerPage: 6, CrossHost: 0.2, Seed: 12,
		Robots: "User-agent: *\nDisallow: /p/7\nDisallow: /p/8\n",
		Overrides: map[string]testserver.Response{
			"/p/3":       {Status: 301, Header: map[string]string{"Location": "/moved/3"}},
			"/moved/3":   {Status: 200, Header: map[string]string{"Content-Type": "text/html"}, Body: "<title>moved</title><a href=/p/1>1</a><a href=/p/1>1 again</a>"},
			"/p/4":       {Status: 404},
			"/p/5":       {Status: 500},
			"/p/9":       {Status: 302, Header: map[string]string{"Location": "/p/1"}}, // to a URL the crawl has
			"/nowhere/1": {Status: 404},
		}})
	db := filepath.Join(t.TempDir(), "crawl.db")
	// A seed robots.txt disallows is a URL of the crawl, refused: the links
	// into /p/7 and /p/8 found once robots.txt is read are drops.
	seeds := append(site.Seeds(), strings.TrimSuffix(site.Seeds()[0], "/")+"/p/8")
	_, stderr, code := runCmd(t, append([]string{"crawl", "--db", db, "--rate", "0", "--retries", "0"}, seeds...)...)
	if code != 3 {
		t.Fatalf("crawl: exit %d, want 3 (some failed)\n%s", code, stderr)
	}
	sum := summaryFigures(t, stderr)

	stdout, stderr, code := runCmd(t, "stats", "--db", db, "--json", "--hosts", "0")
	if code != 0 {
		t.Fatalf("stats: exit %d\n%s", code, stderr)
	}
	var st storage.Stats
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatal(err)
	}
	classes := map[string]int64{}
	for c, n := range st.ByStatus {
		classes[statusClass(c)] += n
	}
	var hostFailed, hostRobots, hostPages int64
	for _, h := range st.ByHost {
		hostFailed += h.Failed
		hostRobots += h.Robots
		hostPages += h.Pages
	}

	ro, err := storage.OpenReadOnly(t.Context(), db, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	d := newDashboard(&dashSource{db: ro, path: db}, "", testLog(t))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/api/state", nil)
	d.handler().ServeHTTP(rec, req)
	var snap snapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &snap); err != nil {
		t.Fatalf("/api/state: %v\n%s", err, rec.Body)
	}
	ds := snap.File.Stats

	checks := []struct {
		name      string
		got, want int64
	}{
		{"summary fetched = stats pages", sum["fetched"], st.Pages},
		{"summary file pages = stats pages", sum["file pages"], st.Pages},
		{"dashboard pages = stats pages", ds.Pages, st.Pages},
		{"dashboard chart pages = stats pages", snap.Pages, st.Pages},
		{"stats done + failed = pages", st.Done + st.Failed, st.Pages},
		{"per-host pages = pages", hostPages, st.Pages},
		{"summary failed = stats failed", sum["failed"], st.Failed},
		{"summary file failed = stats failed", sum["file failed"], st.Failed},
		{"per-host failed = stats failed", hostFailed, st.Failed},
		{"dashboard failed = stats failed", ds.Failed, st.Failed},
		{"summary robots-denied = stats robots", sum["robots"], st.Robots},
		{"per-host robots = stats robots", hostRobots, st.Robots},
		{"summary links = stats links", sum["links"], st.Links},
		{"dashboard links = stats links", ds.Links, st.Links},
		{"summary queued = stats queued", sum["file queued"], st.Queued},
		{"summary 2xx = stats 2xx", sum["2xx"], classes["2xx"]},
		{"summary 3xx = stats 3xx", sum["3xx"], classes["3xx"]},
		{"summary 4xx = stats 4xx", sum["4xx"], classes["4xx"]},
		{"summary 5xx = stats 5xx", sum["5xx"], classes["5xx"]},
		{"dashboard 2xx = stats 2xx", snap.Classes["2xx"], classes["2xx"]},
		{"dashboard 4xx = stats 4xx", snap.Classes["4xx"], classes["4xx"]},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	// The site has what the checks are about.
	if st.Robots != 1 || st.Failed == 0 || st.Redirected != 1 || classes["4xx"] == 0 || classes["3xx"] == 0 {
		t.Errorf("stats: robots %d, failed %d, redirected %d, 4xx %d, 3xx %d; want 1, >0, 1, >0, >0", st.Robots, st.Failed, st.Redirected, classes["4xx"], classes["3xx"])
	}

	// A recrawl replaces pages: the summary says what the file holds, not
	// the pages before plus the pages refetched.
	_, stderr, _ = runCmd(t, "crawl", "--db", db, "--recrawl", "--rate", "0")
	re := summaryFigures(t, stderr)
	stdout, _, _ = runCmd(t, "stats", "--db", db, "--json")
	var st2 storage.Stats
	if err := json.Unmarshal([]byte(stdout), &st2); err != nil {
		t.Fatal(err)
	}
	if re["file pages"] != st2.Pages || re["fetched"] < st.Pages || st2.Pages > st.Pages+st.Redirected {
		t.Errorf("recrawl: fetched %d, summary says the file holds %d, stats %d; want all %d pages again and the summary = stats (at most %d with the redirect targets)",
			re["fetched"], re["file pages"], st2.Pages, st.Pages, st.Pages+st.Redirected)
	}
}

func testLog(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

// TestNeverCrawledSummary: a seed whose robots.txt answers 500 is never
// crawled; the end of the crawl says so, and why, beside a host that was.
func TestNeverCrawledSummary(t *testing.T) {
	ok := startSite(t, testserver.SiteConfig{Hosts: 1, Pages: 5, LinksPerPage: 2, Seed: 1})
	down := startSite(t, testserver.SiteConfig{Hosts: 1, Pages: 5, LinksPerPage: 2, Seed: 2, RobotsMode: testserver.Robots500})
	db := filepath.Join(t.TempDir(), "crawl.db")
	_, stderr, code := runCmd(t, append([]string{"crawl", "--db", db, "--rate", "0", "--retries", "0"},
		append(ok.Seeds(), down.Seeds()...)...)...)
	if code != 3 {
		t.Fatalf("crawl: exit %d, want 3 (the seed of the host without robots.txt failed)\n%s", code, stderr)
	}
	want := fmt.Sprintf("never crawled: 1 host: %s (robots.txt unavailable (HTTP 500))", down.Hosts()[0])
	if !strings.Contains(stderr, want+"\n") {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if strings.Contains(stderr, ok.Hosts()[0]+" (") {
		t.Errorf("the host that was crawled is named among those never crawled:\n%s", stderr)
	}
}

func TestNeverCrawledLine(t *testing.T) {
	var tallies []crawl.HostTally
	for i := range 12 {
		tallies = append(tallies, crawl.HostTally{Host: fmt.Sprintf("h%02d.test", i), Pages: 2, Failed: 2, LastFailure: "timeout"})
	}
	tallies = append(tallies, crawl.HostTally{Host: "fine.test", Pages: 3, Failed: 2, LastFailure: "HTTP 503"},
		crawl.HostTally{Host: crawl.OtherHosts, Pages: 1, Failed: 1})
	got := neverCrawled(tallies)
	want := "never crawled: 12 hosts: h00.test (timeout), h01.test (timeout), h02.test (timeout), h03.test (timeout), " +
		"h04.test (timeout), h05.test (timeout), h06.test (timeout), h07.test (timeout), h08.test (timeout), h09.test (timeout), and 2 more"
	if got != want {
		t.Errorf("neverCrawled =\n%q\nwant\n%q", got, want)
	}
	if got := neverCrawled(tallies[12:13]); got != "" {
		t.Errorf("neverCrawled of a host with a page fetched = %q, want \"\"", got)
	}
}
