package testserver

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// condGet sends method to rawURL with the given request headers and returns
// the whole response.
func condGet(t *testing.T, c *http.Client, method, rawURL string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", rawURL, err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

// TestValidatorsOffByDefault: without Validators, pages carry no validators
// and preconditions are ignored, so existing sites and benchmarks are as
// they were.
func TestValidatorsOffByDefault(t *testing.T) {
	s := start(t, SiteConfig{Pages: 5})
	c := noRedirects()
	for _, u := range []string{s.PageURL(1), s.Seeds()[0]} {
		r := condGet(t, c, http.MethodGet, u, map[string]string{"If-None-Match": "*", "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
		if r.status != http.StatusOK || r.body == "" {
			t.Errorf("GET %s with preconditions = %d, %d bytes; want 200 with a body", u, r.status, len(r.body))
		}
		if et, lm := r.header.Get("ETag"), r.header.Get("Last-Modified"); et != "" || lm != "" {
			t.Errorf("GET %s: ETag %q Last-Modified %q, want neither", u, et, lm)
		}
	}
	if s.NotModified() != 0 {
		t.Errorf("NotModified = %d, want 0", s.NotModified())
	}
}

// TestPreconditions checks RFC 9110 §13.2.2: If-None-Match (weak comparison,
// lists, "*") decides when present; otherwise If-Modified-Since does, and an
// invalid date is ignored.
func TestPreconditions(t *testing.T) {
	s := start(t, SiteConfig{Pages: 20, Validators: true, Seed: 3})
	c := noRedirects()
	for _, target := range []struct{ name, url string }{{"page", s.PageURL(7)}, {"root", s.Seeds()[0]}} {
		base := condGet(t, c, http.MethodGet, target.url, nil)
		etag, lmText := base.header.Get("ETag"), base.header.Get("Last-Modified")
		if base.status != http.StatusOK || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 3 {
			t.Fatalf("%s: status %d, ETag %q; want 200 and a strong quoted tag", target.name, base.status, etag)
		}
		lm, err := http.ParseTime(lmText)
		if err != nil {
			t.Fatalf("%s: Last-Modified %q: %v", target.name, lmText, err)
		}
		date := func(d time.Duration) string { return lm.Add(d).Format(http.TimeFormat) }
		tests := []struct {
			name   string
			method string
			header map[string]string
			want   int
		}{
			{"none", http.MethodGet, nil, 200},
			{"etag", http.MethodGet, map[string]string{"If-None-Match": etag}, 304},
			{"weak etag", http.MethodGet, map[string]string{"If-None-Match": "W/" + etag}, 304},
			{"list", http.MethodGet, map[string]string{"If-None-Match": `"nope", ` + etag + ` ,"x"`}, 304},
			{"star", http.MethodGet, map[string]string{"If-None-Match": "*"}, 304},
			{"other etag", http.MethodGet, map[string]string{"If-None-Match": `"nope"`}, 200},
			{"unquoted etag", http.MethodGet, map[string]string{"If-None-Match": strings.Trim(etag, `"`)}, 200},
			{"etag wins over old date", http.MethodGet, map[string]string{"If-None-Match": etag, "If-Modified-Since": date(-time.Hour)}, 304},
			{"other etag wins over new date", http.MethodGet, map[string]string{"If-None-Match": `"nope"`, "If-Modified-Since": date(time.Hour)}, 200},
			{"date equal", http.MethodGet, map[string]string{"If-Modified-Since": date(0)}, 304},
			{"date later", http.MethodGet, map[string]string{"If-Modified-Since": date(time.Hour)}, 304},
			{"date earlier", http.MethodGet, map[string]string{"If-Modified-Since": date(-time.Second)}, 200},
			{"date invalid", http.MethodGet, map[string]string{"If-Modified-Since": "yesterday"}, 200},
			{"head etag", http.MethodHead, map[string]string{"If-None-Match": etag}, 304},
		}
		for _, tt := range tests {
			t.Run(target.name+"/"+tt.name, func(t *testing.T) {
				before := s.NotModified()
				r := condGet(t, c, tt.method, target.url, tt.header)
				if r.status != tt.want {
					t.Fatalf("%s %v = %d, want %d", tt.method, tt.header, r.status, tt.want)
				}
				if r.header.Get("ETag") != etag || r.header.Get("Last-Modified") != lmText {
					t.Errorf("validators = %q %q, want %q %q", r.header.Get("ETag"), r.header.Get("Last-Modified"), etag, lmText)
				}
				wantBody, wantCount := base.body, before
				if tt.want == 304 {
					wantBody, wantCount = "", before+1
				}
				if tt.method == http.MethodHead {
					wantBody = ""
				}
				if r.body != wantBody {
					t.Errorf("body %d bytes, want %d", len(r.body), len(wantBody))
				}
				if got := s.NotModified(); got != wantCount {
					t.Errorf("NotModified = %d, want %d", got, wantCount)
				}
			})
		}
	}
	var n304 int
	for _, r := range s.Requests() {
		if r.Status == http.StatusNotModified {
			n304++
		}
	}
	if n304 != s.NotModified() {
		t.Errorf("request log has %d 304s, NotModified = %d", n304, s.NotModified())
	}
}

// TestValidatorsDistinctAndDeterministic: every page and root has its own
// ETag and Last-Modified, the same for the same config and seed.
func TestValidatorsDistinctAndDeterministic(t *testing.T) {
	cfg := SiteConfig{Hosts: 3, Pages: 60, Validators: true, Seed: 5}
	a, b := start(t, cfg), start(t, cfg)
	cfg.Seed = 6
	other := start(t, cfg)
	c := noRedirects()
	validators := func(s *Site) (etags []string, dates []string) {
		urls := s.Seeds()
		for i := range cfg.Pages {
			urls = append(urls, s.PageURL(i))
		}
		for _, u := range urls {
			r := condGet(t, c, http.MethodGet, u, nil)
			etags = append(etags, r.header.Get("ETag"))
			dates = append(dates, r.header.Get("Last-Modified"))
		}
		return etags, dates
	}
	ea, da := validators(a)
	eb, db := validators(b)
	eo, _ := validators(other)
	seen := map[string]int{}
	for k := range ea {
		if ea[k] != eb[k] || da[k] != db[k] {
			t.Errorf("URL %d: %q %q on one site, %q %q on its twin", k, ea[k], da[k], eb[k], db[k])
		}
		if ea[k] == eo[k] {
			t.Errorf("URL %d: ETag %q also with another seed", k, ea[k])
		}
		if prev, dup := seen[ea[k]]; dup {
			t.Errorf("URLs %d and %d share ETag %q", prev, k, ea[k])
		}
		seen[ea[k]] = k
	}
}

// TestChange: a changed page gets a new ETag, a later Last-Modified and a new
// link to a page that did not exist before; its old validators no longer
// match; other pages are untouched; BodyBytes counts 200 bodies only.
func TestChange(t *testing.T) {
	s := start(t, SiteConfig{Hosts: 2, Pages: 30, Validators: true, Seed: 9})
	c := noRedirects()
	const changed, untouched = 5, 6
	old := condGet(t, c, http.MethodGet, s.PageURL(changed), nil)
	keep := condGet(t, c, http.MethodGet, s.PageURL(untouched), nil)
	wantBytes := int64(len(old.body) + len(keep.body))

	newPage := strings.Replace(s.PageURL(changed), "/p/5", "/changed/5/1", 1)
	if r := condGet(t, c, http.MethodGet, newPage, nil); r.status != http.StatusNotFound {
		t.Fatalf("GET %s before Change = %d, want 404", newPage, r.status)
	}
	if got := s.Change(changed); got != newPage {
		t.Fatalf("Change(%d) = %q, want %q", changed, got, newPage)
	}
	if s.Version(changed) != 1 || s.Version(untouched) != 0 {
		t.Errorf("versions = %d, %d; want 1, 0", s.Version(changed), s.Version(untouched))
	}

	r := condGet(t, c, http.MethodGet, s.PageURL(changed), map[string]string{
		"If-None-Match": old.header.Get("ETag"), "If-Modified-Since": old.header.Get("Last-Modified")})
	if r.status != http.StatusOK {
		t.Fatalf("changed page with its old validators = %d, want 200", r.status)
	}
	wantBytes += int64(len(r.body))
	if r.header.Get("ETag") == old.header.Get("ETag") {
		t.Errorf("ETag unchanged: %q", r.header.Get("ETag"))
	}
	oldLM, _ := http.ParseTime(old.header.Get("Last-Modified"))
	newLM, err := http.ParseTime(r.header.Get("Last-Modified"))
	if err != nil || !newLM.After(oldLM) {
		t.Errorf("Last-Modified %q, want later than %q", r.header.Get("Last-Modified"), old.header.Get("Last-Modified"))
	}
	if !strings.Contains(r.body, `<a href="/changed/5/1">`) || !strings.HasPrefix(r.body, old.body[:len(old.body)-len(htmlFooter)]) {
		t.Errorf("changed page does not keep its old content and add the new link:\n%s", r.body)
	}
	// If-Modified-Since alone with the old date: the page is newer now.
	if r := condGet(t, c, http.MethodGet, s.PageURL(changed), map[string]string{"If-Modified-Since": old.header.Get("Last-Modified")}); r.status != http.StatusOK {
		t.Errorf("changed page with its old date = %d, want 200", r.status)
	} else {
		wantBytes += int64(len(r.body))
	}
	// The new validators match.
	if r2 := condGet(t, c, http.MethodGet, s.PageURL(changed), map[string]string{"If-None-Match": r.header.Get("ETag")}); r2.status != http.StatusNotModified {
		t.Errorf("changed page with its new ETag = %d, want 304", r2.status)
	}
	// The untouched page still matches its old ETag.
	if r := condGet(t, c, http.MethodGet, s.PageURL(untouched), map[string]string{"If-None-Match": keep.header.Get("ETag")}); r.status != http.StatusNotModified {
		t.Errorf("untouched page with its ETag = %d, want 304", r.status)
	}

	np := condGet(t, c, http.MethodGet, newPage, nil)
	if np.status != http.StatusOK || !strings.Contains(np.body, "Changed 5 1") || np.header.Get("ETag") == "" {
		t.Fatalf("GET %s = %d (ETag %q):\n%s", newPage, np.status, np.header.Get("ETag"), np.body)
	}
	wantBytes += int64(len(np.body))
	if r := condGet(t, c, http.MethodGet, newPage, map[string]string{"If-None-Match": np.header.Get("ETag")}); r.status != http.StatusNotModified {
		t.Errorf("new page with its ETag = %d, want 304", r.status)
	}
	h0, h1 := s.Hosts()[0], s.Hosts()[1] // page 5 lives on host 1
	for _, u := range []string{h1 + "/changed/5/2", h0 + "/changed/5/1", h0 + "/changed/6/1", h1 + "/changed/7/1",
		h1 + "/changed/5/01", h1 + "/changed/5/0", h1 + "/changed/5", h1 + "/changed/35/1"} {
		if r := condGet(t, c, http.MethodGet, "http://"+u, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", u, r.status)
		}
	}

	// A second change adds the next page and moves the date again.
	if got := s.Change(changed); !strings.HasSuffix(got, "/changed/5/2") {
		t.Errorf("second Change = %q, want .../changed/5/2", got)
	}
	r3 := condGet(t, c, http.MethodGet, s.PageURL(changed), map[string]string{"If-None-Match": r.header.Get("ETag")})
	wantBytes += int64(len(r3.body))
	if lm3, _ := http.ParseTime(r3.header.Get("Last-Modified")); r3.status != http.StatusOK || !lm3.After(newLM) || !strings.Contains(r3.body, `href="/changed/5/2"`) {
		t.Errorf("after the second change: %d, Last-Modified %q", r3.status, r3.header.Get("Last-Modified"))
	}
	if got := s.BodyBytes(); got != wantBytes {
		t.Errorf("BodyBytes = %d, want %d", got, wantBytes)
	}
	if got := s.NotModified(); got != 3 {
		t.Errorf("NotModified = %d, want 3", got)
	}
}

// TestChangeOutOfRange: Change panics for a page that does not exist.
func TestChangeOutOfRange(t *testing.T) {
	s := start(t, SiteConfig{Pages: 3})
	for _, i := range []int{-1, 3} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Change(%d) did not panic", i)
				}
			}()
			s.Change(i)
		}()
	}
}

// TestParseChanged checks the accepted spelling of /changed/<i>/<v>.
func TestParseChanged(t *testing.T) {
	tests := []struct {
		path string
		i, v int
		ok   bool
	}{
		{"/changed/5/1", 5, 1, true},
		{"/changed/0/12", 0, 12, true},
		{"/changed/5/0", 0, 0, false},
		{"/changed/05/1", 0, 0, false},
		{"/changed/5/1/", 0, 0, false},
		{"/changed/-5/1", 0, 0, false},
		{"/changed/+5/1", 0, 0, false},
		{"/changed/5", 0, 0, false},
		{"/changed//1", 0, 0, false},
		{"/p/5", 0, 0, false},
	}
	for _, tt := range tests {
		i, v, ok := parseChanged(tt.path)
		if ok != tt.ok || (ok && (i != tt.i || v != tt.v)) {
			t.Errorf("parseChanged(%q) = %d, %d, %v; want %d, %d, %v", tt.path, i, v, ok, tt.i, tt.v, tt.ok)
		}
	}
}
