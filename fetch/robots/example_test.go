package robots_test

import (
	"fmt"

	"github.com/trawl/trawl/fetch/robots"
)

func ExampleParse() {
	d := robots.Parse([]byte(`
User-agent: *
Disallow: /private/
Allow: /private/press/
Crawl-delay: 2.5

Sitemap: https://example.com/sitemap.xml
`))
	fmt.Println(d.Allowed("Trawl", "/private/report.pdf"))
	fmt.Println(d.Allowed("Trawl", "https://example.com/private/press/2024?page=2"))
	fmt.Println(d.CrawlDelay("Trawl"))
	fmt.Println(d.Sitemaps())
	// Output:
	// false
	// true
	// 2.5s true
	// [https://example.com/sitemap.xml]
}
