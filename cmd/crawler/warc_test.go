package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nlnwa/gowarc/v3"
	"github.com/trawl/trawl/testserver"
	"github.com/trawl/trawl/warc"
)

// warcioRecord is one line of scripts/warcio/check.mjs.
type warcioRecord struct {
	File            string   `json:"file"`
	Offset          int64    `json:"offset"`
	Type            string   `json:"type"`
	URI             string   `json:"uri"`
	ID              string   `json:"id"`
	ConcurrentTo    []string `json:"concurrentTo"`
	Status          *int     `json:"status"`
	Profile         string   `json:"profile"`
	Date            string   `json:"date"`
	Truncated       string   `json:"truncated"`
	PayloadDigest   string   `json:"payloadDigest"`
	RefersTo        string   `json:"refersTo"`
	RefersToURI     string   `json:"refersToTargetURI"`
	RefersToDate    string   `json:"refersToDate"`
	BlockDigestOK   *bool    `json:"blockDigestOK"`
	PayloadDigestOK *bool    `json:"payloadDigestOK"`
}

// warcio runs warcio.js (scripts/warcio, installed by .ci/run with npm ci) over files and
// returns what it read. It skips the test where Node.js or the package is missing.
func warcio(t *testing.T, files []string) []warcioRecord {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: the WARC files are not checked with warcio.js (Node.js 20 and 'npm ci --prefix scripts/warcio' are needed)")
	}
	dir, err := filepath.Abs("../../scripts/warcio")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "warcio", "package.json")); err != nil {
		t.Skip("warcio.js is not installed: run 'npm ci --prefix scripts/warcio' (as .ci/run does) to check the WARC files with it")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(node, append([]string{filepath.Join(dir, "check.mjs")}, files...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("warcio.js could not read the files: %v\n%s", err, stderr.String())
	}
	var recs []warcioRecord
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r warcioRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("check.mjs line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// warcFiles lists a crawl's WARC files in dir with their paths.
func warcFiles(t *testing.T, dir, name string) []string {
	t.Helper()
	names, err := warc.Files(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(dir, n)
	}
	return paths
}

// archivedPage is a page row and where its response went.
type archivedPage struct {
	url, finalURL string
	status        int
	file          sql.NullString
	offset        sql.NullInt64
}

func archivedPages(t *testing.T, db string) []archivedPage {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`SELECT url, coalesce(final_url, ''), coalesce(status, 0), warc_file, warc_offset FROM pages ORDER BY url`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []archivedPage
	for rows.Next() {
		var p archivedPage
		if err := rows.Scan(&p.url, &p.finalURL, &p.status, &p.file, &p.offset); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// isPageRecord reports whether a response record is a page's, not robots.txt's or a sitemap's.
func isPageRecord(uri string) bool {
	u, err := url.Parse(uri)
	return err == nil && u.Path != "/robots.txt" && !strings.HasPrefix(u.Path, "/sitemap")
}

// TestWARCReadByWarcio crawls a site (pages, sitemaps, a robots.txt, chunked and gzip
// responses) with --warc and reads the files with warcio.js: every record parses, the
// digests verify, there is one response (or revisit) record per page fetched, each page's
// stored offset is its record, and each request names its response in WARC-Concurrent-To.
func TestWARCReadByWarcio(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Pages: 40, Wire: true, Sitemaps: true, Robots: "User-agent: *\nAllow: /\n", Seed: 13})
	db, arch := crawlWARC(t, "site", site.Seeds()[0], "--sitemaps")
	files := warcFiles(t, arch, "site")
	if len(files) != 1 || strings.HasSuffix(files[0], ".open") {
		t.Fatalf("files = %v, want one closed file site-00001.warc.gz", files)
	}
	checkArchive(t, db, files, true, false)
}

// checkArchive reads a crawl's WARC files with warcio.js and checks them against the crawl
// file db: every record parses and its digests verify, each request names its response,
// each revisit names a response in the files,
// robots.txt and (with sitemaps) a sitemap were archived, there is one response record per
// page fetched (at least one when resumed: a killed run archived pages it did not record),
// and each page's stored offset is its record.
func checkArchive(t *testing.T, db string, files []string, sitemaps, resumed bool) {
	t.Helper()
	recs := warcio(t, files)

	byPlace := map[string]warcioRecord{}
	ids := map[string]warcioRecord{}
	types := map[string]int{}
	pageResponses := 0
	for _, r := range recs {
		types[r.Type]++
		byPlace[r.File+"@"+itoa(r.Offset)] = r
		ids[r.ID] = r
		if r.BlockDigestOK == nil || !*r.BlockDigestOK {
			t.Errorf("%s record %s at %d: block digest does not verify", r.Type, r.URI, r.Offset)
		}
		if (r.Type == "response" || r.Type == "request") && (r.PayloadDigestOK == nil || !*r.PayloadDigestOK) {
			t.Errorf("%s record %s at %d: payload digest missing or wrong", r.Type, r.URI, r.Offset)
		}
		if (r.Type == "response" || r.Type == "revisit") && isPageRecord(r.URI) {
			pageResponses++
		}
	}
	if types["warcinfo"] != len(files) || types["request"] != types["response"]+types["revisit"] {
		t.Errorf("record types %v: want one warcinfo per file and a request per response", types)
	}
	for _, r := range recs {
		// A revisit names a response of these files (none cut by a kill) by id, URI and date,
		// and carries its payload digest (the payload it stands for).
		if orig, ok := ids[r.RefersTo]; r.Type == "revisit" && (!ok || orig.Type != "response" || orig.URI != r.RefersToURI ||
			orig.Date != r.RefersToDate || orig.PayloadDigest != r.PayloadDigest) {
			t.Errorf("revisit of %s at %s %d refers to %q (%s at %s, %s), not to a response of the files with that payload", r.URI, r.File, r.Offset,
				r.RefersTo, r.RefersToURI, r.RefersToDate, r.PayloadDigest)
		}
	}
	for _, r := range recs {
		if r.Type != "request" {
			continue
		}
		if len(r.ConcurrentTo) != 1 || ids[r.ConcurrentTo[0]].URI != r.URI {
			t.Errorf("request %s: WARC-Concurrent-To %v names no response of its URI", r.URI, r.ConcurrentTo)
		}
	}
	var robots, sitemap bool
	for _, r := range recs {
		robots = robots || strings.HasSuffix(r.URI, "/robots.txt")
		sitemap = sitemap || strings.Contains(r.URI, "/sitemap")
	}
	if !robots || sitemap != sitemaps {
		t.Errorf("robots.txt archived %v, sitemaps archived %v: want robots.txt, and sitemaps %v", robots, sitemap, sitemaps)
	}

	pages := archivedPages(t, db)
	fetched := 0
	for _, p := range pages {
		if p.status == 0 {
			continue
		}
		fetched++
		if !p.file.Valid || !p.offset.Valid {
			t.Errorf("page %s has no WARC file and offset", p.url)
			continue
		}
		r, ok := byPlace[p.file.String+"@"+itoa(p.offset.Int64)]
		switch {
		case !ok:
			t.Errorf("page %s: no record at %s offset %d", p.url, p.file.String, p.offset.Int64)
		case r.Type != "response" && r.Type != "revisit":
			t.Errorf("page %s: the record at its offset is a %s", p.url, r.Type)
		case r.URI != p.finalURL:
			t.Errorf("page %s: the record at its offset is for %s, want %s", p.url, r.URI, p.finalURL)
		case r.Status == nil || *r.Status != p.status:
			t.Errorf("page %s: the record's status is %v, the page's %d", p.url, r.Status, p.status)
		}
	}
	if fetched == 0 || pageResponses < fetched || (!resumed && pageResponses != fetched) {
		t.Errorf("%d response records of pages, %d pages fetched: want equal (resumed %v)", pageResponses, fetched, resumed)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// crawlWARC crawls seed (with extra flags) into a new crawl file name.db with --warc, in
// the process, and returns the file and the WARC directory.
func crawlWARC(t *testing.T, name, seed string, extra ...string) (db, arch string) {
	t.Helper()
	dir := t.TempDir()
	db, arch = filepath.Join(dir, name+".db"), filepath.Join(dir, "warc")
	args := append([]string{"crawl", "--db", db, "--warc", arch, "--rate", "0", "--quiet"}, extra...)
	if _, stderr, code := runCmd(t, append(args, seed)...); code != 0 {
		t.Fatalf("crawl exit %d: %s", code, stderr)
	}
	return db, arch
}

// TestWARCBytesFaithful: for responses sent plain, chunked, gzip-encoded and gzip-encoded in
// chunks, the response record's block is byte for byte what the server wrote.
func TestWARCBytesFaithful(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Pages: 3, Wire: true, Seed: 5})
	db, arch := crawlWARC(t, "wire", site.Seeds()[0])
	host := site.Hosts()[0]
	byURL := map[string]archivedPage{}
	for _, p := range archivedPages(t, db) {
		byURL[p.url] = p
	}
	for _, path := range testserver.WirePaths() {
		p, ok := byURL["http://"+host+path]
		if !ok || !p.file.Valid {
			t.Errorf("%s: not crawled or not archived", path)
			continue
		}
		want := site.WireBytes(host, path)
		if len(want) == 0 {
			t.Fatalf("%s: the server kept no bytes", path)
		}
		rec, err := warc.ReadRecord(filepath.Join(arch, p.file.String), p.offset.Int64, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Type != "response" || !bytes.Equal(rec.Block, want) {
			t.Errorf("%s: %s record of %d bytes differs from the %d bytes written:\n...%q\nwant\n...%q", path, rec.Type, len(rec.Block), len(want), tail(rec.Block), tail(want))
		}
	}
}

func tail(b []byte) []byte { return b[max(len(b)-120, 0):] }

// TestWARCKillNine kills a crawl writing WARC files with SIGKILL: the file it was writing
// reads cleanly up to its last complete record, and the resumed crawl closes that file at
// that record and appends in a new one; in the end every file reads cleanly in full and
// every page's offset is its record.
func TestWARCKillNine(t *testing.T) {
	bin := crawlerBinary(t)
	site := startSite(t, testserver.SiteConfig{Pages: 300, LinksPerPage: 6, PageSize: 2048, Latency: 5 * time.Millisecond, Seed: 9})
	dir := t.TempDir()
	db, arch := filepath.Join(dir, "kill.db"), filepath.Join(dir, "warc")
	args := []string{"crawl", "--db", db, "--warc", arch, "--rate", "0", "--concurrency", "4", "--quiet", site.Seeds()[0]}

	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(arch, "kill-00001.warc.gz.open")
	waitFor(t, 30*time.Second, "the first WARC file to pass 64 KiB", func() bool {
		fi, err := os.Stat(open)
		return err == nil && fi.Size() > 64<<10
	})
	_ = cmd.Process.Kill() // SIGKILL: no flush, no close
	_ = cmd.Wait()

	// The file left open reads cleanly up to its last complete record.
	end, err := warc.Complete(open)
	if err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(dir, "prefix.warc.gz")
	data, err := os.ReadFile(open)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix, data[:end], 0o644); err != nil {
		t.Fatal(err)
	}
	if n := countRecords(t, prefix); n < 10 {
		t.Fatalf("%d complete records before the kill, want at least 10", n)
	}

	if _, code := runBin(t, bin, args...); code != 0 {
		t.Fatalf("resumed crawl: exit %d", code)
	}
	files := warcFiles(t, arch, "kill")
	want := []string{filepath.Join(arch, "kill-00001.warc.gz"), filepath.Join(arch, "kill-00002.warc.gz")}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Fatalf("files after the resumed crawl = %v, want %v", files, want)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Size() != end {
		t.Errorf("the killed run's file: %v, size %d, want it cut at its last complete record (%d)", err, fi.Size(), end)
	}
	checkArchive(t, db, files, false, true)
}

// countRecords reads every record of a WARC file with gowarc and fails the test on an error.
func countRecords(t *testing.T, path string) int {
	t.Helper()
	n := 0
	r, err := gowarc.NewWarcFileReader(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for rec, err := range r.Records() {
		if err != nil {
			t.Fatalf("%s: record %d: %v", path, n+1, err)
		}
		_ = rec.WarcRecord.Close()
		n++
	}
	return n
}

// runBin runs the crawler binary to its end and returns its stderr and exit code.
func runBin(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Logf("stderr: %s", stderr.String())
		return stderr.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stderr.String(), 0
}

// TestWARCInterruptClosesFiles: Ctrl-C (SIGINT) ends a crawl with --warc with its file
// closed (renamed from .open) and whole: every record reads, and every page recorded
// before the interrupt has its record; the resumed crawl writes the next file.
func TestWARCInterruptClosesFiles(t *testing.T) {
	bin := crawlerBinary(t)
	site := startSite(t, testserver.SiteConfig{Pages: 300, LinksPerPage: 4, Latency: 10 * time.Millisecond, Seed: 17, NoLog: true})
	dir := t.TempDir()
	db, arch := filepath.Join(dir, "int.db"), filepath.Join(dir, "warc")
	args := []string{"crawl", "--db", db, "--warc", arch, "--rate", "0", "--concurrency", "4", site.Seeds()[0]}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "50 pages", func() bool { return site.PagesServed() >= 50 })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit code after SIGINT = %d, want 130:\n%s", code, stderr.String())
	}
	files := warcFiles(t, arch, "int")
	if len(files) != 1 || files[0] != filepath.Join(arch, "int-00001.warc.gz") {
		t.Fatalf("files after SIGINT = %v, want int-00001.warc.gz, closed", files)
	}
	if end, err := warc.Complete(files[0]); err != nil || end != fileSize(t, files[0]) {
		t.Errorf("the file is complete up to %d of %d bytes (%v)", end, fileSize(t, files[0]), err)
	}
	checkArchive(t, db, files, false, true)

	if _, code := runBin(t, bin, "crawl", "--db", db, "--quiet"); code != 0 {
		t.Fatalf("resumed crawl: exit %d", code)
	}
	if files := warcFiles(t, arch, "int"); len(files) != 2 {
		t.Errorf("files after resuming = %v, want a second one", files)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestWARCRecrawlRevisits: a --recrawl of an unchanged site with --warc archives each 304
// as a revisit record (profile server-not-modified) in a new file, and the pages keep the
// offsets of their first responses.
func TestWARCRecrawlRevisits(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Pages: 20, Validators: true, Seed: 23})
	db, arch := crawlWARC(t, "re", site.Seeds()[0])
	before := archivedPages(t, db)
	if _, stderr, code := runCmd(t, "crawl", "--db", db, "--recrawl", "--rate", "0", "--quiet"); code != 0 {
		t.Fatalf("recrawl exit %d: %s", code, stderr)
	}
	files := warcFiles(t, arch, "re")
	if len(files) != 2 {
		t.Fatalf("files = %v, want the recrawl's in a second one", files)
	}
	unchanged := countRows(t, db, `SELECT count(*) FROM pages WHERE unchanged = 1`)
	firstRun := responsesByID(warcio(t, files[:1]))
	revisits := 0
	for _, r := range warcio(t, files[1:]) {
		if r.Type == "revisit" && strings.HasSuffix(r.Profile, "/server-not-modified") && r.Status != nil && *r.Status == 304 {
			revisits++
			// It names the response of the capture it revalidated, in the first run's file.
			if orig, ok := firstRun[r.RefersTo]; !ok || orig.URI != r.URI || r.RefersToURI != orig.URI || r.RefersToDate != orig.Date {
				t.Errorf("revisit of %s refers to %q (%s at %s); want the first run's response of it (%+v)", r.URI, r.RefersTo, r.RefersToURI, r.RefersToDate, orig)
			}
		}
	}
	if unchanged == 0 || revisits != unchanged {
		t.Errorf("%d server-not-modified revisits, %d pages unchanged: want equal, not 0", revisits, unchanged)
	}
	after := archivedPages(t, db)
	for i := range before {
		if before[i].file != after[i].file || before[i].offset != after[i].offset {
			t.Errorf("%s: archived at %v/%v, after the recrawl %v/%v; an unchanged page keeps its response", before[i].url,
				before[i].file.String, before[i].offset.Int64, after[i].file.String, after[i].offset.Int64)
		}
	}
	checkArchive(t, db, files, false, true)
}
