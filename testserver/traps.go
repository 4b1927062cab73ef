package testserver

import (
	"bytes"
	"html"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Crawler traps, served by every host when SiteConfig.Traps is set. Each is
// an endless or near-endless set of URLs; the root links to the entry of
// each (TrapEntries). Hits counts every request, so a test bounds what a
// crawler fetched with HitsWithPrefix and PathsWithPrefix.
const (
	// PathTrapCalendar is the prefix of /trap/calendar/<year>/<month>
	// (month 01 to 12, year any integer of at most 9 digits, optionally
	// negative): each month links to the previous and next month and the
	// same month of the previous and next year, forever in both directions.
	PathTrapCalendar = "/trap/calendar/"
	// PathTrapDeep is the prefix of /trap/deep/1/2/.../n/: every path below
	// it is a page that links one level deeper, to its own path plus
	// "<n+1>/".
	PathTrapDeep = "/trap/deep/"
	// PathTrapLoop is the prefix of /trap/loop/, /trap/loop/a/b/,
	// /trap/loop/a/b/a/b/ ...: every path below it is a page with the
	// relative link "a/b/", so the path repeats ever more.
	PathTrapLoop = "/trap/loop/"
	// PathTrapSession is the prefix of the TrapSessionPages real pages
	// /trap/session/0 to /trap/session/4. Each links to every one of them
	// plainly and in four disguises that change on every render:
	// ";jsessionid=<random>" in the path, "?sid=<random>",
	// "?PHPSESSID=<random>" and "?utm_source=x&utm_medium=y". Any query or
	// ";" parameter is ignored, so a crawler that strips session ids and
	// tracking parameters fetches 5 pages.
	PathTrapSession = "/trap/session/"
	// PathTrapSearch is /trap/search?q=<n>&page=<m>: every query gives a
	// page linking to the next page, the next q, the same query with its
	// parameters reordered, and sort=asc and sort=desc variants.
	PathTrapSearch = "/trap/search"
	// TrapSessionPages is the number of distinct pages under
	// PathTrapSession.
	TrapSessionPages = 5
)

// TrapEntries returns the URL paths (with query) that a host's root links to
// when SiteConfig.Traps is set, one per trap. Each call returns a new slice.
func TrapEntries() []string {
	return []string{
		PathTrapCalendar + "2025/01",
		PathTrapDeep + "1/",
		PathTrapLoop,
		PathTrapSession + "0",
		PathTrapSearch + "?q=1&page=1",
	}
}

// serveTrap serves the paths below /trap/ and reports whether the path was
// one of them.
func (h *host) serveTrap(w http.ResponseWriter, r *http.Request) (int, bool) {
	path := r.URL.Path
	var links []string
	title := "Trap"
	switch {
	case strings.HasPrefix(path, PathTrapCalendar):
		y, m, ok := parseMonth(path[len(PathTrapCalendar):])
		if !ok {
			return 0, false
		}
		// In the site's chrome, like the spaces of spaces.go: a month
		// page is a near-duplicate of the others.
		return writeChromePage(w, "Calendar "+monthPath(y, m)+": nothing is on this month", []string{
			PathTrapCalendar + monthPath(addMonths(y, m, -1)),
			PathTrapCalendar + monthPath(addMonths(y, m, 1)),
			PathTrapCalendar + monthPath(y-1, m),
			PathTrapCalendar + monthPath(y+1, m),
		}), true
	case strings.HasPrefix(path, PathTrapDeep):
		depth := strings.Count(strings.Trim(path[len(PathTrapDeep):], "/"), "/") + 1
		dir := path
		if !strings.HasSuffix(dir, "/") {
			dir += "/"
		}
		title = "Deep " + strconv.Itoa(depth)
		links = []string{dir + strconv.Itoa(depth+1) + "/"}
	case strings.HasPrefix(path, PathTrapLoop):
		title = "Loop"
		links = []string{"a/b/"}
	case strings.HasPrefix(path, PathTrapSession):
		k, _, _ := strings.Cut(path[len(PathTrapSession):], ";")
		if n, err := strconv.Atoi(k); err != nil || n < 0 || n >= TrapSessionPages || strconv.Itoa(n) != k {
			return 0, false
		}
		title = "Session page " + k
		for j := range TrapSessionPages {
			p := PathTrapSession + strconv.Itoa(j)
			links = append(links,
				p,
				p+";jsessionid="+randomID(),
				p+"?sid="+randomID(),
				p+"?PHPSESSID="+randomID(),
				p+"?utm_source=x&utm_medium=y",
			)
		}
	case path == PathTrapSearch:
		q := r.URL.Query()
		n, m := atoiOr(q.Get("q"), 1), atoiOr(q.Get("page"), 1)
		title = "Search " + strconv.Itoa(n) + " page " + strconv.Itoa(m)
		qs := func(pairs ...string) string {
			var b strings.Builder
			for i := 0; i < len(pairs); i += 2 {
				b.WriteByte("?&"[min(i, 1)])
				b.WriteString(pairs[i] + "=" + pairs[i+1])
			}
			return PathTrapSearch + b.String()
		}
		ns, ms := strconv.Itoa(n), strconv.Itoa(m)
		links = []string{
			qs("q", ns, "page", strconv.Itoa(m+1)),
			qs("q", strconv.Itoa(n+1), "page", "1"),
			qs("page", ms, "q", ns),
			qs("q", ns, "page", ms, "sort", "asc"),
			qs("q", ns, "page", ms, "sort", "desc"),
		}
	default:
		return h.serveSpace(w, r)
	}
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>")
	b.WriteString(html.EscapeString(title))
	b.WriteString("</title></head><body>\n<h1>")
	b.WriteString(html.EscapeString(title))
	b.WriteString("</h1>\n<ul>\n")
	for _, l := range links {
		b.WriteString("<li><a href=\"")
		b.WriteString(html.EscapeString(l))
		b.WriteString("\">")
		b.WriteString(html.EscapeString(l))
		b.WriteString("</a></li>\n")
	}
	b.WriteString("</ul>\n</body></html>\n")
	return writeHTML(w, http.StatusOK, "text/html; charset=utf-8", b.Bytes()), true
}

// maxYearDigits bounds calendar years, so that arithmetic never overflows.
const maxYearDigits = 9

// parseMonth parses "<year>/<month>" as the calendar writes it.
func parseMonth(s string) (year, month int, ok bool) {
	ys, ms, ok := strings.Cut(s, "/")
	digits := strings.TrimPrefix(ys, "-")
	if !ok || len(ms) != 2 || digits == "" || len(digits) > maxYearDigits {
		return 0, 0, false
	}
	y, err := strconv.Atoi(ys)
	if err != nil || strconv.Itoa(y) != ys {
		return 0, 0, false
	}
	m, err := strconv.Atoi(ms)
	if err != nil || m < 1 || m > 12 || ms[0] < '0' || ms[0] > '1' {
		return 0, 0, false
	}
	return y, m, true
}

// monthPath writes year and month as parseMonth reads them.
func monthPath(year, month int) string {
	ms := strconv.Itoa(month)
	if month < 10 {
		ms = "0" + ms
	}
	return strconv.Itoa(year) + "/" + ms
}

// addMonths returns the month delta months after year/month.
func addMonths(year, month, delta int) (int, int) {
	k := year*12 + (month - 1) + delta
	y, m := k/12, k%12
	if m < 0 {
		y, m = y-1, m+12
	}
	return y, m + 1
}

// randomID returns a fresh session id, 16 hex digits.
func randomID() string {
	id := strconv.FormatUint(rand.Uint64(), 16)
	return strings.Repeat("0", 16-len(id)) + id
}

// atoiOr returns s as a non-negative decimal number below 10^9, else def.
func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && len(s) <= 9 {
		return n
	}
	return def
}

// HitsWithPrefix returns the number of requests host ("127.0.0.1:port")
// received for paths that start with prefix, paths and queries as in Hits.
// The generated pages /p/<i> are not included: use Hits for them.
func (s *Site) HitsWithPrefix(host, prefix string) int {
	h := s.byAddr[host]
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for path, c := range h.other {
		if strings.HasPrefix(path, prefix) {
			n += c
		}
	}
	return n
}

// PathsWithPrefix returns, sorted, the distinct paths (with query, as in
// Hits) starting with prefix that host ("127.0.0.1:port") received. The
// generated pages /p/<i> are not included.
func (s *Site) PathsWithPrefix(host, prefix string) []string {
	h := s.byAddr[host]
	if h == nil {
		return nil
	}
	h.mu.Lock()
	var out []string
	for path := range h.other {
		if strings.HasPrefix(path, prefix) {
			out = append(out, path)
		}
	}
	h.mu.Unlock()
	slices.Sort(out)
	return out
}
