package extract

import (
	"net/url"
	"testing"

	"github.com/trawl/trawl/dedupe"
)

// TestReadableText: Config.Readable leaves navigation and boilerplate out of Text, keeps
// the first <main> or <article> when there is one, and Lang is <html lang>.
func TestReadableText(t *testing.T) {
	page, _ := url.Parse("https://a.test/")
	for _, tt := range []struct{ name, html, text, lang string }{
		{"main", `<html lang=" pt-BR "><body><header>Site name</header><nav><a href="/">Home</a> About</nav>
			<main><header><h1>Title</h1></header><p>The <b>body</b> text.</p><footer>by me</footer></main>
			<aside>Related</aside><footer>Copyright</footer></body></html>`, "Title The body text. by me", "pt-BR"},
		{"article", `<body><nav>menu</nav><article><p>First</p></article><article><p>Second</p></article></body>`, "First", ""},
		{"no main", `<html lang=en><body><nav>menu</nav><div><p>Text here</p></div><footer>foot</footer></body></html>`, "Text here", "en"},
		{"empty main", `<body><main> </main><p>outside</p></body>`, "outside", ""},
		{"unclosed nav", `<body><p>before</p><nav>menu <p>lost`, "before", ""},
	} {
		doc, err := New(Config{Text: true, Readable: true}).Extract([]byte(tt.html), page)
		if err != nil {
			t.Fatal(err)
		}
		if doc.Text != tt.text || doc.Lang != tt.lang {
			t.Errorf("%s: Text %q, Lang %q; want %q, %q", tt.name, doc.Text, doc.Lang, tt.text, tt.lang)
		}
	}
	// Without Readable, Text is every visible text, as before.
	doc, _ := New(Config{Text: true}).Extract([]byte(`<nav>menu</nav><main>body</main>`), page)
	if doc.Text != "menu body" {
		t.Errorf("Text without Readable = %q, want %q", doc.Text, "menu body")
	}
}

// BenchmarkExtractCrawler is Extract as the crawler configures it without --text: links
// and the SimHash fingerprint. BenchmarkExtractCrawlerText adds the readable text (--text,
// the default): the difference is what text extraction costs a page.
// The Synthetic pair does the same on a page of the crawlbench site (cmd/testserver
// -size 4096: 3.4 KB of its 4 KB are text).
func BenchmarkExtractCrawler(b *testing.B) { benchCrawlerExtract(b, "article.html", false) }

func BenchmarkExtractCrawlerText(b *testing.B) { benchCrawlerExtract(b, "article.html", true) }

func BenchmarkExtractSynthetic(b *testing.B) { benchCrawlerExtract(b, "crawlbench.html", false) }

func BenchmarkExtractSyntheticText(b *testing.B) { benchCrawlerExtract(b, "crawlbench.html", true) }

func benchCrawlerExtract(b *testing.B, file string, text bool) {
	body, page := readPage(b, "testdata/"+file)
	e := New(Config{Text: text, Readable: true, NewTextHasher: func() TextHasher { return new(dedupe.SimHasher) }})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Extract(body, page); err != nil {
			b.Fatal(err)
		}
	}
}
