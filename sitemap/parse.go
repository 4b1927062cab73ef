package sitemap

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Default caps of [Limits]; the first two are the sitemaps.org protocol's.
const (
	DefaultMaxBytes  = 50 << 20 // decompressed bytes of one file
	DefaultMaxURLs   = 50_000   // entries of one file
	DefaultMaxLocLen = 2048     // bytes of one <loc>
)

const (
	// maxToken bounds one XML token (tag, text run, comment, DTD), which encoding/xml
	// buffers whole, so that memory does not grow with MaxBytes.
	maxToken = 1 << 20
	// maxDepth bounds element nesting; a sitemap needs 5 at most (news extension).
	maxDepth = 32
	// maxModLen bounds the <lastmod> text kept; the longest W3C form is ~35 bytes.
	maxModLen = 64
	// bufSize is the read buffer of the sniffer and of the text line reader.
	bufSize = 4096
)

// ErrTooLarge is wrapped by the error that stops a parse or a walk at one of its caps
// (bytes, URLs, token size, sitemap fetches). Entries read before it were delivered.
var ErrTooLarge = errors.New("sitemap: too large")

// ErrFormat is wrapped by the error returned for an XML document that is not a
// sitemap (its root is neither <urlset> nor <sitemapindex>, or it nests too deep).
var ErrFormat = errors.New("sitemap: not a sitemap")

// Kind is the kind of a sitemap file. Its zero value, Unknown, means none was recognised.
type Kind int

// The kinds of sitemap file.
const (
	Unknown Kind = iota // not recognised (yet)
	URLSet              // an XML <urlset>: entries are pages
	Index               // an XML <sitemapindex>: entries are child sitemaps
	Text                // a plain text sitemap: entries are pages
)

// String returns the kind's name, as in "urlset" or "index".
func (k Kind) String() string {
	switch k {
	case URLSet:
		return "urlset"
	case Index:
		return "index"
	case Text:
		return "text"
	}
	return "unknown"
}

// Limits caps what [Parse] reads from one file. The zero value means the defaults;
// negative values, and a MaxLocLen over 1 MiB, are rejected.
type Limits struct {
	MaxBytes  int64 // decompressed (and compressed) bytes of one file; 0 means DefaultMaxBytes (50 MiB)
	MaxURLs   int   // entries of one file, skipped ones included; 0 means DefaultMaxURLs (50,000)
	MaxLocLen int   // bytes of one trimmed <loc> or text line; longer ones are skipped; 0 means DefaultMaxLocLen (2,048)
}

// withDefaults fills zero fields and rejects negative ones.
func (l Limits) withDefaults() (Limits, error) {
	if l.MaxBytes < 0 || l.MaxURLs < 0 || l.MaxLocLen < 0 || l.MaxLocLen > maxToken {
		return l, fmt.Errorf("sitemap: limits %+v: negative, or MaxLocLen over %d", l, maxToken)
	}
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxURLs == 0 {
		l.MaxURLs = DefaultMaxURLs
	}
	if l.MaxLocLen == 0 {
		l.MaxLocLen = DefaultMaxLocLen
	}
	return l, nil
}

// Entry is one <url> of a urlset, one <sitemap> of an index, or one line of a text
// sitemap.
type Entry struct {
	Kind    Kind      // URLSet or Text: Loc is a page; Index: Loc is a child sitemap
	Loc     string    // absolute http or https URL with a host, trimmed of white space
	LastMod time.Time // in UTC; zero when absent or not a W3C datetime
}

// Stats counts what [Parse] read.
type Stats struct {
	Kind    Kind // of the file; Unknown if not recognised
	Gzip    bool // the body was gzip-compressed
	Entries int  // entries delivered to fn
	Skipped int  // entries with a missing, too long or not absolute http(s) loc
}

// Parse reads one sitemap file from r (see the package documentation for the formats
// and rules) and calls fn for each valid entry, in document order, as it is read.
//
// Parse stops at the first error: from fn (returned as is), from r, from a malformed
// document, or at a cap of lim (wrapping [ErrTooLarge]). Because it streams, the
// entries read before the error have already been delivered, and Stats counts them.
// An empty body is a Text sitemap with no entries. Parse does not close r.
func Parse(r io.Reader, lim Limits, fn func(Entry) error) (Stats, error) {
	var st Stats
	lim, err := lim.withDefaults()
	if err != nil {
		return st, err
	}
	// Bound the raw input too: a gzip stream can make little output from much input
	// (e.g. endless empty members).
	raw := bufio.NewReaderSize(&capReader{r: r, max: lim.MaxBytes, tok: -1}, bufSize)
	var body io.Reader = raw
	if magic, _ := raw.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return st, fmt.Errorf("sitemap: gzip: %w", err)
		}
		st.Gzip = true
		body = zr
	}
	cr := &capReader{r: body, max: lim.MaxBytes, tok: -1}
	// The buffer holds a whole text line of MaxLocLen plus surrounding white space.
	br := bufio.NewReaderSize(cr, lim.MaxLocLen+bufSize)
	base := skipBOM(br)
	if !looksXML(br) {
		st.Kind = Text
		return st, parseText(br, lim, &st, fn)
	}
	cr.tok = maxToken
	p := &xmlParser{lim: lim, st: &st, fn: fn, cr: cr, base: base}
	return st, p.run(br)
}

// skipBOM drops a UTF-8 byte order mark and returns how many bytes it dropped.
func skipBOM(br *bufio.Reader) int64 {
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		n, _ := br.Discard(3)
		return int64(n)
	}
	return 0
}

// looksXML reports whether the first non-blank byte of br (within its buffer) is '<'.
func looksXML(br *bufio.Reader) bool {
	b, _ := br.Peek(bufSize)
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '<'
}

// capReader reads at most max bytes of r and then fails with ErrTooLarge if r has
// more. When tok >= 0 it also fails once more than tok bytes were read past mark, which
// the XML parser moves to the decoder's offset after each token.
type capReader struct {
	r    io.Reader
	n    int64 // bytes read so far
	max  int64
	tok  int64 // cap on bytes read past mark; -1: none
	mark int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.tok >= 0 && c.n-c.mark > c.tok {
		return 0, fmt.Errorf("xml token over %d bytes at offset %d: %w", c.tok, c.mark, ErrTooLarge)
	}
	if c.n >= c.max {
		var one [1]byte
		for range 100 {
			n, err := c.r.Read(one[:])
			if n > 0 {
				return 0, fmt.Errorf("more than %d bytes: %w", c.max, ErrTooLarge)
			}
			if err != nil {
				return 0, err
			}
		}
		return 0, io.ErrNoProgress
	}
	if int64(len(p)) > c.max-c.n {
		p = p[:c.max-c.n]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// parseText reads a text sitemap: one URL per line; blank lines are ignored.
func parseText(br *bufio.Reader, lim Limits, st *Stats, fn func(Entry) error) error {
	count := 0
	for {
		line, long, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("sitemap: read text: %w", err)
		}
		if s := strings.TrimSpace(string(line)); s != "" || long {
			count++
			if count > lim.MaxURLs {
				return fmt.Errorf("sitemap: more than %d urls: %w", lim.MaxURLs, ErrTooLarge)
			}
			if long || !utf8.ValidString(s) {
				st.Skipped++
			} else if e := deliver(Entry{Kind: Text, Loc: s}, lim, st, fn); e != nil {
				return e
			}
		}
		if err != nil {
			return nil // io.EOF
		}
	}
}

// readLine returns the next line of br without its end, or long (and no line) if it is
// longer than br's buffer, which it then skips without keeping it. The slice is valid
// until the next read.
func readLine(br *bufio.Reader) (line []byte, long bool, err error) {
	line, err = br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, false, err
	}
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = br.ReadSlice('\n')
	}
	return nil, true, err
}

// deliver checks e.Loc and passes e to fn, or counts it as skipped.
func deliver(e Entry, lim Limits, st *Stats, fn func(Entry) error) error {
	if len(e.Loc) > lim.MaxLocLen || !validLoc(e.Loc) {
		st.Skipped++
		return nil
	}
	st.Entries++
	return fn(e)
}

// validLoc reports whether s is an absolute http or https URL with a host name.
func validLoc(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "" && u.Opaque == ""
}

// xmlParser holds the state of one XML parse.
type xmlParser struct {
	lim  Limits
	st   *Stats
	fn   func(Entry) error
	cr   *capReader
	base int64 // bytes of cr consumed before the decoder started (a BOM)

	item    bool   // inside an entry element (<url> or <sitemap>)
	space   string // name space of the current entry element
	field   int    // the entry's child being read: 0, fieldLoc or fieldMod
	hasLoc  bool   // the entry's first <loc> has started (later ones are ignored)
	hasMod  bool   // likewise for <lastmod>
	longLoc bool   // the loc text passed its cap
	loc     []byte
	mod     []byte
	count   int // entry elements seen
}

const (
	fieldLoc = 1 + iota
	fieldMod
)

func (p *xmlParser) run(r io.Reader) error {
	d := xml.NewDecoder(r)
	d.Strict = false
	d.CharsetReader = func(charset string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf8", "us-ascii", "ascii":
			return in, nil // a subset of UTF-8, or its usual misspelling
		}
		return nil, fmt.Errorf("unsupported encoding %q (sitemaps are UTF-8)", charset)
	}
	depth := 0
	for {
		p.cr.mark = p.base + d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if p.st.Kind == Unknown {
				return fmt.Errorf("sitemap: no root element: %w", ErrFormat)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("sitemap: read xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return fmt.Errorf("sitemap: elements nested over %d deep: %w", maxDepth, ErrFormat)
			}
			if err := p.start(depth, t.Name); err != nil {
				return err
			}
		case xml.EndElement:
			if depth == 3 {
				p.field = 0
			}
			if depth == 2 && p.item {
				p.item = false
				if err := p.end(); err != nil {
					return err
				}
			}
			depth = max(depth-1, 0)
		case xml.CharData:
			if depth == 3 {
				p.text(t)
			}
		}
	}
}

// start handles a start tag at depth (1 for the root).
func (p *xmlParser) start(depth int, name xml.Name) error {
	switch depth {
	case 1:
		switch name.Local {
		case "urlset":
			p.st.Kind = URLSet
		case "sitemapindex":
			p.st.Kind = Index
		default:
			return fmt.Errorf("sitemap: root element <%s>: %w", name.Local, ErrFormat)
		}
	case 2:
		if (p.st.Kind == URLSet && name.Local == "url") || (p.st.Kind == Index && name.Local == "sitemap") {
			p.count++
			if p.count > p.lim.MaxURLs {
				return fmt.Errorf("sitemap: more than %d entries: %w", p.lim.MaxURLs, ErrTooLarge)
			}
			p.item, p.space, p.hasLoc, p.hasMod, p.longLoc = true, name.Space, false, false, false
			p.loc, p.mod = p.loc[:0], p.mod[:0]
		}
	case 3:
		// An extension's child (image:loc) has its own name space; the entry's own
		// children share the entry's (or have none, when a document mixes them).
		if !p.item || (name.Space != p.space && name.Space != "") {
			return nil
		}
		switch {
		case name.Local == "loc" && !p.hasLoc:
			p.field, p.hasLoc = fieldLoc, true
		case name.Local == "lastmod" && !p.hasMod:
			p.field, p.hasMod = fieldMod, true
		}
	}
	return nil
}

// text appends character data of the field being read, within bounds.
func (p *xmlParser) text(b []byte) {
	switch p.field {
	case fieldLoc:
		if len(p.loc) == 0 {
			b = bytes.TrimLeft(b, " \t\r\n")
		}
		// Leave room for trailing white space before calling the loc too long.
		if len(p.loc)+len(b) > p.lim.MaxLocLen+bufSize {
			p.longLoc = true
			return
		}
		p.loc = append(p.loc, b...)
	case fieldMod:
		if len(p.mod)+len(b) <= maxModLen {
			p.mod = append(p.mod, b...)
		}
	}
}

// end delivers the entry just closed.
func (p *xmlParser) end() error {
	loc := strings.TrimSpace(string(p.loc))
	if !p.hasLoc || p.longLoc || loc == "" {
		p.st.Skipped++
		return nil
	}
	e := Entry{Kind: p.st.Kind, Loc: loc, LastMod: ParseLastMod(string(p.mod))}
	return deliver(e, p.lim, p.st, p.fn)
}

// ParseLastMod parses a <lastmod> value in one of the W3C datetime forms and returns it
// in UTC, or the zero time if s (trimmed) is none of them. A value without a zone is
// read as UTC.
func ParseLastMod(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxModLen {
		return time.Time{}
	}
	// The W3C datetime forms (https://www.w3.org/TR/NOTE-datetime), plus forms without
	// a zone that sitemaps often use.
	layouts := [...]string{
		time.RFC3339Nano, // also YYYY-MM-DDThh:mm:ssTZD
		"2006-01-02T15:04Z07:00",
		"2006-01-02",
		"2006-01",
		"2006",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02 15:04:05Z07:00",
		"2006-01-02 15:04:05",
	}
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
