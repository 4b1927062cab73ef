package crawl

import (
	"cmp"
	"net/http"
	"net/url"
	"strings"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/frontier"
	"github.com/trawl/trawl/storage"
)

// Drop reasons decided by the engine (storage's drops table); the scope
// adds dropScope and dropExcluded.
const (
	dropRobots    = "robots"      // robots.txt disallows the URL (counted when its fetch is refused)
	dropNofollow  = "nofollow"    // rel=nofollow on the link, or the page said nofollow
	dropDepth     = "depth"       // the page is at the depth limit
	dropHostCap   = "host-cap"    // the host has MaxPagesPerHost URLs
	dropLinkCap   = "link-cap"    // a page had more links than the extractor keeps (counted per page)
	dropInvalid   = "invalid-url" // the link is not a crawlable URL
	dropCanonical = "canonical"   // the page's canonical URL is another page, which has its links (CanonicalIdentity)
	dropURLSpace  = "url-space"   // the URL's pattern was closed as an infinite URL space (Config.URLSpaces)
)

// trapDrops names dedupe's trap reasons in the drops table.
var trapDrops = map[dedupe.Reason]string{
	dedupe.ReasonTooLong:       "too-long",
	dedupe.ReasonPathDepth:     "path-depth",
	dedupe.ReasonRepeated:      "repeated-segments",
	dedupe.ReasonQueryVariants: "query-variants",
}

// addDrop counts one URL not followed for reason.
func addDrop(drops *[]storage.Drop, reason, example string) {
	for i := range *drops {
		if d := &(*drops)[i]; d.Reason == reason {
			d.Count++
			d.Example = example
			return
		}
	}
	*drops = append(*drops, storage.Drop{Reason: reason, Count: 1, Example: example})
}

// links reads res (a 2xx response): its headers (Link, Refresh, Location,
// X-Robots-Tag) and, for HTML, the document in its declared or sniffed
// encoding. It fills page's directives, title, charset and fingerprint,
// records the links, and returns the in-scope ones not seen before; links
// not followed are counted in drops by reason.
func (e *Engine) links(it frontier.Item, res *fetch.Result, page *storage.Page, drops *[]storage.Drop) ([]storage.Link, []storage.URL) {
	hi, err := e.extract.HeaderLinks(res.Header, res.Status, res.FinalURL)
	if err != nil { // only for a relative final URL, which fetch never returns
		page.Error, page.ErrorClass = err.Error(), classOther
		return nil, nil
	}
	doc := &extract.Document{}
	if isHTML(res.ContentType) {
		if doc, err = e.extract.ExtractCharset(res.Body, res.FinalURL, res.Header.Get("Content-Type")); err != nil {
			page.Error, page.ErrorClass = err.Error(), classOther
			return nil, nil
		}
		page.Title, page.Charset, page.Text = doc.Title, doc.Charset, doc.Text
		page.Lang = cmp.Or(doc.Lang, contentLanguage(res.Header))
		// The extractor fingerprints the text when it was given
		// extract.Config.NewTextHasher (a dedupe.SimHasher, as cmd/crawler does).
		page.SimHash = doc.TextHash
	}
	page.NoIndex = doc.NoIndex || hi.NoIndex
	page.NoFollow = doc.NoFollow || hi.NoFollow
	page.LinksCapped = doc.LinksCapped || hi.LinksCapped
	if page.LinksCapped {
		addDrop(drops, dropLinkCap, it.URL)
	}
	if doc.Canonical == nil {
		doc.Canonical = hi.Canonical // the document's own <link rel=canonical> wins
	}
	if len(hi.Links) > 0 {
		doc.Links = append(hi.Links, doc.Links...)
	}
	var found []storage.URL
	follow := e.cfg.MaxDepth < 0 || it.Depth < e.cfg.MaxDepth
	skip := "" // why no link of this page is followed
	switch {
	case page.NoFollow:
		skip = dropNofollow
	case !follow:
		skip = dropDepth
	}
	if doc.Canonical != nil {
		if c, err := e.canon.CanonicalURL(doc.Canonical); err == nil {
			page.Canonical = c.String()
			if e.cfg.CanonicalIdentity && page.Canonical != it.URL {
				if skip == "" {
					skip = dropCanonical
				}
				if u, _ := e.accept(c, page.Canonical, it.Depth, drops); u != nil {
					found = append(found, *u)
				}
			}
		}
	}
	links := make([]storage.Link, 0, len(doc.Links))
	space := e.watchSpace(res.URL, isHTML(res.ContentType) && skip == "")
	for _, l := range doc.Links {
		cu, key, err := e.canon.CanonicalURLKey(l.URL)
		if err != nil {
			addDrop(drops, dropInvalid, l.URL.Redacted())
			continue
		}
		link := storage.Link{Dst: key, DstID: dedupe.URLFingerprint(key), Nofollow: l.Nofollow}
		switch {
		case skip != "":
			addDrop(drops, skip, key)
		case l.Nofollow:
			addDrop(drops, dropNofollow, key)
		default:
			var u *storage.URL
			u, link.Queued = e.accept(cu, key, it.Depth+1, drops)
			if u != nil {
				found = append(found, *u)
				space.found(cu)
			}
		}
		links = append(links, link)
	}
	e.spaceDone(&space, it.URL, page.SimHash)
	return links, found
}

// accept decides whether the crawl queues cu (canonical, key its string)
// at depth. It returns the URL to send to the writer, or nil when cu is out
// of scope, a trap or disallowed by its host's robots.txt as far as it is
// known (counted in drops), or known to this run; queued says whether the
// URL is (or is about to be) in the queue, so that a link to it need not
// keep its text again. The writer has the last word on whether a URL it is
// sent is new (storage.URL.New): the in-memory set only saves it most of the
// work, and forgets fingerprints past its memory budget.
func (e *Engine) accept(cu *url.URL, key string, depth int, drops *[]storage.Drop) (u *storage.URL, queued bool) {
	if reason := e.scope.check(cu, key); reason != "" {
		addDrop(drops, reason, key)
		return nil, false
	}
	if reason := e.traps.Check(cu); reason != "" {
		addDrop(drops, cmp.Or(trapDrops[reason], string(reason)), key)
		return nil, false
	}
	if e.spaces.ClosedURL(cu) {
		addDrop(drops, dropURLSpace, key)
		return nil, false
	}
	id := dedupe.URLFingerprint(key)
	if e.known.Has(id) {
		return nil, true
	}
	if e.fetcher.Denied(cu) { // its host's robots.txt is known and says no: a drop, not a URL
		addDrop(drops, dropRobots, key)
		return nil, false
	}
	if !e.known.Add(id) {
		return nil, true
	}
	if e.cfg.MaxPagesPerHost > 0 && !e.perHost.take(cu.Host, e.cfg.MaxPagesPerHost) {
		e.known.Remove(id) // not queued: the set must not claim it
		addDrop(drops, dropHostCap, key)
		return nil, false
	}
	return &storage.URL{ID: id, URL: key, Host: cu.Host, Depth: depth}, true
}

// isHTML reports whether a media type (fetch.Result.ContentType: lower
// case, no parameters) is one the extractor reads.
func isHTML(mediaType string) bool {
	return mediaType == "text/html" || mediaType == "application/xhtml+xml"
}

// contentLanguage returns the first language of a Content-Language header, or "".
func contentLanguage(h http.Header) string {
	v, _, _ := strings.Cut(h.Get("Content-Language"), ",")
	return strings.TrimSpace(v)
}
