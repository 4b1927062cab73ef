package testserver

import (
	"bytes"
	"strconv"
	"strings"
)

// renderBuf is the pooled scratch space for rendering one response.
type renderBuf struct {
	buf   bytes.Buffer
	links []link
}

// hrefForm is how an anchor spells its target, so that crawlers meet every
// kind of reference a real site has.
type hrefForm uint8

const (
	formAbsolute   hrefForm = iota // http://127.0.0.1:port/p/j
	formSchemeless                 // //127.0.0.1:port/p/j
	formRoot                       // /p/j
	formParent                     // ../p/j, from /p/i
	formSibling                    // j, from /p/i
	formDir                        // p/j, from /
)

// link is one crawlable anchor of a page.
type link struct {
	page     int
	form     hrefForm
	frag     int // 0 means no fragment, else "#s<frag>"
	nofollow bool
}

// Streams of the page generator: links and filler are drawn separately so
// that Links need not generate filler.
const (
	streamLinks uint64 = iota + 1
	streamFiller
)

// rng is splitmix64: tiny, fast, allocation-free and good enough for
// picking links and words.
type rng struct{ state uint64 }

// newRNG returns the generator of one stream of one page (-1-h for host h's
// root).
func newRNG(seed int64, page int, stream uint64) rng {
	r := rng{state: uint64(seed)}
	r.state = r.next() ^ uint64(page)*0xd1b54a32d192ed03 ^ stream*0xa0761d6478bd642f
	r.next()
	return r
}

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn returns a number in [0, n); n must be positive. The modulo bias is
// negligible for the small n used here.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// fragment returns a fragment number for about one link in six, else 0.
func (r *rng) fragment() int {
	if r.intn(6) != 0 {
		return 0
	}
	return 1 + r.intn(5)
}

// sameHostForm picks how a link to a page on the same host is written.
func (r *rng) sameHostForm() hrefForm {
	switch x := r.intn(20); {
	case x < 5:
		return formAbsolute
	case x < 12:
		return formRoot
	case x < 17:
		return formParent
	default:
		return formSibling
	}
}

// pageLinks appends the LinksPerPage crawlable links of page i to dst[:0]. The
// first is the next page on the same host, when there is one, and is never
// nofollow; this chain makes every page reachable from its host's root. The
// others are drawn from the seeded generator: another host's page with
// probability CrossHost, else a page of the same host.
func (s *Site) pageLinks(i int, dst []link) []link {
	cfg := &s.cfg
	nHosts := cfg.Hosts
	h := i % nHosts
	onHost := s.pagesOn(h)
	offHost := cfg.Pages - onHost
	r := newRNG(cfg.Seed, i, streamLinks)
	dst = dst[:0]
	if next := i + nHosts; next < cfg.Pages {
		dst = append(dst, link{page: next, form: r.sameHostForm(), frag: r.fragment()})
	}
	for len(dst) < cfg.LinksPerPage {
		var l link
		if offHost > 0 && cfg.CrossHost > 0 && r.float() < cfg.CrossHost {
			l.page = offHostPage(h, nHosts, r.intn(offHost))
			l.form = formAbsolute
			if r.intn(4) == 0 {
				l.form = formSchemeless
			}
		} else {
			l.page = h + nHosts*r.intn(onHost)
			l.form = r.sameHostForm()
		}
		l.frag = r.fragment()
		l.nofollow = r.intn(10) == 0
		dst = append(dst, l)
	}
	return dst
}

// offHostPage returns the idx-th smallest page number that is not on host h.
func offHostPage(h, nHosts, idx int) int {
	block, rem := idx/(nHosts-1), idx%(nHosts-1)
	if rem >= h {
		rem++
	}
	return block*nHosts + rem
}

// rootLinks appends to dst[:0] the links of host h's root: its first
// LinksPerPage pages, in order.
func (s *Site) rootLinks(h int, dst []link) []link {
	r := newRNG(s.cfg.Seed, -1-h, streamLinks)
	dst = dst[:0]
	for k := range min(s.cfg.LinksPerPage, s.pagesOn(h)) {
		form := formRoot
		if r.intn(3) == 0 {
			form = formDir
		}
		dst = append(dst, link{page: h + k*s.cfg.Hosts, form: form})
	}
	return dst
}

// renderPage renders page i into rb.buf.
func (s *Site) renderPage(rb *renderBuf, i int) {
	rb.links = s.pageLinks(i, rb.links)
	s.render(rb, "Page ", i, newRNG(s.cfg.Seed, i, streamFiller))
}

// renderRoot renders host h's root page into rb.buf.
func (s *Site) renderRoot(rb *renderBuf, h int) {
	rb.links = s.rootLinks(h, rb.links)
	s.render(rb, "Host ", h, newRNG(s.cfg.Seed, -1-h, streamFiller))
}

const (
	htmlFooter = "<footer><a href=\"javascript:void(0)\">Menu</a> | " +
		"<a href=\"mailto:webmaster@example.com\">Contact</a></footer>\n</body>\n</html>\n"
	// corpus is the filler text: words separated by single spaces, with no
	// HTML metacharacters, and a little UTF-8.
	corpus = "the quick crawler visits every page once and only once while the polite " +
		"server counts each request lorem ipsum dolor sit amet consectetur adipiscing elit " +
		"sed do eiusmod tempor incididunt ut labore et dolore magna aliqua a café on the " +
		"corner serves crème brûlée and naïve coffee to über busy engineers who read logs " +
		"all day long ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi " +
		"ut aliquip ex ea commodo consequat frontier queues hold hosts ordered by the time " +
		"each may next be contacted duis aute irure dolor in reprehenderit in voluptate " +
		"velit esse cillum dolore eu fugiat nulla pariatur robots files say where a crawler " +
		"may go and where it may not excepteur sint occaecat cupidatat non proident sunt in " +
		"culpa qui officia deserunt mollit anim id est laborum links are resolved against " +
		"the base of the document and fragments are dropped before a url is queued the " +
		"seen set remembers what was fetched so that nothing is fetched twice even after " +
		"a restart sed ut perspiciatis unde omnis iste natus error sit voluptatem " +
		"accusantium doloremque laudantium totam rem aperiam eaque ipsa quae ab illo " +
		"inventore veritatis et quasi architecto beatae vitae dicta sunt explicabo"
)

// render writes a whole HTML document titled title+n with rb.links: the first
// half in a navigation list, the rest one per paragraph, then filler
// paragraphs up to about PageSize bytes.
func (s *Site) render(rb *renderBuf, title string, n int, r rng) {
	b := &rb.buf
	b.Reset()
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
	b.WriteString(title)
	writeInt(b, n)
	b.WriteString("</title>\n</head>\n<body>\n<h1>")
	b.WriteString(title)
	writeInt(b, n)
	b.WriteString("</h1>\n")
	nav := (len(rb.links) + 1) / 2
	if nav > 0 {
		b.WriteString("<ul class=\"nav\">\n")
		for _, l := range rb.links[:nav] {
			b.WriteString("<li>")
			s.writeAnchor(b, l)
			b.WriteString("</li>\n")
		}
		b.WriteString("</ul>\n")
	}
	for _, l := range rb.links[nav:] {
		b.WriteString("<p>")
		writeWords(b, &r, 60+r.intn(140))
		b.WriteByte(' ')
		s.writeAnchor(b, l)
		b.WriteByte(' ')
		writeWords(b, &r, 60+r.intn(140))
		b.WriteString(".</p>\n")
	}
	for b.Len()+len(htmlFooter) < s.cfg.PageSize {
		b.WriteString("<p>")
		writeWords(b, &r, min(120+r.intn(360), s.cfg.PageSize-b.Len()-len(htmlFooter)))
		b.WriteString(".</p>\n")
	}
	b.WriteString(htmlFooter)
}

// writeAnchor writes l as an <a> element; the attribute order is fixed
// (href, then rel) so tests can match anchors with a simple expression.
func (s *Site) writeAnchor(b *bytes.Buffer, l link) {
	b.WriteString("<a href=\"")
	switch l.form {
	case formAbsolute, formSchemeless:
		if l.form == formAbsolute {
			b.WriteString("http:")
		}
		b.WriteString("//")
		b.WriteString(s.hosts[l.page%s.cfg.Hosts].addr)
		b.WriteString("/p/")
	case formRoot:
		b.WriteString("/p/")
	case formParent:
		b.WriteString("../p/")
	case formDir:
		b.WriteString("p/")
	case formSibling:
	}
	writeInt(b, l.page)
	if l.frag > 0 {
		b.WriteString("#s")
		writeInt(b, l.frag)
	}
	b.WriteByte('"')
	if l.nofollow {
		b.WriteString(" rel=\"nofollow\"")
	}
	b.WriteString(">Page ")
	writeInt(b, l.page)
	b.WriteString("</a>")
}

// writeInt writes n in decimal without allocating.
func writeInt(b *bytes.Buffer, n int) {
	b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(n), 10))
}

// writeWords writes at least n bytes (when n > 0) of whole words from corpus,
// starting at a random word and wrapping around.
func writeWords(b *bytes.Buffer, r *rng, n int) {
	pos := r.intn(len(corpus))
	if sp := strings.IndexByte(corpus[pos:], ' '); sp >= 0 {
		pos += sp + 1
	} else {
		pos = 0
	}
	for n > 0 {
		end := min(pos+n, len(corpus))
		if sp := strings.IndexByte(corpus[end:], ' '); sp >= 0 {
			end += sp
		} else {
			end = len(corpus)
		}
		b.WriteString(corpus[pos:end])
		n -= end - pos
		if n > 0 { // reached the end of corpus: wrap around
			b.WriteByte(' ')
			n--
			pos = 0
		}
	}
}
