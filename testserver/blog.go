package testserver

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
)

// A blog, served by every host when SiteConfig.Blog is set: the legitimate
// counterpart of the trap spaces, with a long chain of "Older posts" pages
// whose URLs differ only by a number. PathBlog is its first listing page;
// /blog/page/<n>, n from 2 to Blog, are the older ones. Each listing page
// shows BlogPostsPerPage posts, /blog/post/<k> (k from 0), with an excerpt
// of each, and links to them, to the newer and older page, to the first and
// last page and to the pages within two of it. A post links to its listing
// page and to the posts before and after it. Every page has its own text.
const (
	PathBlog         = "/blog/"
	PathBlogPage     = "/blog/page/"
	PathBlogPost     = "/blog/post/"
	BlogPostsPerPage = 5
)

// streamBlog is the rng stream of the blog's posts.
const streamBlog = streamFiller + 100

// blogPageURL returns the path of listing page n (1 is PathBlog).
func blogPageURL(n int) string {
	if n == 1 {
		return PathBlog
	}
	return PathBlogPage + strconv.Itoa(n)
}

// serveBlog serves the blog's paths and reports whether path was one of them.
func (h *host) serveBlog(w http.ResponseWriter, path string) (int, bool) {
	pages := h.site.cfg.Blog
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>")
	switch {
	case path == PathBlog || strings.HasPrefix(path, PathBlogPage):
		n := 1
		if path != PathBlog {
			k := path[len(PathBlogPage):]
			var err error
			if n, err = strconv.Atoi(k); err != nil || n < 2 || n > pages || strconv.Itoa(n) != k {
				return 0, false
			}
		}
		b.WriteString("Blog, page " + strconv.Itoa(n) + "</title></head><body>\n")
		for k := (n - 1) * BlogPostsPerPage; k < n*BlogPostsPerPage; k++ {
			b.WriteString("<article><h2><a href=\"" + PathBlogPost + strconv.Itoa(k) + "\">")
			h.site.writePostTitle(&b, k)
			b.WriteString("</a></h2><p>")
			r := newRNG(h.site.cfg.Seed, k, streamBlog)
			writeWords(&b, &r, 300)
			b.WriteString("</p></article>\n")
		}
		b.WriteString("<nav>")
		if n > 1 {
			b.WriteString("<a href=\"" + blogPageURL(n-1) + "\">Newer posts</a> ")
		}
		for _, p := range []int{1, n - 2, n - 1, n + 1, n + 2, pages} {
			if p >= 1 && p <= pages && p != n {
				b.WriteString("<a href=\"" + blogPageURL(p) + "\">" + strconv.Itoa(p) + "</a> ")
			}
		}
		if n < pages {
			b.WriteString("<a href=\"" + blogPageURL(n+1) + "\">Older posts</a>")
		}
		b.WriteString("</nav>\n")
	case strings.HasPrefix(path, PathBlogPost):
		ks := path[len(PathBlogPost):]
		k, err := strconv.Atoi(ks)
		if err != nil || k < 0 || k >= pages*BlogPostsPerPage || strconv.Itoa(k) != ks {
			return 0, false
		}
		h.site.writePostTitle(&b, k)
		b.WriteString("</title></head><body>\n<h1>")
		h.site.writePostTitle(&b, k)
		b.WriteString("</h1>\n<p>")
		r := newRNG(h.site.cfg.Seed, k, streamBlog)
		writeWords(&b, &r, 1500)
		b.WriteString("</p>\n<nav><a href=\"" + blogPageURL(k/BlogPostsPerPage+1) + "\">Back to the list</a>")
		if k > 0 {
			b.WriteString(" <a href=\"" + PathBlogPost + strconv.Itoa(k-1) + "\">Previous post</a>")
		}
		if k+1 < pages*BlogPostsPerPage {
			b.WriteString(" <a href=\"" + PathBlogPost + strconv.Itoa(k+1) + "\">Next post</a>")
		}
		b.WriteString("</nav>\n")
	default:
		return 0, false
	}
	b.WriteString("</body></html>\n")
	return writeHTML(w, http.StatusOK, "text/html; charset=utf-8", b.Bytes()), true
}

// writePostTitle writes post k's title: its number and six words of its own.
func (s *Site) writePostTitle(b *bytes.Buffer, k int) {
	b.WriteString("Post ")
	writeInt(b, k)
	b.WriteString(": ")
	r := newRNG(s.cfg.Seed, k, streamBlog+1)
	writeWords(b, &r, 40)
}
