package fetch

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// drainLimit is how much of an unwanted body is read before closing it, so that a short
// remainder keeps the connection reusable without a long one costing much.
const drainLimit = 4 << 10

// maxCodings bounds the number of stacked Content-Encodings undone.
const maxCodings = 3

// errRawLimit stops reading a compressed body whose encoded size passed its cap.
var errRawLimit = errors.New("fetch: encoded body too long")

// bodies holds body buffers given back by Result.Release, for the next fetches: the
// allocation profile of a crawl had the bodies at 15 % of the bytes it allocated, each a
// new buffer that the garbage collector then had to reclaim.
var bodies sync.Pool // of *[]byte

// maxPooledBody is the largest buffer kept in bodies: a rare huge page does not stay.
const maxPooledBody = 256 << 10

// newBody returns an empty buffer for a body of about hint bytes: a pooled one if it is
// large enough.
func newBody(hint int) []byte {
	if p, _ := bodies.Get().(*[]byte); p != nil && cap(*p) >= hint {
		return (*p)[:0]
	}
	return make([]byte, 0, max(hint, 4<<10))
}

// Release gives r.Body's buffer back for later fetches and sets r.Body to nil. Call it
// once nothing holds r.Body any more (nor any slice of it); a Result not released is
// simply collected.
func (r *Result) Release() {
	if r == nil {
		return
	}
	if c := cap(r.Body); c > 0 && c <= maxPooledBody {
		b := r.Body[:0]
		bodies.Put(&b)
	}
	r.Body = nil
}

// discard drains a little of body and closes it.
func discard(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, drainLimit)
	_ = body.Close()
}

// readBody reads and closes resp.Body, undoing its Content-Encoding and keeping at most limit
// decoded bytes. truncated reports that the body had more. A read or decode error is
// returned as is (io.ErrUnexpectedEOF for a body cut short), never as a short body.
func readBody(resp *http.Response, limit int64) (body []byte, truncated bool, err error) {
	defer discard(resp.Body)
	codings, err := contentCodings(resp.Header)
	if err != nil {
		return nil, false, err
	}
	return decodeBody(resp.Body, codings, limit, resp.ContentLength)
}

// decodeBody reads r, undoing codings (in the order they were applied), and keeps at most
// limit decoded bytes. size is the encoded length when known, else -1.
func decodeBody(r io.Reader, codings []string, limit, size int64) (body []byte, truncated bool, err error) {
	var dec io.Reader = r
	if len(codings) > 0 {
		// A compressed stream can make little output from much input (e.g. endless empty gzip
		// members); bound the input as well so that such a body ends.
		dec = &cappedReader{r: r, n: 2*limit + 64<<10}
		for i := len(codings) - 1; i >= 0; i-- {
			if dec, err = decoder(codings[i], dec); err != nil {
				if errors.Is(err, errRawLimit) {
					return nil, true, nil
				}
				return nil, false, err
			}
		}
	}
	hint := int64(512)
	if len(codings) == 0 && size >= 0 {
		hint = min(size, limit) + 1
	}
	body, err = readAll(io.LimitReader(dec, limit+1), newBody(int(hint)), int(limit+1))
	if errors.Is(err, errRawLimit) {
		truncated, err = true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > limit {
		body, truncated = body[:limit], true
	}
	return body, truncated, nil
}

// readAll appends r to buf until EOF, like io.ReadAll with a caller-sized buffer, reading at
// most max bytes in all. It doubles the buffer as it fills, up to max: append's growth slows
// to 1.25x on large slices, which would allocate about five times a large body on its way.
func readAll(r io.Reader, buf []byte, max int) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= max {
				return buf, nil
			}
			grown := make([]byte, len(buf), min(2*cap(buf)+512, max))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// contentCodings returns the codings listed in h's Content-Encoding, lower-case, in the
// order they were applied, without "identity".
func contentCodings(h http.Header) ([]string, error) {
	var codings []string
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			if c == "" || c == "identity" {
				continue
			}
			if c != "gzip" && c != "x-gzip" && c != "deflate" {
				return nil, fmt.Errorf("unsupported content encoding %q", c)
			}
			codings = append(codings, c)
		}
	}
	if len(codings) > maxCodings {
		return nil, fmt.Errorf("%d stacked content encodings", len(codings))
	}
	return codings, nil
}

// decoder returns a reader undoing coding (gzip, x-gzip or deflate) on r. An empty r decodes
// to nothing.
func decoder(coding string, r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if len(head) == 0 && err == io.EOF {
		return strings.NewReader(""), nil
	}
	if len(head) < 2 && err != nil && err != io.EOF {
		return nil, err
	}
	switch coding {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read gzip header: %w", err)
		}
		return zr, nil
	default: // deflate: RFC 9110 says zlib-wrapped, but many servers send raw DEFLATE.
		if len(head) == 2 && isZlibHeader(head[0], head[1]) {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, fmt.Errorf("read zlib header: %w", err)
			}
			return zr, nil
		}
		return flate.NewReader(br), nil
	}
}

// isZlibHeader reports whether cmf and flg start a zlib stream (RFC 1950): method 8,
// window at most 32 KiB, and the check bits.
func isZlibHeader(cmf, flg byte) bool {
	return cmf&0x0f == 8 && cmf>>4 <= 7 && (uint16(cmf)<<8|uint16(flg))%31 == 0
}

// cappedReader reads at most n bytes from r, then fails with errRawLimit.
type cappedReader struct {
	r io.Reader
	n int64
}

// Read reads from c.r up to the remaining allowance.
func (c *cappedReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errRawLimit
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// mediaType returns the media type of a Content-Type value, lower-case and without
// parameters ("text/html" for "Text/HTML; charset=utf-8"), or "" for an empty one.
func mediaType(contentType string) string {
	// What mime.ParseMediaType gives for a valid type, and what this
	// function gave for an invalid one, without ParseMediaType's map of
	// parameters (4 % of the bytes a crawl allocated). FuzzMediaType
	// checks it against that version.
	base, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(base))
}

// charsetParam returns the charset parameter of a Content-Type value, lower-case and
// unquoted, or "" when there is none. A value mime.ParseMediaType rejects is read leniently:
// the first "charset=" parameter wins.
func charsetParam(contentType string) string {
	if v, ok := simpleCharset(contentType); ok {
		return v
	}
	return parseCharset(contentType)
}

// parseCharset is charsetParam for any value, with mime.ParseMediaType.
func parseCharset(contentType string) string {
	if !strings.Contains(strings.ToLower(contentType), "charset") {
		return ""
	}
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		return strings.ToLower(strings.TrimSpace(params["charset"]))
	}
	_, rest, _ := strings.Cut(contentType, ";")
	for p := range strings.SplitSeq(rest, ";") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "charset") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return strings.ToLower(strings.TrimSpace(v))
	}
	return ""
}

// simpleCharset reads the Content-Type values most servers send, "type/subtype" and
// "type/subtype; charset=name", without mime.ParseMediaType's map; ok is false for any
// other value. FuzzMediaType checks it against parseCharset.
func simpleCharset(contentType string) (charset string, ok bool) {
	base, rest, found := strings.Cut(contentType, ";")
	if !isToken(base, true) {
		return "", false
	}
	if !found {
		return "", true
	}
	rest = strings.TrimLeft(rest, " ")
	if len(rest) < len("charset=") || !strings.EqualFold(rest[:len("charset=")], "charset=") {
		return "", false
	}
	v := rest[len("charset="):]
	if !isToken(v, false) {
		return "", false
	}
	return strings.ToLower(v), true
}

// isToken reports whether s is a non-empty run of RFC 7230 token characters, with one '/'
// inside it when slash is set.
func isToken(s string, slash bool) bool {
	if s == "" {
		return false
	}
	slashes := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '/' && slash && i > 0 && i < len(s)-1:
			slashes++
		case !httpguts.IsTokenRune(rune(c)):
			return false
		}
	}
	return slashes == 1 || !slash
}

// sniffLen is how much of a body sniffBinary reads: WHATWG MIME Sniffing's resource header
// (1445 bytes), which also covers http.DetectContentType's 512.
const sniffLen = 1445

// sniffBinary returns the media type of a body declared as HTML (or XHTML) whose first bytes
// say it is not text, or "" when they could be text. It catches what a server mislabels:
// a known binary signature (PNG, GIF, JPEG, PDF, ZIP, gzip, fonts, media: anything
// http.DetectContentType names outside text/*), or, where none matches, a "binary data byte"
// (WHATWG MIME Sniffing: 0x00-0x08, 0x0B, 0x0E-0x1A, 0x1C-0x1F, NUL included) in the first
// sniffLen bytes, which gives "application/octet-stream". Text in UTF-16 is full of NULs, so
// a UTF-16 byte order mark or a utf-16 or utf-32 charset (charset: the header's, lower-case)
// leaves the signatures alone to decide.
func sniffBinary(body []byte, charset string) string {
	head := body[:min(len(body), sniffLen)]
	if len(head) == 0 || bytes.HasPrefix(head, []byte{0xfe, 0xff}) || bytes.HasPrefix(head, []byte{0xff, 0xfe}) {
		return ""
	}
	wide := strings.HasPrefix(charset, "utf-16") || strings.HasPrefix(charset, "utf-32")
	mt := mediaType(http.DetectContentType(head))
	switch {
	case mt == "application/octet-stream" && wide:
		return "" // no signature, only DetectContentType's own binary-byte test, which wide text fails
	case !strings.HasPrefix(mt, "text/"):
		return mt
	case wide:
		return ""
	}
	for _, c := range head {
		if c < 0x20 && isBinaryDataByte(c) {
			return "application/octet-stream"
		}
	}
	return ""
}

// isBinaryDataByte reports whether c (below 0x20) is a WHATWG "binary data byte": a control
// character other than TAB, LF, FF, CR and ESC.
func isBinaryDataByte(c byte) bool {
	return c != '\t' && c != '\n' && c != '\f' && c != '\r' && c != 0x1b
}

// isHTMLType reports whether mt (a media type as mediaType returns it) declares HTML, which
// callers parse for links.
func isHTMLType(mt string) bool {
	return mt == "text/html" || mt == "application/xhtml+xml"
}
