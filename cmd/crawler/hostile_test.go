package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trawl/trawl/testserver"
)

// TestStatsShowsDropsAndNearDuplicates: what the crawl chose not to follow
// is listed by reason, error classes are counted, and pages with nearly the
// same text are grouped, in `crawler stats` and its JSON.
func TestStatsShowsDropsAndNearDuplicates(t *testing.T) {
	text := strings.Repeat("the crawler reads every page and keeps what it finds in one file ", 40)
	page := func(s string) testserver.Response {
		return testserver.Response{Header: map[string]string{"Content-Type": "text/html"}, Body: "<html><title>t</title><body><p>" + s + "</p></body></html>"}
	}
	site := startSite(t, testserver.SiteConfig{Pages: 1, Traps: true, Overrides: map[string]testserver.Response{
		"/": {Header: map[string]string{"Content-Type": "text/html"}, Body: `<a href="/a">a</a><a href="/b">b</a><a href="/c">c</a>
			<a href="http://elsewhere.test/">out</a><a rel="nofollow" href="/nf">nf</a><a href="/gone">gone</a>` +
			`<a href="/trap/loop/">loop</a>`},
		"/a":    page(text),
		"/b":    page(text + " one more sentence"),
		"/c":    page("something else entirely, a page with its own words and nothing in common"),
		"/gone": {Status: 404},
	}})
	db := filepath.Join(t.TempDir(), "crawl.db")
	if _, stderr, code := runCmd(t, "crawl", "--db", db, "--rate", "0", "--ignore-robots", site.Seeds()[0]); code != 0 {
		t.Fatalf("crawl exit %d:\n%s", code, stderr)
	}
	text2, _, code := runCmd(t, "stats", "--db", db)
	if code != 0 {
		t.Fatalf("stats exit %d", code)
	}
	for _, want := range []string{"not followed", "scope", "nofollow", "repeated-segments", "error class", "http-4xx",
		"near-duplicate groups (SimHash within 3 bits)"} {
		if !strings.Contains(text2, want) {
			t.Errorf("stats lacks %q:\n%s", want, text2)
		}
	}
	out, _, _ := runCmd(t, "stats", "--db", db, "--json")
	var st struct {
		Drops []struct {
			Reason string
			Count  int
		}
		ByClass         map[string]int
		NearDupClusters int
		NearDuplicates  []struct{ URLs []string }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stats --json: %v", err)
	}
	drops := map[string]int{}
	for _, d := range st.Drops {
		drops[d.Reason] = d.Count
	}
	if drops["scope"] != 1 || drops["nofollow"] != 1 || drops["repeated-segments"] == 0 {
		t.Errorf("drops = %v, want scope 1, nofollow 1, repeated-segments > 0", drops)
	}
	if st.ByClass["http-4xx"] != 1 {
		t.Errorf("error classes = %v, want http-4xx: 1", st.ByClass)
	}
	// Two groups: /a with /b, and the pages of the loop trap (the same
	// page under ever longer paths, until the repeat cap stops it); /c and
	// the root are in none.
	groups := map[string]int{}
	for _, g := range st.NearDuplicates {
		slices.Sort(g.URLs) // members come in fetch order, which varies
		groups[strings.Join(g.URLs, " ")] = len(g.URLs)
	}
	ab := "http://" + site.Hosts()[0] + "/a http://" + site.Hosts()[0] + "/b"
	if st.NearDupClusters != 2 || groups[ab] != 2 {
		t.Errorf("near-duplicates = %d %v, want 2 groups, one of exactly /a and /b", st.NearDupClusters, groups)
	}
	for g := range groups {
		if strings.Contains(g, "/c") {
			t.Errorf("/c grouped: %s", g)
		}
	}
}
