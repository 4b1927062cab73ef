package crawl

import (
	"database/sql"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	_ "github.com/mattn/go-sqlite3"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/testserver"
)

// The hostile-web tests (issue 3): each crawls one hostile path of a
// testserver site together with an ordinary second site, and checks that
// the crawl ends by itself, records what went wrong in SQLite, keeps its
// heap bounded, leaves no goroutine behind, and crawls the other site all
// the same.

// hostileBodyCap is the body cap of the hostile crawls, small so that the
// heap bound means something.
const hostileBodyCap = 1 << 20

// hostileHeapCap is what a hostile crawl may add to the live heap (and not
// yet swept garbage): a few times the body cap. The crawl holds a capped
// body, its DOM and its decoded copy at once, and the heap may grow to
// twice the live bytes before the collector runs.
const hostileHeapCap = 8 * hostileBodyCap

// hostileFetch fetches with short timeouts, so that a hang costs a second
// or two, and ignores robots.txt.
var hostileFetch = fetch.Config{
	IgnoreRobots:  true,
	PerHost:       2,
	Timeout:       2 * time.Second,
	HeaderTimeout: 1 * time.Second,
	MaxBody:       hostileBodyCap,
}

// hostileCrawl has two workers, so that one stuck on a hostile fetch leaves
// one for the other site, follows links one hop, and makes no retry.
var hostileCrawl = Config{Workers: 2, PerHost: 2, MaxDepth: 1}

// normalSite is the ordinary site crawled alongside the hostile one: its
// root links to each of its pages, so a crawl of depth 1 fetches them all.
var normalSite = testserver.SiteConfig{Pages: 10, LinksPerPage: 10, PageSize: 2048}

// hostileRun describes one crawl of a hostile site and the normal site.
type hostileRun struct {
	Site     testserver.SiteConfig // the hostile site (Hostile or RobotsMode set); one host
	Paths    []string              // seeds on the hostile host; the normal site's root is added
	Fetch    fetch.Config          // a zero Timeout means hostileFetch
	Crawl    Config                // zero Workers means hostileCrawl
	Extract  extract.Config
	Deadline time.Duration // 0 means 30 s
	// Warm are paths on the hostile host requested once before the heap
	// baseline is taken, so that what the server builds on first use (the
	// bombs) is not counted as the crawler's; each adds one hit.
	Warm []string
}

// hostileOutcome is what crawlHostile returns: the run and both sites,
// closed (their counters still read).
type hostileOutcome struct {
	*bounded
	site       *testserver.Site // the hostile site
	normal     *testserver.Site
	host       string // the hostile host, "127.0.0.1:port"
	normalHost string
}

// crawlHostile is crawlBounded for two sites: it crawls the seeds r.Paths
// on the hostile host and normalSite's root under a deadline, and checks
// that the crawl ended by itself without error, that every goroutine it and
// the sites started is gone, and that the normal site was crawled whole.
func crawlHostile(t *testing.T, r hostileRun) *hostileOutcome {
	t.Helper()
	fcfg, cfg, deadline := r.Fetch, r.Crawl, r.Deadline
	if fcfg.Timeout == 0 {
		fcfg = hostileFetch
	}
	if cfg.Workers == 0 {
		cfg = hostileCrawl
	}
	if deadline == 0 {
		deadline = 30 * time.Second
	}
	start := time.Now()
	b, site := crawlBounded(t, run{Site: r.Site, Fetch: fcfg, Crawl: cfg, Extract: r.Extract, Deadline: deadline,
		Paths: r.Paths, Also: []testserver.SiteConfig{normalSite}, Warm: r.Warm})
	if b.err != nil {
		t.Fatalf("crawl: %v", b.err)
	}
	o := &hostileOutcome{bounded: b, site: site, normal: b.also[0], host: site.Hosts()[0], normalHost: b.also[0].Hosts()[0]}
	t.Logf("crawl took %v; peak heap growth %.2f MiB", time.Since(start).Round(time.Millisecond), float64(o.peakHeap)/(1<<20))
	checkNormalCrawled(t, o)
	return o
}

// warm GETs u and reads its body as sent (no decompression), with a
// transport of its own that it closes.
func warm(t *testing.T, u string) {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("warm %s: %v", u, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); err != nil {
		t.Fatalf("warm %s: %v", u, err)
	}
}

// checkNormalCrawled fails t unless the normal site's root and every page
// were fetched once and stored as good pages: the hostile fetch held no
// worker for good and did not stop the other host.
func checkNormalCrawled(t *testing.T, o *hostileOutcome) {
	t.Helper()
	if got := o.normal.PagesServed(); got != normalSite.Pages {
		t.Errorf("normal site: %d of %d pages served", got, normalSite.Pages)
	}
	if d := o.normal.Duplicates(); len(d) > 0 {
		t.Errorf("normal site: pages fetched twice: %v", d)
	}
	if got := count(t, o.path, `SELECT count(*) FROM pages WHERE host = ? AND status = 200 AND error IS NULL`, o.normalHost); got != normalSite.Pages+1 {
		t.Errorf("normal site: %d good pages stored, want %d (root and pages)", got, normalSite.Pages+1)
	}
}

// checkHeap fails t if the crawl's peak heap growth passed limit.
func checkHeap(t *testing.T, o *hostileOutcome, limit uint64) {
	t.Helper()
	if o.peakHeap > limit {
		t.Errorf("peak heap grew by %.1f MiB, want under %d MiB", float64(o.peakHeap)/(1<<20), limit>>20)
	}
}

// pageRow is the row of one page in the pages table.
type pageRow struct {
	status                                                   int
	finalURL, contentType, title, errText, errClass, charset sql.NullString
	size                                                     sql.NullInt64
	truncated, linksCapped                                   int
}

// openRO opens the closed crawl file at path read-only.
func openRO(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// page returns the stored row of url, failing t if there is none.
func (o *hostileOutcome) page(t *testing.T, url string) pageRow {
	t.Helper()
	var p pageRow
	err := openRO(t, o.path).QueryRowContext(t.Context(), `SELECT coalesce(status, 0), final_url, content_type, title, error,
		error_class, charset, size_bytes, truncated, links_capped FROM pages WHERE url = ?`, url).Scan(
		&p.status, &p.finalURL, &p.contentType, &p.title, &p.errText, &p.errClass, &p.charset, &p.size, &p.truncated, &p.linksCapped)
	if err != nil {
		t.Fatalf("page %s: %v; pages stored: %v", url, err, o.column(t, `SELECT url FROM pages ORDER BY url`))
	}
	return p
}

// column returns the first column of query's rows.
func (o *hostileOutcome) column(t *testing.T, query string, args ...any) []string {
	t.Helper()
	rows, err := openRO(t, o.path).QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// url returns the absolute URL of path on the hostile host.
func (o *hostileOutcome) url(path string) string { return "http://" + o.host + path }

// linksFrom returns the stored destinations of the links of the page at
// path on the hostile host, sorted.
func (o *hostileOutcome) linksFrom(t *testing.T, path string) []string {
	t.Helper()
	return o.column(t, `SELECT dst_url FROM links WHERE src_url = ? ORDER BY dst_url`, o.url(path))
}

// checkFailed asserts that the page at path on the hostile host was
// recorded as a failure of class, with no response stored (status 0, no
// title: never a complete page), and requested exactly once.
func checkFailed(t *testing.T, o *hostileOutcome, path, class string) pageRow {
	t.Helper()
	p := o.page(t, o.url(path))
	if p.errClass.String != class || p.errText.String == "" {
		t.Errorf("%s: error_class %q (error %q), want %q with an error", path, p.errClass.String, p.errText.String, class)
	}
	if p.status != 0 || p.title.String != "" || p.size.Int64 != 0 {
		t.Errorf("%s: status %d, title %q, size %d; want no response stored (0, none, 0)", path, p.status, p.title.String, p.size.Int64)
	}
	if got := o.site.Hits(o.host, path); got != 1 {
		t.Errorf("%s requested %d times, want once (no retries)", path, got)
	}
	return p
}

// TestHostileHang: a server that never answers costs one HeaderTimeout and
// is recorded as a timeout.
func TestHostileHang(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: testserver.SiteConfig{Pages: 1, Hostile: true}, Paths: []string{testserver.PathHang}})
	checkFailed(t, o, testserver.PathHang, classTimeout)
}

// TestHostileHeadersThenNothing: headers, then a body that never comes, is
// ended by the exchange's Timeout and recorded as a timeout.
func TestHostileHeadersThenNothing(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: testserver.SiteConfig{Pages: 1, Hostile: true}, Paths: []string{testserver.PathHeadersOnly}})
	checkFailed(t, o, testserver.PathHeadersOnly, classTimeout)
}

// TestHostileSlowDrip: a byte a second keeps an idle timeout happy forever;
// the overall Timeout ends it, the dripped head (which has a <title>) is not
// stored as a page, and the server sent only the head and a byte or two.
func TestHostileSlowDrip(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: testserver.SiteConfig{Pages: 1, Hostile: true}, Paths: []string{testserver.PathDrip}})
	checkFailed(t, o, testserver.PathDrip, classTimeout)
	// 2 s of Timeout at one byte a second after a 60-byte head.
	if got := o.site.BytesWritten(o.host, testserver.PathDrip); got > 100 {
		t.Errorf("drip: server wrote %d bytes, want under 100", got)
	}
}

// hostileSite is a one-host site serving every hostile path.
var hostileSite = testserver.SiteConfig{Pages: 1, Hostile: true}

// TestHostileEndlessBody: an endless body is cut at the cap and stored as a
// truncated page; the heap stays within a few caps and the server stops
// writing soon after the crawler stops reading.
func TestHostileEndlessBody(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathEndless}})
	p := o.page(t, o.url(testserver.PathEndless))
	if p.status != 200 || p.errText.Valid || p.truncated != 1 {
		t.Errorf("endless: status %d, error %q, truncated %d; want 200, none, 1", p.status, p.errText.String, p.truncated)
	}
	if p.size.Int64 <= 0 || p.size.Int64 > hostileBodyCap {
		t.Errorf("endless: size %d, want 1 to %d", p.size.Int64, hostileBodyCap)
	}
	checkHeap(t, o, hostileHeapCap)
	written := o.site.BytesWritten(o.host, testserver.PathEndless)
	t.Logf("endless: server wrote %.1f MiB", float64(written)/(1<<20))
	if written > 32<<20 {
		t.Errorf("endless: server wrote %d MiB, want under 32 MiB (the cap and socket buffers)", written>>20)
	}
}

// TestHostileHugeContentLength: an honest 10 GiB Content-Length is refused
// from the header: too-large, nothing stored, and the server got to write
// little before the connection closed.
func TestHostileHugeContentLength(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathHugeLength}})
	p := o.page(t, o.url(testserver.PathHugeLength))
	if p.errClass.String != classTooLarge || p.status != 200 || p.size.Int64 != 0 || p.title.String != "" {
		t.Errorf("huge-length: error_class %q, status %d, size %d, title %q; want %q, 200 (the answer), 0, none",
			p.errClass.String, p.status, p.size.Int64, p.title.String, classTooLarge)
	}
	written := o.site.BytesWritten(o.host, testserver.PathHugeLength)
	t.Logf("huge-length: server wrote %.1f MiB", float64(written)/(1<<20))
	if written > 16<<20 {
		t.Errorf("huge-length: server wrote %d MiB, want under 16 MiB of the announced %d GiB", written>>20, testserver.HugeContentLength>>30)
	}
	checkHeap(t, o, hostileHeapCap)
}

// checkBomb asserts that a compression bomb was stored as a truncated page
// of at most the cap, with the heap bounded.
func checkBomb(t *testing.T, path string) {
	// Warm: the site builds both bombs on first use (about 4 MiB); the
	// crawler's share is what the heap bound is about.
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{path}, Warm: []string{path}})
	p := o.page(t, o.url(path))
	if p.status != 200 || p.errText.Valid || p.truncated != 1 {
		t.Errorf("%s: status %d, error %q, truncated %d; want 200, none, 1", path, p.status, p.errText.String, p.truncated)
	}
	if p.size.Int64 <= 0 || p.size.Int64 > hostileBodyCap {
		t.Errorf("%s: size %d, want 1 to %d (the cap), of %d inflated", path, p.size.Int64, hostileBodyCap, testserver.BombSize)
	}
	checkHeap(t, o, hostileHeapCap)
}

// TestHostileGzipBomb: 200 KiB that inflate to 200 MiB are cut at the cap.
func TestHostileGzipBomb(t *testing.T) { checkBomb(t, testserver.PathGzipBomb) }

// TestHostileDeflateBomb: the zlib-wrapped deflate bomb likewise.
func TestHostileDeflateBomb(t *testing.T) { checkBomb(t, testserver.PathDeflateBomb) }

// TestHostileTruncatedChunked: a chunked body without its last chunk is an
// error, never a short page.
func TestHostileTruncatedChunked(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathTruncatedChunked}})
	checkFailed(t, o, testserver.PathTruncatedChunked, classTruncated)
}

// TestHostileCloseMidBody: a connection closed 1,000 bytes into a 100,000
// byte Content-Length is an error, never a short page.
func TestHostileCloseMidBody(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathCloseMidBody}})
	checkFailed(t, o, testserver.PathCloseMidBody, classTruncated)
}

// TestHostileRedirectLoop: a → b → a stops at the first repeat.
func TestHostileRedirectLoop(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathRedirectLoop}})
	p := o.page(t, o.url(testserver.PathRedirectLoop))
	if p.errClass.String != classRedirectLoop || p.status != http.StatusFound {
		t.Errorf("loop: error_class %q (error %q), status %d; want %q, 302", p.errClass.String, p.errText.String, p.status, classRedirectLoop)
	}
	for _, path := range []string{testserver.PathRedirectLoop, "/hostile/loop/b"} {
		if got := o.site.Hits(o.host, path); got != 1 {
			t.Errorf("%s requested %d times, want once", path, got)
		}
	}
}

// TestHostileRedirectChain: a 30-hop chain stops after MaxRedirects (10)
// hops, as too-many-redirects; its end is never requested.
func TestHostileRedirectChain(t *testing.T) {
	const maxRedirects = 10 // fetch's default
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathRedirectChain}})
	p := o.page(t, o.url(testserver.PathRedirectChain))
	if p.errClass.String != classTooManyRedirects {
		t.Errorf("chain: error_class %q (error %q), want %q", p.errClass.String, p.errText.String, classTooManyRedirects)
	}
	if got := o.site.HitsWithPrefix(o.host, "/hostile/chain/"); got != maxRedirects+1 {
		t.Errorf("chain: %d requests, want %d (the seed and %d hops)", got, maxRedirects+1, maxRedirects)
	}
	if d := o.site.Duplicates(); len(d) > 0 {
		t.Errorf("requested more than once: %v", d)
	}
}

// checkNotParsed asserts that the page at path was stored with content
// type ct, and that nothing of it was read as HTML: no title, no links,
// nothing below the decoy prefix requested.
func checkNotParsed(t *testing.T, o *hostileOutcome, path, ct string) {
	t.Helper()
	p := o.page(t, o.url(path))
	if p.status != 200 || p.errText.Valid || p.contentType.String != ct {
		t.Errorf("%s: status %d, error %q, content_type %q; want 200, none, %q", path, p.status, p.errText.String, p.contentType.String, ct)
	}
	if p.title.Valid || p.charset.Valid {
		t.Errorf("%s: title %q, charset %q; want none (not parsed)", path, p.title.String, p.charset.String)
	}
	if l := o.linksFrom(t, path); len(l) > 0 {
		t.Errorf("%s: links stored %v, want none", path, l)
	}
	if got := o.site.HitsWithPrefix(o.host, testserver.PathDecoyPrefix); got != 0 {
		t.Errorf("decoys requested %d times: %v", got, o.site.PathsWithPrefix(o.host, testserver.PathDecoyPrefix))
	}
}

// TestHostileWrongContentType: an HTML body labelled image/png is an image.
func TestHostileWrongContentType(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathWrongType}})
	checkNotParsed(t, o, testserver.PathWrongType, "image/png")
}

// TestHostilePDF: a PDF mentioning a URL is not read for links.
func TestHostilePDF(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathPDF}})
	checkNotParsed(t, o, testserver.PathPDF, "application/pdf")
}

// TestHostileBinaryDeclaredHTML: binaries of several kinds sent as
// text/html are stored with the type their bytes sniff as and never parsed:
// the <a href> among their bytes is not followed.
func TestHostileBinaryDeclaredHTML(t *testing.T) {
	var paths []string
	for _, k := range testserver.BinaryAsHTML() {
		paths = append(paths, k.Path)
	}
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: paths})
	for _, k := range testserver.BinaryAsHTML() {
		checkNotParsed(t, o, k.Path, k.Sniffed)
	}
}

// TestHostileMissingContentType: without a Content-Type the type is
// sniffed: the HTML page is stored as text/html and its link followed; the
// PNG is stored as image/png and not parsed.
func TestHostileMissingContentType(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathNoType, testserver.PathNoTypeBinary}})
	p := o.page(t, o.url(testserver.PathNoType))
	if p.status != 200 || p.errText.Valid || p.contentType.String != "text/html" || p.title.String != "No type" {
		t.Errorf("no-type: status %d, error %q, content_type %q, title %q; want 200, none, text/html, %q",
			p.status, p.errText.String, p.contentType.String, p.title.String, "No type")
	}
	const link = "/hostile/page/no-type-link"
	if l := o.linksFrom(t, testserver.PathNoType); !slices.Equal(l, []string{o.url(link)}) {
		t.Errorf("no-type: links %v, want [%s]", l, o.url(link))
	}
	if got := o.site.Hits(o.host, link); got != 1 {
		t.Errorf("%s requested %d times, want once", link, got)
	}
	checkNotParsed(t, o, testserver.PathNoTypeBinary, "image/png")
}

// TestHostileBadUTF8: invalid UTF-8 in a page declared UTF-8 is stored as
// valid UTF-8, and the invalid bytes in its links are percent-escaped.
func TestHostileBadUTF8(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathBadUTF8}})
	p := o.page(t, o.url(testserver.PathBadUTF8))
	if p.status != 200 || p.errText.Valid || p.charset.String != "utf-8" {
		t.Errorf("bad-utf8: status %d, error %q, charset %q; want 200, none, utf-8", p.status, p.errText.String, p.charset.String)
	}
	if !utf8.ValidString(p.title.String) || !strings.HasPrefix(p.title.String, "Bad ") || !strings.Contains(p.title.String, " title ") {
		t.Errorf("bad-utf8: title %q, want valid UTF-8 reading \"Bad … title …\"", p.title.String)
	}
	want := []string{o.url("/hostile/page/bad%FF%FE"), o.url("/hostile/page/good"), o.url("/hostile/page/ok?q=%C3(")} // 0x28 is "("
	if l := o.linksFrom(t, testserver.PathBadUTF8); !slices.Equal(l, want) {
		t.Errorf("bad-utf8: links %q, want %q", l, want)
	}
	if got := o.site.PathsWithPrefix(o.host, testserver.PathTinyPrefix); len(got) != 3 {
		t.Errorf("bad-utf8: link targets requested %q, want the 3 links", got)
	}
}

// checkLegacy asserts that the page at path, in a legacy encoding, was
// decoded from charset: its title reads title, and its one link, decoded,
// was requested under linkPath.
func checkLegacy(t *testing.T, path, charset, title, linkPath string) {
	t.Helper()
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{path}})
	p := o.page(t, o.url(path))
	if p.status != 200 || p.errText.Valid || p.title.String != title || p.charset.String != charset {
		t.Errorf("%s: status %d, error %q, title %q, charset %q; want 200, none, %q, %q",
			path, p.status, p.errText.String, p.title.String, p.charset.String, title, charset)
	}
	if got := o.site.Hits(o.host, linkPath); got != 1 {
		t.Errorf("%s: %s requested %d times, want once; requested: %q", path, linkPath, got, o.site.PathsWithPrefix(o.host, testserver.PathTinyPrefix))
	}
	if got := o.site.PathsWithPrefix(o.host, testserver.PathTinyPrefix); len(got) != 1 {
		t.Errorf("%s: link targets requested %q, want only %q", path, got, linkPath)
	}
}

// TestHostileLatin1: ISO-8859-1 declared in the header only (read as its
// WHATWG superset, windows-1252).
func TestHostileLatin1(t *testing.T) {
	checkLegacy(t, testserver.PathLatin1, "windows-1252", testserver.Latin1Title, testserver.Latin1LinkPath)
}

// TestHostileShiftJIS: Shift_JIS declared by <meta charset> only.
func TestHostileShiftJIS(t *testing.T) {
	checkLegacy(t, testserver.PathShiftJIS, "shift_jis", testserver.ShiftJISTitle, testserver.ShiftJISLinkPath)
}

// TestHostileMalformedHTML: tag soup is read as an HTML5 parser reads it:
// exactly MalformedLinks are followed, and no decoy.
func TestHostileMalformedHTML(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathMalformed}})
	p := o.page(t, o.url(testserver.PathMalformed))
	if p.status != 200 || p.errText.Valid {
		t.Errorf("malformed: status %d, error %q; want 200, none", p.status, p.errText.String)
	}
	want := testserver.MalformedLinks()
	slices.Sort(want)
	if got := o.site.PathsWithPrefix(o.host, testserver.PathTinyPrefix); !slices.Equal(got, want) {
		t.Errorf("malformed: requested %q, want %q", got, want)
	}
	if got := o.site.HitsWithPrefix(o.host, testserver.PathDecoyPrefix); got != 0 {
		t.Errorf("decoys requested %d times: %v", got, o.site.PathsWithPrefix(o.host, testserver.PathDecoyPrefix))
	}
	if d := o.site.Duplicates(); len(d) > 0 {
		t.Errorf("requested more than once: %v", d)
	}
}

// TestHostileManyLinks: a page of 100,000 links keeps the extractor's
// default cap of 10,000 and says so (links_capped, one "link-cap" drop).
// Fetching all 10,000 targets takes 16 s under -race, so MaxPagesPerHost
// lets 200 of them be queued: the rest are "host-cap" drops.
func TestHostileManyLinks(t *testing.T) {
	const (
		linkCap = 10_000 // extract's default MaxLinks
		fetched = 200    // targets queued under MaxPagesPerHost, which counts the seed too
	)
	fc := hostileFetch
	fc.MaxBody = 8 << 20 // the whole page (about 4 MB), not the first quarter
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathManyLinks}, Fetch: fc,
		Crawl: Config{Workers: 4, PerHost: 2, MaxDepth: 1, MaxPagesPerHost: fetched + 1}})
	p := o.page(t, o.url(testserver.PathManyLinks))
	if p.status != 200 || p.errText.Valid || p.linksCapped != 1 || p.truncated != 0 {
		t.Errorf("many-links: status %d, error %q, links_capped %d, truncated %d; want 200, none, 1, 0", p.status, p.errText.String, p.linksCapped, p.truncated)
	}
	if got := count(t, o.path, `SELECT count(*) FROM links WHERE src_url = ?`, o.url(testserver.PathManyLinks)); got != linkCap {
		t.Errorf("many-links: %d links stored, want %d", got, linkCap)
	}
	if got := count(t, o.path, `SELECT count(*) FROM links WHERE src_url = ? AND dst_url = ?`,
		o.url(testserver.PathManyLinks), o.url(testserver.PathManyPrefix+"9999")); got != 1 {
		t.Errorf("many-links: the 10,000th link stored %d times, want once", got)
	}
	if got := dropCount(t, o.path, dropLinkCap); got != 1 {
		t.Errorf(`"link-cap" drops = %d, want 1`, got)
	}
	if got := dropCount(t, o.path, dropHostCap); got != linkCap-fetched {
		t.Errorf(`"host-cap" drops = %d, want %d`, got, linkCap-fetched)
	}
	if got := o.site.HitsWithPrefix(o.host, testserver.PathManyPrefix); got != fetched {
		t.Errorf("many-links: %d targets requested, want %d", got, fetched)
	}
	if d := o.site.Duplicates(); len(d) > 0 {
		t.Errorf("requested more than once: %v", d[:min(len(d), 5)])
	}
	checkHeap(t, o, 64<<20)
}

// TestHostileOddURLs: odd escaping, an IDN host and IPv6 literals crash
// nothing; every link is stored in its canonical form (the IDN host in
// punycode, IPv6 compressed, escapes upper case, unreserved ones decoded),
// and nothing outside the two seeded hosts is fetched.
func TestHostileOddURLs(t *testing.T) {
	o := crawlHostile(t, hostileRun{Site: hostileSite, Paths: []string{testserver.PathOddURLs}})
	p := o.page(t, o.url(testserver.PathOddURLs))
	if p.status != 200 || p.errText.Valid || p.title.String != "Odd URLs" {
		t.Errorf("odd-urls: status %d, error %q, title %q; want 200, none, %q", p.status, p.errText.String, p.title.String, "Odd URLs")
	}
	links := o.linksFrom(t, testserver.PathOddURLs)
	for _, l := range links {
		if c, err := dedupe.Canonical(l); err != nil || c != l || !utf8.ValidString(l) || !strings.HasPrefix(l, "http://") {
			t.Errorf("stored link %q is not a canonical http URL (Canonical = %q, %v)", l, c, err)
		}
		if strings.Contains(l, "ü") || strings.Contains(l, "%7E") || strings.Contains(l, "%c3") || strings.Contains(l, "#") {
			t.Errorf("stored link %q: raw Unicode, an escaped unreserved or lower-case escape, or a fragment", l)
		}
	}
	_, port, _ := strings.Cut(o.host, ":")
	for _, want := range []string{
		"http://xn--bcher-kva.example/",                   // bücher.example and its ASCII form: one link
		"http://[::1]:" + port + "/hostile/odd/ipv6",      // another host: stored, not fetched
		"http://[::1]:" + port + "/hostile/odd/ipv6-long", // [0:0:0:0:0:0:0:1] compressed
		o.url("/hostile/odd/~tilde"),                      // ~tilde and %7Etilde: one link
		o.url("/hostile/odd/%C3%BCber"),                   // upper- and lower-case escapes: one link
		o.url("/hostile/odd/%C3%BCn%C3%AFc%C3%B6d%C3%A9"), // raw UTF-8, escaped
		o.url("/hostile/odd/with%20space"),                // a raw space, escaped
		o.url("/hostile/odd/y/z"),                         // dot segments removed
		o.url("/hostile/odd/schemeless"),                  // //host/path
		o.url("/hostile/odd/UPPER-scheme"),                // HTTP://
		o.url("/hostile/odd/relative"),                    // relative forms
		o.url("/hostile/odd/parent"),
	} {
		if !slices.Contains(links, want) {
			t.Errorf("link %q not stored; links: %q", want, links)
		}
	}
	if got := count(t, o.path, `SELECT count(*) FROM pages WHERE host NOT IN (?, ?)`, o.host, o.normalHost); got != 0 {
		t.Errorf("%d pages fetched from hosts other than the seeds'", got)
	}
	if got := dropCount(t, o.path, dropScope); got < 2 {
		t.Errorf(`"scope" drops = %d, want the IDN and IPv6 links`, got)
	}
	for _, path := range o.site.PathsWithPrefix(o.host, "/") {
		if !strings.HasPrefix(path, testserver.PathOddURLs) && !strings.HasPrefix(path, testserver.PathOddPrefix) {
			t.Errorf("requested %q, not a link of the page", path)
		}
	}
	if d := o.site.Duplicates(); len(d) > 0 {
		t.Errorf("requested more than once: %v", d)
	}
}

// robotsSite is a one-host site whose robots.txt misbehaves as mode says;
// its root links to /p/0 and to testserver.PathPrivate.
func robotsSite(mode string) testserver.SiteConfig {
	return testserver.SiteConfig{Pages: 1, LinksPerPage: 1, RobotsMode: mode}
}

// crawlRobots crawls the root and testserver.PathPrivate of a site in
// robots mode, obeying robots.txt.
func crawlRobots(t *testing.T, mode string) *hostileOutcome {
	t.Helper()
	fc := hostileFetch
	fc.IgnoreRobots = false
	o := crawlHostile(t, hostileRun{Site: robotsSite(mode), Fetch: fc, Paths: []string{"/", testserver.PathPrivate}})
	if got := o.site.Hits(o.host, "/robots.txt"); got != 1 {
		t.Errorf("robots.txt requested %d times, want once (cached)", got)
	}
	return o
}

// checkRobotsRules asserts the outcome of a robots.txt that was read: the
// root and /p/0 fetched, the private page refused unrequested as "robots".
func checkRobotsRules(t *testing.T, o *hostileOutcome) {
	t.Helper()
	for _, path := range []string{"/", "/p/0"} {
		if p := o.page(t, o.url(path)); p.status != 200 || p.errText.Valid {
			t.Errorf("%s: status %d, error %q; want 200, none", path, p.status, p.errText.String)
		}
	}
	p := o.page(t, o.url(testserver.PathPrivate))
	if p.errClass.String != classRobots || p.status != 0 {
		t.Errorf("%s: error_class %q (error %q), status %d; want %q, 0", testserver.PathPrivate, p.errClass.String, p.errText.String, p.status, classRobots)
	}
	if got := o.site.HitsWithPrefix(o.host, testserver.RobotsDisallowed); got != 0 {
		t.Errorf("disallowed pages requested %d times", got)
	}
	if got := dropCount(t, o.path, dropRobots); got != 1 {
		t.Errorf(`"robots" drops = %d, want 1`, got)
	}
}

// checkRobotsUnavailable asserts the outcome of a robots.txt that could not
// be had: the host is disallowed (RFC 9309 2.3.1.4), so nothing but
// robots.txt is requested and both seeds are "robots-unavailable".
func checkRobotsUnavailable(t *testing.T, o *hostileOutcome) {
	t.Helper()
	for _, path := range []string{"/", testserver.PathPrivate} {
		p := o.page(t, o.url(path))
		if p.errClass.String != classRobotsUnavailable || p.status != 0 {
			t.Errorf("%s: error_class %q (error %q), status %d; want %q, 0", path, p.errClass.String, p.errText.String, p.status, classRobotsUnavailable)
		}
	}
	if got := o.site.PathsWithPrefix(o.host, "/"); !slices.Equal(got, []string{"/robots.txt"}) {
		t.Errorf("requested %q, want only /robots.txt", got)
	}
	if got := o.site.Hits(o.host, "/"); got != 0 {
		t.Errorf("the root requested %d times, want never", got)
	}
}

// TestHostileRobotsHuge: a 2 MiB robots.txt is read up to the parser's
// limit, whose first lines disallow /private/.
func TestHostileRobotsHuge(t *testing.T) {
	o := crawlRobots(t, testserver.RobotsHuge)
	checkRobotsRules(t, o)
}

// TestHostileRobotsRedirect: robots.txt redirected to another path is
// followed (RFC 9309 2.3.1.2) and obeyed.
func TestHostileRobotsRedirect(t *testing.T) {
	o := crawlRobots(t, testserver.RobotsRedirect)
	checkRobotsRules(t, o)
	if got := o.site.Hits(o.host, testserver.PathRobotsReal); got != 1 {
		t.Errorf("%s requested %d times, want once", testserver.PathRobotsReal, got)
	}
}

// TestHostileRobots404: no robots.txt allows everything (RFC 9309
// 2.3.1.3): the private page is fetched like any other.
func TestHostileRobots404(t *testing.T) {
	o := crawlRobots(t, testserver.Robots404)
	for _, path := range []string{"/", "/p/0", testserver.PathPrivate} {
		if p := o.page(t, o.url(path)); p.status != 200 || p.errText.Valid {
			t.Errorf("%s: status %d, error %q; want 200, none", path, p.status, p.errText.String)
		}
	}
	if got := o.site.Hits(o.host, testserver.PathPrivate); got != 1 {
		t.Errorf("%s requested %d times, want once", testserver.PathPrivate, got)
	}
}

// TestHostileRobots500: a 5xx robots.txt makes the host unavailable:
// complete disallow (RFC 9309 2.3.1.4).
func TestHostileRobots500(t *testing.T) {
	checkRobotsUnavailable(t, crawlRobots(t, testserver.Robots500))
}

// TestHostileRobots429: 429 is treated as unavailable too.
func TestHostileRobots429(t *testing.T) {
	checkRobotsUnavailable(t, crawlRobots(t, testserver.Robots429))
}

// TestHostileRobotsSlow: a robots.txt dripped a byte a second is ended by
// the Timeout and treated as unavailable; its fetch cost the host's pages,
// not the other site's.
func TestHostileRobotsSlow(t *testing.T) {
	o := crawlRobots(t, testserver.RobotsSlow)
	checkRobotsUnavailable(t, o)
	if got := o.site.BytesWritten(o.host, "/robots.txt"); got > int64(len(testserver.RobotsRules)) {
		t.Errorf("slow robots.txt: server wrote %d bytes, want at most %d (2 s at a byte a second)", got, len(testserver.RobotsRules))
	}
}
