package testserver

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"hash/adler32"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// hostileSite starts a one-host site with Hostile set and returns it, its
// base URL and host address.
func hostileSite(t *testing.T) (*Site, string, string) {
	t.Helper()
	s := start(t, SiteConfig{Pages: 5, Hostile: true})
	return s, "http://" + s.Hosts()[0], s.Hosts()[0]
}

// timeoutClient is a plain client that gives up after d.
func timeoutClient(d time.Duration) *http.Client {
	return &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: d}
}

// hrefs parses body as HTML5 and returns the href of every <a>, in document
// order, and the href of the first <base>.
func hrefs(t *testing.T, body string) (links []string, base string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("html.Parse: %v", err)
	}
	baseSeen := false
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode || (n.Data != "a" && n.Data != "base") {
			continue
		}
		for _, a := range n.Attr {
			if a.Key != "href" {
				continue
			}
			if n.Data == "a" {
				links = append(links, a.Val)
			} else if !baseSeen {
				base, baseSeen = a.Val, true
			}
		}
	}
	return links, base
}

func TestHostileOffByDefault(t *testing.T) {
	s := start(t, SiteConfig{Pages: 5})
	c := timeoutClient(10 * time.Second)
	root := get(t, c, s.Seeds()[0])
	for _, bad := range []string{"/hostile/", "/trap/", "/private/", "/orphan/", "sitemap"} {
		if strings.Contains(root.body, bad) {
			t.Errorf("root with every mode off mentions %q", bad)
		}
	}
	for _, p := range []string{PathHang, PathGzipBomb, PathTinyPrefix + "x", PathTrapLoop, PathSitemap,
		PathSitemapIndex, PathPrivate, PathRobotsReal, PathOrphanPrefix + "0", "/robots.txt"} {
		if got := get(t, c, s.Seeds()[0]+p[1:]); got.status != http.StatusNotFound {
			t.Errorf("GET %s with every mode off: status %d, want 404", p, got.status)
		}
	}
}

func TestHostileRootLinksEveryPath(t *testing.T) {
	_, base, _ := hostileSite(t)
	root := get(t, timeoutClient(10*time.Second), base+"/")
	links, _ := hrefs(t, root.body)
	have := map[string]bool{}
	for _, l := range links {
		have[l] = true
	}
	paths := HostilePaths()
	if len(paths) != 21 {
		t.Errorf("HostilePaths() has %d entries, want 21", len(paths))
	}
	for _, hp := range paths {
		if !have[hp.Path] {
			t.Errorf("root does not link to %s", hp.Path)
		}
		if !strings.HasPrefix(hp.Path, "/hostile/") || hp.Doc == "" {
			t.Errorf("HostilePaths entry %+v: want a /hostile/ path and a doc", hp)
		}
	}
	// The generated links are still there: page 0 is linked from the root.
	if !have["/p/0"] && !have["p/0"] {
		t.Errorf("root lost its link to page 0: %q", links)
	}
	if !strings.HasSuffix(root.body, htmlFooter) {
		t.Errorf("root does not end with the footer")
	}
}

func TestHostileHangAndHeadersOnly(t *testing.T) {
	s, base, host := hostileSite(t)
	c := timeoutClient(300 * time.Millisecond)
	_, err := c.Get(base + PathHang)
	if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
		t.Errorf("GET %s = %v, want a timeout", PathHang, err)
	}

	resp, err := c.Get(base + PathHeadersOnly)
	if err != nil {
		t.Fatalf("GET %s: %v, want the headers", PathHeadersOnly, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET %s: %d %q, want 200 text/html", PathHeadersOnly, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if len(body) != 0 || err == nil {
		t.Errorf("body of %s: %d bytes, err %v; want nothing and the client's timeout", PathHeadersOnly, len(body), err)
	}
	waitFor(t, "handlers to see the clients go", func() bool { return s.InFlight(host) == 0 })
	if s.Hits(host, PathHang) != 1 || s.Hits(host, PathHeadersOnly) != 1 {
		t.Errorf("Hits = %d, %d; want 1 each", s.Hits(host, PathHang), s.Hits(host, PathHeadersOnly))
	}
}

func TestHostileDrip(t *testing.T) {
	s, base, host := hostileSite(t)
	const head = "<!DOCTYPE html><html><head><title>Drip</title></head><body><p>"
	c := timeoutClient(DripInterval + 300*time.Millisecond)
	resp, err := c.Get(base + PathDrip)
	if err != nil {
		t.Fatalf("GET %s: %v", PathDrip, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Errorf("drip body ended (%d bytes), want the client's timeout", len(body))
	}
	// The head arrives at once; then at most one byte per DripInterval.
	if !strings.HasPrefix(string(body), head) || len(body) > len(head)+2 {
		t.Errorf("drip body = %q, want %q and at most 2 more bytes", body, head)
	}
	waitFor(t, "the drip handler to end", func() bool { return s.InFlight(host) == 0 })
	if got := s.BytesWritten(host, PathDrip); got < int64(len(body)) || got > int64(len(head)+2) {
		t.Errorf("BytesWritten(drip) = %d, want about %d", got, len(body))
	}
}

func TestHostileEndlessAndHugeLength(t *testing.T) {
	s, base, host := hostileSite(t)
	c := timeoutClient(30 * time.Second)

	resp, err := c.Get(base + PathEndless)
	if err != nil {
		t.Fatal(err)
	}
	const want = 8 << 20
	body, err := io.ReadAll(io.LimitReader(resp.Body, want))
	resp.Body.Close()
	if err != nil || len(body) != want || resp.ContentLength != -1 {
		t.Errorf("endless: read %d bytes (err %v, Content-Length %d), want %d of a chunked body", len(body), err, resp.ContentLength, want)
	}
	if n := bytes.Count(body, []byte("<p>")); n < 1000 {
		t.Errorf("endless: %d paragraphs in 8 MiB, want HTML paragraphs", n)
	}

	resp, err = c.Get(base + PathHugeLength)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 100)
	n, _ := io.ReadFull(resp.Body, head)
	resp.Body.Close() // unread: the transport drops the connection
	if resp.ContentLength != HugeContentLength || resp.Header.Get("Content-Length") != "10737418240" {
		t.Errorf("huge-length: Content-Length %d %q, want %d", resp.ContentLength, resp.Header.Get("Content-Length"), HugeContentLength)
	}
	if n != len(head) || !strings.HasPrefix(string(head), "<!DOCTYPE html>") {
		t.Errorf("huge-length: body starts %q, want HTML", head[:n])
	}

	waitFor(t, "the streaming handlers to end", func() bool { return s.InFlight(host) == 0 })
	if got := s.BytesWritten(host, PathEndless); got < want {
		t.Errorf("BytesWritten(endless) = %d, want at least the %d read", got, want)
	}
	// The client read 100 bytes: the server wrote what fits in its buffers
	// and the sockets', far from 10 GiB.
	if got := s.BytesWritten(host, PathHugeLength); got < 100 || got > 256<<20 {
		t.Errorf("BytesWritten(huge-length) = %d, want between 100 and 256 MiB", got)
	}
	if got := s.BytesWritten(host, PathHang); got != 0 {
		t.Errorf("BytesWritten(hang) = %d, want 0", got)
	}
}

func TestHostileBombs(t *testing.T) {
	_, base, _ := hostileSite(t)
	tests := []struct {
		path, encoding string
		newReader      func(io.Reader) (io.Reader, error)
		prefix         string
	}{
		{PathGzipBomb, "gzip", func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }, "\x00\x00\x00\x00"},
		{PathDeflateBomb, "deflate", func(r io.Reader) (io.Reader, error) { return zlib.NewReader(r) }, "<br><br><br><br>"},
	}
	for _, tt := range tests {
		t.Run(tt.encoding, func(t *testing.T) {
			t.Parallel() // inflating 200 MiB takes seconds under -race
			resp := get(t, timeoutClient(30*time.Second), base+tt.path)
			if resp.status != 200 || resp.header.Get("Content-Encoding") != tt.encoding ||
				!strings.HasPrefix(resp.header.Get("Content-Type"), "text/html") {
				t.Errorf("GET %s: %d, Content-Encoding %q, Content-Type %q", tt.path, resp.status,
					resp.header.Get("Content-Encoding"), resp.header.Get("Content-Type"))
			}
			if n := len(resp.body); n < 150<<10 || n > 300<<10 {
				t.Errorf("%s is %d bytes on the wire, want about 200 KiB", tt.path, n)
			}
			zr, err := tt.newReader(strings.NewReader(resp.body))
			if err != nil {
				t.Fatal(err)
			}
			first := make([]byte, len(tt.prefix))
			if _, err := io.ReadFull(zr, first); err != nil || string(first) != tt.prefix {
				t.Errorf("%s starts %q (%v), want %q", tt.path, first, err, tt.prefix)
			}
			// Bounded: a bomb bigger than promised stops at BombSize+1. The
			// readers check the CRC-32 / Adler-32 at EOF.
			n, err := io.Copy(io.Discard, io.LimitReader(zr, BombSize+1))
			if err != nil || n+int64(len(first)) != BombSize {
				t.Errorf("%s inflates to %d bytes (err %v), want %d", tt.path, n+int64(len(first)), err, BombSize)
			}
		})
	}
}

func TestAdler32Combine(t *testing.T) {
	a, b := []byte("<p>bomb bomb</p>"), bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 40000)
	got := adler32Combine(adler32.Checksum(a), adler32.Checksum(b), len(b))
	if want := adler32.Checksum(append(a, b...)); got != want {
		t.Errorf("adler32Combine = %#x, want %#x", got, want)
	}
	if got := adler32Combine(1, adler32.Checksum(b), len(b)); got != adler32.Checksum(b) {
		t.Errorf("adler32Combine(empty, b) = %#x, want %#x", got, adler32.Checksum(b))
	}
}

func TestHostileBrokenBodies(t *testing.T) {
	s, base, host := hostileSite(t)
	c := timeoutClient(10 * time.Second)

	resp, err := c.Get(base + PathTruncatedChunked)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || resp.ContentLength != -1 {
		t.Errorf("truncated-chunked: read err %v, Content-Length %d; want io.ErrUnexpectedEOF on a chunked body", err, resp.ContentLength)
	}
	if !strings.Contains(string(body), "<title>Truncated</title>") {
		t.Errorf("truncated-chunked: got %q, want the part before the cut", body)
	}

	resp, err = c.Get(base + PathCloseMidBody)
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || resp.ContentLength != CloseMidBodyLength || len(body) != CloseMidBodySent {
		t.Errorf("close-mid-body: %d of %d bytes, err %v; want %d and io.ErrUnexpectedEOF",
			len(body), resp.ContentLength, err, CloseMidBodySent)
	}
	waitFor(t, "handlers to end", func() bool { return s.InFlight(host) == 0 })
	if got := s.BytesWritten(host, PathCloseMidBody); got != CloseMidBodySent {
		t.Errorf("BytesWritten(close-mid-body) = %d, want %d", got, CloseMidBodySent)
	}
}

func TestHostileRedirects(t *testing.T) {
	s, base, host := hostileSite(t)
	nr := noRedirects()
	for from, to := range map[string]string{PathRedirectLoop: "/hostile/loop/b", "/hostile/loop/b": PathRedirectLoop,
		"/hostile/chain/0": "/hostile/chain/1", "/hostile/chain/29": "/hostile/chain/30"} {
		if got := get(t, nr, base+from); got.status != http.StatusFound || got.header.Get("Location") != to {
			t.Errorf("GET %s: %d Location %q, want 302 to %s", from, got.status, got.header.Get("Location"), to)
		}
	}
	for _, p := range []string{"/hostile/chain/31", "/hostile/chain/-1", "/hostile/chain/01", "/hostile/chain/x", "/hostile/loop/c"} {
		if got := get(t, nr, base+p); got.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, got.status)
		}
	}

	if _, err := timeoutClient(10 * time.Second).Get(base + PathRedirectLoop); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("default client on the loop: %v, want it to stop after 10 redirects", err)
	}

	hops := 0
	c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			hops = len(via)
			if len(via) > 100 {
				return errors.New("too many")
			}
			return nil
		}}
	resp, err := c.Get(base + PathRedirectChain)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/hostile/chain/30" || hops != RedirectChainHops {
		t.Errorf("chain ended at %s with %d after %d hops, want /hostile/chain/30, 200, %d",
			resp.Request.URL.Path, resp.StatusCode, hops, RedirectChainHops)
	}
	if got := s.HitsWithPrefix(host, "/hostile/chain/"); got != 6+31 {
		t.Errorf("HitsWithPrefix(chain) = %d, want 37", got)
	}
}

func TestHostileContentTypes(t *testing.T) {
	_, base, _ := hostileSite(t)
	c := timeoutClient(10 * time.Second)
	tests := []struct {
		path, ctype, bodyPrefix string
	}{
		{PathWrongType, "image/png", "<!DOCTYPE html>"},
		{PathNoType, "", "<!DOCTYPE html>"},
		{PathNoTypeBinary, "", "\x89PNG\r\n"},
		{PathPDF, "application/pdf", "%PDF-"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got := get(t, c, base+tt.path)
			if _, ok := got.header["Content-Type"]; ok != (tt.ctype != "") || got.header.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type = %q (present %v), want %q", got.header.Get("Content-Type"), ok, tt.ctype)
			}
			if got.status != 200 || !strings.HasPrefix(got.body, tt.bodyPrefix) {
				t.Errorf("GET %s: %d %q, want 200 and a body starting %q", tt.path, got.status, got.body, tt.bodyPrefix)
			}
		})
	}
	if ct := http.DetectContentType([]byte(get(t, c, base+PathNoType).body)); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("no-type body sniffs as %q, want text/html", ct)
	}
}

// latin1ToUTF8 decodes ISO-8859-1.
func latin1ToUTF8(b string) string {
	r := make([]rune, len(b))
	for i := range len(b) {
		r[i] = rune(b[i])
	}
	return string(r)
}

func TestHostileEncodings(t *testing.T) {
	s, base, host := hostileSite(t)
	c := timeoutClient(10 * time.Second)

	bad := get(t, c, base+PathBadUTF8)
	if utf8.ValidString(bad.body) || !strings.Contains(bad.body, "<title>Bad \xff\xfe title") ||
		bad.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("bad-utf8: %q %q, want invalid UTF-8 in the title of a utf-8 page", bad.header.Get("Content-Type"), bad.body)
	}

	l1 := get(t, c, base+PathLatin1)
	if l1.header.Get("Content-Type") != "text/html; charset=iso-8859-1" || utf8.ValidString(l1.body) {
		t.Errorf("latin1: Content-Type %q, valid UTF-8 %v; want iso-8859-1 bytes", l1.header.Get("Content-Type"), utf8.ValidString(l1.body))
	}
	decoded := latin1ToUTF8(l1.body)
	if !strings.Contains(decoded, "<title>"+Latin1Title+"</title>") || !strings.Contains(decoded, `href="`+Latin1LinkPath+`"`) {
		t.Errorf("latin1 decoded = %q, want title %q and link %q", decoded, Latin1Title, Latin1LinkPath)
	}

	sj := get(t, c, base+PathShiftJIS)
	if ct := sj.header.Get("Content-Type"); ct != "text/html" || !strings.Contains(sj.body, `<meta charset="Shift_JIS">`) {
		t.Errorf("shift-jis: Content-Type %q, want text/html without charset and a <meta charset>", ct)
	}
	// テスト is 83 65 83 58 83 67 in Shift_JIS (JIS X 0208 katakana row 5).
	if !strings.Contains(sj.body, "/hostile/page/\x83\x65\x83\x58\x83\x67\"") || utf8.ValidString(sj.body) {
		t.Errorf("shift-jis body %q lacks the Shift_JIS link", sj.body)
	}

	// The decoded links are pages, counted under their decoded paths.
	for _, p := range []string{Latin1LinkPath, ShiftJISLinkPath} {
		u := base + (&url.URL{Path: p}).EscapedPath()
		if got := get(t, c, u); got.status != 200 {
			t.Errorf("GET %s: %d, want 200", u, got.status)
		}
		if got := s.Hits(host, p); got != 1 {
			t.Errorf("Hits(%q) = %d, want 1", p, got)
		}
	}
}

func TestHostileMalformed(t *testing.T) {
	s, base, host := hostileSite(t)
	c := timeoutClient(10 * time.Second)
	page := get(t, c, base+PathMalformed)
	for _, decoy := range []string{"decoy/script", "decoy/style", "decoy/comment", "decoy/textarea", "decoy/eof", "decoy/base2"} {
		if !strings.Contains(page.body, decoy) {
			t.Errorf("malformed page lacks the decoy %q", decoy)
		}
	}
	links, baseHref := hrefs(t, page.body)
	pageURL, _ := url.Parse(base + PathMalformed)
	baseURL := pageURL.ResolveReference(&url.URL{Path: baseHref})
	want := MalformedLinks()
	var got []string
	for _, l := range links {
		ref, err := url.Parse(l)
		if err != nil {
			t.Fatalf("href %q: %v", l, err)
		}
		got = append(got, baseURL.ResolveReference(ref).Path)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("HTML5 links of the malformed page:\n got %q\nwant %q", got, want)
	}
	for _, p := range want {
		if r := get(t, c, base+p); r.status != 200 {
			t.Errorf("GET %s: %d, want 200", p, r.status)
		}
	}
	if got := s.HitsWithPrefix(host, PathDecoyPrefix); got != 0 {
		t.Errorf("HitsWithPrefix(decoy) = %d before any decoy request", got)
	}
	get(t, c, base+PathDecoyPrefix+"script")
	if got := s.HitsWithPrefix(host, PathDecoyPrefix); got != 1 {
		t.Errorf("HitsWithPrefix(decoy) = %d, want 1", got)
	}
}

func TestHostileManyLinks(t *testing.T) {
	_, base, _ := hostileSite(t)
	c := timeoutClient(30 * time.Second)
	page := get(t, c, base+PathManyLinks)
	links, _ := hrefs(t, page.body)
	if len(links) != ManyLinks {
		t.Fatalf("many-links has %d links, want %d", len(links), ManyLinks)
	}
	seen := make(map[string]bool, len(links))
	for _, l := range links {
		seen[l] = true
	}
	if len(seen) != ManyLinks || !seen[PathManyPrefix+"0"] || !seen[PathManyPrefix+strconv.Itoa(ManyLinks-1)] {
		t.Errorf("many-links: %d distinct links, want %d from /hostile/many/0 to /99999", len(seen), ManyLinks)
	}
	if got := get(t, c, base+PathManyPrefix+"77"); got.status != 200 {
		t.Errorf("GET many/77: %d, want 200", got.status)
	}
}

func TestHostileOddURLs(t *testing.T) {
	_, base, host := hostileSite(t)
	c := timeoutClient(10 * time.Second)
	page := get(t, c, base+PathOddURLs)
	links, _ := hrefs(t, page.body)
	want := oddHrefs(host)
	if len(links) != len(want) {
		t.Fatalf("odd-urls has %d links, want %d: %q", len(links), len(want), links)
	}
	for i, l := range links {
		if l != want[i] {
			t.Errorf("link %d = %q, want %q", i, l, want[i])
		}
	}
	_, port, _ := net.SplitHostPort(host)
	for _, s := range []string{"%zz", "with space", "http://bücher.example/", "http://[::1]:" + port + "/", "%2e%2e", "//double///"} {
		if !strings.Contains(page.body, s) {
			t.Errorf("odd-urls lacks %q", s)
		}
	}
	if got := get(t, c, base+"/hostile/odd/%C3%BCber"); got.status != 200 {
		t.Errorf("GET an odd link: %d, want 200", got.status)
	}
}

// TestCloseEndsHostileHandlers checks that Close returns, without leaking
// handlers, while the never-ending responses are in flight.
func TestCloseEndsHostileHandlers(t *testing.T) {
	s, err := Start(SiteConfig{Hostile: true, RobotsMode: RobotsSlow})
	if err != nil {
		t.Fatal(err)
	}
	host := s.Hosts()[0]
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	paths := []string{PathHang, PathHeadersOnly, PathDrip, PathEndless, PathHugeLength, "/robots.txt"}
	// No timeout: only Close ends these requests on the server's side. The
	// clients are cancelled after Close returned, so that they stop reading
	// what their sockets still hold.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range paths {
		wg.Go(func() {
			// Bodies are read slowly, so the streaming handlers block in Write.
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+p, nil)
			resp, err := c.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			buf := make([]byte, 10)
			for ctx.Err() == nil { // the transport's buffer still holds data after cancel
				if _, err := resp.Body.Read(buf); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	waitFor(t, "every request in flight", func() bool { return s.InFlight(host) == len(paths) })
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s with hostile responses in flight")
	}
	if got := s.InFlight(host); got != 0 {
		t.Errorf("InFlight after Close = %d, want 0", got)
	}
	cancel()
	wg.Wait()
}
