package extract_test

import (
	"fmt"
	"net/url"

	"github.com/trawl/trawl/extract"
)

func ExampleExtractor_Extract() {
	page, _ := url.Parse("https://example.com/blog/2024/post.html")
	body := []byte(`<!doctype html>
<html><head>
  <title> Hello,
    world </title>
  <base href="/blog/">
  <link rel="canonical" href="2024/post.html">
</head><body>
  <a href="2024/next.html#top">Next</a>
  <a href="https://other.example/" rel="nofollow">Elsewhere</a>
  <a href="mailto:me@example.com">Mail me</a>
  <script>document.write('<a href="/not-a-link">')</script>
</body></html>`)

	doc, err := extract.New(extract.Config{}).Extract(body, page)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("title %q\nbase %v\ncanonical %v\n", doc.Title, doc.Base, doc.Canonical)
	for _, l := range doc.Links {
		fmt.Println(l.Tag, l.Nofollow, l.URL)
	}
	// Output:
	// title "Hello, world"
	// base https://example.com/blog/
	// canonical https://example.com/blog/2024/post.html
	// a false https://example.com/blog/2024/next.html
	// a true https://other.example/
}
