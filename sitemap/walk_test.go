package sitemap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// httpGetter fetches through client and fails on a non-200 status, as the crawler's
// Getter does.
func httpGetter(client *http.Client) Getter {
	return func(ctx context.Context, u string) (io.ReadCloser, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			_ = resp.Body.Close()
			return nil, fmt.Errorf("get %s: status %d", u, resp.StatusCode)
		}
		return resp.Body, nil
	}
}

// site serves files by path and counts requests per path.
type site struct {
	mu    sync.Mutex // guards hits
	hits  map[string]int
	files map[string]string // "" body: 500
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	s.mu.Unlock()
	body, ok := s.files[r.URL.Path]
	switch {
	case !ok:
		http.NotFound(w, r)
	case body == "":
		http.Error(w, "boom", http.StatusInternalServerError)
	default:
		_, _ = io.WriteString(w, body)
	}
}

func (s *site) hit(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func newSite(t *testing.T, files map[string]string) (*site, *httptest.Server) {
	t.Helper()
	s := &site{hits: map[string]int{}, files: files}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func sitemapIndex(locs ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">`)
	for _, l := range locs {
		fmt.Fprintf(&b, "<sitemap><loc>%s</loc></sitemap>\n", l)
	}
	b.WriteString("</sitemapindex>")
	return b.String()
}

func urlsetOf(locs ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">`)
	for _, l := range locs {
		fmt.Fprintf(&b, "<url><loc>%s</loc><lastmod>2024-01-02</lastmod></url>\n", l)
	}
	b.WriteString("</urlset>")
	return b.String()
}

func TestWalkHTTP(t *testing.T) {
	other, otherSrv := newSite(t, map[string]string{
		"/other.xml": urlsetOf(otherSrvPlaceholder + "/x"),
	})
	files := map[string]string{}
	a, srv := newSite(t, files)
	A, B := srv.URL, otherSrv.URL
	files["/sitemap_index.xml"] = sitemapIndex(
		A+"/pages-1.xml",
		A+"/pages-2.xml.gz",
		A+"/broken.xml",
		B+"/other.xml",                              // cross-host
		A+"/pages-1.xml",                            // listed twice
		A+"/pages-1.xml#fragment",                   // the same sitemap
		A+"/nested-index.xml",                       // depth 1
		A+"/truncated.xml",                          // delivers one entry, then fails
		strings.ToUpper(A[:7])+A[7:]+"/missing.xml", // HTTP:// scheme, 404
	)
	files["/pages-1.xml"] = urlsetOf(A+"/p1", A+"/p2", B+"/offhost", "/relative")
	files["/pages-2.xml.gz"] = string(gzipped(t, urlsetOf(A+"/gz1", A+"/gz2")))
	files["/broken.xml"] = "" // 500
	files["/nested-index.xml"] = sitemapIndex(A + "/deep-index.xml")
	files["/deep-index.xml"] = sitemapIndex(A+"/too-deep.xml", A+"/pages-1.xml") // depth 2: not followed
	files["/too-deep.xml"] = urlsetOf(A + "/never")
	files["/truncated.xml"] = `<urlset><url><loc>` + A + `/t1</loc></url><url><loc>` + A + `/t2`
	files["/pages.txt"] = A + "/text1\n" + A + "/text2\n" + B + "/text-offhost\n"

	var got []string
	st, err := Walk(t.Context(), httpGetter(srv.Client()), []string{A + "/sitemap_index.xml", A + "/pages.txt", "not a url"}, WalkLimits{}, func(e Entry) error {
		if e.Kind == Index {
			t.Errorf("delivered %+v", e)
		}
		got = append(got, strings.TrimPrefix(e.Loc, A))
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	want := []string{"/text1", "/text2", "/p1", "/p2", "/gz1", "/gz2", "/t1"}
	if !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
	wantSt := WalkStats{
		Fetched:    9, // index, pages.txt, pages-1, pages-2, broken, nested-index, truncated, missing, deep-index
		Indexes:    3,
		URLs:       7,
		Skipped:    1, // /relative
		OffHost:    2, // B/offhost, B/text-offhost
		CrossHost:  1, // B/other.xml
		Duplicates: 2, // pages-1.xml again, with a fragment
		TooDeep:    2, // the children of deep-index.xml
		Failed:     4, // "not a url", broken.xml, truncated.xml, missing.xml
	}
	gotSt := st
	gotSt.Errors = nil
	if fmt.Sprintf("%+v", gotSt) != fmt.Sprintf("%+v", wantSt) {
		t.Errorf("WalkStats =\n%+v, want\n%+v", gotSt, wantSt)
	}
	var failed []string
	for _, e := range st.Errors {
		failed = append(failed, strings.TrimPrefix(e.URL, A))
		if e.Err == nil || !strings.Contains(e.Error(), e.URL) {
			t.Errorf("SitemapError %q: Error() = %q", e.URL, e.Error())
		}
	}
	if want := []string{"not a url", "/broken.xml", "/truncated.xml", "/missing.xml"}; !slices.Equal(failed, want) {
		t.Errorf("Errors for %q, want %q", failed, want)
	}
	for path, want := range map[string]int{"/pages-1.xml": 1, "/too-deep.xml": 0, "/deep-index.xml": 1, "/broken.xml": 1, "/pages-2.xml.gz": 1} {
		if n := a.hit(path); n != want {
			t.Errorf("%s fetched %d times, want %d", path, n, want)
		}
	}
	if n := other.hit("/other.xml"); n != 0 {
		t.Errorf("cross-host child fetched %d times, want 0", n)
	}
}

// otherSrvPlaceholder stands for a host in a file never fetched.
const otherSrvPlaceholder = "http://other.invalid"

// memGetter serves files from a map and records the order of requests.
type memGetter struct {
	files map[string]string
	got   []string
}

func (m *memGetter) get(_ context.Context, u string) (io.ReadCloser, error) {
	m.got = append(m.got, u)
	body, ok := m.files[u]
	if !ok {
		return nil, fmt.Errorf("get %s: status 404", u)
	}
	return io.NopCloser(strings.NewReader(body)), nil
}

func TestWalkCaps(t *testing.T) {
	files := map[string]string{
		"http://a.test/index.xml": sitemapIndex("http://a.test/1.xml", "http://a.test/2.xml", "http://a.test/3.xml"),
		"http://a.test/1.xml":     urlsetOf("http://a.test/p1", "http://a.test/p2"),
		"http://a.test/2.xml":     urlsetOf("http://a.test/p3", "http://a.test/p4"),
		"http://a.test/3.xml":     urlsetOf("http://a.test/p5"),
	}
	roots := []string{"http://a.test/index.xml"}
	t.Run("MaxSitemaps", func(t *testing.T) {
		m := &memGetter{files: files}
		n := 0
		st, err := Walk(t.Context(), m.get, roots, WalkLimits{MaxSitemaps: 3}, func(Entry) error { n++; return nil })
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("Walk error = %v, want ErrTooLarge", err)
		}
		if st.Fetched != 3 || st.Unfetched != 1 || n != 4 || len(m.got) != 3 {
			t.Errorf("WalkStats %+v, %d pages, %d gets; want 3 fetched, 1 unfetched, 4 pages", st, n, len(m.got))
		}
	})
	t.Run("MaxURLs", func(t *testing.T) {
		m := &memGetter{files: files}
		var got []string
		st, err := Walk(t.Context(), m.get, roots, WalkLimits{MaxURLs: 3}, func(e Entry) error { got = append(got, e.Loc); return nil })
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("Walk error = %v, want ErrTooLarge", err)
		}
		if st.URLs != 3 || len(got) != 3 || got[2] != "http://a.test/p3" || len(m.got) != 3 {
			t.Errorf("WalkStats %+v, pages %q, gets %q; want the first 3 pages and no more fetches", st, got, m.got)
		}
	})
	t.Run("MaxURLs exactly", func(t *testing.T) {
		m := &memGetter{files: files}
		st, err := Walk(t.Context(), m.get, roots, WalkLimits{MaxURLs: 5}, func(Entry) error { return nil })
		if err != nil || st.URLs != 5 {
			t.Errorf("Walk = %+v, %v; want 5 pages and no error", st, err)
		}
	})
	t.Run("MaxErrors", func(t *testing.T) {
		m := &memGetter{files: map[string]string{}}
		st, err := Walk(t.Context(), m.get, []string{"http://a.test/1", "http://a.test/2", "http://a.test/3"}, WalkLimits{MaxErrors: 2}, func(Entry) error { return nil })
		if err != nil || st.Failed != 3 || len(st.Errors) != 2 {
			t.Errorf("Walk = %+v, %v; want 3 failed, 2 errors kept", st, err)
		}
	})
	t.Run("file limits apply", func(t *testing.T) {
		m := &memGetter{files: files}
		st, err := Walk(t.Context(), m.get, roots, WalkLimits{File: Limits{MaxURLs: 1}}, func(Entry) error { return nil })
		// The index stops after its first child, which stops after its first page.
		if err != nil || st.Fetched != 2 || st.URLs != 1 || st.Failed != 2 {
			t.Errorf("Walk = %+v, %v; want 2 fetched, 1 page, 2 failed", st, err)
		}
		for _, e := range st.Errors {
			if !errors.Is(e, ErrTooLarge) {
				t.Errorf("SitemapError %v does not wrap ErrTooLarge", e)
			}
		}
	})
	t.Run("negative", func(t *testing.T) {
		if _, err := Walk(t.Context(), (&memGetter{}).get, roots, WalkLimits{MaxURLs: -1}, nil); err == nil {
			t.Errorf("Walk with a negative limit: nil error")
		}
	})
}

func TestWalkStops(t *testing.T) {
	files := map[string]string{
		"http://a.test/1.xml": urlsetOf("http://a.test/p1", "http://a.test/p2"),
		"http://a.test/2.xml": urlsetOf("http://a.test/p3"),
	}
	roots := []string{"http://a.test/1.xml", "http://a.test/2.xml"}
	t.Run("callback error", func(t *testing.T) {
		stop := errors.New("stop")
		m := &memGetter{files: files}
		st, err := Walk(t.Context(), m.get, roots, WalkLimits{}, func(Entry) error { return stop })
		if err != stop || st.URLs != 1 || len(m.got) != 1 {
			t.Errorf("Walk = %+v, %v, gets %q; want the callback's error after 1 page, 1 get", st, err, m.got)
		}
	})
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		m := &memGetter{files: files}
		st, err := Walk(ctx, m.get, roots, WalkLimits{}, func(Entry) error { cancel(); return nil })
		if !errors.Is(err, context.Canceled) || len(m.got) != 1 || st.Failed != 0 {
			t.Errorf("Walk = %+v, %v, gets %q; want context.Canceled after 1 get", st, err, m.got)
		}
	})
	t.Run("host rules", func(t *testing.T) {
		m := &memGetter{files: map[string]string{
			"https://a.test/i.xml":        sitemapIndex("http://A.test:80/c.xml", "https://a.test:8443/c.xml", "https://sub.a.test/c.xml"),
			"http://a.test:80/c.xml":      urlsetOf("https://a.test./p", "http://a.test:8080/p", "https://b.test/p"),
			"https://a.test:8443/c.xml":   "",
			"https://sub.a.test/c.xml":    "",
			"http://other.test/never.xml": "",
		}}
		st, err := Walk(t.Context(), m.get, []string{"https://a.test/i.xml"}, WalkLimits{}, func(Entry) error { return nil })
		if err != nil || st.URLs != 1 || st.CrossHost != 2 || st.OffHost != 2 {
			t.Errorf("Walk = %+v, %v; want 1 page, 2 cross-host children, 2 off-host pages", st, err)
		}
		if want := []string{"https://a.test/i.xml", "http://a.test:80/c.xml"}; !slices.Equal(m.got, want) {
			t.Errorf("gets %q, want %q", m.got, want)
		}
	})
}
