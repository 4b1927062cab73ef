package sitemap

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// collect parses s and returns the entries delivered.
func collect(t *testing.T, r io.Reader, lim Limits) ([]Entry, Stats, error) {
	t.Helper()
	var got []Entry
	st, err := Parse(r, lim, func(e Entry) error {
		got = append(got, e)
		return nil
	})
	if st.Entries != len(got) {
		t.Errorf("Stats.Entries = %d, delivered %d", st.Entries, len(got))
	}
	return got, st, err
}

func locs(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Loc
	}
	return out
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// realURLSet looks like what CMSs publish: namespaces, image, hreflang and news
// extensions, stylesheets, comments, CDATA, entities and a few bad entries.
const realURLSet = `<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="//example.com/sitemap.xsl"?>
<!-- generator: some CMS -->
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"
        xmlns:xhtml="http://www.w3.org/1999/xhtml"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        xsi:schemaLocation="http://www.sitemaps.org/schemas/sitemap/0.9 http://www.sitemaps.org/schemas/sitemap/0.9/sitemap.xsd">
  <url>
    <loc>https://example.com/</loc>
    <lastmod>2024-05-01T10:20:30+02:00</lastmod>
    <changefreq>daily</changefreq>
    <priority>1.0</priority>
    <xhtml:link rel="alternate" hreflang="de" href="https://example.com/de/"/>
  </url>
  <url>
    <image:image>
      <image:loc>https://cdn.example.net/photo.jpg</image:loc>
      <image:caption>A photo</image:caption>
    </image:image>
    <loc>
      https://example.com/gallery?id=1&amp;page=2
    </loc>
    <lastmod>2024-05-02</lastmod>
  </url>
  <url>
    <loc><![CDATA[https://example.com/cdata?a=1&b=2]]></loc>
    <lastmod>not a date</lastmod>
    <news:news>
      <news:publication><news:name>Example</news:name></news:publication>
      <news:title>Title with <loc> in it</news:title>
    </news:news>
  </url>
  <url><loc>/relative/path</loc></url>
  <url><loc>javascript:alert(1)</loc></url>
  <url><loc>ftp://example.com/file</loc></url>
  <url><lastmod>2024-01-01</lastmod></url>
  <url><loc>http://example.com/raw&ampersand</loc><lastmod>2024-05</lastmod></url>
  <url><loc>HTTPS://Example.COM/Case</loc><loc>https://example.com/second-loc</loc></url>
</urlset>
`

func TestParseURLSet(t *testing.T) {
	got, st, err := collect(t, strings.NewReader(realURLSet), Limits{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []Entry{
		{URLSet, "https://example.com/", utc("2024-05-01T08:20:30Z")},
		{URLSet, "https://example.com/gallery?id=1&page=2", utc("2024-05-02T00:00:00Z")},
		{URLSet, "https://example.com/cdata?a=1&b=2", time.Time{}},
		{URLSet, "http://example.com/raw&ampersand", utc("2024-05-01T00:00:00Z")},
		{URLSet, "HTTPS://Example.COM/Case", time.Time{}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries %q, want %d", len(got), locs(got), len(want))
	}
	for i := range want {
		if got[i].Kind != want[i].Kind || got[i].Loc != want[i].Loc || !got[i].LastMod.Equal(want[i].LastMod) {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if want := (Stats{Kind: URLSet, Entries: 5, Skipped: 4}); st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}

func TestParseNamespaces(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"none", `<urlset><url><loc>http://a.test/1</loc></url></urlset>`, []string{"http://a.test/1"}},
		{"prefixed", `<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9"><sm:url><sm:loc>http://a.test/1</sm:loc></sm:url></sm:urlset>`, []string{"http://a.test/1"}},
		{"old google namespace", `<urlset xmlns="http://www.google.com/schemas/sitemap/0.84"><url><loc>http://a.test/1</loc></url></urlset>`, []string{"http://a.test/1"}},
		{"undeclared prefix", `<x:urlset><x:url><x:loc>http://a.test/1</x:loc></x:url></x:urlset>`, []string{"http://a.test/1"}},
		{"foreign loc ignored", `<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:o="urn:other"><url><o:loc>http://a.test/other</o:loc><loc>http://a.test/1</loc></url></urlset>`, []string{"http://a.test/1"}},
		{"nested loc ignored", `<urlset><url><video><loc>http://a.test/v</loc></video></url><url><loc>http://a.test/2</loc></url></urlset>`, []string{"http://a.test/2"}},
		{"bom and blank lines", "\ufeff\n\n  <urlset><url><loc>http://a.test/1</loc></url></urlset>", []string{"http://a.test/1"}},
		{"sitemap element in urlset ignored", `<urlset><sitemap><loc>http://a.test/s.xml</loc></sitemap></urlset>`, nil},
		{"declared ascii", `<?xml version="1.0" encoding="US-ASCII"?><urlset><url><loc>http://a.test/1</loc></url></urlset>`, []string{"http://a.test/1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st, err := collect(t, strings.NewReader(tt.doc), Limits{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if st.Kind != URLSet {
				t.Errorf("Kind = %v, want urlset", st.Kind)
			}
			if g := fmt.Sprint(locs(got)); g != fmt.Sprint(tt.want) {
				t.Errorf("locs = %s, want %s", g, fmt.Sprint(tt.want))
			}
		})
	}
}

const index = `<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://example.com/sitemap-posts.xml.gz</loc><lastmod>2024-05-01T10:20Z</lastmod></sitemap>
  <sitemap><loc>https://example.com/sitemap-pages.xml</loc><lastmod>2024-05-01T10:20:30.5-05:00</lastmod></sitemap>
  <sitemap><loc>sitemap-relative.xml</loc></sitemap>
  <url><loc>https://example.com/a-page-in-an-index</loc></url>
</sitemapindex>`

func TestParseIndex(t *testing.T) {
	got, st, err := collect(t, strings.NewReader(index), Limits{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []Entry{
		{Index, "https://example.com/sitemap-posts.xml.gz", utc("2024-05-01T10:20:00Z")},
		{Index, "https://example.com/sitemap-pages.xml", utc("2024-05-01T15:20:30.5Z")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %d entries", locs(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] && !(got[i].Loc == want[i].Loc && got[i].Kind == want[i].Kind && got[i].LastMod.Equal(want[i].LastMod)) {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if want := (Stats{Kind: Index, Entries: 2, Skipped: 1}); st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}

func TestParseGzip(t *testing.T) {
	for _, doc := range []string{realURLSet, "http://a.test/1\nhttp://a.test/2\n"} {
		plain, pst, err := collect(t, strings.NewReader(doc), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		got, st, err := collect(t, bytes.NewReader(gzipped(t, doc)), Limits{})
		if err != nil {
			t.Fatalf("Parse(gzip): %v", err)
		}
		if !st.Gzip {
			t.Errorf("Stats.Gzip = false for a gzip body")
		}
		st.Gzip = false
		if st != pst || fmt.Sprint(locs(got)) != fmt.Sprint(locs(plain)) {
			t.Errorf("gzip: %+v %q, plain: %+v %q", st, locs(got), pst, locs(plain))
		}
	}
	// The gzip magic decides, not a name: a corrupt gzip body is an error.
	if _, err := Parse(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0}), Limits{}, func(Entry) error { return nil }); err == nil {
		t.Errorf("Parse(corrupt gzip) = nil error")
	}
	// A truncated gzip delivers what it holds, then fails.
	z := gzipped(t, realURLSet)
	got, _, err := collect(t, bytes.NewReader(z[:len(z)-20]), Limits{})
	if err == nil || len(got) == 0 {
		t.Errorf("truncated gzip: %d entries, err %v; want some entries and an error", len(got), err)
	}
}

func TestParseText(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    []string
		skipped int
	}{
		{"lf", "http://a.test/1\nhttps://a.test/2\n", []string{"http://a.test/1", "https://a.test/2"}, 0},
		{"crlf no final newline", "http://a.test/1\r\nhttp://a.test/2", []string{"http://a.test/1", "http://a.test/2"}, 0},
		{"blank lines and spaces", "\n\n  http://a.test/1  \n\t\n", []string{"http://a.test/1"}, 0},
		{"bom", "\ufeffhttp://a.test/1\n", []string{"http://a.test/1"}, 0},
		{"invalid lines", "# comment\nrelative/x\nmailto:a@b.test\nhttp://a.test/ok\nhttp://\n", []string{"http://a.test/ok"}, 4},
		{"not utf-8", "http://a.test/\xff\nhttp://a.test/ok\n", []string{"http://a.test/ok"}, 1},
		{"long line", "http://a.test/" + strings.Repeat("x", 10000) + "\nhttp://a.test/ok\n", []string{"http://a.test/ok"}, 1},
		{"empty", "", nil, 0},
		{"json", `{"urls": ["http://a.test/1"]}`, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st, err := collect(t, strings.NewReader(tt.doc), Limits{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if st.Kind != Text || st.Skipped != tt.skipped {
				t.Errorf("Stats = %+v, want Kind text, Skipped %d", st, tt.skipped)
			}
			if g := fmt.Sprint(locs(got)); g != fmt.Sprint(tt.want) {
				t.Errorf("locs = %s, want %s", g, fmt.Sprint(tt.want))
			}
		})
	}
}

func TestParseLastMod(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"1997", utc("1997-01-01T00:00:00Z")},
		{"1997-07", utc("1997-07-01T00:00:00Z")},
		{"1997-07-16", utc("1997-07-16T00:00:00Z")},
		{"1997-07-16T19:20+01:00", utc("1997-07-16T18:20:00Z")},
		{"1997-07-16T19:20:30+01:00", utc("1997-07-16T18:20:30Z")},
		{"1997-07-16T19:20:30.45+01:00", utc("1997-07-16T18:20:30.45Z")},
		{"1997-07-16T19:20:30Z", utc("1997-07-16T19:20:30Z")},
		{" 1997-07-16T19:20:30Z\n", utc("1997-07-16T19:20:30Z")},
		{"1997-07-16T19:20:30", utc("1997-07-16T19:20:30Z")},
		{"1997-07-16 19:20:30", utc("1997-07-16T19:20:30Z")},
		{"", time.Time{}},
		{"yesterday", time.Time{}},
		{"1997-13-01", time.Time{}},
		{"16/07/1997", time.Time{}},
	}
	for _, tt := range tests {
		if got := ParseLastMod(tt.in); !got.Equal(tt.want) {
			t.Errorf("ParseLastMod(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// urlset returns a urlset of n entries http://a.test/0 … on one line each.
func urlset(n int) string {
	var b strings.Builder
	b.WriteString(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">` + "\n")
	for i := range n {
		fmt.Fprintf(&b, "<url><loc>http://a.test/%d</loc></url>\n", i)
	}
	b.WriteString("</urlset>\n")
	return b.String()
}

func TestParseCaps(t *testing.T) {
	long := "http://a.test/" + strings.Repeat("x", 3000)
	tests := []struct {
		name    string
		doc     string
		lim     Limits
		entries int
		skipped int
		tooBig  bool
	}{
		{"MaxURLs reached exactly", urlset(10), Limits{MaxURLs: 10}, 10, 0, false},
		{"MaxURLs exceeded", urlset(11), Limits{MaxURLs: 10}, 10, 0, true},
		{"MaxURLs counts skipped", "<urlset><url><loc>x</loc></url>" + urlset(3)[61:], Limits{MaxURLs: 3}, 2, 1, true},
		{"MaxURLs text", strings.Repeat("http://a.test/\n", 6), Limits{MaxURLs: 5}, 5, 0, true},
		{"MaxBytes exactly", urlset(3), Limits{MaxBytes: int64(len(urlset(3)))}, 3, 0, false},
		{"MaxBytes exceeded", urlset(1000), Limits{MaxBytes: 10000}, strings.Count(urlset(1000)[:10000], "</url>"), 0, true},
		{"MaxBytes text", strings.Repeat("http://a.test/\n", 1000), Limits{MaxBytes: 150}, 10, 0, true},
		{"long loc skipped", "<urlset><url><loc>" + long + "</loc></url><url><loc>http://a.test/</loc></url></urlset>", Limits{}, 1, 1, false},
		{"MaxLocLen raised", "<urlset><url><loc>" + long + "</loc></url></urlset>", Limits{MaxLocLen: 4000}, 1, 0, false},
		{"MaxLocLen lowered", "<urlset><url><loc>http://a.test/123456</loc></url><url><loc>http://a.test/1</loc></url></urlset>", Limits{MaxLocLen: 16}, 1, 1, false},
		{"loc padded with white space", "<urlset><url><loc>" + strings.Repeat(" ", 3000) + "http://a.test/</loc></url></urlset>", Limits{}, 1, 0, false},
		{"huge text token", "<urlset><url><loc>http://a.test/</loc></url><url><loc>" + strings.Repeat("y", 2<<20) + "</loc></url></urlset>", Limits{}, 1, 0, true},
		{"huge comment", "<urlset><url><loc>http://a.test/</loc></url><!--" + strings.Repeat("x", 2<<20) + "--></urlset>", Limits{}, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st, err := collect(t, strings.NewReader(tt.doc), tt.lim)
			if tt.tooBig != errors.Is(err, ErrTooLarge) {
				t.Fatalf("Parse error = %v, want ErrTooLarge: %v", err, tt.tooBig)
			}
			if !tt.tooBig && err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(got) != tt.entries || st.Skipped != tt.skipped {
				t.Errorf("got %d entries (%d skipped), want %d (%d)", len(got), st.Skipped, tt.entries, tt.skipped)
			}
			for i, e := range got { // delivered in order, the first ones
				if want := fmt.Sprintf("http://a.test/%d", i); strings.HasPrefix(tt.name, "MaxBytes exceeded") && e.Loc != want {
					t.Fatalf("entry %d = %q, want %q", i, e.Loc, want)
				}
			}
		})
	}
	if _, err := Parse(strings.NewReader(""), Limits{MaxURLs: -1}, func(Entry) error { return nil }); err == nil {
		t.Errorf("Parse with a negative limit: nil error")
	}
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// bomb returns a gzip file of head then members, each the gzip of 1 MiB of filler:
// each member is 1 to 3 KB, so 80 of them make a file of up to 200 KB that inflates to
// 80 MiB, over the default MaxBytes. Concatenated members are one valid gzip stream; building it this way keeps the
// test fast.
func bomb(t *testing.T, head, filler string, members int) []byte {
	t.Helper()
	out := gzipped(t, head)
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	for range (1 << 20) / len(filler) {
		_, _ = io.WriteString(zw, filler)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	for range members {
		out = append(out, b.Bytes()...)
	}
	return out
}

func TestParseGzipBombMaxBytes(t *testing.T) {
	head := "<urlset><url><loc>http://a.test/1</loc></url><url><loc>http://a.test/2</loc></url>"
	z := bomb(t, head, "<ignored-element-of-the-bomb/>\n", 80)
	if len(z) < 100_000 || len(z) > 300_000 {
		t.Fatalf("bomb is %d bytes, want about 200 KB", len(z))
	}
	cr := &countingReader{r: bytes.NewReader(z)}
	const maxBytes = 2 << 20
	got, st, err := collect(t, cr, Limits{MaxBytes: maxBytes})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes", maxBytes)) {
		t.Fatalf("Parse(bomb) error = %v, want the MaxBytes ErrTooLarge", err)
	}
	if len(got) != 2 || !st.Gzip {
		t.Errorf("Parse(bomb) delivered %q (stats %+v), want the 2 entries before the filler", locs(got), st)
	}
	// Stopped after about MaxBytes of output: 2 MiB of 80 inflate from ~3 members.
	if cr.n > int64(len(z))/10 {
		t.Errorf("read %d of %d compressed bytes; want it to stop near MaxBytes", cr.n, len(z))
	}
}

func TestParseGzipBombBoundedMemory(t *testing.T) {
	// One 200 MiB run of white space is a single XML token, which encoding/xml would
	// buffer whole; the token cap stops it at 1 MiB whatever MaxBytes is.
	head := `<urlset><url><loc>http://a.test/1</loc></url>`
	z := bomb(t, head, strings.Repeat(" ", 1024), 80)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, _, err := collect(t, bytes.NewReader(z), Limits{})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) || len(got) != 1 {
		t.Fatalf("Parse(bomb) = %d entries, %v; want 1 and ErrTooLarge", len(got), err)
	}
	// Allocation, not just the live heap: it is deterministic, and the whole token would
	// cost 50 MiB (the default MaxBytes) were it buffered.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("Parse(bomb) allocated %d bytes, want under 16 MiB", alloc)
	}
}

func TestParseMalformed(t *testing.T) {
	lol := `<?xml version="1.0"?>
<!DOCTYPE urlset [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY host "a.test">
]>
<urlset><url><loc>http://a.test/&lol9;</loc></url><url><loc>http://&host;/</loc></url><url><loc>http://a.test/ok</loc></url></urlset>`
	tests := []struct {
		name    string
		doc     string
		want    []string
		errIs   error // nil: any error
		wantErr bool
	}{
		{"html page", "<!DOCTYPE html><html><body><a href=\"http://a.test/\">x</a></body></html>", nil, ErrFormat, true},
		{"rss", `<?xml version="1.0"?><rss><channel><item><link>http://a.test/</link></item></channel></rss>`, nil, ErrFormat, true},
		{"no root", `<?xml version="1.0"?><!-- nothing -->`, nil, ErrFormat, true},
		{"lone angle bracket", "<", nil, nil, true},
		{"truncated", `<urlset><url><loc>http://a.test/1</loc></url><url><loc>http://a.te`, []string{"http://a.test/1"}, nil, true},
		{"deep nesting", "<urlset><url>" + strings.Repeat("<a>", 10000) + "</url></urlset>", nil, ErrFormat, true},
		{"latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?><urlset><url><loc>http://a.test/1</loc></url></urlset>`, nil, nil, true},
		{"billion laughs not expanded", lol, []string{"http://a.test/&lol9;", "http://&host;/", "http://a.test/ok"}, nil, false},
		{"missing end tags tolerated", `<urlset><url><loc>http://a.test/1</url><url><loc>http://a.test/2</loc></url></urlset>`, []string{"http://a.test/1", "http://a.test/2"}, nil, false},
		{"binary", "\x00\x01\x02\xfe\xff garbage \x89PNG\r\n", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := collect(t, strings.NewReader(tt.doc), Limits{})
			if (err != nil) != tt.wantErr || (tt.errIs != nil && !errors.Is(err, tt.errIs)) {
				t.Errorf("Parse error = %v, want error %v (matching %v)", err, tt.wantErr, tt.errIs)
			}
			if g := fmt.Sprint(locs(got)); g != fmt.Sprint(tt.want) {
				t.Errorf("locs = %s, want %s", g, fmt.Sprint(tt.want))
			}
		})
	}
}

func TestParseCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	st, err := Parse(strings.NewReader(urlset(5)), Limits{}, func(Entry) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 || st.Entries != 2 {
		t.Errorf("Parse = %+v, %v after %d calls; want the callback's error as is after 2", st, err, n)
	}
}
