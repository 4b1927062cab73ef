package testserver

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Values of SiteConfig.RobotsMode. Every mode except "" also makes the root
// link to PathPrivate, so a test can tell whether a crawler obeyed.
const (
	// RobotsHuge serves a robots.txt of HugeRobotsSize bytes (2 MiB) that
	// starts with RobotsRules ("User-agent: *", "Disallow: /private/") and
	// goes on with about 100,000 "Disallow: /junk/<k>/" and comment lines.
	// A parser that reads only the first 500 KiB still sees RobotsRules.
	RobotsHuge = "huge"
	// RobotsSlow sends 200 text/plain headers at once, then RobotsRules one
	// byte every DripInterval, over and over, until the client goes away:
	// longer than any sane timeout. A crawler treats robots.txt as
	// unreachable.
	RobotsSlow = "slow"
	// RobotsRedirect answers /robots.txt with 301 to PathRobotsReal, which
	// serves RobotsRules.
	RobotsRedirect = "redirect"
	// Robots404 answers /robots.txt with 404: no rules, everything is
	// allowed (RFC 9309, 2.3.1.3).
	Robots404 = "404"
	// Robots500 answers /robots.txt with 500: the server is unreachable,
	// and a crawler assumes complete disallow (RFC 9309, 2.3.1.4).
	Robots500 = "500"
	// Robots429 answers /robots.txt with 429 and Retry-After: 1; a crawler
	// treats it as unreachable (disallow all) and may retry later.
	Robots429 = "429"

	// RobotsRules is the robots.txt that the modes serving rules serve
	// (RobotsHuge, RobotsSlow, RobotsRedirect): everything is allowed but
	// RobotsDisallowed.
	RobotsRules = "User-agent: *\nDisallow: /private/\n"
	// RobotsDisallowed is the path prefix RobotsRules disallows. Every path
	// below it is a small page (status 200) when RobotsMode is set.
	RobotsDisallowed = "/private/"
	// PathPrivate is the disallowed page the root links to when RobotsMode
	// is set.
	PathPrivate = "/private/secret"
	// PathRobotsReal is where RobotsRedirect sends /robots.txt.
	PathRobotsReal = "/robots-real.txt"
	// HugeRobotsSize is the least size in bytes of the RobotsHuge file.
	HugeRobotsSize = 2 << 20
)

// validRobotsMode reports whether m is a RobotsMode value.
func validRobotsMode(m string) bool {
	switch m {
	case "", RobotsHuge, RobotsSlow, RobotsRedirect, Robots404, Robots500, Robots429:
		return true
	}
	return false
}

// Sitemaps, served by every host when SiteConfig.Sitemaps is set. Every URL
// they list is absolute, http://127.0.0.1:port/...; some entries have a
// <lastmod> (a date, or a date and time with a zone offset) and some none.
// A file lists at most MaxSitemapURLs URLs: on bigger sites the pages past
// that are left out. The robots.txt of each host names PathSitemapIndex in a
// "Sitemap:" line: with RobotsMode "" it is Robots followed by that line (or
// "User-agent: *", "Disallow:" and that line when Robots is ""); with
// RobotsHuge the line comes first, and with RobotsRedirect PathRobotsReal
// ends with it. The other modes serve no robots.txt to carry it.
const (
	// PathSitemap is a urlset of the host's root, its pages /p/<i> and its
	// orphans /orphan/<k>.
	PathSitemap = "/sitemap.xml"
	// PathSitemapIndex is a sitemapindex listing PathSitemapPart1 and
	// PathSitemapPart2 on the same host.
	PathSitemapIndex = "/sitemap_index.xml"
	// PathSitemapPart1 is a urlset (application/xml) of the host's root,
	// its pages and, when there are several hosts, one page of the next host
	// (host (h+1)%Hosts's first page): a cross-host entry that the
	// sitemaps.org rules tell a crawler to skip.
	PathSitemapPart1 = "/sitemaps/1.xml"
	// PathSitemapPart2 is a gzip file (Content-Type application/gzip and
	// no Content-Encoding) holding a urlset of the host's orphans and its
	// root again.
	PathSitemapPart2 = "/sitemaps/2.xml.gz"
	// MaxSitemapURLs is the most URLs one sitemap file lists, as the
	// sitemaps.org protocol allows.
	MaxSitemapURLs = 50_000
)

// PathOrphanPrefix is the prefix of the orphan pages /orphan/<k>, k in [0,
// SiteConfig.Orphans): small pages that no page links to, listed only by the
// sitemaps.
const PathOrphanPrefix = "/orphan/"

// OrphanURL returns the absolute URL of orphan page k of host h (a host
// number, as in Seeds). For k >= Orphans it returns the URL where the orphan
// would live, which is served as 404. It panics if k < 0 or h is not a host
// number.
func (s *Site) OrphanURL(h, k int) string {
	if k < 0 {
		panic("testserver: OrphanURL of negative orphan " + strconv.Itoa(k))
	}
	return "http://" + s.hosts[h].addr + PathOrphanPrefix + strconv.Itoa(k)
}

// serveRobots serves /robots.txt and PathRobotsReal in the modes that change
// them, and reports whether it did.
func (h *host) serveRobots(w http.ResponseWriter, r *http.Request, key, path string) (int, bool) {
	cfg := &h.site.cfg
	sitemapLine := ""
	if cfg.Sitemaps {
		sitemapLine = "Sitemap: http://" + h.addr + PathSitemapIndex + "\n"
	}
	if path == PathRobotsReal {
		if cfg.RobotsMode != RobotsRedirect {
			return 0, false
		}
		return writeHTML(w, http.StatusOK, "text/plain; charset=utf-8", []byte(RobotsRules+sitemapLine)), true
	}
	switch cfg.RobotsMode {
	case "":
		if !cfg.Sitemaps {
			return 0, false // the robots.txt of Robots, or 404
		}
		body := cfg.Robots
		if body == "" {
			body = "User-agent: *\nDisallow:\n"
		} else if !strings.HasSuffix(body, "\n") {
			body += "\n"
		}
		return writeHTML(w, http.StatusOK, "text/plain; charset=utf-8", []byte(body+sitemapLine)), true
	case RobotsHuge:
		huge := h.site.robotsHuge()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(sitemapLine)+len(huge)))
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, sitemapLine)
		w.Write(huge)
		return http.StatusOK, true
	case RobotsSlow:
		return h.drip(w, r, key, "text/plain; charset=utf-8", "", RobotsRules), true
	case RobotsRedirect:
		w.Header().Set("Location", PathRobotsReal)
		w.WriteHeader(http.StatusMovedPermanently)
		return http.StatusMovedPermanently, true
	case Robots404:
		http.NotFound(w, r)
		return http.StatusNotFound, true
	case Robots500:
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return http.StatusInternalServerError, true
	case Robots429:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return http.StatusTooManyRequests, true
	}
	return 0, false
}

// robotsHuge returns the RobotsHuge body, building it on first use.
func (s *Site) robotsHuge() []byte {
	s.robotsOnce.Do(func() {
		var b bytes.Buffer
		b.Grow(HugeRobotsSize + 64)
		b.WriteString(RobotsRules)
		for k := 0; b.Len() < HugeRobotsSize; k++ {
			if k%10 == 0 {
				b.WriteString("# filler so that this file is 2 MiB long\n")
			}
			b.WriteString("Disallow: /junk/")
			b.WriteString(strconv.Itoa(k))
			b.WriteString("/\n")
		}
		s.hugeRobots = b.Bytes()
	})
	return s.hugeRobots
}

// serveSitemap serves the sitemaps and reports whether path was one of them.
func (h *host) serveSitemap(w http.ResponseWriter, r *http.Request) (int, bool) {
	base := "http://" + h.addr
	switch r.URL.Path {
	case PathSitemapIndex:
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">`+"\n"+
			"  <sitemap><loc>"+base+PathSitemapPart1+"</loc><lastmod>2025-01-15</lastmod></sitemap>\n"+
			"  <sitemap>\n    <loc>"+base+PathSitemapPart2+"</loc>\n    <lastmod>2025-01-16T10:00:00+01:00</lastmod>\n  </sitemap>\n"+
			"</sitemapindex>\n")
		return http.StatusOK, true
	case PathSitemap:
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		h.writeURLSet(w, true, true, false)
		return http.StatusOK, true
	case PathSitemapPart1:
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		h.writeURLSet(w, true, false, true)
		return http.StatusOK, true
	case PathSitemapPart2:
		w.Header().Set("Content-Type", "application/gzip")
		w.WriteHeader(http.StatusOK)
		zw := gzip.NewWriter(w)
		h.writeURLSet(zw, false, true, false)
		zw.Close()
		return http.StatusOK, true
	}
	return 0, false
}

// writeURLSet writes a urlset of h's root, then h's pages if pages, its
// orphans if orphans, and one page of the next host if cross, at most
// MaxSitemapURLs URLs in all.
func (h *host) writeURLSet(w io.Writer, pages, orphans, cross bool) {
	s := h.site
	base := "http://" + h.addr
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">` + "\n")
	n := 0
	entry := func(loc string, k int) bool {
		if n >= MaxSitemapURLs {
			return false
		}
		n++
		bw.WriteString("  <url><loc>")
		bw.WriteString(loc)
		bw.WriteString("</loc>")
		switch k % 3 {
		case 0:
			bw.WriteString("<lastmod>2025-01-" + twoDigits(1+k%28) + "</lastmod>")
		case 1:
			bw.WriteString("<lastmod>2025-02-" + twoDigits(1+k%28) + "T08:30:00+02:00</lastmod><changefreq>daily</changefreq>")
		}
		_, err := bw.WriteString("</url>\n")
		return err == nil
	}
	ok := entry(base+"/", 0)
	if pages {
		for k := range s.pagesOn(h.index) {
			if ok = ok && entry(base+"/p/"+strconv.Itoa(h.index+k*len(s.hosts)), k+1); !ok {
				break
			}
		}
	}
	if orphans {
		for k := range s.cfg.Orphans {
			if ok = ok && entry(base+PathOrphanPrefix+strconv.Itoa(k), k); !ok {
				break
			}
		}
	}
	if next := (h.index + 1) % len(s.hosts); ok && cross && next != h.index && next < s.cfg.Pages {
		entry(s.PageURL(next), 2)
	}
	bw.WriteString("</urlset>\n")
	bw.Flush()
}

// twoDigits writes n in [0, 100) with two digits.
func twoDigits(n int) string {
	return string([]byte{byte('0' + n/10), byte('0' + n%10)})
}

// serveOrphan serves /orphan/<k> and reports whether k is one of the orphans.
func (h *host) serveOrphan(w http.ResponseWriter, path string) (int, bool) {
	k := path[len(PathOrphanPrefix):]
	n, err := strconv.Atoi(k)
	if err != nil || n < 0 || n >= h.site.cfg.Orphans || strconv.Itoa(n) != k {
		return 0, false
	}
	return writeTinyPage(w, "Orphan "+k, path), true
}
