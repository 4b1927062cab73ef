package fetch

// Tests of Fetch against hostile or broken servers: every such response must end in a
// classified error or a documented partial Result, with bounded memory and time.

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// countingDial returns a Config.Dial that counts into n every byte the client reads.
func countingDial(n *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: conn, n: n}, nil
	}
}

// hostileServer starts h on a loopback server whose connections are cut before Close waits
// for the handlers, so that a handler blocked writing to a client that neither reads nor
// closes cannot hang the test.
func hostileServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(srv.CloseClientConnections) // runs first
	return srv
}

// waitDone waits for done, failing the test if it takes more than 10s (a hang, not a slow
// machine).
func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not end: the connection was not closed", what)
	}
}

func TestFetchHeaderTimeout(t *testing.T) {
	srv := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	})
	c := newTestClient(t, Config{IgnoreRobots: true, HeaderTimeout: 100 * time.Millisecond, Timeout: time.Minute}, nil)
	res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/")})
	if res != nil || err == nil {
		t.Fatalf("Fetch = %v, %v; want nil and a header timeout", res, err)
	}
	if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
		t.Errorf("Fetch error %v (%T) is not a net.Error with Timeout()", err, err)
	}
	if !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Errorf("Fetch error %q does not say it was the header timeout (not Config.Timeout)", err)
	}
	if _, ok := RetryDelay(err, 0); !ok {
		t.Errorf("RetryDelay(%v) not retryable", err)
	}
}

func TestFetchStalledBody(t *testing.T) {
	drip := func(chunked bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !chunked {
				w.Header().Set("Content-Length", "100000")
			}
			w.Header().Set("Content-Type", "text/html")
			for { // one byte every 20ms: each read makes progress, the whole never ends
				w.Write([]byte("x"))
				http.NewResponseController(w).Flush()
				select {
				case <-time.After(20 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
		}
	}
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"headers then nothing", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
		}},
		{"slow drip with Content-Length", drip(false)},
		{"slow drip chunked", drip(true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := hostileServer(t, tt.h)
			c := newTestClient(t, Config{IgnoreRobots: true, Timeout: 300 * time.Millisecond, HeaderTimeout: time.Minute}, nil)
			res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/")})
			if res != nil {
				t.Fatalf("Fetch returned a Result (%d body bytes) for a body that never ended; err %v", len(res.Body), err)
			}
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timeout") {
				t.Fatalf("Fetch error = %v, want a timeout wrapping context.DeadlineExceeded", err)
			}
			if _, ok := RetryDelay(err, 0); !ok {
				t.Errorf("RetryDelay(%v) not retryable", err)
			}
		})
	}
}

func TestFetchEndlessBody(t *testing.T) {
	const maxBody = 256 << 10
	var wrote atomic.Int64
	done := make(chan struct{})
	srv := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		w.Header().Set("Content-Type", "text/html") // no length: chunked, endless
		chunk := bytes.Repeat([]byte("<p>spam</p>\n"), 2048)
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			wrote.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	var read atomic.Int64
	c := newTestClient(t, Config{IgnoreRobots: true, MaxBody: maxBody, Dial: countingDial(&read)}, nil)
	res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/")})
	if err != nil {
		t.Fatalf("Fetch = %v, want the first MaxBody bytes and Truncated", err)
	}
	if !res.Truncated || len(res.Body) != maxBody || res.Size != maxBody {
		t.Errorf("Result: %d body bytes, Size %d, Truncated %v; want %d, %d, true", len(res.Body), res.Size, res.Truncated, maxBody, maxBody)
	}
	// The client stops reading at the cap: MaxBody+1, the transport's buffer, the
	// little drained before closing, headers and chunk framing.
	if n := read.Load(); n > maxBody+32<<10 {
		t.Errorf("client read %d bytes for MaxBody %d, want at most %d", n, maxBody, maxBody+32<<10)
	}
	waitDone(t, done, "the endless handler")
	t.Logf("server wrote %d bytes (socket buffers included), client read %d", wrote.Load(), read.Load())
}

func TestFetchTooLarge(t *testing.T) {
	const declared = 1 << 30
	var wrote atomic.Int64
	done := make(chan struct{})
	srv := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.Header().Set("ETag", `"big"`)
		w.Header().Set("Content-Length", strconv.Itoa(declared))
		chunk := make([]byte, 64<<10)
		for wrote.Load() < declared {
			n, err := w.Write(chunk)
			wrote.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	var read atomic.Int64
	c := newTestClient(t, Config{IgnoreRobots: true, MaxBody: 1 << 20, Dial: countingDial(&read)}, nil)
	res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/big")})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Fetch error = %v, want ErrTooLarge", err)
	}
	for _, want := range []string{strconv.Itoa(declared), strconv.Itoa(1 << 20), srv.URL + "/big"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if res == nil {
		t.Fatal("no Result: the status and headers are lost")
	}
	if res.Status != 200 || res.ContentType != "text/html" || res.Charset != "utf-8" || res.ETag != `"big"` ||
		res.Body != nil || res.Size != 0 || res.Truncated || res.FinalURL.String() != srv.URL+"/big" {
		t.Errorf("Result = status %d, type %q, charset %q, ETag %q, %d body bytes, Size %d, Truncated %v, final %v; want the 200's headers and no body",
			res.Status, res.ContentType, res.Charset, res.ETag, len(res.Body), res.Size, res.Truncated, res.FinalURL)
	}
	if _, ok := RetryDelay(err, 0); ok {
		t.Errorf("RetryDelay(%v) is retryable", err)
	}
	// The body was not read: the client closed the connection after its first buffer.
	if n := read.Load(); n > 64<<10 {
		t.Errorf("client read %d bytes of a declined body, want at most 64 KiB", n)
	}
	waitDone(t, done, "the handler of the declined body")
	if n := wrote.Load(); n >= declared/8 {
		t.Errorf("server wrote %d of %d bytes: the connection was not closed", n, declared)
	}
	t.Logf("server wrote %d bytes (socket buffers included), client read %d", wrote.Load(), read.Load())
}

// deflateZeros returns a raw DEFLATE stream of n MiB of zeros, made without compressing
// them all: after a sync flush, each further MiB of zeros compresses to the same bytes.
func deflateZeros(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	mib := make([]byte, 1<<20)
	w.Write(mib)
	w.Flush()
	first := bytes.Clone(buf.Bytes())
	buf.Reset()
	w.Write(mib)
	w.Flush()
	next := bytes.Clone(buf.Bytes())
	buf.Reset()
	w.Close()
	out := append(first, bytes.Repeat(next, n-1)...)
	return append(out, buf.Bytes()...)
}

// gzipZeros wraps deflateZeros(n) as a gzip member with its true CRC-32 and size.
func gzipZeros(t testing.TB, n int) []byte {
	t.Helper()
	out := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}
	out = append(out, deflateZeros(t, n)...)
	crc, mib := uint32(0), make([]byte, 1<<20)
	for range n {
		crc = crc32.Update(crc, crc32.IEEETable, mib)
	}
	out = binary.LittleEndian.AppendUint32(out, crc)
	return binary.LittleEndian.AppendUint32(out, uint32(n<<20))
}

// zlibZeros wraps deflateZeros(n) as a zlib stream with its true Adler-32 (a stays 1 over
// zeros, b adds 1 per byte).
func zlibZeros(t testing.TB, n int) []byte {
	t.Helper()
	out := append([]byte{0x78, 0x9c}, deflateZeros(t, n)...)
	return binary.BigEndian.AppendUint32(out, uint32((n<<20)%65521)<<16|1)
}

func TestZerosStreams(t *testing.T) {
	// The bomb builders are valid: small ones decode to exactly their zeros.
	for name, data := range map[string][]byte{
		"gzip": gzipZeros(t, 3), "zlib": zlibZeros(t, 3), "deflate": deflateZeros(t, 3),
	} {
		coding := name
		if name == "zlib" {
			coding = "deflate"
		}
		body, truncated, err := decodeBody(bytes.NewReader(data), []string{coding}, 4<<20, -1)
		if err != nil || truncated || !bytes.Equal(body, make([]byte, 3<<20)) {
			t.Errorf("%s: decoded %d bytes, truncated %v, err %v; want 3 MiB of zeros", name, len(body), truncated, err)
		}
	}
}

func TestFetchDecompressionBomb(t *testing.T) {
	const maxBody = 1 << 20
	const mib = 200 // decoded size in MiB
	bombs := map[string]struct {
		coding string
		data   []byte
	}{
		"/gzip":         {"gzip", gzipZeros(t, mib)},
		"/deflate-zlib": {"deflate", zlibZeros(t, mib)},
		"/deflate-raw":  {"deflate", deflateZeros(t, mib)},
	}
	srv := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, ok := bombs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", b.coding)
		w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
		w.Write(b.data)
	})
	for path, b := range bombs {
		t.Run(path, func(t *testing.T) {
			if len(b.data) > 300<<10 {
				t.Fatalf("bomb is %d bytes compressed, want about 200 KB", len(b.data))
			}
			c := newTestClient(t, Config{IgnoreRobots: true, MaxBody: maxBody}, nil)
			u := mustURL(t, srv.URL+path)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := c.Fetch(t.Context(), Request{URL: u})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("Fetch = %v, want the first MaxBody decoded bytes and Truncated", err)
			}
			if !res.Truncated || len(res.Body) != maxBody || !bytes.Equal(res.Body, make([]byte, maxBody)) {
				t.Errorf("Result: %d body bytes, Truncated %v; want %d zeros, true", len(res.Body), res.Truncated, maxBody)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*maxBody {
				t.Errorf("Fetch allocated %d bytes for a %d MiB bomb, want at most 4 × MaxBody (%d)", alloc, mib, 4*maxBody)
			} else {
				t.Logf("Fetch allocated %d bytes for %d compressed bytes", alloc, len(b.data))
			}
		})
	}
}

func TestFetchBodyCutHostile(t *testing.T) {
	gz := compressed(t, "gzip", bytes.Repeat([]byte("<p>hello</p>"), 1000))
	tests := []struct {
		name string
		raw  string
	}{
		{"chunked, cut inside a chunk",
			"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n<html>hel"},
		{"chunked, no last chunk",
			"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n"},
		{"one byte short of Content-Length",
			"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\n<html></htm"},
		{"gzip with Content-Length, closed mid-body",
			"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nContent-Length: " +
				strconv.Itoa(len(gz)) + "\r\n\r\n" + string(gz[:len(gz)/2])},
		{"chunked gzip, closed mid-stream",
			"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" +
				strconv.FormatInt(int64(len(gz)/2), 16) + "\r\n" + string(gz[:len(gz)/2]) + "\r\n0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := hijacked(t, tt.raw)
			c := newTestClient(t, Config{IgnoreRobots: true}, nil)
			res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/")})
			if res != nil || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("Fetch = %v, %v; want nil and io.ErrUnexpectedEOF, never a complete page", res, err)
			}
			if _, ok := RetryDelay(err, 0); !ok {
				t.Errorf("RetryDelay(%v) not retryable", err)
			}
		})
	}
}

func TestFetchRedirectLoop(t *testing.T) {
	var log hitLog
	srv := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		switch r.URL.Path {
		case "/robots.txt":
			http.NotFound(w, r)
		case "/self":
			http.Redirect(w, r, "/self", http.StatusFound)
		case "/a":
			http.Redirect(w, r, "/b", http.StatusMovedPermanently)
		case "/b":
			http.Redirect(w, r, "/c", http.StatusFound)
		case "/c":
			http.Redirect(w, r, "/a", http.StatusTemporaryRedirect)
		default:
			http.NotFound(w, r)
		}
	})
	tests := []struct {
		path, wantFrom, wantTo string
		wantHops               int
		wantStatus             int
	}{
		{"/self", "/self", "/self", 0, http.StatusFound},
		{"/a", "/c", "/a", 2, http.StatusTemporaryRedirect},
		{"/b", "/a", "/b", 2, http.StatusMovedPermanently},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			log = hitLog{}
			c := newTestClient(t, Config{}, nil)
			res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+tt.path)})
			re, ok := errors.AsType[*RedirectError](err)
			if !ok || !errors.Is(err, ErrRedirectLoop) || errors.Is(err, ErrTooManyRedirects) {
				t.Fatalf("Fetch error = %v, want a *RedirectError wrapping ErrRedirectLoop", err)
			}
			if re.From != srv.URL+tt.wantFrom || re.To != srv.URL+tt.wantTo {
				t.Errorf("RedirectError from %s to %s, want %s to %s", re.From, re.To, tt.wantFrom, tt.wantTo)
			}
			if res == nil || res.Status != tt.wantStatus || len(res.Redirects) != tt.wantHops || res.FinalURL.Path != tt.wantFrom || res.Body != nil {
				t.Fatalf("Result = %+v, want the %d from %s after %d hops, no body", res, tt.wantStatus, tt.wantFrom, tt.wantHops)
			}
			// Each URL of the loop requested exactly once: stopped at the first repeat.
			if got := log.count("", "") - log.count("", "/robots.txt"); got != tt.wantHops+1 {
				t.Errorf("%d page requests, want %d", got, tt.wantHops+1)
			}
			if _, ok := RetryDelay(err, 0); ok {
				t.Errorf("RetryDelay(%v) is retryable", err)
			}
		})
	}
}

func TestFetchLongRedirectChain(t *testing.T) {
	var log hitLog
	srv := hopServer(t, &log)
	c := newTestClient(t, Config{MaxRedirects: 5}, nil)
	res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/hop/30")})
	if !errors.Is(err, ErrTooManyRedirects) || errors.Is(err, ErrRedirectLoop) {
		t.Fatalf("Fetch error = %v, want ErrTooManyRedirects", err)
	}
	if res == nil || res.Status != 301 || len(res.Redirects) != 5 || res.FinalURL.Path != "/hop/25" {
		t.Fatalf("Result = %+v, want the 301 from /hop/25 after 5 hops", res)
	}
	if got := log.count("", ""); got != 6 {
		t.Errorf("%d requests of the chain, want 6 (/hop/30 and 5 hops)", got)
	}
	if _, ok := RetryDelay(err, 0); ok {
		t.Errorf("RetryDelay(%v) is retryable", err)
	}
}

func TestFetchContentType(t *testing.T) {
	const page = "<!DOCTYPE html><html><title>x</title></html>"
	srv := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		if ct, ok := r.URL.Query()["ct"]; ok {
			w.Header()["Content-Type"] = ct
		} else {
			w.Header()["Content-Type"] = nil // keep the server from sniffing
		}
		io.WriteString(w, page)
	})
	tests := []struct {
		name             string
		query            string
		wantType, wantCS string
	}{
		{"html sent as png stays png", "?ct=image/png", "image/png", ""},
		{"html sent as octet-stream", "?ct=application/octet-stream", "application/octet-stream", ""},
		{"absent: sniffed", "", "text/html", ""},
		{"empty: sniffed", "?ct=", "text/html", ""},
		{"case and quoted charset", "?ct=Text/HTML%3B%20Charset=%22ISO-8859-1%22", "text/html", "iso-8859-1"},
		{"charset after a broken parameter", "?ct=text/html%3B%20foo%3B%20charset=Shift_JIS", "text/html", "shift_jis"},
		{"no charset", "?ct=text/html%3B%20level=1", "text/html", ""},
		{"no media type: sniffed", "?ct=%3B%3B%3D", "text/html", ""},
	}
	c := newTestClient(t, Config{IgnoreRobots: true}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/"+tt.query)})
			if err != nil {
				t.Fatal(err)
			}
			if res.ContentType != tt.wantType || res.Charset != tt.wantCS {
				t.Errorf("Content-Type %q: ContentType, Charset = %q, %q; want %q, %q",
					res.Header.Get("Content-Type"), res.ContentType, res.Charset, tt.wantType, tt.wantCS)
			}
		})
	}
}

func TestCharsetParam(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"text/html", ""},
		{"text/html; charset=UTF-8", "utf-8"},
		{`text/html; charset="windows-1251"`, "windows-1251"},
		{"text/html;charset=utf-8;charset=latin1", "utf-8"},
		{"text/html; foo; CHARSET = Big5 ", "big5"},
		{"text/html; charset=", ""},
		{"text/html; xcharset=koi8-r", ""},
	}
	for _, tt := range tests {
		if got := charsetParam(tt.in); got != tt.want {
			t.Errorf("charsetParam(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFetchConditional(t *testing.T) {
	const etag, lastMod = `W/"v1"`, "Wed, 21 Oct 2015 07:28:00 GMT"
	var log hitLog
	srv := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lastMod)
		if r.Header.Get("If-None-Match") == etag && r.Header.Get("If-Modified-Since") == lastMod {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<title>v1</title>")
	})
	c := newTestClient(t, Config{IgnoreRobots: true}, nil)
	u := mustURL(t, srv.URL+"/page")
	first, err := c.Fetch(t.Context(), Request{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != 200 || first.ETag != etag || first.LastModified != lastMod || len(first.Body) == 0 {
		t.Fatalf("first Fetch: status %d, ETag %q, Last-Modified %q, %d body bytes; want 200 with both validators",
			first.Status, first.ETag, first.LastModified, len(first.Body))
	}
	hdr := http.Header{"If-None-Match": {first.ETag}, "If-Modified-Since": {first.LastModified}}
	res, err := c.Fetch(t.Context(), Request{URL: u, Header: hdr})
	if err != nil {
		t.Fatalf("conditional Fetch error = %v, want none for a 304", err)
	}
	if res.Status != http.StatusNotModified || len(res.Body) != 0 || res.Truncated || res.ETag != etag {
		t.Errorf("conditional Fetch: status %d, %d body bytes, ETag %q; want 304, no body, the ETag", res.Status, len(res.Body), res.ETag)
	}
	hits := log.all()
	if len(hits) != 2 || hits[1].header.Get("If-None-Match") != etag || hits[1].header.Get("If-Modified-Since") != lastMod {
		t.Errorf("server saw %d requests; conditional headers of the second: %v", len(hits), hits[len(hits)-1].header)
	}
}

func TestRobotsHuge(t *testing.T) {
	const head = "User-agent: *\nDisallow: /early\n"
	pad := strings.Repeat("# filler comment, padding robots.txt past its parsed size\n", 600<<10/56)
	tests := []struct {
		name    string
		endless bool
	}{
		{"600 KiB", false},
		{"endless", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/robots.txt" {
					io.WriteString(w, "page")
					return
				}
				io.WriteString(w, head+pad+"Disallow: /late\n")
				for tt.endless && r.Context().Err() == nil {
					if _, err := io.WriteString(w, pad); err != nil {
						return
					}
				}
			})
			var read atomic.Int64
			c := newTestClient(t, Config{Dial: countingDial(&read)}, nil)
			if err := c.Allowed(t.Context(), mustURL(t, srv.URL+"/early")); !errors.Is(err, ErrDisallowed) {
				t.Errorf("Allowed(/early) = %v, want ErrDisallowed (a rule in the first 500 KiB)", err)
			}
			if err := c.Allowed(t.Context(), mustURL(t, srv.URL+"/late")); err != nil {
				t.Errorf("Allowed(/late) = %v, want nil (a rule past 500 KiB is not parsed)", err)
			}
			if n := read.Load(); n > 500<<10+32<<10 {
				t.Errorf("client read %d bytes of robots.txt, want at most 500 KiB and a little", n)
			}
		})
	}
}

func TestRobotsSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log hitLog
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			log.add(r)
			if r.URL.Path == "/robots.txt" {
				<-r.Context().Done() // robots.txt never answers
				return nil, r.Context().Err()
			}
			return reply(r, http.StatusOK, "page"), nil
		})
		c := newTestClient(t, Config{Timeout: 5 * time.Second, RobotsRetry: time.Minute}, rt)
		u := mustURL(t, "http://a.test/page")
		start := time.Now()
		res, err := c.Fetch(t.Context(), Request{URL: u})
		ru, ok := errors.AsType[*RobotsUnavailableError](err)
		if res != nil || !ok {
			t.Fatalf("Fetch = %v, %v; want *RobotsUnavailableError", res, err)
		}
		if !errors.Is(ru.Err, context.DeadlineExceeded) || !ru.RetryAt.Equal(start.Add(5*time.Second+time.Minute)) {
			t.Errorf("RobotsUnavailableError{Err: %v, RetryAt: +%v}; want the timeout as cause, retry RobotsRetry after it", ru.Err, ru.RetryAt.Sub(start))
		}
		if d, ok := RetryDelay(err, 0); !ok || d != time.Minute {
			t.Errorf("RetryDelay = %v, %v; want 1m, true", d, ok)
		}
		// Disallowed, from the cache, until RobotsRetry has passed.
		time.Sleep(59 * time.Second)
		if _, err := c.Fetch(t.Context(), Request{URL: u}); !isRobotsUnavailable(err) {
			t.Errorf("Fetch 59s later = %v, want the cached *RobotsUnavailableError", err)
		}
		if got := log.count("a.test", "/robots.txt"); got != 1 {
			t.Errorf("robots.txt requested %d times within RobotsRetry, want 1", got)
		}
		if got := log.count("a.test", "/page"); got != 0 {
			t.Errorf("page requested %d times while robots.txt was unavailable", got)
		}
		time.Sleep(time.Second)
		c.Fetch(t.Context(), Request{URL: u})
		if got := log.count("a.test", "/robots.txt"); got != 2 {
			t.Errorf("robots.txt requested %d times after RobotsRetry, want 2", got)
		}
	})
}

func TestRobotsRedirectChain(t *testing.T) {
	var log hitLog
	srv := hostileServer(t, func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		var n int
		if r.URL.Path == "/robots.txt" {
			http.Redirect(w, r, "/r1", http.StatusMovedPermanently)
		} else if _, err := fmt.Sscanf(r.URL.Path, "/r%d", &n); err == nil && n < 5 {
			http.Redirect(w, r, "/r"+strconv.Itoa(n+1), http.StatusFound)
		} else if n == 5 {
			io.WriteString(w, "User-agent: *\nDisallow: /secret\n")
		}
	})
	c := newTestClient(t, Config{}, nil)
	if err := c.Allowed(t.Context(), mustURL(t, srv.URL+"/secret")); !errors.Is(err, ErrDisallowed) {
		t.Errorf("Allowed(/secret) = %v, want ErrDisallowed from robots.txt 5 redirects away", err)
	}
	if got := log.count("", ""); got != 6 {
		t.Errorf("%d requests, want 6 (robots.txt and 5 hops)", got)
	}
}

// isRobotsUnavailable reports whether err is a *RobotsUnavailableError.
func isRobotsUnavailable(err error) bool {
	_, ok := errors.AsType[*RobotsUnavailableError](err)
	return ok
}
