package crawl

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/storage"
	"github.com/trawl/trawl/testserver"
)

// recrawlRow is what the file holds about one page after a crawl.
type recrawlRow struct {
	Status      int
	Size        int64
	Title       string
	ContentHash string
	ETag        string
	LastMod     string
	Unchanged   bool
	Links       int
}

// recrawlRows reads every page row of the crawl file at path, by URL.
func recrawlRows(t *testing.T, path string) map[string]recrawlRow {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT p.url, coalesce(p.status, 0), coalesce(p.size_bytes, 0),
		coalesce(p.title, ''), coalesce(p.content_hash, ''), coalesce(p.etag, ''), coalesce(p.last_modified, ''),
		p.unchanged, (SELECT count(*) FROM links l WHERE l.page_id = p.id)
		FROM pages p`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]recrawlRow{}
	for rows.Next() {
		var u string
		var r recrawlRow
		if err := rows.Scan(&u, &r.Status, &r.Size, &r.Title, &r.ContentHash, &r.ETag, &r.LastMod, &r.Unchanged, &r.Links); err != nil {
			t.Fatal(err)
		}
		out[u] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// recrawlSetup crawls a site with validators into a new file and returns
// the site, the file's path, its open db and the rows of the first crawl.
func recrawlSetup(t *testing.T, pages int) (*testserver.Site, string, *storage.DB, map[string]recrawlRow) {
	t.Helper()
	site := startSite(t, testserver.SiteConfig{Hosts: 2, Pages: pages, LinksPerPage: 6, CrossHost: 0.2, PageSize: 2048, Seed: 21, Validators: true})
	path := filepath.Join(t.TempDir(), "crawl.db")
	db := openDB(t, path)
	if _, err := runCrawl(t, t.Context(), db, fetch.Config{Concurrency: 8, PerHost: 4}, Config{Workers: 8, PerHost: 4, MaxDepth: -1}, site.Seeds()); err != nil {
		t.Fatal(err)
	}
	first := recrawlRows(t, path)
	if len(first) != pages+2 {
		t.Fatalf("first crawl stored %d pages, want %d", len(first), pages+2)
	}
	for u, r := range first {
		if r.Status != 200 || r.ETag == "" || r.LastMod == "" || r.ContentHash == "" || r.Unchanged {
			t.Fatalf("first crawl: %s = %+v, want 200 with validators and content", u, r)
		}
	}
	if site.NotModified() != 0 {
		t.Fatalf("first crawl got %d 304s, want 0", site.NotModified())
	}
	return site, path, db, first
}

// recrawl requeues every URL of db and runs a recrawl to the end.
func recrawl(t *testing.T, site *testserver.Site, db *storage.DB, wantQueued int) *Engine {
	t.Helper()
	n, err := db.Requeue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(wantQueued) {
		t.Fatalf("Requeue = %d, want %d", n, wantQueued)
	}
	e, err := runCrawl(t, t.Context(), db, fetch.Config{Concurrency: 8, PerHost: 4}, Config{Workers: 8, PerHost: 4, MaxDepth: -1, Recrawl: true}, site.Seeds())
	if err != nil {
		t.Fatalf("recrawl: %v", err)
	}
	return e
}

// pageStatuses returns the status of every request for a generated page
// (a root, /p/<i> or /changed/...) in log[from:], by "host path".
func pageStatuses(site *testserver.Site, from int) map[string][]int {
	out := map[string][]int{}
	for _, r := range site.Requests()[from:] {
		if r.Path == "/" || strings.HasPrefix(r.Path, "/p/") || strings.HasPrefix(r.Path, testserver.PathChangedPrefix) {
			out[r.Host+" "+r.Path] = append(out[r.Host+" "+r.Path], r.Status)
		}
	}
	return out
}

// TestRecrawlUnchanged: a recrawl of an unchanged site asks for every page
// again with its validators, gets only 304s, transfers no page body, and
// keeps every stored page as it was, marked unchanged.
func TestRecrawlUnchanged(t *testing.T) {
	const pages = 200
	site, path, db, first := recrawlSetup(t, pages)
	logFrom, bytesBefore := len(site.Requests()), site.BodyBytes()

	e := recrawl(t, site, db, pages+2)

	got := pageStatuses(site, logFrom)
	if len(got) != pages+2 {
		t.Errorf("recrawl requested %d distinct pages, want %d", len(got), pages+2)
	}
	for i := range pages {
		key := site.Hosts()[i%2] + " /p/" + strconv.Itoa(i)
		if st := got[key]; !slices.Equal(st, []int{http.StatusNotModified}) {
			t.Errorf("recrawl: %s answered %v, want one 304", key, st)
		}
	}
	for _, h := range site.Hosts() {
		if st := got[h+" /"]; !slices.Equal(st, []int{http.StatusNotModified}) {
			t.Errorf("recrawl: root of %s answered %v, want one 304", h, st)
		}
	}
	if n := site.NotModified(); n != pages+2 {
		t.Errorf("NotModified = %d, want %d", n, pages+2)
	}
	if b := site.BodyBytes() - bytesBefore; b != 0 {
		t.Errorf("recrawl transferred %d page body bytes, want 0", b)
	}

	second := recrawlRows(t, path)
	if len(second) != len(first) {
		t.Errorf("after recrawl: %d pages, want %d", len(second), len(first))
	}
	for u, was := range first {
		now, ok := second[u]
		if !ok {
			t.Errorf("%s lost by the recrawl", u)
			continue
		}
		if !now.Unchanged {
			t.Errorf("%s: unchanged = 0, want 1", u)
		}
		now.Unchanged = false
		if now != was {
			t.Errorf("%s changed by a 304:\n got %+v\nwant %+v", u, now, was)
		}
	}
	if n := count(t, path, `SELECT count(*) FROM urls WHERE state <> 'done'`); n != 0 {
		t.Errorf("%d URLs not done after the recrawl", n)
	}
	st, err := db.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Unchanged != pages+2 {
		t.Errorf("Stats.Unchanged = %d, want %d", st.Unchanged, pages+2)
	}
	if p := e.Progress(); p.Fetched != pages+2 || p.Failed != 0 || p.Discovered != 0 {
		t.Errorf("recrawl Progress = %+v, want %d fetched, 0 failed, 0 discovered", p, pages+2)
	}
}

// TestRecrawlChanged: pages changed between the crawls are fetched in full
// and stored anew, and the link each gained is followed; the rest answer
// 304. A third run then finds every page, the new ones included, unchanged.
func TestRecrawlChanged(t *testing.T) {
	const pages = 200
	site, path, db, first := recrawlSetup(t, pages)
	changed := []int{0, 37, 120, 199}
	newURLs := map[string]bool{}
	for _, i := range changed {
		newURLs[site.Change(i)] = true
	}
	logFrom, bytesBefore := len(site.Requests()), site.BodyBytes()

	recrawl(t, site, db, pages+2)

	got := pageStatuses(site, logFrom)
	var want200 int64
	for i := range pages {
		key := site.Hosts()[i%2] + " /p/" + strconv.Itoa(i)
		want := http.StatusNotModified
		if slices.Contains(changed, i) {
			want = http.StatusOK
		}
		if st := got[key]; !slices.Equal(st, []int{want}) {
			t.Errorf("recrawl: %s answered %v, want [%d]", key, st, want)
		}
	}
	if n := site.NotModified(); n != pages+2-len(changed) {
		t.Errorf("NotModified = %d, want %d", n, pages+2-len(changed))
	}
	second := recrawlRows(t, path)
	for _, i := range changed {
		u := site.PageURL(i)
		was, now := first[u], second[u]
		want200 += now.Size
		if now.Unchanged || now.Status != 200 || now.ContentHash == "" || now.ContentHash == was.ContentHash ||
			now.ETag == was.ETag || now.LastMod == was.LastMod || now.Links != was.Links+1 || now.Title != was.Title {
			t.Errorf("changed page %s stored as %+v; was %+v; want new hash and validators, one more link", u, now, was)
		}
	}
	for u := range newURLs {
		r, ok := second[u]
		if !ok || r.Status != 200 || r.Unchanged {
			t.Errorf("new page %s: stored %v as %+v, want fetched with 200", u, ok, r)
		}
		want200 += r.Size
		h, p, _ := strings.Cut(strings.TrimPrefix(u, "http://"), "/")
		if st := got[h+" /"+p]; !slices.Equal(st, []int{http.StatusOK}) {
			t.Errorf("new page %s answered %v, want one 200", u, st)
		}
	}
	if b := site.BodyBytes() - bytesBefore; b != want200 {
		t.Errorf("recrawl transferred %d page body bytes, want %d (the changed and new pages)", b, want200)
	}
	unchanged := 0
	for u, r := range second {
		if r.Unchanged {
			unchanged++
			if was := first[u]; r.ContentHash != was.ContentHash || r.Links != was.Links {
				t.Errorf("unchanged page %s: %+v, was %+v", u, r, was)
			}
		}
	}
	if unchanged != pages+2-len(changed) || len(second) != pages+2+len(newURLs) {
		t.Errorf("after recrawl: %d pages, %d unchanged; want %d, %d", len(second), unchanged, pages+2+len(newURLs), pages+2-len(changed))
	}

	// The changed pages' new validators were stored: a third run gets only 304s.
	before304 := site.NotModified()
	recrawl(t, site, db, pages+2+len(newURLs))
	if n := site.NotModified() - before304; n != pages+2+len(newURLs) {
		t.Errorf("third run: %d 304s, want %d", n, pages+2+len(newURLs))
	}
	if n := count(t, path, `SELECT count(*) FROM pages WHERE unchanged = 1`); n != pages+2+len(newURLs) {
		t.Errorf("third run: %d pages unchanged, want %d", n, pages+2+len(newURLs))
	}
}
