package dedupe_test

import (
	"context"
	"errors"
	"fmt"

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

func ExampleSet() {
	seen, err := dedupe.New(dedupe.Config{}, nil) // in memory
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, link := range []string{"http://a.example/", "http://a.example/", "http://b.example/"} {
		isNew, _ := seen.Add(ctx, link)
		fmt.Println(link, isNew)
	}
	// ... the writer stores the new pages, then:
	seen.Committed("http://a.example/", "http://b.example/")
	fmt.Println("pending:", seen.Pending())
	// Output:
	// http://a.example/ true
	// http://a.example/ false
	// http://b.example/ true
	// pending: 0
}
