package testserver

import (
	"bytes"
	"hash/fnv"
	"html"
	"net/http"
	"strconv"
	"strings"
)

// Infinite URL spaces served with the traps (SiteConfig.Traps) that no check on
// a URL's length, depth, repeats or query variants ends: every URL is short,
// shallow and new. Their pages are what such spaces look like on real sites:
// the site's chrome (TrapChromeWords words of navigation and footer text, the
// same on every page) around a little that changes, so that they are
// near-duplicates of one another (dedupe.SimHash) and their links lead only
// further into the space.
const (
	// PathTrapEvents is /trap/events?month=<year>-<month>, a calendar in the
	// query: each month links to the previous and next month and the same
	// month of the previous and next year, forever, and says that nothing is
	// on.
	PathTrapEvents = "/trap/events"
	// PathTrapList is /trap/list?page=<n>: "no results" pages, each linking
	// to the next page (and the first), forever.
	PathTrapList = "/trap/list"
	// PathTrapItem is the prefix of /trap/item/<id>: each id (16 hex digits,
	// derived from its parent's) links to three new ids, forever.
	PathTrapItem = "/trap/item/"
	// TrapChromeWords is the number of words of chrome on a trap page.
	TrapChromeWords = 300
)

// SpaceEntries returns the entries of the infinite URL spaces above, as paths
// with query, one per space; the calendar in the path is PathTrapCalendar's
// entry in TrapEntries. Each call returns a new slice.
func SpaceEntries() []string {
	return []string{
		PathTrapEvents + "?month=2025-01",
		PathTrapList + "?page=1",
		PathTrapItem + "0123456789abcdef",
	}
}

// serveSpace serves the spaces above and reports whether r was one of them.
func (h *host) serveSpace(w http.ResponseWriter, r *http.Request) (int, bool) {
	path := r.URL.Path
	var title string
	var links []string
	switch {
	case path == PathTrapEvents:
		ys, ms, _ := strings.Cut(r.URL.Query().Get("month"), "-")
		y, m, ok := parseMonth(ys + "/" + ms)
		if !ok {
			return 0, false
		}
		title = "Events in " + ys + "-" + ms + ": nothing is on this month"
		for _, ym := range [][2]int{{0, -1}, {0, 1}, {-1, 0}, {1, 0}} {
			ny, nm := addMonths(y, m, ym[0]*12+ym[1])
			links = append(links, PathTrapEvents+"?month="+strings.Replace(monthPath(ny, nm), "/", "-", 1))
		}
	case path == PathTrapList:
		n := atoiOr(r.URL.Query().Get("page"), -1)
		if n < 1 {
			return 0, false
		}
		title = "Results page " + strconv.Itoa(n) + ": no results"
		links = []string{PathTrapList + "?page=1", PathTrapList + "?page=" + strconv.Itoa(n+1)}
	case strings.HasPrefix(path, PathTrapItem):
		id := path[len(PathTrapItem):]
		if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
			return 0, false
		}
		title = "Item " + id + " is not available"
		for k := range 3 {
			links = append(links, PathTrapItem+childID(id, k))
		}
	default:
		return 0, false
	}
	return writeChromePage(w, title, links), true
}

// childID derives the k-th id an item page links to from its own id.
func childID(id string, k int) string {
	f := fnv.New64a()
	f.Write([]byte(id))
	f.Write([]byte{byte(k)})
	s := strconv.FormatUint(f.Sum64(), 16)
	return strings.Repeat("0", 16-len(s)) + s
}

// trapChrome is the text around every trap page: TrapChromeWords words of
// corpus, from its start, wrapping around.
func trapChrome() string {
	words := strings.Fields(corpus)
	out := make([]string, TrapChromeWords)
	for i := range out {
		out[i] = words[i%len(words)]
	}
	return strings.Join(out, " ")
}

// writeChromePage writes a page titled title with links, inside the trap
// chrome: half of it before the links, half after.
func writeChromePage(w http.ResponseWriter, title string, links []string) int {
	chrome := trapChrome()
	half := strings.LastIndexByte(chrome[:len(chrome)/2], ' ')
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>")
	b.WriteString(html.EscapeString(title))
	b.WriteString("</title></head><body>\n<nav><p>")
	b.WriteString(chrome[:half])
	b.WriteString("</p></nav>\n<h1>")
	b.WriteString(html.EscapeString(title))
	b.WriteString("</h1>\n<ul>\n")
	for _, l := range links {
		b.WriteString("<li><a href=\"")
		b.WriteString(html.EscapeString(l))
		b.WriteString("\">more</a></li>\n")
	}
	b.WriteString("</ul>\n<footer><p>")
	b.WriteString(chrome[half+1:])
	b.WriteString("</p></footer>\n</body></html>\n")
	return writeHTML(w, http.StatusOK, "text/html; charset=utf-8", b.Bytes())
}
