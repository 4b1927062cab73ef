// Package extract reads a fetched HTML document: the links a crawler may
// follow, the rel="nofollow" and meta robots hints that say whether it should,
// the <base href> those links resolve against, the canonical link, the title
// and the visible text (for near-duplicate detection). ExtractCharset first
// decodes a page that is not UTF-8; HeaderLinks reads the same kind of hints
// from the HTTP response headers (Link, Refresh, Location, X-Robots-Tag).
//
// Every fetched page goes through Extract, so it makes one streaming pass over
// the tokens of the golang.org/x/net/html Tokenizer (the tokenizer goquery's
// parser is built on) instead of building a DOM. The tokens come from a
// scanner of this package that gives the same ones at a fraction of the cost
// for the HTML most pages are made of, and from html.Tokenizer itself for a
// page the scanner refuses (scan.go). It looks only at the few tags
// it needs and copies text only into the title and Document.Text. The tests keep a goquery
// implementation of the same rules as the reference and check that both agree.
//
// Because it does not build a tree, Extract sees tags in source order and as
// written, where a browser's tree construction would sometimes move, clone or
// drop them: a <frame> outside a <frameset> is still a link, an <a> misnested
// across a block is reported once (goquery reports each clone), a link inside
// a <table> keeps its source position, and <svg>/<math> content is read as
// HTML. Text inside <script>, <style>, <textarea>, <title>, <xmp>, <iframe>,
// <noembed>, <noframes>, <noscript> and <plaintext>, and inside comments, is
// never markup, exactly as for a browser with scripting enabled, so links
// there are not extracted.
package extract

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// ErrNotAbsolute is returned by Extract when the page URL is nil or has no
// scheme, so that relative links could not be resolved.
var ErrNotAbsolute = errors.New("extract: page URL is not absolute")

const (
	defaultMaxLinks = 10_000
	defaultMaxText  = 64 << 10
	defaultAgent    = "trawl"
	// MaxTitleBytes is the longest Document.Title, in bytes.
	MaxTitleBytes = 1024
)

// Config configures an Extractor. The zero value is ready to use.
type Config struct {
	// MaxLinks is how many links are kept per page; 0 means 10_000.
	// Further links are dropped and Document.LinksCapped is set.
	// A negative value is a programmer error: New panics.
	MaxLinks int

	// Agent is the crawler's robots product token. Besides
	// <meta name="robots">, a <meta name> equal to Agent (compared
	// case-insensitively) is obeyed, and so is an X-Robots-Tag directive
	// prefixed "Agent:" (see HeaderLinks); "" means "trawl".
	Agent string

	// Text turns on Document.Text. It is off by default because it costs
	// about a quarter more time per page (BenchmarkExtractText).
	Text bool

	// Readable makes Document.Text the page's readable text, for people and full-text search:
	// the text of <nav> and <aside>, and of <header> and <footer> outside <main> and <article>,
	// is left out, and when the page has a <main> or <article>, Text is the text of the first
	// one (the main content without the site's navigation and boilerplate). Needs Text.
	Readable bool

	// MaxText is the longest Document.Text, in bytes; 0 means 64 KiB.
	// A negative value is a programmer error: New panics.
	MaxText int

	// NewTextHasher, when set, makes Document.TextHash a fingerprint of the
	// page's visible text (such as dedupe.SimHasher's): Extract writes each
	// piece of text to a hasher as the tokenizer meets it, with Break at
	// every tag. It is much cheaper than Text, which builds the normalised
	// text: the pieces are the raw bytes of the text nodes, entities not
	// decoded and white space as it is, and every tag breaks a word (inline
	// ones too). The text excluded from Text is excluded here, and at most
	// MaxText bytes are hashed. Hashers are reused through a sync.Pool.
	NewTextHasher func() TextHasher
}

// TextHasher fingerprints text written to it in pieces (Config.NewTextHasher).
type TextHasher interface {
	Write(p []byte) (int, error) // adds a piece of text, which may continue the last one's word
	Break()                      // ends any word in progress
	Sum64() uint64               // the fingerprint of the text so far
	Reset()                      // empties the hasher for another text
}

// Extractor extracts links and metadata from HTML documents.
// It holds no per-page state, so one Extractor is safe for concurrent use.
type Extractor struct {
	maxLinks int
	maxText  int  // 0: no Document.Text
	readable bool // Config.Readable
	agent    string
	hashMax  int       // bytes of text hashed; 0: no hasher
	hashers  sync.Pool // of TextHasher, from Config.NewTextHasher
	// texts holds *[]byte buffers that a page's text is built in (it is
	// copied out into Document.Text): a buffer sized per page was zeroed,
	// and grown and copied when the guess was short (the crawlbench site's
	// pages are 83 % text).
	texts sync.Pool
}

// New returns an Extractor configured by cfg. It panics if cfg.MaxLinks or
// cfg.MaxText is negative.
func New(cfg Config) *Extractor {
	if cfg.MaxLinks < 0 {
		panic(fmt.Sprintf("extract: negative Config.MaxLinks %d", cfg.MaxLinks))
	}
	if cfg.MaxText < 0 {
		panic(fmt.Sprintf("extract: negative Config.MaxText %d", cfg.MaxText))
	}
	if cfg.MaxLinks == 0 {
		cfg.MaxLinks = defaultMaxLinks
	}
	if cfg.Agent == "" {
		cfg.Agent = defaultAgent
	}
	hashMax := cmp.Or(cfg.MaxText, defaultMaxText)
	switch {
	case !cfg.Text:
		cfg.MaxText = 0
	case cfg.MaxText == 0:
		cfg.MaxText = defaultMaxText
	}
	e := &Extractor{maxLinks: cfg.MaxLinks, maxText: cfg.MaxText, readable: cfg.Readable && cfg.Text, agent: strings.TrimSpace(cfg.Agent)}
	if cfg.NewTextHasher != nil {
		e.hashMax = hashMax
		e.hashers.New = func() any { return cfg.NewTextHasher() }
	}
	return e
}

// HashesText reports whether e fingerprints each document's text
// (Config.NewTextHasher): whether Document.TextHash means anything.
func (e *Extractor) HashesText() bool { return e.hashMax > 0 }

// Document is what Extract found in one HTML page. The caller owns it: it
// holds no reference to the body, and its URLs are new values, so changing
// them does not change the page URL given to Extract.
type Document struct {
	// Title is the text of the first <title>, with runs of ASCII whitespace
	// collapsed to one space and trimmed, invalid UTF-8 replaced by U+FFFD,
	// and cut on a rune boundary to at most MaxTitleBytes bytes.
	// It is "" if the page has no title.
	Title string

	// Base is the URL relative links were resolved against: the first
	// <base href>, resolved against the page URL, or else the page URL.
	// See Extract for when a <base href> counts.
	Base *url.URL

	// Canonical is the href of the first <link rel="canonical" href>,
	// resolved against Base, without its fragment. It is nil if the page has
	// none, or if that first href is empty, unparsable or not an http(s) URL
	// with a host.
	Canonical *url.URL

	// NoFollow reports whether a meta robots tag (name "robots" or the
	// configured agent) says "nofollow" or "none".
	NoFollow bool

	// NoIndex reports whether a meta robots tag says "noindex" or "none".
	NoIndex bool

	// Links are the page's links in document order, duplicates kept (the
	// caller dedupes), at most Config.MaxLinks of them.
	Links []Link

	// LinksCapped reports whether links were dropped because the page had
	// more than Config.MaxLinks.
	LinksCapped bool

	// Text is the page's visible text, for a content fingerprint (SimHash):
	// the text of every element but <title>, <script>, <style>, <noscript>,
	// <template>, <iframe>, <noembed> and <noframes>, and not comments, with
	// entities decoded. Runs of ASCII whitespace collapse to one space, and
	// so does each tag boundary except that of an inline element (<a>, <b>,
	// <span>, <em> ...: "<b>x</b>y" is "xy", "<p>x</p>y" is "x y"); the text
	// is trimmed, invalid UTF-8 is replaced by U+FFFD, and it is cut on a
	// rune boundary to at most Config.MaxText bytes. It is "" unless
	// Config.Text is set.
	Text string

	// Lang is the language the document declares in <html lang>, trimmed, as written
	// ("en", "pt-BR"); "" when it declares none.
	Lang string

	// TextHash is the Sum64 of the Config.NewTextHasher hasher after the
	// page's visible text went through it; 0 without one.
	TextHash uint64

	// Charset is the name (WHATWG, lower case) of the encoding the body was
	// decoded from: "utf-8" for Extract, which assumes it, or what
	// ExtractCharset determined, e.g. "windows-1252" or "shift_jis".
	Charset string
}

// Link is one link found in a document.
type Link struct {
	// URL is absolute, http or https, has a host and no fragment.
	URL *url.URL

	// Nofollow reports whether the element's rel attribute holds the token
	// "nofollow" (case-insensitive; only <a> and <area> have rel) or the
	// page as a whole is Document.NoFollow.
	Nofollow bool

	// Tag is where the link came from: "a", "area", "frame", "iframe" or
	// "meta-refresh" (<meta http-equiv="refresh" content="N; url=...">) for
	// Extract; "link-header", "refresh-header" or "location-header" for
	// HeaderLinks.
	Tag string
}

// Extract reads an HTML document fetched from pageURL, the final URL after
// redirects. It never fails on malformed HTML: the tokenizer is tolerant,
// and a truncated tag at the end of body is ignored. It returns an error
// wrapping ErrNotAbsolute if pageURL is nil or not absolute, and no other.
// The body is assumed to be UTF-8; transcoding is the caller's job.
//
// Links come from a[href], area[href], frame[src], iframe[src] and the URL of
// <meta http-equiv="refresh" content="...">, which is read as the HTML
// standard's declarative refresh does ("5; url=/next", "0;URL='/next'"; a
// refresh without a URL is the page itself and yields no link). Attribute
// values are trimmed of leading and trailing C0 controls and spaces and
// stripped of tabs and newlines, as the URL standard does. A value that is
// then empty (a link to the page itself), fails to parse, or does not resolve
// to an http or https URL with a host (javascript:, mailto:, data:, tel: ...)
// is skipped. Fragments are removed.
//
// Only the first <base href> counts, and only if it comes before the first
// relative link: a streaming pass cannot re-resolve links it has already
// emitted, so once a relative link has been resolved against the page URL
// every later <base> is ignored. Absolute links do not use the base and do
// not stop it. A <base href> that is empty, fails to parse or does not
// resolve to an http(s) URL with a host leaves the page URL as the base.
// The canonical link is resolved once the whole page has been read, against
// the final Base, wherever the <link> and the <base> appear.
func (e *Extractor) Extract(body []byte, pageURL *url.URL) (*Document, error) {
	if pageURL == nil {
		return nil, fmt.Errorf("%w: nil", ErrNotAbsolute)
	}
	if !pageURL.IsAbs() {
		return nil, fmt.Errorf("%w: %q", ErrNotAbsolute, pageURL)
	}
	return e.extract(body, pageURL, "utf-8"), nil
}

// extract is Extract on a UTF-8 body and an absolute pageURL; charset names
// the encoding the body was decoded from. It reads the body with a scanner,
// and again with html.Tokenizer if the scanner refused it.
func (e *Extractor) extract(body []byte, pageURL *url.URL, charset string) *Document {
	s := scanners.Get().(*scanner)
	defer scanners.Put(s)
	if s.reset(body) {
		doc := e.read(s, len(body), pageURL, charset)
		failed := s.failed
		s.reset(nil)
		if !failed {
			return doc
		}
	}
	return e.read(html.NewTokenizer(bytes.NewReader(body)), len(body), pageURL, charset)
}

// scanners holds the scanners of extract.
var scanners = sync.Pool{New: func() any { return new(scanner) }}

// read makes the pass over the tokens of z, those of a body of size bytes.
func (e *Extractor) read(z tokens, size int, pageURL *url.URL, charset string) *Document {
	page := *pageURL
	p := pass{e: e, doc: &Document{Base: &page, Charset: charset}}
	p.title.max = MaxTitleBytes
	p.text.max = e.maxText
	p.text.full = e.maxText == 0
	if e.maxText > 0 {
		buf, _ := e.texts.Get().(*[]byte)
		if buf == nil {
			// Text is typically a third to a half of an article's
			// bytes, and never more than MaxText.
			b := make([]byte, 0, min(size/2, e.maxText)+utf8.UTFMax)
			buf = &b
		}
		p.text.buf = (*buf)[:0]
		defer func() {
			if cap(p.text.buf) > cap(*buf) { // grown (keep may have cut its start: still a buffer)
				*buf = p.text.buf[:0]
			}
			e.texts.Put(buf)
		}()
	}
	var hasher TextHasher
	hashLeft := e.hashMax
	if hashLeft > 0 {
		hasher = e.hashers.Get().(TextHasher)
		hasher.Reset()
		defer e.hashers.Put(hasher)
	}
	for {
		switch z.Next() {
		case html.ErrorToken:
			// io.EOF: a bytes.Reader has no other error, and no MaxBuf is set.
			p.finish()
			if hasher != nil {
				p.doc.TextHash = hasher.Sum64()
			}
			return p.doc
		case html.TextToken:
			switch {
			case p.inTitle:
				p.title.write(z.Text())
			case p.hidden || p.template > 0:
			default:
				// The hasher first: html.Tokenizer's Text decodes in place.
				if hashLeft > 0 {
					raw := z.Raw()
					raw = raw[:min(len(raw), hashLeft)]
					hashLeft -= len(raw)
					hasher.Write(raw)
				}
				if !p.text.full && p.chrome == 0 {
					p.text.write(tokenText(z))
				}
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			p.inTitle, p.hidden = false, false
			p.startTag(z)
			if hasher != nil {
				hasher.Break()
			}
		case html.EndTagToken:
			p.inTitle, p.hidden = false, false
			if !p.text.full {
				p.endTag(z)
			}
			if hasher != nil {
				hasher.Break()
			}
		default:
			p.inTitle, p.hidden = false, false
			if hasher != nil {
				hasher.Break()
			}
		}
	}
}

// Tag values of Link.Tag.
const (
	tagA           = "a"
	tagArea        = "area"
	tagFrame       = "frame"
	tagIFrame      = "iframe"
	tagMetaRefresh = "meta-refresh"
)

// pass is the state of one Extract call.
type pass struct {
	e   *Extractor
	doc *Document

	baseDone  bool     // a <base href> was seen, or a relative link fixed the base
	canonDone bool     // the first <link rel=canonical href> was seen
	canonRef  *url.URL // its href, resolved by finish; nil if unusable
	titleDone bool     // the first <title> was seen
	inTitle   bool     // the next text token is that title's content
	title     textBuilder
	hidden    bool // the next text token is the raw text of an element not shown
	template  int  // depth of open <template> elements, whose content is not shown
	text      textBuilder
	langDone  bool // the <html> tag was seen

	// Config.Readable: chrome is the depth of open navigation and boilerplate elements,
	// whose text is left out; main the depth of open <main> and <article> elements, and
	// mainStart and mainEnd the span of text.buf that the first one wrote (mainEnd -1 while
	// it is open).
	chrome, main       int
	mainStart, mainEnd int
	mainSeen           bool
}

// startTag handles a start or self-closing tag. The tokenizer lower-cases
// attribute names and keeps only the first of several with the same name.
func (p *pass) startTag(z tokens) {
	var buf [len("noscript")]byte // the longest name we look for
	name, ok := tagName(z, buf[:])
	if !ok {
		p.text.space = true // a long name: not an inline element
		return
	}
	if !p.text.full && !isInline(name) {
		p.text.space = true
	}
	switch string(name) { // no allocation: the compiler compares in place
	case "a":
		p.link(z, tagA, "href", true)
	case "area":
		p.link(z, tagArea, "href", true)
	case "frame":
		p.link(z, tagFrame, "src", false)
	case "iframe":
		p.link(z, tagIFrame, "src", false)
		p.hidden = true // its content is raw text, shown only without frames
	case "base":
		if !p.baseDone {
			p.base(z)
		}
	case "link":
		if !p.canonDone {
			p.canonical(z)
		}
	case "meta":
		p.meta(z)
	case "title":
		// <title/> is not self-closing in HTML: the tokenizer reads RCDATA
		// after it either way.
		if !p.titleDone {
			p.titleDone, p.inTitle = true, true
		} else {
			p.hidden = true
		}
	case "script", "style", "noscript", "noembed", "noframes":
		// Raw text: the tokenizer returns the content as one text token.
		p.hidden = true
	case "template":
		p.template++
	case "html":
		if !p.langDone {
			p.langDone = true
			p.lang(z)
		}
	case "nav", "aside", "header", "footer", "main", "article":
		if p.e.readable {
			p.readableStart(string(name))
		}
	}
}

// endTag handles an end tag: the end of a <template>, and word breaks.
func (p *pass) endTag(z tokens) {
	var buf [len("template")]byte
	name, ok := tagName(z, buf[:])
	if !ok || !isInline(name) {
		p.text.space = true
	}
	if ok && string(name) == "template" && p.template > 0 {
		p.template--
	}
	if ok && p.e.readable {
		switch string(name) {
		case "nav", "aside", "header", "footer", "main", "article":
			p.readableEnd(string(name))
		}
	}
}

// link handles an element whose attribute attr holds a link.
func (p *pass) link(z tokens, tag, attr string, hasRel bool) {
	if p.doc.LinksCapped && p.baseDone {
		return // nothing left for a link to change
	}
	var val []byte
	var found, nofollow bool
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		switch {
		case string(k) == attr:
			val, found = v, true
		case hasRel && string(k) == "rel":
			nofollow = hasToken(v, "nofollow")
		}
	}
	if found {
		p.addLink(val, tag, nofollow)
	}
}

// addLink adds the link in attribute value val, if it is one, under the
// rules of Extract.
func (p *pass) addLink(val []byte, tag string, nofollow bool) {
	if p.doc.LinksCapped && p.baseDone {
		return
	}
	u, relative, ok := resolveSimple(p.doc.Base, val)
	if !ok {
		ref := parseRef(val)
		if ref == nil || ref.Scheme != "" && !isHTTP(ref.Scheme) {
			return // javascript:, mailto:, data: ... need no resolving
		}
		relative = ref.Scheme == ""
		if !p.doc.LinksCapped {
			u = resolve(p.doc.Base, ref)
		}
	}
	if relative {
		// This link uses the base, so no later <base> may change it, even
		// once links are capped: Base must not depend on MaxLinks.
		p.baseDone = true
	}
	if p.doc.LinksCapped || u == nil {
		return
	}
	if len(p.doc.Links) >= p.e.maxLinks {
		p.doc.LinksCapped = true
		return
	}
	p.doc.Links = append(p.doc.Links, Link{URL: u, Nofollow: nofollow, Tag: tag})
}

// finish completes the document once the whole body has been read.
func (p *pass) finish() {
	d := p.doc
	d.Title = p.title.String()
	if p.mainSeen {
		p.text.keep(p.mainStart, p.mainEnd)
	}
	d.Text = p.text.String()
	if d.NoFollow {
		for i := range d.Links {
			d.Links[i].Nofollow = true
		}
	}
	if p.canonRef != nil {
		d.Canonical = resolve(d.Base, p.canonRef)
	}
}
