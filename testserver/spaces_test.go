package testserver

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestSpaces(t *testing.T) {
	_, base, _ := trapSite(t)
	c := timeoutClient(10 * time.Second)
	entries := SpaceEntries()
	// Each space goes on: 20 steps along its second link, every page new.
	for _, e := range entries {
		seen := map[string]bool{}
		u := base + e
		for range 20 {
			if seen[u] {
				t.Fatalf("%s: came back to %s", e, u)
			}
			seen[u] = true
			links := follow(t, c, u)
			if len(links) < 2 {
				t.Fatalf("%s has %d links, want at least 2", u, len(links))
			}
			u = links[1]
		}
	}
	if got := follow(t, c, base+PathTrapEvents+"?month=2025-12"); !slices.Contains(got, base+PathTrapEvents+"?month=2026-01") {
		t.Errorf("2025-12 links %v, want 2026-01 among them", got)
	}
	if got := follow(t, c, base+PathTrapList+"?page=7"); !slices.Equal(got, []string{base + PathTrapList + "?page=1", base + PathTrapList + "?page=8"}) {
		t.Errorf("list page 7 links %v, want pages 1 and 8", got)
	}
	for _, bad := range []string{PathTrapEvents + "?month=2025-13", PathTrapList + "?page=0", PathTrapItem + "xyz", PathTrapItem + "0123456789ABCDEF"} {
		if got := get(t, c, base+bad); got.status != 404 {
			t.Errorf("GET %s: %d, want 404", bad, got.status)
		}
	}
}

func TestBlog(t *testing.T) {
	const pages = 12
	s := start(t, SiteConfig{Pages: 1, Blog: pages})
	base := "http://" + s.Hosts()[0]
	c := timeoutClient(10 * time.Second)
	// Following "Older posts" from the first page reaches every listing page
	// once, and each lists its own posts.
	posts := map[string]bool{}
	u, n := base+PathBlog, 0
	for u != "" {
		n++
		links := follow(t, c, u)
		for _, l := range links[:BlogPostsPerPage] {
			if posts[l] {
				t.Fatalf("%s lists %s again", u, l)
			}
			posts[l] = true
		}
		u = ""
		if last := links[len(links)-1]; last == base+PathBlogPage+strconv.Itoa(n+1) {
			u = last
		}
	}
	if n != pages || len(posts) != pages*BlogPostsPerPage {
		t.Errorf("older-posts chain: %d pages, %d posts; want %d, %d", n, len(posts), pages, pages*BlogPostsPerPage)
	}
	for p := range posts {
		if got := get(t, c, p); got.status != 200 {
			t.Errorf("GET %s: %d", p, got.status)
		}
	}
	for _, bad := range []string{PathBlogPage + "1", PathBlogPage + strconv.Itoa(pages+1), PathBlogPost + strconv.Itoa(pages*BlogPostsPerPage), PathBlogPost + "01"} {
		if got := get(t, c, base+bad); got.status != 404 {
			t.Errorf("GET %s: %d, want 404", bad, got.status)
		}
	}
	if _, err := Start(SiteConfig{Blog: -1}); err == nil {
		t.Error("Start(Blog: -1): no error")
	}
}
