package fetch

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hopServer serves /hop/N as a redirect to /hop/N-1, and /hop/0 as "done".
func hopServer(t *testing.T, log *hitLog) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/robots.txt", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/hop/{n}", func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			io.WriteString(w, "done")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusMovedPermanently)
	})
	mux.HandleFunc("/ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://files.test/x", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchRedirects(t *testing.T) {
	var log hitLog
	srv := hopServer(t, &log)
	c := newTestClient(t, Config{}, nil)

	t.Run("chain recorded", func(t *testing.T) {
		res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/hop/3")})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{srv.URL + "/hop/2", srv.URL + "/hop/1", srv.URL + "/hop/0"}
		if fmt.Sprint(res.Redirects) != fmt.Sprint(want) {
			t.Errorf("Redirects = %q, want %q", res.Redirects, want)
		}
		if res.URL.String() != srv.URL+"/hop/3" || res.FinalURL.String() != srv.URL+"/hop/0" {
			t.Errorf("URL, FinalURL = %v, %v", res.URL, res.FinalURL)
		}
		if res.Status != 200 || string(res.Body) != "done" {
			t.Errorf("Status, Body = %d, %q; want 200, done", res.Status, res.Body)
		}
	})
	t.Run("no redirect", func(t *testing.T) {
		res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/hop/0")})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Redirects) != 0 || res.FinalURL.String() != res.URL.String() {
			t.Errorf("Redirects, FinalURL = %q, %v; want none", res.Redirects, res.FinalURL)
		}
	})
	t.Run("10 hops followed", func(t *testing.T) {
		res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/hop/10")})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Redirects) != 10 {
			t.Errorf("len(Redirects) = %d, want 10", len(res.Redirects))
		}
	})
	t.Run("11 hops refused", func(t *testing.T) {
		before := log.count("", "/hop/0")
		res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/hop/11")})
		if res == nil || !errors.Is(err, ErrTooManyRedirects) {
			t.Fatalf("Fetch = %v, %v; want the last 3xx and ErrTooManyRedirects", res, err)
		}
		if res.Status != 301 || len(res.Redirects) != 10 || !strings.HasSuffix(res.FinalURL.Path, "/hop/1") {
			t.Errorf("stopped Result: status %d, %d hops, final %v; want 301, 10 hops, /hop/1", res.Status, len(res.Redirects), res.FinalURL)
		}
		if log.count("", "/hop/0") != before {
			t.Errorf("the 11th redirect was followed")
		}
		if _, ok := RetryDelay(err, 0); ok {
			t.Errorf("RetryDelay(%v) is retryable", err)
		}
	})
	t.Run("callback stops a hop", func(t *testing.T) {
		errScope := errors.New("out of scope")
		var seen []string
		before := log.count("", "/hop/1")
		res, err := c.Fetch(t.Context(), Request{
			URL: mustURL(t, srv.URL+"/hop/3"),
			Redirect: func(to *url.URL) error {
				seen = append(seen, to.Path)
				if to.Path == "/hop/1" {
					return errScope
				}
				return nil
			},
		})
		re, ok := errors.AsType[*RedirectError](err)
		if res == nil || !ok || !errors.Is(err, errScope) {
			t.Fatalf("Fetch = %v, %v; want the 3xx Result and a *RedirectError wrapping errScope", res, err)
		}
		if res.Status != 301 || res.FinalURL.Path != "/hop/2" || fmt.Sprint(res.Redirects) != "["+srv.URL+"/hop/2]" {
			t.Errorf("stopped Result: status %d, final %v, redirects %v; want 301 from /hop/2 after one hop", res.Status, res.FinalURL, res.Redirects)
		}
		if re.From != srv.URL+"/hop/2" || re.To != srv.URL+"/hop/1" {
			t.Errorf("RedirectError from %s to %s, want /hop/2 to /hop/1", re.From, re.To)
		}
		if fmt.Sprint(seen) != "[/hop/2 /hop/1]" {
			t.Errorf("callback saw %v, want [/hop/2 /hop/1]", seen)
		}
		if log.count("", "/hop/1") != before {
			t.Errorf("the refused hop was sent")
		}
	})
	t.Run("non-http target", func(t *testing.T) {
		_, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/ftp")})
		if _, ok := errors.AsType[*RedirectError](err); !ok || !errors.Is(err, ErrUnsupportedScheme) {
			t.Fatalf("Fetch = %v, want *RedirectError wrapping ErrUnsupportedScheme", err)
		}
	})
}

func TestFetchRejectsBadURL(t *testing.T) {
	c := newTestClient(t, Config{}, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("request sent for %v", r.URL)
		return nil, errors.New("unreachable")
	}))
	for _, raw := range []string{"ftp://a.test/x", "/relative", "mailto:a@b.test", "http:///nohost"} {
		t.Run(raw, func(t *testing.T) {
			if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, raw)}); !errors.Is(err, ErrUnsupportedScheme) {
				t.Errorf("Fetch(%q) = %v, want ErrUnsupportedScheme", raw, err)
			}
		})
	}
	if _, err := c.Fetch(t.Context(), Request{}); !errors.Is(err, ErrUnsupportedScheme) {
		t.Errorf("Fetch(nil URL) = %v, want ErrUnsupportedScheme", err)
	}
}

func TestFetchHeaders(t *testing.T) {
	var log hitLog
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		http.NotFound(w, r)
	}))
	t.Cleanup(other.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/away":
			http.Redirect(w, r, other.URL+"/final", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	for _, tt := range []struct {
		name, ua, wantUA string
	}{
		{"default agent", "", DefaultUserAgent},
		{"own agent", "MyBot/2.0 (+https://example.test)", "MyBot/2.0 (+https://example.test)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			log = hitLog{}
			c := newTestClient(t, Config{UserAgent: tt.ua}, nil)
			hdr := http.Header{"If-None-Match": {`"v1"`}, "Authorization": {"secret"}, "User-Agent": {"spoof"}}
			for _, path := range []string{"/same", "/away"} {
				c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+path), Header: hdr}) // 404s
			}
			hits := log.all()
			var got []string
			for _, h := range hits {
				got = append(got, h.path)
			}
			if want := "[/robots.txt /same /final /away /robots.txt /final]"; fmt.Sprint(got) != want {
				t.Fatalf("requests %v, want %s", got, want)
			}
			for i, h := range hits {
				if got := h.header.Get("User-Agent"); got != tt.wantUA {
					t.Errorf("request %d (%s): User-Agent %q, want %q", i, h.path, got, tt.wantUA)
				}
				if got := h.header.Get("Accept-Encoding"); got != "gzip, deflate" {
					t.Errorf("request %d (%s): Accept-Encoding %q, want gzip, deflate", i, h.path, got)
				}
				wantINM := `"v1"`
				if h.path == "/robots.txt" {
					wantINM = "" // the caller's headers are for its page only
				}
				if got := h.header.Get("If-None-Match"); got != wantINM {
					t.Errorf("request %d (%s): If-None-Match %q, want %q", i, h.path, got, wantINM)
				}
			}
			// Credentials follow the same host only.
			for i, want := range []string{"", "secret", "secret", "secret", "", ""} {
				if got := hits[i].header.Get("Authorization"); got != want {
					t.Errorf("request %d (%s%s): Authorization %q, want %q", i, hits[i].host, hits[i].path, got, want)
				}
			}
		})
	}
}

func TestFetchStatusError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "Text/HTML; Charset=UTF-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<h1>gone</h1>")
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, Config{IgnoreRobots: true}, nil)
	res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/x")})
	se, ok := errors.AsType[*StatusError](err)
	if !ok || se.Code != 404 || se.URL != srv.URL+"/x" {
		t.Fatalf("Fetch error = %v, want *StatusError 404 for /x", err)
	}
	if res == nil || res.Status != 404 || string(res.Body) != "<h1>gone</h1>" || res.ContentType != "text/html" {
		t.Fatalf("Result = %+v, want the 404 page with ContentType text/html", res)
	}
	if _, ok := RetryDelay(err, 0); ok {
		t.Errorf("404 is retryable")
	}
}

// compressed returns data encoded with coding ("gzip", "zlib" or "deflate" for raw DEFLATE).
func compressed(t testing.TB, coding string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "zlib":
		w = zlib.NewWriter(&buf)
	case "deflate":
		w, _ = flate.NewWriter(&buf, flate.BestCompression)
	default:
		t.Fatalf("unknown coding %q", coding)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFetchBody(t *testing.T) {
	page := bytes.Repeat([]byte("hello, world. "), 500) // 7000 bytes
	gz := compressed(t, "gzip", page)
	corrupt := bytes.Clone(gz)
	corrupt[len(corrupt)-6] ^= 0xff // CRC-32
	// 32 gzip members of 1 MiB of zeros each: 32 MiB decoded from about 32 KiB.
	bomb := bytes.Repeat(compressed(t, "gzip", make([]byte, 1<<20)), 32)
	// Empty gzip members decode to nothing however many there are.
	endless := bytes.Repeat(compressed(t, "gzip", nil), 5000)

	type resource struct {
		encoding string
		body     []byte
	}
	resources := map[string]resource{
		"/plain":         {"", page},
		"/plain-nolen":   {"", page},
		"/gzip":          {"gzip", gz},
		"/x-gzip":        {"x-gzip", gz},
		"/deflate-zlib":  {"deflate", compressed(t, "zlib", page)},
		"/deflate-raw":   {"deflate", compressed(t, "deflate", page)},
		"/bomb":          {"gzip", bomb},
		"/corrupt":       {"gzip", corrupt},
		"/endless":       {"gzip", endless},
		"/endless-nolen": {"gzip", endless},
		"/gzip-cut":      {"gzip", gz[:len(gz)/2]},
		"/brotli":        {"br", page},
		"/empty-gzip":    {"gzip", nil},
		"/no-type":       {"", []byte("<!DOCTYPE html><title>x</title>")},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs, ok := resources[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if rs.encoding != "" {
			w.Header().Set("Content-Encoding", rs.encoding)
		}
		if r.URL.Path != "/no-type" {
			w.Header().Set("Content-Type", "text/plain")
		} else {
			w.Header()["Content-Type"] = nil // no sniffing by the server
		}
		if !strings.HasSuffix(r.URL.Path, "-nolen") { // else chunked: the body is over 2 KiB
			w.Header().Set("Content-Length", strconv.Itoa(len(rs.body)))
		}
		w.Write(rs.body)
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		path          string
		maxBody       int64
		want          []byte
		wantTruncated bool
		wantType      string
		wantErr       error // nil: success; errAny: any error
		retryable     bool
	}{
		{path: "/plain", want: page, wantType: "text/plain"},
		{path: "/plain", maxBody: 7000, want: page},
		// A Content-Length over MaxBody is declined unread (see TestFetchTooLarge); a body
		// without one is cut at MaxBody.
		{path: "/plain", maxBody: 6999, wantErr: ErrTooLarge},
		{path: "/plain-nolen", maxBody: 7000, want: page},
		{path: "/plain-nolen", maxBody: 6999, want: page[:6999], wantTruncated: true},
		{path: "/plain-nolen", maxBody: 1000, want: page[:1000], wantTruncated: true},
		{path: "/gzip", want: page},
		{path: "/gzip", maxBody: 100, want: page[:100], wantTruncated: true},
		{path: "/x-gzip", want: page},
		{path: "/deflate-zlib", want: page},
		{path: "/deflate-raw", want: page},
		{path: "/bomb", maxBody: 64 << 10, want: make([]byte, 64<<10), wantTruncated: true},
		{path: "/empty-gzip", want: []byte{}},
		{path: "/endless", maxBody: 1 << 10, wantErr: ErrTooLarge},
		{path: "/endless-nolen", maxBody: 1 << 10, want: []byte{}, wantTruncated: true},
		{path: "/no-type", want: resources["/no-type"].body, wantType: "text/html"},
		{path: "/corrupt", wantErr: gzip.ErrChecksum},
		{path: "/gzip-cut", wantErr: io.ErrUnexpectedEOF, retryable: true},
		{path: "/brotli", wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s max %d", tt.path, tt.maxBody), func(t *testing.T) {
			c := newTestClient(t, Config{IgnoreRobots: true, MaxBody: tt.maxBody}, nil)
			res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+tt.path)})
			if tt.wantErr == ErrTooLarge { // declined with its status and headers
				if res == nil || res.Status != 200 || res.Body != nil || !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Fetch = %+v, %v; want the 200 without a body and ErrTooLarge", res, err)
				}
				return
			}
			if tt.wantErr != nil {
				if res != nil || err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("Fetch = %v, %v; want nil and %v", res, err, tt.wantErr)
				}
				if _, ok := RetryDelay(err, 0); ok != tt.retryable {
					t.Errorf("RetryDelay(%v) retryable = %v, want %v", err, ok, tt.retryable)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.Body, tt.want) || res.Truncated != tt.wantTruncated || res.Size != int64(len(tt.want)) {
				t.Errorf("Body %d bytes (Size %d), Truncated %v; want %d bytes, %v",
					len(res.Body), res.Size, res.Truncated, len(tt.want), tt.wantTruncated)
			}
			if tt.wantType != "" && res.ContentType != tt.wantType {
				t.Errorf("ContentType = %q, want %q", res.ContentType, tt.wantType)
			}
		})
	}
}

// errAny stands for "some error" in test tables.
var errAny = errors.New("any error")

// hijacked starts a server whose every response is raw, written to the bare connection,
// which is then closed.
func hijacked(t *testing.T, raw string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString(raw)
		buf.Flush()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchBodyCut(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		wantErr   error
		retryable bool
	}{
		{"half of Content-Length",
			"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("x", 500),
			io.ErrUnexpectedEOF, true},
		{"chunked, cut between chunks",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
			io.ErrUnexpectedEOF, true},
		{"bad chunk size",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n",
			errAny, false},
		{"closed before headers", "", io.EOF, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := hijacked(t, tt.raw)
			c := newTestClient(t, Config{IgnoreRobots: true}, nil)
			res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/")})
			if res != nil || err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("Fetch = %+v, %v; want nil, %v", res, err, tt.wantErr)
			}
			if _, ok := RetryDelay(err, 0); ok != tt.retryable {
				t.Errorf("RetryDelay(%v) retryable = %v, want %v", err, ok, tt.retryable)
			}
		})
	}
}

func TestFetchConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := newTestClient(t, Config{IgnoreRobots: true}, nil)
	res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://"+addr+"/")})
	if res != nil || err == nil {
		t.Fatalf("Fetch = %v, %v; want an error", res, err)
	}
	if d, ok := RetryDelay(err, 0); !ok || d < 500*time.Millisecond || d > time.Second {
		t.Errorf("RetryDelay(%v) = %v, %v; want 0.5s..1s, true", err, d, ok)
	}
}
