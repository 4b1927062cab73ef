package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/trawl/trawl/testserver"
)

// TestAddressGuard: a seed on 127.0.0.1 links to a server on [::1], a
// loopback address that is not the seed's own. By default the crawler never
// connects to it and records why; with --allow-private it does. Nothing here
// leaves the machine: both servers are on loopback.
func TestAddressGuard(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	var hits atomic.Int32
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<title>internal</title>"))
	}))
	other.Listener.Close()
	other.Listener = ln
	other.Start()
	defer other.Close()
	internal := other.URL + "/admin"
	site := startSite(t, testserver.SiteConfig{Hosts: 1, Pages: 3, LinksPerPage: 1, Seed: 1,
		Overrides: map[string]testserver.Response{"/": {Status: 200, Header: map[string]string{"Content-Type": "text/html"},
			Body: `<a href="` + internal + `">admin</a>`}}})

	db := filepath.Join(t.TempDir(), "guarded.db")
	_, stderr, code := runCmd(t, "crawl", "--db", db, "--scope", "all", "--rate", "0", "--quiet", site.Seeds()[0])
	if code != 0 {
		t.Fatalf("guarded crawl exit %d:\n%s", code, stderr)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the guarded crawler connected to %s %d times, want 0", internal, n)
	}
	if got := countRows(t, db, `SELECT COUNT(*) FROM pages WHERE url LIKE 'http://[::1]:%' AND error LIKE '%address not allowed%'`); got != 1 {
		t.Errorf("refused URL recorded %d times with 'address not allowed', want 1", got)
	}

	db2 := filepath.Join(t.TempDir(), "open.db")
	if _, stderr, code := runCmd(t, "crawl", "--db", db2, "--scope", "all", "--rate", "0", "--quiet", "--allow-private", site.Seeds()[0]); code != 0 {
		t.Fatalf("--allow-private crawl exit %d:\n%s", code, stderr)
	}
	if n := hits.Load(); n == 0 {
		t.Errorf("with --allow-private the crawler never reached %s", internal)
	}
}

// TestAddressGuardOtherPort: a seed on 127.0.0.1:P links to another port of
// the same address (a database, an admin console). The seed's address is
// allowed on the seed's port only, so the guarded crawl never connects to
// the other port, even with --scope domain, which covers every port of an IP.
func TestAddressGuardOtherPort(t *testing.T) {
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("+OK"))
	}))
	defer other.Close()
	site := startSite(t, testserver.SiteConfig{Hosts: 1, Pages: 3, LinksPerPage: 1, Seed: 1,
		Overrides: map[string]testserver.Response{"/": {Status: 200, Header: map[string]string{"Content-Type": "text/html"},
			Body: `<a href="` + other.URL + `/">db</a><a href="/p/0">p</a>`}}})
	db := filepath.Join(t.TempDir(), "guarded.db")
	if _, stderr, code := runCmd(t, "crawl", "--db", db, "--scope", "domain", "--rate", "0", "--quiet", site.Seeds()[0]); code != 0 {
		t.Fatalf("guarded crawl exit %d:\n%s", code, stderr)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the guarded crawler connected to %s (another port of the seed's address) %d times, want 0", other.URL, n)
	}
	if got := countRows(t, db, `SELECT COUNT(*) FROM pages WHERE url = '`+other.URL+`/' AND error_class = 'address'`); got != 1 {
		t.Errorf("refused URL recorded %d times with error class 'address', want 1", got)
	}
	if got := countRows(t, db, `SELECT COUNT(*) FROM pages WHERE url LIKE '%/p/0' AND status = 200`); got != 1 {
		t.Errorf("the seed's own pages were not crawled")
	}
}
