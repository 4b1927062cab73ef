package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawl/trawl/testserver"
)

// responsesByID indexes the response records of recs by WARC-Record-ID.
func responsesByID(recs []warcioRecord) map[string]warcioRecord {
	out := map[string]warcioRecord{}
	for _, r := range recs {
		if r.Type == "response" {
			out[r.ID] = r
		}
	}
	return out
}

// TestWARCDedupeAcrossRuns: a recrawl of a site that sends no validators fetches every page
// again, and each payload the first run archived becomes an identical-payload-digest revisit
// naming the first run's response (id, target URI, date), not a second copy; 'crawler
// show' of a page whose record is now such a revisit prints the payload of the earlier
// capture.
func TestWARCDedupeAcrossRuns(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Pages: 20, Seed: 29})
	db, arch := crawlWARC(t, "dd", site.Seeds()[0])
	if _, stderr, code := runCmd(t, "crawl", "--db", db, "--recrawl", "--rate", "0", "--quiet"); code != 0 {
		t.Fatalf("recrawl exit %d: %s", code, stderr)
	}
	files := warcFiles(t, arch, "dd")
	if len(files) != 2 {
		t.Fatalf("files = %v, want the recrawl's in a second one", files)
	}
	firstRun := responsesByID(warcio(t, files[:1]))
	revisits, copies := 0, 0
	for _, r := range warcio(t, files[1:]) {
		switch {
		case r.Type == "response" && r.URI != "" && !strings.HasSuffix(r.URI, "/robots.txt"):
			copies++
			t.Errorf("%s archived again as a response in the recrawl", r.URI)
		case r.Type == "revisit":
			revisits++
			orig, ok := firstRun[r.RefersTo]
			if !strings.HasSuffix(r.Profile, "/identical-payload-digest") || !ok || r.RefersToURI != orig.URI || r.RefersToDate != orig.Date {
				t.Errorf("revisit of %s (%s) refers to %q (%s at %s); want a response of the first run", r.URI, r.Profile, r.RefersTo, r.RefersToURI, r.RefersToDate)
			}
		}
	}
	fetched := countRows(t, db, `SELECT count(*) FROM pages WHERE status = 200`)
	if revisits < fetched || fetched == 0 {
		t.Errorf("%d revisits in the recrawl, %d pages fetched: want a revisit per page", revisits, fetched)
	}
	checkArchive(t, db, files, false, true)

	u := site.Seeds()[0] + "p/1"
	stdout, stderr, code := runCmd(t, "show", "--db", db, u)
	if code != 0 {
		t.Fatalf("show exit %d: %s", code, stderr)
	}
	for _, want := range []string{"--- stored response (revisit record", "identical-payload-digest",
		"--- payload from the earlier capture of " + u + " (response record", "dd-00001.warc.gz at offset", "</html>"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("show %s: no %q in:\n%s", u, want, stdout)
		}
	}
	stdout, _, _ = runCmd(t, "show", "--db", db, "--json", u)
	var got struct {
		Record, Original struct{ Type, URI string }
		OriginalFile     string
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || got.Record.Type != "revisit" || got.Original.Type != "response" ||
		got.Original.URI != u || got.OriginalFile != files[0][len(arch)+1:] {
		t.Errorf("show --json: %v: %+v", err, got)
	}
}

// TestWARCCutResponse: a page whose connection is cut after its headers (by
// Content-Length, and chunked with gzip) is archived as what came, its response record
// marked WARC-Truncated: disconnect, and warcio.js reads every record; the page is
// recorded as failed, with no WARC location.
func TestWARCCutResponse(t *testing.T) {
	sent := map[string]string{
		"/cut":   "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n<html><p>the first part of a page",
		"/cutgz": "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\r\n",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			_, _ = io.WriteString(w, `<html><a href="/cut">cut</a> <a href="/cutgz">cut gzip</a></html>`)
		case "/cut", "/cutgz":
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			_, _ = buf.WriteString(sent[r.URL.Path])
			_ = buf.Flush()
			_ = conn.Close()
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	db, arch := filepath.Join(dir, "cut.db"), filepath.Join(dir, "warc")
	if _, stderr, code := runCmd(t, "crawl", "--db", db, "--warc", arch, "--rate", "0", "--quiet", "--retries", "0", srv.URL+"/"); code != 3 {
		t.Fatalf("crawl exit %d, want 3 (pages failed): %s", code, stderr)
	}
	recs := warcio(t, warcFiles(t, arch, "cut"))
	cut := map[string]int{}
	for _, r := range recs {
		if r.Type != "response" {
			continue
		}
		u, _ := url.Parse(r.URI)
		if sent[u.Path] == "" {
			continue
		}
		cut[u.Path]++
		if r.Truncated != "disconnect" || r.Status == nil || *r.Status != 200 || r.BlockDigestOK == nil || !*r.BlockDigestOK {
			t.Errorf("response record of %s: truncated %q, status %v, block digest ok %v; want disconnect, 200, true", r.URI, r.Truncated, r.Status, r.BlockDigestOK)
		}
	}
	if cut["/cut"] != 1 || cut["/cutgz"] != 1 {
		t.Errorf("response records of the cut pages: %v, want one each", cut)
	}
	for _, p := range archivedPages(t, db) {
		if sent[strings.TrimPrefix(p.url, srv.URL)] != "" && (p.status != 0 || p.file.Valid) {
			t.Errorf("page %s: status %d, WARC file %v; want a failed page with no location", p.url, p.status, p.file)
		}
	}
	n := countRows(t, db, `SELECT count(*) FROM pages WHERE error LIKE '%unexpected EOF%'`)
	if n != 2 {
		t.Errorf("%d pages failed with unexpected EOF, want 2", n)
	}
}
