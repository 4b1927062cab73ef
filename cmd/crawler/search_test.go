package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawl/trawl/testserver"
)

// wordsSite is a site whose pages carry known words: /p/1 says zebra three times and
// giraffe once, /p/2 zebra once, /p/3 giraffe; /p/4 has "okapi" only in its navigation.
func wordsSite(t *testing.T) *testserver.Site {
	t.Helper()
	page := func(lang, title, nav, main string) testserver.Response {
		return testserver.Response{Header: map[string]string{"Content-Type": "text/html; charset=utf-8"},
			Body: `<!doctype html><html lang="` + lang + `"><head><title>` + title + `</title></head><body>` +
				`<nav><a href="/">home</a> ` + nav + `</nav><main><h1>` + title + `</h1><p>` + main + `</p></main>` +
				`<footer>footer words everywhere</footer></body></html>`}
	}
	return startSite(t, testserver.SiteConfig{Pages: 5, Seed: 3, Overrides: map[string]testserver.Response{
		"/": {Header: map[string]string{"Content-Type": "text/html"},
			Body: `<html><body><a href="/p/1">1</a><a href="/p/2">2</a><a href="/p/3">3</a><a href="/p/4">4</a></body></html>`},
		"/p/1": page("en", "Stripes", "", "The zebra, a zebra and another zebra met a giraffe by the river."),
		"/p/2": page("en-GB", "Plains", "", "A zebra crossed the plain with many other animals of the savanna and more."),
		"/p/3": page("fr", "Cou", "", "La giraffe mange des feuilles."),
		"/p/4": page("de", "Wald", "okapi", "Im Wald wohnt niemand."),
	}})
}

type searchHit struct {
	URL, Title, Lang, Snippet string
	Score                     float64
}

func searchJSON(t *testing.T, db, query string) []searchHit {
	t.Helper()
	stdout, stderr, code := runCmd(t, "search", "--db", db, "--json", query)
	if code != 0 {
		t.Fatalf("search %q: exit %d: %s", query, code, stderr)
	}
	var hits []searchHit
	for line := range strings.SplitSeq(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var h searchHit
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			t.Fatalf("search --json line %q: %v", line, err)
		}
		hits = append(hits, h)
	}
	return hits
}

func hitPaths(hits []searchHit) string {
	var paths []string
	for _, h := range hits {
		paths = append(paths, h.URL[strings.LastIndex(h.URL, "/p/"):])
	}
	return strings.Join(paths, " ")
}

// TestSearch: 'crawler search' finds pages by the words of their text, the page with more
// of them first, with a snippet marking them; navigation and footers are not text; a bad
// query is a usage error; and with --text=false nothing is indexed.
func TestSearch(t *testing.T) {
	site := wordsSite(t)
	db := filepath.Join(t.TempDir(), "words.db")
	if _, stderr, code := runCmd(t, "crawl", "--db", db, "--rate", "0", "--quiet", site.Seeds()[0]); code != 0 {
		t.Fatalf("crawl exit %d: %s", code, stderr)
	}
	hits := searchJSON(t, db, "zebra")
	if got := hitPaths(hits); got != "/p/1 /p/2" {
		t.Fatalf("search zebra: %s, want /p/1 /p/2 (most zebras first)", got)
	}
	if hits[0].Score <= hits[1].Score || !strings.Contains(hits[0].Snippet, "[zebra]") || hits[0].Lang != "en" || hits[0].Title != "Stripes" {
		t.Errorf("search zebra: %+v: want descending scores, [zebra] in the snippet, lang and title", hits)
	}
	if got := hitPaths(searchJSON(t, db, "giraffe")); got != "/p/1 /p/3" && got != "/p/3 /p/1" {
		t.Errorf("search giraffe: %s, want /p/1 and /p/3", got)
	}
	if got := hitPaths(searchJSON(t, db, `"zebra crossed"`)); got != "/p/2" {
		t.Errorf(`search "zebra crossed": %s, want /p/2`, got)
	}
	for _, q := range []string{"okapi", "footer"} {
		if got := searchJSON(t, db, q); len(got) != 0 {
			t.Errorf("search %s: %v, want nothing (navigation and footers are not the page's text)", q, got)
		}
	}
	stdout, _, code := runCmd(t, "search", "--db", db, "zebra")
	if code != 0 || !strings.HasPrefix(stdout, "1. http://") || !strings.Contains(stdout, "[zebra]") {
		t.Errorf("search zebra as text: exit %d:\n%s", code, stdout)
	}
	if got := integrity(t, db); got != "ok" {
		t.Errorf("PRAGMA integrity_check after indexing = %q, want ok", got)
	}
	if _, stderr, code := runCmd(t, "search", "--db", db, "AND OR"); code != 2 || !strings.Contains(stderr, "invalid search query") {
		t.Errorf("a malformed query: exit %d, %s; want 2 and 'invalid search query'", code, stderr)
	}

	off := filepath.Join(t.TempDir(), "notext.db")
	if _, stderr, code := runCmd(t, "crawl", "--db", off, "--text=false", "--rate", "0", "--quiet", site.Seeds()[0]); code != 0 {
		t.Fatalf("crawl --text=false exit %d: %s", code, stderr)
	}
	if n := countRows(t, off, `SELECT count(*) FROM texts`); n != 0 {
		t.Errorf("--text=false stored %d texts", n)
	}
	if got := searchJSON(t, off, "zebra"); len(got) != 0 {
		t.Errorf("--text=false: search found %v", got)
	}
}

// TestShow: 'crawler show' prints a page's record, its text and its response read back
// from the WARC, decoded.
func TestShow(t *testing.T) {
	site := wordsSite(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "show.db")
	if _, stderr, code := runCmd(t, "crawl", "--db", db, "--warc", filepath.Join(dir, "warc"), "--rate", "0", "--quiet", site.Seeds()[0]); code != 0 {
		t.Fatalf("crawl exit %d: %s", code, stderr)
	}
	u := site.Seeds()[0] + "p/1"
	stdout, stderr, code := runCmd(t, "show", "--db", db, u)
	if code != 0 {
		t.Fatalf("show exit %d: %s", code, stderr)
	}
	for _, want := range []string{"status:       200", "language:     en", "warc:         show-00001.warc.gz at offset",
		"--- text", "Stripes The zebra, a zebra and another zebra met a giraffe by the river.",
		"--- stored response (response record", "HTTP/1.1 200 OK", "<footer>footer words everywhere</footer>"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("show %s: no %q in:\n%s", u, want, stdout)
		}
	}
	stdout, _, code = runCmd(t, "show", "--db", db, "--json", u)
	var got struct {
		URL, Text string
		Record    struct{ Type, URI string }
	}
	if err := json.Unmarshal([]byte(stdout), &got); code != 0 || err != nil || got.Record.Type != "response" || got.Record.URI != u {
		t.Errorf("show --json: exit %d, %v: %+v", code, err, got)
	}
	if _, stderr, code := runCmd(t, "show", "--db", db, site.Seeds()[0]+"nowhere"); code != 1 || !strings.Contains(stderr, "has no page") {
		t.Errorf("show of a URL not crawled: exit %d, %s", code, stderr)
	}
}

// TestSearchAndShowRefusePostgres: search and show read a crawl file (its
// FTS4 index and WARC offsets); given a PostgreSQL URL they say so, as a
// usage error, and connect to nothing.
func TestSearchAndShowRefusePostgres(t *testing.T) {
	for _, args := range [][]string{
		{"search", "--db", "postgres://nobody@127.0.0.1:1/none", "words"},
		{"show", "--db", "postgres://nobody@127.0.0.1:1/none", "http://a.test/"},
	} {
		var out, errb bytes.Buffer
		err := run(t.Context(), args, &out, &errb)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "psql") {
			t.Errorf("%v: err = %v, want a usage error pointing to psql", args, err)
		}
	}
}
