package testserver

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// trapSite starts a one-host site with Traps set and returns it, its base
// URL and host address.
func trapSite(t *testing.T) (*Site, string, string) {
	t.Helper()
	s := start(t, SiteConfig{Pages: 5, Traps: true})
	return s, "http://" + s.Hosts()[0], s.Hosts()[0]
}

// follow fetches rawURL, which must answer 200, and returns its links
// resolved against it.
func follow(t *testing.T, c *http.Client, rawURL string) []string {
	t.Helper()
	resp := get(t, c, rawURL)
	if resp.status != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200", rawURL, resp.status)
	}
	base, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	links, _ := hrefs(t, resp.body)
	out := make([]string, len(links))
	for i, l := range links {
		ref, err := url.Parse(l)
		if err != nil {
			t.Fatalf("%s: href %q: %v", rawURL, l, err)
		}
		out[i] = base.ResolveReference(ref).String()
	}
	return out
}

func TestTrapsRootAndOff(t *testing.T) {
	_, base, _ := trapSite(t)
	c := timeoutClient(10 * time.Second)
	links := follow(t, c, base+"/")
	for _, e := range TrapEntries() {
		if !slices.Contains(links, base+e) {
			t.Errorf("root does not link to trap entry %s", e)
		}
		if got := get(t, c, base+e); got.status != 200 {
			t.Errorf("GET %s: %d, want 200", e, got.status)
		}
	}
	if slices.ContainsFunc(links, func(l string) bool { return strings.Contains(l, "/hostile/") }) {
		t.Errorf("root with only Traps links to hostile paths")
	}
}

func TestTrapCalendar(t *testing.T) {
	s, base, host := trapSite(t)
	c := timeoutClient(10 * time.Second)
	u := base + PathTrapCalendar + "2025/01"
	for range 30 { // next month, 30 times: endless forwards
		links := follow(t, c, u)
		if len(links) != 4 {
			t.Fatalf("%s has %d links, want 4", u, len(links))
		}
		u = links[1]
	}
	if want := base + PathTrapCalendar + "2027/07"; u != want {
		t.Errorf("30 months after 2025/01: %s, want %s", u, want)
	}
	u = base + PathTrapCalendar + "1/02"
	for range 3 { // and backwards across year 0
		u = follow(t, c, u)[0]
	}
	if want := base + PathTrapCalendar + "0/11"; u != want {
		t.Errorf("3 months before 1/02: %s, want %s", u, want)
	}
	links := follow(t, c, base+PathTrapCalendar+"-5/01")
	if want := []string{"-6/12", "-5/02", "-6/01", "-4/01"}; !slices.Equal(links, prefixAll(base+PathTrapCalendar, want)) {
		t.Errorf("links of -5/01 = %q, want %q", links, want)
	}
	for _, bad := range []string{"2025/13", "2025/00", "2025/1", "02025/01", "2025/01/", "-0/01", "1234567890/01", "x/01", "2025", ""} {
		if got := get(t, c, base+PathTrapCalendar+bad); got.status != http.StatusNotFound {
			t.Errorf("GET calendar %q: %d, want 404", bad, got.status)
		}
	}
	if got := s.HitsWithPrefix(host, PathTrapCalendar); got != 30+3+1+10 {
		t.Errorf("HitsWithPrefix(calendar) = %d, want 44", got)
	}
}

func prefixAll(prefix string, s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = prefix + x
	}
	return out
}

func TestTrapDeepAndLoop(t *testing.T) {
	s, base, host := trapSite(t)
	c := timeoutClient(10 * time.Second)
	u := base + PathTrapDeep + "1/"
	for range 20 {
		links := follow(t, c, u)
		if len(links) != 1 || !strings.HasPrefix(links[0], u) || strings.Count(links[0], "/") != strings.Count(u, "/")+1 {
			t.Fatalf("%s links to %q, want one level deeper", u, links)
		}
		u = links[0]
	}
	if want := base + PathTrapDeep + "1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/21/"; u != want {
		t.Errorf("20 levels below /trap/deep/1/: %s, want %s", u, want)
	}

	u = base + PathTrapLoop
	for range 4 {
		u = follow(t, c, u)[0]
	}
	if want := base + PathTrapLoop + "a/b/a/b/a/b/a/b/"; u != want {
		t.Errorf("4 steps into the loop: %s, want %s", u, want)
	}
	if got := len(s.PathsWithPrefix(host, "/trap/")); got != 20+4 {
		t.Errorf("distinct trap paths = %d, want 24", got)
	}
}

func TestTrapSession(t *testing.T) {
	s, base, host := trapSite(t)
	c := timeoutClient(10 * time.Second)
	first := follow(t, c, base+PathTrapSession+"0")
	second := follow(t, c, base+PathTrapSession+"0")
	if len(first) != 5*TrapSessionPages {
		t.Fatalf("session page has %d links, want %d", len(first), 5*TrapSessionPages)
	}
	changed := 0
	stripped := map[string]bool{}
	for i, l := range first {
		if l != second[i] {
			changed++
		}
		u, err := url.Parse(l)
		if err != nil {
			t.Fatal(err)
		}
		path, _, _ := strings.Cut(u.Path, ";")
		stripped[path] = true
		if got := get(t, c, l); got.status != 200 || !strings.Contains(got.body, "<title>Session page ") {
			t.Errorf("GET %s: %d, want a session page", l, got.status)
		}
	}
	// The ;jsessionid, sid and PHPSESSID links change on every render.
	if changed != 3*TrapSessionPages {
		t.Errorf("%d links changed between two renders, want %d", changed, 3*TrapSessionPages)
	}
	if len(stripped) != TrapSessionPages {
		t.Errorf("without session ids and queries the links name %d pages, want %d: %v", len(stripped), TrapSessionPages, stripped)
	}
	for _, kind := range []string{";jsessionid=", "?sid=", "?PHPSESSID=", "?utm_source=x&utm_medium=y"} {
		if !slices.ContainsFunc(first, func(l string) bool { return strings.Contains(l, kind) }) {
			t.Errorf("no link carries %q", kind)
		}
	}
	for _, bad := range []string{"5", "-1", "01", "x", ""} {
		if got := get(t, c, base+PathTrapSession+bad); got.status != http.StatusNotFound {
			t.Errorf("GET session %q: %d, want 404", bad, got.status)
		}
	}
	if got := s.HitsWithPrefix(host, PathTrapSession); got != 2+25+5 {
		t.Errorf("HitsWithPrefix(session) = %d, want 32", got)
	}
	// Distinct: 3×5 with session ids, 5 plain, 5 with utm_ and the 5 bad.
	if got, want := len(s.PathsWithPrefix(host, PathTrapSession)), 3*TrapSessionPages+2*TrapSessionPages+5; got != want {
		t.Errorf("distinct session paths = %d, want %d", got, want)
	}
}

func TestTrapSearch(t *testing.T) {
	_, base, _ := trapSite(t)
	c := timeoutClient(10 * time.Second)
	links := follow(t, c, base+PathTrapSearch+"?q=1&page=1")
	want := prefixAll(base+PathTrapSearch, []string{"?q=1&page=2", "?q=2&page=1", "?page=1&q=1", "?q=1&page=1&sort=asc", "?q=1&page=1&sort=desc"})
	if !slices.Equal(links, want) {
		t.Errorf("search links = %q, want %q", links, want)
	}
	seen := map[string]bool{}
	u := base + PathTrapSearch + "?q=1&page=1"
	for range 10 { // every next page is a new URL
		seen[u] = true
		u = follow(t, c, u)[0]
	}
	if len(seen) != 10 || !strings.HasSuffix(u, "?q=1&page=11") {
		t.Errorf("10 next pages: %d distinct, ending %s", len(seen), u)
	}
	if got := get(t, c, base+PathTrapSearch); got.status != 200 { // no query: defaults
		t.Errorf("GET search without query: %d, want 200", got.status)
	}
}

func TestParseMonth(t *testing.T) {
	tests := []struct {
		in    string
		y, m  int
		valid bool
	}{
		{"2025/01", 2025, 1, true},
		{"0/12", 0, 12, true},
		{"-1/06", -1, 6, true},
		{"999999999/12", 999999999, 12, true},
		{"1000000000/01", 0, 0, false},
		{"2025/1", 0, 0, false},
		{"+5/01", 0, 0, false},
		{"2025/-1", 0, 0, false},
		{"2025/+1", 0, 0, false},
	}
	for _, tt := range tests {
		y, m, ok := parseMonth(tt.in)
		if ok != tt.valid || y != tt.y || m != tt.m {
			t.Errorf("parseMonth(%q) = %d, %d, %v; want %d, %d, %v", tt.in, y, m, ok, tt.y, tt.m, tt.valid)
		}
		if ok && monthPath(y, m) != tt.in {
			t.Errorf("monthPath(parseMonth(%q)) = %q", tt.in, monthPath(y, m))
		}
	}
	for _, tt := range []struct{ y, m, d, wy, wm int }{
		{2025, 1, -1, 2024, 12}, {2025, 12, 1, 2026, 1}, {0, 1, -1, -1, 12}, {-1, 12, 1, 0, 1}, {-1, 1, -13, -3, 12},
	} {
		if y, m := addMonths(tt.y, tt.m, tt.d); y != tt.wy || m != tt.wm {
			t.Errorf("addMonths(%d, %d, %d) = %d, %d; want %d, %d", tt.y, tt.m, tt.d, y, m, tt.wy, tt.wm)
		}
	}
}

// FuzzParseMonth checks that parseMonth accepts exactly what monthPath
// writes, and that the calendar's neighbours of an accepted month parse too
// unless they leave the year range.
func FuzzParseMonth(f *testing.F) {
	for _, s := range []string{"2025/01", "-1/12", "0/01", "999999999/12", "-999999999/01", "2025/13", "+1/01", "1/1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		y, m, ok := parseMonth(s)
		if !ok {
			return
		}
		if got := monthPath(y, m); got != s {
			t.Fatalf("monthPath(parseMonth(%q)) = %q", s, got)
		}
		if m < 1 || m > 12 {
			t.Fatalf("parseMonth(%q) month %d", s, m)
		}
		for _, d := range []int{-1, 1, -12, 12} {
			ny, nm := addMonths(y, m, d)
			if py, pm := addMonths(ny, nm, -d); py != y || pm != m {
				t.Fatalf("addMonths(addMonths(%d, %d, %d), %d) = %d, %d", y, m, d, -d, py, pm)
			}
			if ny > -1e9 && ny < 1e9 {
				if _, _, ok := parseMonth(monthPath(ny, nm)); !ok {
					t.Fatalf("neighbour %q of %q does not parse", monthPath(ny, nm), s)
				}
			}
		}
	})
}
