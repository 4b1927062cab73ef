package extract

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/transform"
)

// maxDecodeRatio bounds the UTF-8 that ExtractCharset makes of a body: at
// most this many times its length (plus a little). A byte of a legacy
// encoding becomes at most 3 bytes of UTF-8 (a replacement character
// included), and a UTF-16 code unit at most 3 as well.
const maxDecodeRatio = 4

// ExtractCharset is Extract for a body in any encoding: it determines the
// encoding as the HTML standard does, decodes the body to UTF-8 if it is
// not already, and reads it in the same single pass. contentType is the
// response's Content-Type header, "" if there was none.
//
// The encoding is, in order: a byte order mark; the charset parameter of
// contentType, if it names a known encoding; a <meta charset> or
// <meta http-equiv="Content-Type" content="...; charset=..."> in the first
// 1024 bytes; else UTF-8 if the whole body is valid UTF-8, else
// windows-1252 (which is also what "iso-8859-1" and "us-ascii" name).
// Labels are those of the WHATWG Encoding standard
// (golang.org/x/net/html/charset.DetermineEncoding); Document.Charset
// names the one used.
//
// A UTF-8 body (without its BOM) is read as is, as Extract reads it:
// invalid bytes become U+FFFD in the title and text, and stay
// percent-escaped in link URLs. Any other body is decoded to UTF-8 first,
// into at most 4 times its length (enough for any encoding); bytes the
// encoding cannot decode become U+FFFD. Non-ASCII characters in links are
// then percent-encoded as UTF-8, which for a query string is not what a
// browser sends to a legacy-encoded site (it uses the page's encoding).
//
// It returns an error wrapping ErrNotAbsolute if pageURL is nil or not
// absolute, and no other.
func (e *Extractor) ExtractCharset(body []byte, pageURL *url.URL, contentType string) (*Document, error) {
	if pageURL == nil {
		return nil, fmt.Errorf("%w: nil", ErrNotAbsolute)
	}
	if !pageURL.IsAbs() {
		return nil, fmt.Errorf("%w: %q", ErrNotAbsolute, pageURL)
	}
	enc, name, certain := charset.DetermineEncoding(body, contentType)
	if !certain && name == "windows-1252" && !declaresCharset(body) && utf8.Valid(body) {
		// No declaration at all: windows-1252 is DetermineEncoding's guess
		// when the first 1024 bytes are ASCII, but the rest may be UTF-8.
		name = "utf-8"
	}
	if name == "utf-8" {
		return e.extract(bytes.TrimPrefix(body, []byte(utf8BOM)), pageURL, name), nil
	}
	r := transform.NewReader(bytes.NewReader(body), enc.NewDecoder())
	var buf bytes.Buffer
	buf.Grow(len(body) + len(body)/2 + 64)
	// A decoder error cannot happen: undecodable input becomes U+FFFD.
	_, _ = buf.ReadFrom(io.LimitReader(r, int64(maxDecodeRatio*len(body)+64)))
	// A UTF-16 decoder keeps its byte order mark.
	return e.extract(bytes.TrimPrefix(buf.Bytes(), []byte(utf8BOM)), pageURL, name), nil
}

// utf8BOM is the UTF-8 byte order mark.
const utf8BOM = "\xef\xbb\xbf"

// declaresCharset reports whether the first 1024 bytes of body say
// "charset" anywhere (ASCII case-insensitively): where a <meta> declaration
// would be, so that DetermineEncoding's windows-1252 came from one.
func declaresCharset(body []byte) bool {
	head := body[:min(len(body), 1024)]
	for i := 0; i+len("charset") <= len(head); i++ {
		if equalFoldASCII(head[i:i+len("charset")], "charset") {
			return true
		}
	}
	return false
}
