package testserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/adler32"
	"hash/crc32"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Paths served by every host when SiteConfig.Hostile is set. HostilePaths
// lists them with what each does; the host's root links to each.
const (
	PathHang             = "/hostile/hang"
	PathHeadersOnly      = "/hostile/headers-then-nothing"
	PathDrip             = "/hostile/drip"
	PathEndless          = "/hostile/endless"
	PathHugeLength       = "/hostile/huge-length"
	PathGzipBomb         = "/hostile/gzip-bomb"
	PathDeflateBomb      = "/hostile/deflate-bomb"
	PathTruncatedChunked = "/hostile/truncated-chunked"
	PathCloseMidBody     = "/hostile/close-mid-body"
	PathRedirectLoop     = "/hostile/loop/a"
	PathRedirectChain    = "/hostile/chain/0"
	PathWrongType        = "/hostile/wrong-type"
	PathNoType           = "/hostile/no-type"
	PathNoTypeBinary     = "/hostile/no-type-binary"
	PathPDF              = "/hostile/pdf"
	PathBadUTF8          = "/hostile/bad-utf8"
	PathLatin1           = "/hostile/latin1"
	PathShiftJIS         = "/hostile/shift-jis"
	PathMalformed        = "/hostile/malformed"
	PathManyLinks        = "/hostile/many-links"
	PathOddURLs          = "/hostile/odd-urls"
)

// Path prefixes below /hostile/ that hold the targets of hostile pages.
const (
	// PathTinyPrefix is a prefix below which every path is a small HTML
	// page with no links, status 200. Most links of the hostile pages point
	// here.
	PathTinyPrefix = "/hostile/page/"
	// PathManyPrefix is the prefix of /hostile/many/<k>, the targets of
	// PathManyLinks: small pages with no links.
	PathManyPrefix = "/hostile/many/"
	// PathOddPrefix is the prefix of the targets of PathOddURLs; every path
	// below it is a small page.
	PathOddPrefix = "/hostile/odd/"
	// PathDecoyPrefix holds links that a crawler following the rules never
	// requests: they appear only inside <script>, <style>, comments,
	// <textarea>, a tag cut off at the end of the document, a body labelled
	// image/png or application/pdf, and under the second of two <base>
	// elements (HTML uses the first). Each path below it is a small page,
	// so a test asserts HitsWithPrefix(host, PathDecoyPrefix) == 0.
	PathDecoyPrefix = "/hostile/decoy/"
)

// Sizes and counts of the hostile responses.
const (
	// DripInterval is the pause between two bytes of PathDrip and of the
	// "slow" robots.txt.
	DripInterval = time.Second
	// HugeContentLength is the Content-Length PathHugeLength announces,
	// 10 GiB.
	HugeContentLength int64 = 10 << 30
	// BombSize is the decompressed size of PathGzipBomb and
	// PathDeflateBomb in bytes (200 MiB); each is sent as about 200 KiB.
	BombSize = 200 << 20
	// CloseMidBodyLength is the Content-Length PathCloseMidBody announces;
	// CloseMidBodySent is how many body bytes it sends before closing.
	CloseMidBodyLength = 100_000
	CloseMidBodySent   = 1000
	// RedirectChainHops is the number of redirects from PathRedirectChain
	// to the page that ends the chain, /hostile/chain/30.
	RedirectChainHops = 30
	// ManyLinks is the number of distinct links on PathManyLinks, to
	// /hostile/many/0 ... /hostile/many/99999.
	ManyLinks = 100_000
)

// Expected readings of the pages in legacy encodings, once decoded to
// UTF-8.
const (
	// Latin1Title is the title of PathLatin1, sent as ISO-8859-1 bytes
	// "Caf\xe9 \xbb menu" and declared only in the Content-Type header
	// (text/html; charset=iso-8859-1).
	Latin1Title = "Café » menu"
	// Latin1LinkPath is the path of PathLatin1's link, sent as the
	// ISO-8859-1 bytes "/hostile/page/caf\xe9". Decoded, it is this path,
	// requested as /hostile/page/caf%C3%A9 and counted by Hits under this
	// decoded form. A crawler that does not decode requests
	// /hostile/page/caf%E9, counted as "/hostile/page/caf%E9".
	Latin1LinkPath = "/hostile/page/café"
	// ShiftJISTitle is the title of PathShiftJIS, sent as Shift_JIS bytes
	// and declared only by <meta charset="Shift_JIS"> (the header says
	// text/html with no charset).
	ShiftJISTitle = "日本語のページ"
	// ShiftJISLinkPath is the decoded path of PathShiftJIS's link, sent as
	// Shift_JIS bytes; requested as /hostile/page/%E3%83%86... and counted
	// by Hits under this decoded form.
	ShiftJISLinkPath = "/hostile/page/テスト"
)

// HostilePath is one entry of HostilePaths.
type HostilePath struct {
	Path string // the path to request, e.g. PathHang
	Doc  string // what the server does there, and what a careful client does
}

// HostilePaths returns the paths a host serves when SiteConfig.Hostile is
// set, in the order the root links to them. Each call returns a new slice.
func HostilePaths() []HostilePath {
	return []HostilePath{
		{PathHang, "never answers: no status line, no headers, until the client goes away or Close. A client needs a response-header timeout."},
		{PathHeadersOnly, "200 text/html headers, flushed, then no body byte until the client goes away. A client needs a body/idle timeout."},
		{PathDrip, "200 text/html, then one body byte every DripInterval, forever. A client needs an overall deadline, not only an idle one."},
		{PathEndless, "200 text/html, chunked, an endless stream of <p> paragraphs written as fast as the client reads. A client needs a body size cap."},
		{PathHugeLength, "200 text/html with Content-Length: 10737418240 (HugeContentLength) and a body streamed until the client goes away. A client rejects it from the header; BytesWritten tells how much was sent."},
		{PathGzipBomb, "200 text/html, Content-Encoding: gzip, about 200 KiB that inflate to BombSize (200 MiB) of zero bytes. A client caps decompressed bytes."},
		{PathDeflateBomb, "200 text/html, Content-Encoding: deflate (zlib-wrapped, RFC 9110), about 200 KiB that inflate to BombSize bytes of repeated <br>."},
		{PathTruncatedChunked, "200 text/html, chunked: some HTML, then the connection closes without the terminating chunk. A client sees an unexpected EOF."},
		{PathCloseMidBody, "200 text/html with Content-Length: 100000 (CloseMidBodyLength); 1000 bytes (CloseMidBodySent) are sent, then the connection closes."},
		{PathRedirectLoop, "302 to /hostile/loop/b, which redirects back to /hostile/loop/a, forever. A client caps redirects."},
		{PathRedirectChain, "302 to /hostile/chain/1, and so on: RedirectChainHops (30) redirects, then /hostile/chain/30 is a 200 page."},
		{PathWrongType, "an HTML page with links to PathDecoyPrefix, sent as Content-Type: image/png. A crawler that trusts the type does not parse it."},
		{PathNoType, "an HTML page with no Content-Type header (sniffing gives text/html); it links to /hostile/page/no-type-link."},
		{PathNoTypeBinary, "a binary body (PNG signature and bytes) with no Content-Type header; sniffing gives image/png."},
		{PathPDF, "a PDF-like binary body, Content-Type: application/pdf, mentioning a PathDecoyPrefix URL."},
		{PathBadUTF8, "text/html; charset=utf-8 with invalid UTF-8 bytes (\\xff\\xfe, \\xc3\\x28) in <title> and in hrefs below PathTinyPrefix. A crawler stores valid UTF-8 (invalid bytes replaced or dropped) and escapes the bytes in URLs."},
		{PathLatin1, "text/html; charset=iso-8859-1 (header only) titled Latin1Title and linking to Latin1LinkPath, both in ISO-8859-1 bytes."},
		{PathShiftJIS, "text/html without charset, declared by <meta charset=\"Shift_JIS\">, titled ShiftJISTitle and linking to ShiftJISLinkPath, in Shift_JIS bytes."},
		{PathMalformed, "tag soup: unclosed tags, unquoted and single-quoted attributes, stray '<', nested <a>, two <base> elements, and decoy links in <script>, <style>, comments, <textarea> and a tag cut off at EOF. MalformedLinks gives the links an HTML5 parser finds."},
		{PathManyLinks, "one page of ManyLinks (100,000) distinct same-host links to /hostile/many/<k>, streamed. A crawler caps links per page."},
		{PathOddURLs, "links with odd escaping (%2e%2e, %zz, spaces, raw Unicode, // runs, upper- and lower-case escapes), an IDN host (http://bücher.example/, out of scope: never fetched), IPv6 literals (http://[::1]:port/) and relative forms."},
	}
}

// MalformedLinks returns the paths of the links an HTML5 parser finds on
// PathMalformed, resolved against its first <base>, in document order. A
// crawler that reads the page right requests these and nothing below
// PathDecoyPrefix. Each call returns a new slice.
func MalformedLinks() []string {
	return []string{
		"/hostile/page/m1",
		"/hostile/page/m2",
		"/hostile/page/m3",
		"/hostile/page/m4",
		"/hostile/page/m5",
		"/hostile/page/base1/m6",
		"/hostile/page/m7",
		"/hostile/page/m8",
		"/hostile/page/m9",
		"/hostile/page/m10",
	}
}

// malformedHTML is the body of PathMalformed; see MalformedLinks.
const malformedHTML = `<!DOCTYPE html>
<html><head>
<meta charset="utf-8">
<title>Malformed <b>page</title>
<base href="/hostile/page/base1/">
<base href="/hostile/decoy/base2/">
<style>/* <a href="/hostile/decoy/style">x</a> */ a { color: red }</style>
<script>var s = '<a href="/hostile/decoy/script">x</a>'; if (a < b) {}</script>
</head>
<body>
<!-- <a href="/hostile/decoy/comment">commented out</a> -->
<p>unquoted <a href=/hostile/page/m1>one</a>
<p>single quotes <a href='/hostile/page/m2'>two</a>
<div><table><tr><td>upper case <A HREF="/hostile/page/m3">three</A>
<p>nested <a href="/hostile/page/m4">outer <a href="/hostile/page/m5">inner</a> tail</a>
<p>relative <a href="m6">six</a> (resolved against the first base only)
<ul><li>unclosed list <li><a href="/hostile/page/m7">seven</a>
<p>stray a < b and 3 <4 and << <a href="/hostile/page/m8">eight</a>
<p>spaced <a href = "/hostile/page/m9" >nine</a>
<p>boolean first <a download href="/hostile/page/m10">ten</a>
<textarea><a href="/hostile/decoy/textarea">in a textarea</a></textarea>
<p>an unclosed paragraph
<div>and an unclosed div
<a href="/hostile/decoy/eof"`

// writeTinyPage writes a small HTML page without links, titled title, that
// names path.
func writeTinyPage(w http.ResponseWriter, title, path string) int {
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>")
	b.WriteString(html.EscapeString(title))
	b.WriteString("</title></head><body><h1>")
	b.WriteString(html.EscapeString(title))
	b.WriteString("</h1><p>")
	b.WriteString(html.EscapeString(path))
	b.WriteString("</p></body></html>\n")
	return writeHTML(w, http.StatusOK, "text/html; charset=utf-8", b.Bytes())
}

// writeHTML writes body with status, content type ct (none if "") and its
// Content-Length.
func writeHTML(w http.ResponseWriter, status int, ct string, body []byte) int {
	if ct == "" {
		w.Header()["Content-Type"] = nil // stops net/http from sniffing one
	} else {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
	return status
}

// serveHostile serves the paths below /hostile/ and reports whether path was
// one of them.
func (h *host) serveHostile(w http.ResponseWriter, r *http.Request, key string) (int, bool) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, PathTinyPrefix), strings.HasPrefix(path, PathOddPrefix),
		strings.HasPrefix(path, PathDecoyPrefix):
		return writeTinyPage(w, "Tiny page", path), true
	case strings.HasPrefix(path, PathBinaryAsHTMLPrefix):
		return serveBinaryAsHTML(w, path[len(PathBinaryAsHTMLPrefix):])
	case strings.HasPrefix(path, PathManyPrefix):
		return writeTinyPage(w, "Many "+path[len(PathManyPrefix):], path), true
	case strings.HasPrefix(path, "/hostile/chain/"):
		n, err := strconv.Atoi(path[len("/hostile/chain/"):])
		switch {
		case err != nil || n < 0 || n > RedirectChainHops || strconv.Itoa(n) != path[len("/hostile/chain/"):]:
			return 0, false
		case n == RedirectChainHops:
			return writeTinyPage(w, "End of the chain", path), true
		}
		return redirect(w, "/hostile/chain/"+strconv.Itoa(n+1)), true
	}
	switch path {
	case PathHang:
		<-r.Context().Done()
		return 0, true // aborts the connection
	case PathHeadersOnly:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
		return http.StatusOK, true
	case PathDrip:
		return h.drip(w, r, key, "text/html; charset=utf-8",
			"<!DOCTYPE html><html><head><title>Drip</title></head><body><p>", "drip "), true
	case PathEndless:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		h.stream(w, r, key, []byte("<!DOCTYPE html><html><head><title>Endless</title></head><body>\n"))
		return http.StatusOK, true
	case PathHugeLength:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.FormatInt(HugeContentLength, 10))
		w.WriteHeader(http.StatusOK)
		h.stream(w, r, key, []byte("<!DOCTYPE html><html><head><title>Huge</title></head><body>\n"))
		return http.StatusOK, true
	case PathGzipBomb, PathDeflateBomb:
		gz, df := h.site.bombs()
		body, enc := gz, "gzip"
		if path == PathDeflateBomb {
			body, enc = df, "deflate"
		}
		w.Header().Set("Content-Encoding", enc)
		return writeHTML(w, http.StatusOK, "text/html; charset=utf-8", body), true
	case PathTruncatedChunked:
		return h.cutOff(w, key, "", "<!DOCTYPE html><html><head><title>Truncated</title></head><body>\n"+
			strings.Repeat("<p>this chunked body never gets its terminating chunk</p>\n", 40)), true
	case PathCloseMidBody:
		return h.cutOff(w, key, strconv.Itoa(CloseMidBodyLength), closeMidBody()), true
	case PathRedirectLoop:
		return redirect(w, "/hostile/loop/b"), true
	case "/hostile/loop/b":
		return redirect(w, PathRedirectLoop), true
	case PathWrongType:
		return writeHTML(w, http.StatusOK, "image/png", []byte("<!DOCTYPE html><html><head><title>Not an image</title></head><body>"+
			"<a href=\"/hostile/decoy/wrong-type\">a link in a body labelled image/png</a></body></html>\n")), true
	case PathNoType:
		return writeHTML(w, http.StatusOK, "", []byte("<!DOCTYPE html><html><head><title>No type</title></head><body>"+
			"<a href=\"/hostile/page/no-type-link\">a link in an HTML body without Content-Type</a></body></html>\n")), true
	case PathNoTypeBinary:
		return writeHTML(w, http.StatusOK, "", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"+
			"\x00\x00\x00\x00IEND\xaeB`\x82")), true
	case PathPDF:
		return writeHTML(w, http.StatusOK, "application/pdf", []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /URI (/hostile/decoy/pdf) >>\nendobj\n"+
			"stream\n\x00\x01\x02\x03\xff\xfe<a href=\"/hostile/decoy/pdf\">\nendstream\n%%EOF\n")), true
	case PathBadUTF8:
		return writeHTML(w, http.StatusOK, "text/html; charset=utf-8", []byte("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"+
			"<title>Bad \xff\xfe title \xc3\x28</title></head><body>"+
			"<a href=\"/hostile/page/bad\xff\xfe\">invalid bytes in the path</a> "+
			"<a href=\"/hostile/page/ok?q=\xc3\x28\">an invalid sequence in the query</a> "+
			"<a href=\"/hostile/page/good\">a good link \xe9</a></body></html>\n")), true
	case PathLatin1:
		return writeHTML(w, http.StatusOK, "text/html; charset=iso-8859-1", []byte("<!DOCTYPE html><html><head>"+
			"<title>Caf\xe9 \xbb menu</title></head><body><h1>Caf\xe9 \xbb menu</h1>"+
			"<a href=\"/hostile/page/caf\xe9\">la carte du caf\xe9</a></body></html>\n")), true
	case PathShiftJIS:
		// 日本語のページ and テスト in Shift_JIS; no trail byte is 0x5C.
		return writeHTML(w, http.StatusOK, "text/html", []byte("<!DOCTYPE html><html><head><meta charset=\"Shift_JIS\">"+
			"<title>\x93\xfa\x96\x7b\x8c\xea\x82\xcc\x83\x79\x81\x5b\x83\x57</title></head><body>"+
			"<a href=\"/hostile/page/\x83\x65\x83\x58\x83\x67\">\x83\x65\x83\x58\x83\x67</a></body></html>\n")), true
	case PathMalformed:
		return writeHTML(w, http.StatusOK, "text/html; charset=utf-8", []byte(malformedHTML)), true
	case PathManyLinks:
		return h.manyLinks(w), true
	case PathOddURLs:
		var b bytes.Buffer
		b.WriteString("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Odd URLs</title></head><body>\n")
		for _, href := range oddHrefs(h.addr) {
			b.WriteString("<a href=\"")
			b.WriteString(strings.ReplaceAll(href, `"`, "&quot;")) // raw otherwise: the oddities are the point
			b.WriteString("\">odd</a>\n")
		}
		b.WriteString("</body></html>\n")
		return writeHTML(w, http.StatusOK, "text/html; charset=utf-8", b.Bytes()), true
	}
	return 0, false
}

// oddHrefs returns the hrefs of PathOddURLs for the host at addr
// ("127.0.0.1:port"), as written in the page.
func oddHrefs(addr string) []string {
	_, port, _ := strings.Cut(addr, ":")
	return []string{
		"/hostile/odd/a/%2e%2e/%2E%2E/b",   // encoded dot segments
		"/hostile/odd/%zz",                 // invalid escape
		"/hostile/odd/with space",          // raw space
		"  /hostile/odd/padded\n",          // whitespace HTML strips
		"/hostile/odd/ünïcödé",             // raw UTF-8
		"/hostile/odd/%C3%BCber",           // upper-case escapes
		"/hostile/odd/%c3%bcber",           // the same, lower case
		"/hostile/odd/%7Etilde",            // an escaped unreserved character
		"/hostile/odd/~tilde",              // the same, unescaped
		"/hostile/odd//double///slash",     // runs of slashes
		"/hostile/odd/a%2Fb",               // an escaped slash (not a separator)
		"/hostile/odd/q?b=2&a=1&&a=1#frag", // an untidy query
		"/hostile/odd/x/../y/./z",          // dot segments
		"odd/relative",                     // relative to /hostile/
		"./odd/dot-relative",               // the same with ./
		"../hostile/odd/parent",            // up and down again
		"?q=1",                             // query only
		"#top",                             // fragment only
		"",                                 // empty: this page
		"//" + addr + "/hostile/odd/schemeless",
		"HTTP://" + addr + "/hostile/odd/UPPER-scheme",
		"http://bücher.example/",                     // IDN host, out of scope: never fetched
		"http://xn--bcher-kva.example/",              // its ASCII form, out of scope too
		"http://[::1]:" + port + "/hostile/odd/ipv6", // IPv6 literal: another host
		"http://[0:0:0:0:0:0:0:1]:" + port + "/hostile/odd/ipv6-long",
		"javascript:alert(1)",
		"mailto:odd@example.com",
	}
}

// redirect writes a 302 to location.
func redirect(w http.ResponseWriter, location string) int {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusFound)
	return http.StatusFound
}

// closeMidBody returns the CloseMidBodySent bytes PathCloseMidBody sends.
func closeMidBody() string {
	const head = "<!DOCTYPE html><html><head><title>Cut short</title></head><body>\n"
	return head + strings.Repeat("x", CloseMidBodySent-len(head))
}

// cutOff writes a 200 text/html response with body, announcing length ("" for
// chunked), then closes the connection before the response is complete.
func (h *host) cutOff(w http.ResponseWriter, key, length, body string) int {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if length != "" {
		w.Header().Set("Content-Length", length)
	}
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(body))
	rc := http.NewResponseController(w)
	rc.Flush()
	conn, _, err := rc.Hijack() // flushes what was written, then the server lets go
	if err != nil {
		return 0 // aborts the connection, which also cuts the body short
	}
	conn.Close()
	h.addWritten(key, int64(len(body)))
	return http.StatusOK
}

// stream writes head, then HTML paragraphs, to w until the client goes away or
// a write fails, adding the bytes written to h's count for key.
func (h *host) stream(w http.ResponseWriter, r *http.Request, key string, head []byte) {
	const para = "<p>this body never ends; a careful client stops reading long before it would. " +
		"the quick crawler visits every page once and only once while the polite server counts.</p>\n"
	chunk := make([]byte, 0, 32<<10)
	for len(chunk)+len(para) <= cap(chunk) {
		chunk = append(chunk, para...)
	}
	ctx := r.Context()
	for buf := head; ctx.Err() == nil; buf = chunk {
		n, err := w.Write(buf)
		h.addWritten(key, int64(n))
		if err != nil {
			return
		}
	}
}

// drip writes head at once, then text one byte every DripInterval, cycling,
// until the client goes away or a write fails.
func (h *host) drip(w http.ResponseWriter, r *http.Request, key, ct, head, text string) int {
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	n, err := w.Write([]byte(head))
	h.addWritten(key, int64(n))
	if err != nil || rc.Flush() != nil {
		return http.StatusOK
	}
	t := time.NewTicker(DripInterval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-r.Context().Done():
			return http.StatusOK
		case <-t.C:
		}
		n, err := w.Write([]byte{text[i%len(text)]})
		h.addWritten(key, int64(n))
		if err != nil || rc.Flush() != nil {
			return http.StatusOK
		}
	}
}

// manyLinks streams the page of PathManyLinks.
func (h *host) manyLinks(w http.ResponseWriter) int {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.WriteString("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Many links</title></head><body>\n")
	var num [20]byte
	for k := range ManyLinks {
		d := strconv.AppendInt(num[:0], int64(k), 10)
		bw.WriteString("<a href=\"" + PathManyPrefix)
		bw.Write(d)
		bw.WriteString("\">")
		bw.Write(d)
		if _, err := bw.WriteString("</a>\n"); err != nil {
			return http.StatusOK // the client went away
		}
	}
	bw.WriteString("</body></html>\n")
	bw.Flush()
	return http.StatusOK
}

// addWritten adds n body bytes to the count of key.
func (h *host) addWritten(key string, n int64) {
	if n == 0 {
		return
	}
	h.mu.Lock()
	h.written[key] += n
	h.mu.Unlock()
}

// BytesWritten returns the number of body bytes that host ("127.0.0.1:port")
// has written for key (as in Hits) over all requests, for the streaming
// hostile paths (PathDrip, PathEndless, PathHugeLength,
// PathTruncatedChunked, PathCloseMidBody) and the "slow" robots.txt; 0 for
// any other path. Bytes count once the server hands them to its connection,
// so a client that stopped reading early still sees up to a few MiB of socket
// and buffer space counted.
func (s *Site) BytesWritten(host, key string) int64 {
	h := s.byAddr[host]
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.written[key]
}

// bombs returns the gzip and the zlib bomb bodies, building both on first
// use.
func (s *Site) bombs() (gz, zl []byte) {
	s.bombOnce.Do(func() {
		s.gzipBomb = buildGzipBomb()
		s.deflateBomb = buildZlibBomb()
	})
	return s.gzipBomb, s.deflateBomb
}

// bombChunk is the uncompressed unit of the bombs; BombSize is a multiple of
// its length.
const bombChunk = 1 << 20

// deflateChunk compresses bombChunk bytes of the repeated pattern with a
// fresh compressor and a sync flush, so the output starts on a byte boundary,
// refers to nothing before itself and ends on a byte boundary: copies of it
// concatenate into one valid deflate stream.
func deflateChunk(pattern string) (deflated, plain []byte) {
	plain = bytes.Repeat([]byte(pattern), bombChunk/len(pattern))
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression) // the level is valid
	fw.Write(plain)
	fw.Flush()
	return b.Bytes(), plain
}

// finalBlock is an empty, final stored deflate block, which ends the stream.
const finalBlock = "\x01\x00\x00\xff\xff"

// buildGzipBomb returns a gzip member that inflates to BombSize zero bytes.
func buildGzipBomb() []byte {
	chunk, plain := deflateChunk("\x00")
	out := make([]byte, 0, 10+len(chunk)*(BombSize/bombChunk)+len(finalBlock)+8)
	out = append(out, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255) // deflate, no flags or mtime, max compression, unknown OS
	crc := crc32.NewIEEE()
	for range BombSize / bombChunk {
		out = append(out, chunk...)
		crc.Write(plain)
	}
	out = append(out, finalBlock...)
	out = binary.LittleEndian.AppendUint32(out, crc.Sum32())
	return binary.LittleEndian.AppendUint32(out, uint32(BombSize))
}

// buildZlibBomb returns a zlib stream that inflates to BombSize bytes of
// repeated HTML.
func buildZlibBomb() []byte {
	chunk, plain := deflateChunk("<br>") // divides bombChunk; a distance of 4 costs no extra bits
	out := make([]byte, 0, 2+len(chunk)*(BombSize/bombChunk)+len(finalBlock)+4)
	out = append(out, 0x78, 0xda) // deflate, 32 KiB window, best compression; 0x78da % 31 == 0
	one := adler32.Checksum(plain)
	sum := uint32(1) // Adler-32 of nothing
	for range BombSize / bombChunk {
		out = append(out, chunk...)
		sum = adler32Combine(sum, one, len(plain))
	}
	out = append(out, finalBlock...)
	return binary.BigEndian.AppendUint32(out, sum)
}

// adler32Combine returns the Adler-32 of A followed by B from the sums of A
// and B and the length of B, so the bomb's checksum needs no pass over 200
// MiB.
func adler32Combine(sumA, sumB uint32, lenB int) uint32 {
	const mod = 65521
	a1, b1 := uint64(sumA&0xffff), uint64(sumA>>16)
	a2, b2 := uint64(sumB&0xffff), uint64(sumB>>16)
	a := (a1 + a2 + mod - 1) % mod
	b := (b1 + b2 + uint64(lenB)%mod*((a1+mod-1)%mod)) % mod
	return uint32(b<<16 | a)
}
