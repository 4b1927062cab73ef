package extract

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func TestExtractText(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"none", ``, ""},
		{"collapsed and trimmed", "<p>\n  Hello \t\r\n  world \f </p>", "Hello world"},
		{"blocks separate words", `<p>one</p><p>two</p><div>three<br>four</div><li>five</li>`, "one two three four five"},
		{"inline tags do not", `<p>in<b>line</b> <a href="/x">li</a>nk<span>s</span></p>`, "inline links"},
		{"entities decoded", `<p>Fish &amp; Chips&nbsp;&mdash; &#x41;</p>`, "Fish & Chips\u00a0— A"},
		{"hidden elements", `<title>T</title><script>var a = "<p>s</p>";</script><style>p{}</style>` +
			`<noscript>enable js</noscript><template><p>tpl <template>nested</template> still</p></template>` +
			`<iframe src="/f">frame text</iframe><noembed>ne</noembed><noframes>nf</noframes><p>shown</p>`, "shown"},
		{"comments", `a<!-- hidden -->b <!--x-->c`, "ab c"},
		{"textarea and xmp are shown", `<textarea>typed</textarea><xmp><b>x</b></xmp>`, "typed <b>x</b>"},
		{"second title is not text", `<title>a</title><title>b</title>c`, "c"},
		{"text after a template", `<template>t</template>after`, "after"},
		{"stray end template", `</template>after`, "after"},
		{"invalid UTF-8", "<p>a\xff\xfeb</p>", "a\uFFFDb"},
		{"head and body", `<html><head><meta charset=utf-8><title>t</title></head><body><h1>Head</h1><p>Para</p></body></html>`, "Head Para"},
	}
	e := New(Config{Text: true})
	off := New(Config{})
	page := mustParse(t, testPage)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := e.Extract([]byte(tc.body), page)
			if err != nil {
				t.Fatal(err)
			}
			if doc.Text != tc.want {
				t.Errorf("Extract(%q).Text = %q, want %q", tc.body, doc.Text, tc.want)
			}
			if doc, _ := off.Extract([]byte(tc.body), page); doc.Text != "" {
				t.Errorf("Extract(%q).Text without Config.Text = %q, want \"\"", tc.body, doc.Text)
			}
		})
	}
}

func TestExtractTextCapped(t *testing.T) {
	page := mustParse(t, testPage)
	body := "<p>" + strings.Repeat("ab ", 100) + "é</p>"
	for _, tc := range []struct {
		max  int
		want string
	}{
		{3, "ab"}, // cut before a trailing space
		{4, "ab a"},
		{5, "ab ab"},
		{299, strings.TrimSpace(strings.Repeat("ab ", 100))},
		{300, strings.Repeat("ab ", 100)[:299]}, // "é" does not fit
		{301, strings.Repeat("ab ", 100)[:299]},
		{302, strings.Repeat("ab ", 100) + "é"},
	} {
		doc, _ := New(Config{Text: true, MaxText: tc.max}).Extract([]byte(body), page)
		if doc.Text != tc.want || len(doc.Text) > tc.max {
			t.Errorf("MaxText %d: Text = %q, want %q", tc.max, doc.Text, tc.want)
		}
	}
	doc, _ := New(Config{Text: true}).Extract([]byte("<p>"+strings.Repeat("x", 100<<10)), page)
	if len(doc.Text) != 64<<10 {
		t.Errorf("default MaxText: %d bytes, want 64 KiB", len(doc.Text))
	}
}

func TestExtractMetaRefresh(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"url", `<meta http-equiv="refresh" content="5; url=/next">`, []string{"meta-refresh false https://example.com/next"}},
		{"case and quotes", `<META HTTP-EQUIV="Refresh" CONTENT="0;URL='other.html'">`, []string{"meta-refresh false https://example.com/dir/other.html"}},
		{"comma and spaces", `<meta http-equiv=refresh content="1 , url = &quot;/q?a=1&quot; trailing">`, []string{"meta-refresh false https://example.com/q?a=1"}},
		{"no url keyword", `<meta http-equiv=refresh content="0; /plain">`, []string{"meta-refresh false https://example.com/plain"}},
		{"fractional time", `<meta http-equiv=refresh content=".5; url=/f">`, []string{"meta-refresh false https://example.com/f"}},
		{"time only reloads", `<meta http-equiv=refresh content="30">`, nil},
		{"no time", `<meta http-equiv=refresh content="url=/x">`, nil},
		{"bad separator", `<meta http-equiv=refresh content="5x; url=/x">`, nil},
		{"javascript", `<meta http-equiv=refresh content="0; url=javascript:alert(1)">`, nil},
		{"other http-equiv", `<meta http-equiv="content-type" content="0; url=/x">`, nil},
		{"page nofollow applies", `<meta name=robots content=nofollow><meta http-equiv=refresh content="0;url=/n">`, []string{"meta-refresh true https://example.com/n"}},
		{"resolved against base", `<base href="/b/"><meta http-equiv=refresh content="0;url=x#frag">`, []string{"meta-refresh false https://example.com/b/x"}},
	}
	e := New(Config{})
	page := mustParse(t, testPage)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := e.Extract([]byte(tc.body), page)
			if err != nil {
				t.Fatal(err)
			}
			if got := linkLines(doc.Links); !slices.Equal(got, tc.want) {
				t.Errorf("Extract(%q) links = %q, want %q", tc.body, got, tc.want)
			}
			sameAsGoquery(t, []byte(tc.body), page, Config{}, doc)
		})
	}
}

func TestExtractCharset(t *testing.T) {
	page := mustParse(t, "http://example.com/dir/")
	tests := []struct {
		name, contentType, body  string
		wantCharset, title, link string
		text                     string
	}{
		{"latin1 by header", "text/html; charset=ISO-8859-1", "<title>Caf\xe9</title><a href=\"/caf\xe9\">x</a><p>cr\xe8me br\xfbl\xe9e</p>",
			"windows-1252", "Café", "http://example.com/caf%C3%A9", "x crème brûlée"},
		{"windows-1251 by meta charset", "text/html", "<meta charset=\"windows-1251\"><title>\xcf\xf0\xe8\xe2\xe5\xf2</title><a href=\"/\xe4\xe0\">x</a>",
			"windows-1251", "Привет", "http://example.com/%D0%B4%D0%B0", "x"},
		{"shift_jis by meta http-equiv", "", "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\"><title>\x93\xfa\x96\x7b</title><a href=\"/\x93\xfa\">x</a>",
			"shift_jis", "日本", "http://example.com/%E6%97%A5", "x"},
		{"header beats meta", "text/html; charset=utf-8", "<meta charset=\"windows-1251\"><title>Caf\xc3\xa9</title>",
			"utf-8", "Café", "", ""},
		{"utf-8 BOM beats header", "text/html; charset=windows-1252", "\xef\xbb\xbf<title>Caf\xc3\xa9</title>x",
			"utf-8", "Café", "", "x"},
		{"utf-16le BOM", "", "\xff\xfe<\x00t\x00i\x00t\x00l\x00e\x00>\x00h\x00i\x00<\x00/\x00t\x00i\x00t\x00l\x00e\x00>\x00",
			"utf-16le", "hi", "", ""},
		{"undeclared utf-8 after 1024 ASCII bytes", "", "<!--" + strings.Repeat("x", 1100) + "--><title>Caf\xc3\xa9</title>",
			"utf-8", "Café", "", ""},
		{"undeclared latin1", "", "<title>Caf\xe9</title>", "windows-1252", "Café", "", ""},
		{"invalid utf-8 declared utf-8", "text/html; charset=utf-8", "<title>Caf\xe9</title><a href=\"/caf\xe9\">x</a>",
			"utf-8", "Caf\uFFFD", "http://example.com/caf%E9", "x"},
		{"unknown header charset falls to meta", "text/html; charset=bogus", "<meta charset=koi8-r><title>\xf0\xd2\xc9</title>",
			"koi8-r", "При", "", ""},
	}
	e := New(Config{Text: true})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := e.ExtractCharset([]byte(tc.body), page, tc.contentType)
			if err != nil {
				t.Fatal(err)
			}
			if doc.Charset != tc.wantCharset || doc.Title != tc.title {
				t.Errorf("Charset, Title = %q, %q; want %q, %q", doc.Charset, doc.Title, tc.wantCharset, tc.title)
			}
			if tc.link != "" && (len(doc.Links) != 1 || doc.Links[0].URL.String() != tc.link) {
				t.Errorf("Links = %q, want %s", linkLines(doc.Links), tc.link)
			}
			if doc.Text != tc.text {
				t.Errorf("Text = %q, want %q", doc.Text, tc.text)
			}
		})
	}
	if _, err := e.ExtractCharset(nil, nil, ""); err == nil {
		t.Errorf("ExtractCharset with a nil page URL: no error")
	}
	if doc, _ := e.Extract([]byte("<title>x</title>"), page); doc.Charset != "utf-8" {
		t.Errorf("Extract: Charset %q, want utf-8", doc.Charset)
	}
}

func TestExtractCharsetBounded(t *testing.T) {
	// Every byte of a legacy encoding decodes to at most 3 bytes of UTF-8.
	body := []byte("<meta charset=windows-1252><p>" + strings.Repeat("\x80\xff", 10000))
	doc, err := New(Config{Text: true, MaxText: 1 << 20}).ExtractCharset(body, mustParse(t, testPage), "")
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.ValidString(doc.Text) || len(doc.Text) > 4*len(body) || !strings.HasPrefix(doc.Text, "€ÿ€ÿ") {
		t.Errorf("Text: %d bytes from %d, valid %v, starts %q", len(doc.Text), len(body), utf8.ValidString(doc.Text), doc.Text[:min(len(doc.Text), 12)])
	}
}

func TestRefreshURL(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"5; url=/next", "/next", true},
		{"5;URL=/next", "/next", true},
		{"  0 ;  url  =  '/q'x", "/q", true},
		{`0, "/dq"`, "/dq", true},
		{"0 /sp", "/sp", true},
		{"0; u", "u", true},
		{"0; uri=/x", "uri=/x", true},
		{"0; url /x", "url /x", true},
		{"0;", "", false},
		{"0", "", false},
		{"", "", false},
		{"x", "", false},
		{"1.5.5; url=/v", "/v", true},
		{"0; url='unclosed", "unclosed", true},
	}
	for _, tt := range tests {
		got, ok := refreshURL([]byte(tt.in))
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("refreshURL(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		ref, refOK := refRefresh(tt.in)
		if ref != string(got) || refOK != ok {
			t.Errorf("refRefresh(%q) = %q, %v; refreshURL %q, %v", tt.in, ref, refOK, got, ok)
		}
	}
}

// headerString renders a HeaderInfo for comparison.
func headerString(h *HeaderInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "canonical %v noindex %t nofollow %t capped %t\n", h.Canonical, h.NoIndex, h.NoFollow, h.LinksCapped)
	for _, l := range linkLines(h.Links) {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func TestHeaderLinks(t *testing.T) {
	const none = "canonical <nil> noindex false nofollow false capped false\n"
	tests := []struct {
		name   string
		status int
		h      http.Header
		want   string
	}{
		{"nothing", 200, http.Header{}, none},
		{"canonical", 200, http.Header{"Link": {`<https://example.com/c#f>; rel="canonical"`}},
			"canonical https://example.com/c noindex false nofollow false capped false\n"},
		{"first canonical wins, relative resolved", 200, http.Header{"Link": {`</one>; rel=canonical, </two>; rel=canonical`}},
			"canonical https://example.com/one noindex false nofollow false capped false\n"},
		{"page rels are links", 200, http.Header{"Link": {
			`</p2>; rel="next", </p0>; rel="prev"; title="back, here", <https://example.com/fr>; rel="alternate"; hreflang=fr`,
			`</s.css>; rel=stylesheet, </f.woff>; rel=preload; as=font, <https://cdn.example/>; rel=preconnect`,
			`</multi>; rel="Canonical   NEXT"`,
		}}, "canonical https://example.com/multi noindex false nofollow false capped false\n" +
			"link-header false https://example.com/p2\nlink-header false https://example.com/p0\n" +
			"link-header false https://example.com/fr\nlink-header false https://example.com/multi\n"},
		{"anchor is another resource", 200, http.Header{"Link": {`</x>; rel=next; anchor="/other"`}}, none},
		{"only the first rel counts", 200, http.Header{"Link": {`</x>; rel=stylesheet; rel=next`}}, none},
		{"garbage skipped, the rest kept", 200, http.Header{"Link": {
			`garbage, <javascript:x>; rel=next, </ok>; rel=next, </bad>; rel next, </unclosed; rel=next`,
			`</q>; rel="next"; title="a, <b>", </esc>; rel="ne\"xt"; x="\\", </after>; rel=next`,
		}}, none[:0] + "canonical <nil> noindex false nofollow false capped false\n" +
			"link-header false https://example.com/ok\nlink-header false https://example.com/q\nlink-header false https://example.com/after\n"},
		{"refresh header", 200, http.Header{"Refresh": {"0; url=/moved"}},
			none + "refresh-header false https://example.com/moved\n"},
		{"refresh without url", 200, http.Header{"Refresh": {"10"}}, none},
		{"location on 201", 201, http.Header{"Location": {"/created/1"}},
			none + "location-header false https://example.com/created/1\n"},
		{"location on 3xx is a redirect", 301, http.Header{"Location": {"/moved"}}, none},
		{"x-robots-tag for all", 200, http.Header{"X-Robots-Tag": {"noindex"}, "Location": {"/l"}},
			"canonical <nil> noindex true nofollow false capped false\nlocation-header false https://example.com/l\n"},
		{"x-robots-tag none marks links nofollow", 200, http.Header{"X-Robots-Tag": {"NONE"}, "Link": {"</n>; rel=next"}},
			"canonical <nil> noindex true nofollow true capped false\nlink-header true https://example.com/n\n"},
		{"x-robots-tag for another agent", 200, http.Header{"X-Robots-Tag": {"googlebot: noindex, nofollow"}}, none},
		{"x-robots-tag for our agent", 200, http.Header{"X-Robots-Tag": {"otherbot: noindex", "Trawl: nofollow"}},
			"canonical <nil> noindex false nofollow true capped false\n"},
		{"agent scope switches within a line", 200, http.Header{"X-Robots-Tag": {"noarchive, googlebot: noindex, trawl: nofollow, otherbot: none"}},
			"canonical <nil> noindex false nofollow true capped false\n"},
		{"unavailable_after is not an agent", 200, http.Header{"X-Robots-Tag": {"unavailable_after: Friday, 25-Jun-10 15:00:00 PST, noindex"}},
			"canonical <nil> noindex true nofollow false capped false\n"},
		{"x-robots-tag garbage", 200, http.Header{"X-Robots-Tag": {":::, , no index, nofollowx, : noindex"}}, none},
	}
	e := New(Config{})
	base := mustParse(t, "https://example.com/dir/page")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := e.HeaderLinks(tc.h, tc.status, base)
			if err != nil {
				t.Fatal(err)
			}
			if got := headerString(info); got != tc.want {
				t.Errorf("HeaderLinks(%v) =\n%s\nwant:\n%s", tc.h, got, tc.want)
			}
		})
	}
	if _, err := e.HeaderLinks(http.Header{}, 200, &url.URL{Path: "/rel"}); err == nil {
		t.Errorf("HeaderLinks with a relative base: no error")
	}
}

func TestHeaderLinksCapped(t *testing.T) {
	h := http.Header{"Link": {strings.Repeat("</x>; rel=next, ", 10)}}
	info, err := New(Config{MaxLinks: 3}).HeaderLinks(h, 200, mustParse(t, testPage))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Links) != 3 || !info.LinksCapped {
		t.Errorf("%d links, capped %v; want 3, true", len(info.Links), info.LinksCapped)
	}
}

func FuzzHeaderLinks(f *testing.F) {
	f.Add(`</p2>; rel="next", <https://a.example/c>; rel=canonical`, "0; url=/r", "/loc", "noindex, trawl: nofollow", 201)
	f.Add(`<x>; rel="a\"b", <y>;;rel=next,,<z>; anchor=#; rel=prev`, "5", "//h/x", "googlebot: none", 200)
	f.Add(`<//[::1]:80/x>; rel=alternate, <http://u:p@h:8080/p?q#f>; rel=next`, "0;URL='/q", "javascript:x", ":", 302)
	f.Add("<\x00>; rel=next, <%zz>; rel=next", "\x00", "\t/a\n", "unavailable_after: x, none", 299)
	base := mustParse(f, "https://example.com/dir/page?x=1#frag")
	e := New(Config{MaxLinks: 8})
	f.Fuzz(func(t *testing.T, link, refresh, location, robots string, status int) {
		h := http.Header{"Link": {link}, "Refresh": {refresh}, "Location": {location}, "X-Robots-Tag": {robots}}
		info, err := e.HeaderLinks(h, status, base)
		if err != nil {
			t.Fatalf("HeaderLinks error: %v", err)
		}
		if base.String() != "https://example.com/dir/page?x=1#frag" {
			t.Fatalf("base URL modified: %v", base)
		}
		if len(info.Links) > 8 || info.LinksCapped && len(info.Links) != 8 {
			t.Errorf("%d links, capped %v, MaxLinks 8", len(info.Links), info.LinksCapped)
		}
		check := func(what string, u *url.URL) {
			if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Fragment != "" || u.Opaque != "" {
				t.Errorf("%s %q: want absolute http(s) with a host and no fragment", what, u)
			}
			if v, err := url.Parse(u.String()); err != nil || v.String() != u.String() {
				t.Errorf("%s %q does not round-trip: %v, %v", what, u, v, err)
			}
		}
		if info.Canonical != nil {
			check("Canonical", info.Canonical)
		}
		var again []string
		for _, l := range info.Links {
			check("link", l.URL)
			if l.Nofollow != info.NoFollow {
				t.Errorf("link %v Nofollow %v, page NoFollow %v", l.URL, l.Nofollow, info.NoFollow)
			}
			switch l.Tag {
			case "link-header":
				again = append(again, "<"+l.URL.String()+">; rel=next")
			case "refresh-header", "location-header":
			default:
				t.Errorf("link %v has tag %q", l.URL, l.Tag)
			}
			if l.Tag == "location-header" && (status < 200 || status > 299) {
				t.Errorf("Location %v taken on status %d", l.URL, status)
			}
		}
		// The Link links, written back as a well-formed header, read back the same.
		if len(again) > 0 {
			back, err := e.HeaderLinks(http.Header{"Link": {strings.Join(again, ", ")}}, 200, base)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range back.Links {
				got = append(got, "<"+l.URL.String()+">; rel=next")
			}
			if !slices.Equal(got, again) {
				t.Errorf("Link links do not round-trip:\n%q\nread back as\n%q", again, got)
			}
		}
	})
}

// recorder is a TextHasher that keeps what it is given: pieces as they
// come, "|" for a break.
type recorder struct{ b []byte }

func (r *recorder) Write(p []byte) (int, error) { r.b = append(r.b, p...); return len(p), nil }
func (r *recorder) Break()                      { r.b = append(r.b, '|') }
func (r *recorder) Sum64() uint64               { return uint64(len(strings.ReplaceAll(string(r.b), "|", ""))) }
func (r *recorder) Reset()                      { r.b = r.b[:0] }

// TestExtractTextHasher: the hasher gets the visible text nodes raw, a
// break at every tag, nothing from <title>, <script> or <style>, at most
// MaxText bytes, and starts empty on every page.
func TestExtractTextHasher(t *testing.T) {
	page := mustParse(t, "http://example.com/")
	var mu sync.Mutex
	var last *recorder
	e := New(Config{NewTextHasher: func() TextHasher {
		mu.Lock()
		defer mu.Unlock()
		last = &recorder{}
		return last
	}})
	doc, err := e.Extract([]byte(`<title>T</title><p>one <b>two</b> &amp; three</p><script>no()</script><style>p{}</style><p>four</p>`), page)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Trim(strings.ReplaceAll(string(last.b), "||", "|"), "|")
	for strings.Contains(got, "||") {
		got = strings.ReplaceAll(got, "||", "|")
	}
	if want := "one |two| &amp; three|four"; got != want {
		t.Errorf("hasher got %q, want %q", got, want)
	}
	if doc.TextHash != uint64(len("one two &amp; threefour")) || doc.Text != "" {
		t.Errorf("TextHash = %d, Text %q", doc.TextHash, doc.Text)
	}
	doc, err = e.Extract([]byte(`<p>five</p>`), page)
	if err != nil {
		t.Fatal(err)
	}
	if doc.TextHash != 4 {
		t.Errorf("second page TextHash = %d, want 4: the hasher was not reset", doc.TextHash)
	}
	capped := New(Config{MaxText: 5, NewTextHasher: func() TextHasher { return &recorder{} }})
	if doc, _ := capped.Extract([]byte(`<p>abc</p><p>defghij</p>`), page); doc.TextHash != 5 {
		t.Errorf("MaxText 5: %d bytes hashed", doc.TextHash)
	}
	if doc, _ := New(Config{}).Extract([]byte(`<p>abc</p>`), page); doc.TextHash != 0 {
		t.Errorf("no hasher: TextHash = %d", doc.TextHash)
	}
}
