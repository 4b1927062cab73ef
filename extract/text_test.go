package extract

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// collapseRef is what textBuilder computes, written the obvious way: invalid
// UTF-8 replaced (one U+FFFD a run), runs of ASCII whitespace as one space,
// trimmed, then cut to max bytes on a rune boundary.
func collapseRef(s []byte, max int) string {
	valid := strings.ToValidUTF8(string(s), "\uFFFD")
	out := strings.Join(strings.FieldsFunc(valid, func(r rune) bool { return r < utf8.RuneSelf && isASCIISpace(byte(r)) }), " ")
	if len(out) > max {
		n := max
		for n > 0 && !utf8.RuneStart(out[n]) {
			n--
		}
		out = strings.TrimRight(out[:n], " ")
	}
	return out
}

// FuzzTextBuilder: textBuilder.write is the obvious normalisation, at any cap.
func FuzzTextBuilder(f *testing.F) {
	for _, s := range []string{"", " a  b ", "word\tword\r\nnext", "a \xffb", "\xff\xfe x", "café  crème\u00a0brûlée",
		"a b c d e f", "x \x80", "  \n ", "abc def\x00ghi", "a\u2028b \uFFFD\xff",
		"the quick crawler  visits every page once", "abcdefg hijklmn opqrstu v", "abcdefghijklmnop\x01qrstuvwxyz",
		"abcdefgh ijklmnop", "abcdefg\nhijklmnop", "ab cd ef gh ij kl mn\xc3\xa9op qr"} {
		f.Add([]byte(s), 8)
		f.Add([]byte(s), 1000)
	}
	f.Fuzz(func(t *testing.T, s []byte, max int) {
		if max < 1 || max > 1<<16 {
			return
		}
		b := textBuilder{max: max}
		b.write(s)
		if got, want := b.String(), collapseRef(s, max); got != want {
			t.Errorf("write(%q) max %d = %q, want %q", s, max, got, want)
		}
	})
}

// FuzzTokenText: tokenText gives the text Text would, once whitespace is
// collapsed, and leaves the same bytes in Raw (the SimHash's input).
func FuzzTokenText(f *testing.F) {
	for _, s := range []string{"<p>a &amp; b</p>", "<p>line\r\nnext\rlast</p>", "plain <b>bold</b> text",
		"<title>t &lt; u</title><script>if (a && b) {}</script>", "&#x41;&#65;&copy", "<textarea>x &amp;\r\n</textarea>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		z1 := html.NewTokenizer(bytes.NewReader(body))
		z2 := html.NewTokenizer(bytes.NewReader(body))
		for {
			tt := z1.Next()
			if z2.Next() != tt {
				t.Fatal("tokenizers diverged")
			}
			if tt == html.ErrorToken {
				return
			}
			if tt != html.TextToken {
				continue
			}
			got := collapseRef(tokenText(z1), 1<<30)
			want := collapseRef(z2.Text(), 1<<30)
			if got != want {
				t.Fatalf("tokenText = %q, Text = %q", got, want)
			}
			if !bytes.Equal(z1.Raw(), z2.Raw()) {
				t.Fatalf("Raw after tokenText = %q, after Text = %q", z1.Raw(), z2.Raw())
			}
		}
	})
}

// BenchmarkTextBuilder writes the text tokens of the crawlbench page.
func BenchmarkTextBuilder(b *testing.B) {
	body, err := os.ReadFile("testdata/crawlbench.html")
	if err != nil {
		b.Fatal(err)
	}
	var texts [][]byte
	z := html.NewTokenizer(bytes.NewReader(body))
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		if tt == html.TextToken {
			texts = append(texts, bytes.Clone(z.Raw()))
		}
	}
	buf := make([]byte, 0, len(body))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		t := textBuilder{max: 64 << 10, buf: buf[:0]}
		for _, s := range texts {
			t.write(s)
			t.space = true
		}
	}
}
