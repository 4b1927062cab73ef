package testserver

// Conditional requests (SiteConfig.Validators) and page changes (Site.Change),
// so that tests can exercise a recrawl: validators on every generated page, 304
// Not Modified for a matching If-None-Match or If-Modified-Since, and pages
// whose content changes between two crawls.

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PathChangedPrefix starts the paths of the pages that Change adds:
// /changed/<i>/<v> is linked from page i from its version v on, and served
// with 200 once page i has reached version v. No other page links to it.
const PathChangedPrefix = "/changed/"

// streamValidators is the generator stream that ETags are drawn from.
const streamValidators uint64 = 3

// lastModifiedBase is the Last-Modified of page 0 at version 0, in Unix
// seconds (2024-01-01T00:00:00Z). Page i's date is later by i%100_000 seconds
// (under 28 hours), and each Change adds 48 hours, so that a changed page is
// always newer than it was.
const lastModifiedBase = 1704067200

// changes holds the version of every page changed by Site.Change. Pages never
// changed are at version 0 and take no memory.
type changes struct {
	n  atomic.Int64 // len(versions), read without the lock on every page served
	mu sync.Mutex   // guards versions
	// versions maps a page number to its version (at least 1). Bounded by
	// the number of pages.
	versions map[int]int
}

// version returns page i's version: 0 unless Change was called for it.
func (c *changes) version(i int) int {
	if c.n.Load() == 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.versions[i]
}

// Change changes page i's content: its version goes up by one, which changes
// its ETag, moves its Last-Modified 48 hours later, and adds to the page a
// paragraph with one more link, to /changed/<i>/<version> on the same host
// (PathChangedPrefix), a page that nothing linked to before. It returns that
// new page's absolute URL. Page i keeps every link it had. Change works with
// and without SiteConfig.Validators and is safe for concurrent use; a request
// being served while Change runs sees either version. It panics if i is not
// in [0, Pages).
func (s *Site) Change(i int) string {
	if i < 0 || i >= s.cfg.Pages {
		panic(fmt.Sprintf("testserver: Change of page %d not in [0, %d)", i, s.cfg.Pages))
	}
	c := &s.changes
	c.mu.Lock()
	if c.versions == nil {
		c.versions = make(map[int]int)
	}
	c.versions[i]++
	v := c.versions[i]
	c.n.Store(int64(len(c.versions)))
	c.mu.Unlock()
	return "http://" + s.hosts[i%len(s.hosts)].addr + changedPath(i, v)
}

// Version returns page i's version: the number of times Change was called
// for it, 0 for a page never changed or not in [0, Pages).
func (s *Site) Version(i int) int { return s.changes.version(i) }

// NotModified returns the number of 304 Not Modified responses sent.
func (s *Site) NotModified() int { return int(s.notModified.Load()) }

// BodyBytes returns the body bytes of generated pages (/p/<i>, the roots, and
// the pages Change adds) sent with status 200 to GET requests, summed over
// all hosts. Overrides, robots.txt and the opt-in modes' paths do not count.
func (s *Site) BodyBytes() int64 { return s.bodyBytes.Load() }

// changedPath returns "/changed/<i>/<v>".
func changedPath(i, v int) string {
	return PathChangedPrefix + strconv.Itoa(i) + "/" + strconv.Itoa(v)
}

// parseChanged returns i and v if path is exactly "/changed/<i>/<v>" written
// in canonical decimal.
func parseChanged(path string) (i, v int, ok bool) {
	rest, found := strings.CutPrefix(path, PathChangedPrefix)
	if !found {
		return 0, 0, false
	}
	is, vs, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	var err error
	if i, err = strconv.Atoi(is); err != nil || i < 0 || strconv.Itoa(i) != is {
		return 0, 0, false
	}
	if v, err = strconv.Atoi(vs); err != nil || v < 1 || strconv.Itoa(v) != vs {
		return 0, 0, false
	}
	return i, v, true
}

// validators returns the strong ETag and the Last-Modified date of a
// generated page at version v. key is the page number, -1-h for host h's
// root; a page added by Change has its own key (see serveChanged).
func (s *Site) validators(key, v int) (etag string, lastMod time.Time) {
	r := newRNG(s.cfg.Seed, key, streamValidators)
	r.state ^= uint64(v) * 0xd6e8feb86659fd93
	b := make([]byte, 0, 20)
	b = append(b, '"')
	b = strconv.AppendUint(b, r.next(), 36)
	b = append(b, '"')
	sec := key % 100_000
	if sec < 0 {
		sec = -sec
	}
	return string(b), time.Unix(lastModifiedBase+int64(sec)+int64(v)*48*3600, 0).UTC()
}

// notModified sets the ETag and Last-Modified headers of a generated page
// and reports whether the request's preconditions (RFC 9110 §13.2.2) call
// for 304 Not Modified: If-None-Match when present, else If-Modified-Since.
func notModified(w http.ResponseWriter, r *http.Request, etag string, lastMod time.Time) bool {
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", lastMod.Format(http.TimeFormat))
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		return noneMatchFails(inm, etag)
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" {
		return false
	}
	t, err := http.ParseTime(ims)
	if err != nil { // an invalid date is ignored (§13.1.3)
		return false
	}
	return !lastMod.After(t) // HTTP dates have whole seconds, as lastMod does
}

// noneMatchFails reports whether the If-None-Match field lines match etag
// by weak comparison (§13.1.2): "*", or any listed tag whose opaque part
// equals etag's.
func noneMatchFails(lines []string, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, line := range lines {
		for tag := range strings.SplitSeq(line, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
				return true
			}
		}
	}
	return false
}

// writeNotModified sends 304 Not Modified, with no body, and counts it.
func (s *Site) writeNotModified(w http.ResponseWriter) int {
	w.WriteHeader(http.StatusNotModified)
	s.notModified.Add(1)
	return http.StatusNotModified
}

// appendChange adds to page i's rendered HTML, just before its footer, the
// paragraph of version v: a line of text and the link to the page it adds.
func appendChange(b *bytes.Buffer, i, v int) {
	b.Truncate(b.Len() - len(htmlFooter)) // render always ends with htmlFooter
	b.WriteString("<p class=\"changed\">Revision ")
	writeInt(b, v)
	b.WriteString(" of this page: <a href=\"")
	b.WriteString(changedPath(i, v))
	b.WriteString("\">what changed</a>.</p>\n")
	b.WriteString(htmlFooter)
}

// serveChanged serves /changed/<i>/<v> once page i (one of h's pages) has
// reached version v, and reports whether path was such a page.
func (h *host) serveChanged(w http.ResponseWriter, r *http.Request, path string) (int, bool) {
	s := h.site
	i, v, ok := parseChanged(path)
	if !ok || i >= s.cfg.Pages || i%len(s.hosts) != h.index || s.changes.version(i) < v {
		return 0, false
	}
	if s.cfg.Validators {
		// Its own key, far from the pages' and the roots': the page never changes.
		etag, lm := s.validators(-1-len(s.hosts)-i, v)
		if notModified(w, r, etag, lm) {
			return s.writeNotModified(w), true
		}
	}
	body := "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Changed " +
		strconv.Itoa(i) + " " + strconv.Itoa(v) + "</title>\n</head>\n<body>\n<p>Revision " + strconv.Itoa(v) +
		" of <a href=\"/p/" + strconv.Itoa(i) + "\">page " + strconv.Itoa(i) + "</a>.</p>\n</body>\n</html>\n"
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(body))
	if r.Method == http.MethodGet {
		s.bodyBytes.Add(int64(len(body)))
	}
	return http.StatusOK, true
}
