package extract

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// scanSeeds are inputs at the edges of what the scanner accepts, and of
// html.Tokenizer's rules that it repeats.
var scanSeeds = []string{
	`<!DOCTYPE html><html lang=en><head><title>a &amp; b</title></head><body><p>x</p></body></html>`,
	`<a href="/x" HREF='/y' rel=nofollow Data-X=1>t</a><br/><img src=a/><p a=/>`,
	`<a b/><a b =c d= "e" f=' g'/><a =x><a / ><a/b>`,
	`<script>if (a < b && c) { x = "</scrip" }</script ><style>p{}</STYLE/>`,
	`<script><!-- x --></script>`, `<script><!--<script>x</script>-->y</script>`, `<script><!-- a -></SCRIPT>`,
	`<script><!--<scriptx></script>`, `<script>a<!-<!--->b</script>`, `<script><!--<script>--></script>`, `<plaintext><a href=x>`, `<textarea>&lt;<a href=/t></textarea>`,
	`<title/>x &copy y</title><xmp>&amp;</xmp><iframe src=/f>&amp;</iframe>`,
	`<!-- c --><!----><!--><!---><!-- a --!> b --><!--x--!-->`, `<!-- a -- b --><!-- unclosed`,
	`</><//x></ x></a b=c></3>`, `<?xml version="1.0"?><!x><!DOCTYPEhtml><!doctype>`,
	`a < b <3 <<a>`, `text at the end <`, `</`, `<!`, `<!-`, `<a`, `<a href="x`, `<a href=x`,
	`<a href="?a=1&b=2&amp;c=3&#38;d&#x26;&e">`, `<a href="&copy;">`, `<a href="&copy">`, `<a href="&copy=">`,
	`<a href="&notit;&notin;&noti&not &eacute;&eacutx;&semi;&semix;&;&nGt;&acE;&AMP&ampx&amp=&#&#x;&#65&#x41;x">`,
	`<a title='&Aopf;&ThickSpace;&NewLine;&Tab;&lt&gtx&quot=&QUOT;'>`,
	`<p>&amp;&lt;&notin;&notit;&#128;&#0;&#x1F600;&nGt;</p>`,
	"<p>\r\n</p>", "<p>\x00</p>", "<a\fhref=x\tb=y\n>", "<p>a\r\n\r\rb &amp;\r\n c</p>\r\n<title>t\r\nu &lt;\r</title>",
	"<a\rhref='x\r\ny\rz&amp;\r'\r\n>t</a\r>", "<script>x\r\n</script\r>", "<textarea>a\r\n&amp;</textarea\r\n>", "<a href=\"\r\">",
}

// TestScannerMatchesTokenizer: the scanner gives html.Tokenizer's tokens on
// the seeds it accepts, and accepts every page of the tests' testdata.
func TestScannerMatchesTokenizer(t *testing.T) {
	for _, s := range scanSeeds {
		compareTokens(t, []byte(s))
	}
	pages, err := filepath.Glob("testdata/*.html")
	if err != nil || len(pages) == 0 {
		t.Fatalf("testdata pages: %v %v", pages, err)
	}
	for _, path := range pages {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !compareTokens(t, body) {
			t.Errorf("%s: the scanner refused it", path)
		}
	}
}

// TestScannerRefuses: what the scanner does not repeat, it refuses.
func TestScannerRefuses(t *testing.T) {
	for _, s := range []string{
		"<p>\x00</p>", `<plaintext>x`,
		`text <`, `<a href="x`, `<!-- open`, `<!DOCTYPE html`,
	} {
		if scans([]byte(s)) {
			t.Errorf("scanner accepted %q", s)
		}
	}
	for _, s := range []string{`<a href="?a=1&b=2&amp;c&#38;&copy&notit;">`, "<p>a\r\nb</p>\r\n", `<title>t</title>`, `<title>t`, `<!-- a -- b -->`,
		`<script><!-- <script> </script> --></script>`} {
		if !scans([]byte(s)) {
			t.Errorf("scanner refused %q", s)
		}
	}
}

// scans reports whether a scanner reads all of body.
func scans(body []byte) bool {
	var s scanner
	if !s.reset(body) {
		return false
	}
	for s.Next() != html.ErrorToken {
	}
	return !s.failed
}

// compareTokens checks, if the scanner accepts body, that it gives
// html.Tokenizer's tokens, and that Extract by either gives the same
// document. It reports whether the scanner accepted body, and fails the test
// if the scanner changed it.
func compareTokens(t *testing.T, body []byte) bool {
	t.Helper()
	if !scans(body) {
		return false
	}
	orig := bytes.Clone(body)
	var s scanner
	s.reset(body)
	z := html.NewTokenizer(bytes.NewReader(body))
	for i := 0; ; i++ {
		want, got := tokenString(z, z.Next()), tokenString(&s, s.Next())
		if got != want {
			t.Fatalf("%q: token %d: scanner %s, html.Tokenizer %s", body, i, got, want)
		}
		if strings.HasPrefix(got, "Error") {
			break
		}
	}
	page := mustParse(t, "https://example.com/dir/page")
	for _, cfg := range []Config{{}, {Text: true, NewTextHasher: newTestHasher}, {Text: true, Readable: true}} {
		e := New(cfg)
		fast := e.extract(body, page, "utf-8")
		slow := e.read(html.NewTokenizer(bytes.NewReader(body)), len(body), page, "utf-8")
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: Extract with the scanner:\n%s\nwith html.Tokenizer:\n%s", body, docString(fast), docString(slow))
		}
	}
	if !bytes.Equal(body, orig) {
		t.Fatalf("the scanner changed the body %q to %q", orig, body)
	}
	return true
}

// tokenString describes the current token of z: its type, Raw, and Text or
// attributes. It reads Raw before Text, as a pass does.
func tokenString(z tokens, tt html.TokenType) string {
	if tt == html.ErrorToken {
		return "Error"
	}
	s := fmt.Sprintf("%v %q", tt, z.Raw())
	switch tt {
	case html.TextToken:
		s += fmt.Sprintf(" text %q", z.Text())
	case html.StartTagToken, html.SelfClosingTagToken:
		for more := true; more; {
			var k, v []byte
			k, v, more = z.TagAttr()
			s += fmt.Sprintf(" %q=%q", k, v)
		}
	}
	return s
}

// testHasher records what a pass writes to a TextHasher.
type testHasher struct{ b []byte }

func newTestHasher() TextHasher                   { return &testHasher{} }
func (h *testHasher) Write(p []byte) (int, error) { h.b = append(h.b, p...); return len(p), nil }
func (h *testHasher) Break()                      { h.b = append(h.b, '|') }
func (h *testHasher) Reset()                      { h.b = h.b[:0] }
func (h *testHasher) Sum64() uint64 {
	var x uint64 = 14695981039346656037
	for _, c := range h.b {
		x = (x ^ uint64(c)) * 1099511628211
	}
	return x
}

// FuzzScanner checks the scanner against html.Tokenizer, token by token and
// through Extract, on every input it accepts.
func FuzzScanner(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		compareTokens(t, body)
	})
}
