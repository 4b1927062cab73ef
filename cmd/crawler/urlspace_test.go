package main

import (
	"path/filepath"
	"testing"

	"github.com/trawl/trawl/testserver"
)

// TestURLSpaceFlag: by default a next-page chain of empty pages is closed
// as a URL space and its links recorded as url-space drops; with
// --max-url-space 0 the detector is off (the chain then runs to the query
// variant cap). Each crawl stores its setting in crawls.settings.
func TestURLSpaceFlag(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Pages: 1, Traps: true})
	entry := "http://" + site.Hosts()[0] + testserver.SpaceEntries()[1]
	dir := t.TempDir()
	crawlDrops := func(name string, stored int, flags ...string) int {
		db := filepath.Join(dir, name+".db")
		args := append(append([]string{"crawl", "--db", db, "--rate", "0", "--per-host", "4", "--quiet"}, flags...), entry)
		if _, stderr, code := runCmd(t, args...); code != 0 {
			t.Fatalf("%s: exit %d:\n%s", name, code, stderr)
		}
		if got := countRows(t, db, `SELECT coalesce(json_extract(settings, '$.max_url_space'), -1) FROM crawls`); got != stored {
			t.Errorf("%s: max_url_space stored as %d, want %d", name, got, stored)
		}
		return countRows(t, db, `SELECT coalesce(sum(count), 0) FROM drops WHERE reason = 'url-space'`)
	}
	if n := crawlDrops("default", 50); n == 0 {
		t.Error(`default settings: no "url-space" drops`)
	}
	if n := crawlDrops("off", 0, "--max-url-space", "0", "--max-query-variants", "200"); n != 0 {
		t.Errorf(`--max-url-space 0: %d "url-space" drops, want none`, n)
	}
}
