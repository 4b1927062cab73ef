package dedupe_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/trawl/trawl/dedupe"
)

func ExampleCanonical() {
	for _, raw := range []string{
		"HTTP://User:Secret@Example.COM:80/a/./b/../c?q=%7e+x#top",
		"https://bücher.example/über",
		"ftp://example.com/",
	} {
		c, err := dedupe.Canonical(raw)
		if errors.Is(err, dedupe.ErrInvalid) {
			fmt.Println("drop:", err)
			continue
		}
		fmt.Println(c)
	}
	// Output:
	// http://example.com/a/c?q=~+x
	// https://xn--bcher-kva.example/%C3%BCber
	// drop: canonical "ftp://example.com/": dedupe: invalid URL: unsupported scheme "ftp"
}

func ExampleKnown() {
	known, err := dedupe.NewKnown(0) // grows with the crawl up to 64 MiB
	if err != nil {
		panic(err)
	}
	for _, link := range []string{"http://a.example/", "http://a.example/", "http://b.example/"} {
		fmt.Println(link, known.Add(dedupe.URLFingerprint(link)))
	}
	fmt.Println("known:", known.Len())
	// Output:
	// http://a.example/ true
	// http://a.example/ false
	// http://b.example/ true
	// known: 2
}

func ExampleNewCanonicalizer() {
	c, err := dedupe.NewCanonicalizer([]string{"ref", "sort*", ";sid"})
	if err != nil {
		panic(err)
	}
	s, _ := c.Canonical("https://example.com/list;sid=9F2A?sort_by=date&ref=home&page=2&utm_source=x")
	fmt.Println(s)
	s, _ = dedupe.Canonical("https://example.com/list;sid=9F2A?sort_by=date&ref=home&page=2&utm_source=x")
	fmt.Println(s)
	// Output:
	// https://example.com/list?page=2&utm_source=x
	// https://example.com/list?sort_by=date&ref=home&page=2
}

func ExampleTraps() {
	traps := dedupe.NewTraps(dedupe.TrapConfig{MaxQueryVariants: 2})
	for _, raw := range []string{
		"https://example.com/a/b/a/b/a/b/a/b/",
		"https://example.com/cal?day=1",
		"https://example.com/cal?day=2",
		"https://example.com/cal?day=1",
		"https://example.com/cal?day=3",
	} {
		u, _ := url.Parse(raw)
		fmt.Printf("%s %q\n", raw, traps.Check(u))
	}
	// Output:
	// https://example.com/a/b/a/b/a/b/a/b/ "repeated path segments"
	// https://example.com/cal?day=1 ""
	// https://example.com/cal?day=2 ""
	// https://example.com/cal?day=1 ""
	// https://example.com/cal?day=3 "too many query variants"
}

func ExampleClusters() {
	page := "Trawl is a polite, resumable web crawler driven from the command line. " +
		"A URL frontier feeds a pool of fetchers that is rate-limited per host."
	fps := []dedupe.Fingerprint{
		{ID: 1, Hash: dedupe.SimHash(page)},
		{ID: 2, Hash: dedupe.SimHash("An HTTP service that fans one request out to several upstream APIs.")},
		{ID: 3, Hash: dedupe.SimHash(strings.ToUpper(page))},
	}
	fmt.Println(dedupe.Clusters(fps, 3))
	// Output:
	// [[1 3]]
}
