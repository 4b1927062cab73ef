package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordArchive keeps the exchanges it is given.
type recordArchive struct {
	mu  sync.Mutex
	got []archived
}

type archived struct {
	url, ip   string
	status    int
	req, resp []byte
	truncated string
	prior     Location
}

func (a *recordArchive) Archive(_ context.Context, ex *Exchange) (Location, error) {
	req, err := ex.Request.Bytes()
	if err != nil {
		return Location{}, err
	}
	resp, err := ex.Response.Bytes()
	if err != nil {
		return Location{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, archived{ex.URL.String(), ex.IP, ex.Status, req, resp, ex.Truncated, ex.Prior})
	return Location{File: "f", Offset: int64(len(a.got))}, nil
}

// TestArchiveCapturesWire: with Config.Archive, every exchange (robots.txt, each redirect
// hop, the page) is handed over as the bytes on the wire: the request as sent, the
// response with its chunked and gzip encodings; Result.Archived is the final response's.
func TestArchiveCapturesWire(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/robots.txt", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/new", http.StatusMovedPermanently) })
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "text/html")
		w.(http.Flusher).Flush() // no Content-Length: chunked
		_, _ = w.Write(gzipped(t, "<p>hello</p>"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	arch := &recordArchive{}
	c := newTestClient(t, Config{Archive: arch}, nil)
	res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/old")})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != "<p>hello</p>" || res.Archived != (Location{File: "f", Offset: 3}) {
		t.Fatalf("body %q, archived %+v; want the decoded body and the third exchange", res.Body, res.Archived)
	}
	if len(arch.got) != 3 {
		t.Fatalf("%d exchanges archived, want robots.txt, /old, /new", len(arch.got))
	}
	for i, want := range []struct {
		path   string
		status int
	}{{"/robots.txt", 404}, {"/old", 301}, {"/new", 200}} {
		g := arch.got[i]
		if !strings.HasSuffix(g.url, want.path) || g.status != want.status || g.ip != "127.0.0.1" ||
			!bytes.HasPrefix(g.req, []byte("GET "+want.path+" HTTP/1.1\r\n")) || !bytes.HasSuffix(g.req, []byte("\r\n\r\n")) {
			t.Errorf("exchange %d: %s %d from %q, request %q", i, g.url, g.status, g.ip, g.req)
		}
	}
	last := arch.got[2].resp
	if !bytes.HasPrefix(last, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.Contains(last, []byte("Transfer-Encoding: chunked\r\n")) ||
		!bytes.Contains(last, []byte("Content-Encoding: gzip\r\n")) || !bytes.HasSuffix(last, []byte("\r\n0\r\n\r\n")) ||
		bytes.Contains(last, []byte("hello")) {
		t.Errorf("response bytes are not as sent (chunked, gzip):\n%q", last)
	}
}

// TestArchiveTLSSpeaksHTTP1: over TLS to a server that offers HTTP/2, an archiving client
// speaks HTTP/1.1 and captures the HTTP bytes inside TLS.
func TestArchiveTLSSpeaksHTTP1(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Proto))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	arch := &recordArchive{}
	cfg := Config{Archive: arch, IgnoreRobots: true}
	tr := NewTransport(cfg)
	tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	c := newTestClient(t, cfg, tr)
	res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/")})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != "HTTP/1.1" || len(arch.got) != 1 || !bytes.HasPrefix(arch.got[0].resp, []byte("HTTP/1.1 200 OK\r\n")) {
		t.Fatalf("body %q, %d exchanges: want HTTP/1.1 captured in clear", res.Body, len(arch.got))
	}
}

// TestArchiveBoundsCapture: a body past MaxBody is archived as far as it was read and
// marked truncated, and the capture never holds more than its limit.
func TestArchiveBoundsCapture(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // chunked: no Content-Length to decline it by
		_, _ = w.Write([]byte(big))
	}))
	defer srv.Close()
	arch := &recordArchive{}
	c := newTestClient(t, Config{Archive: arch, IgnoreRobots: true, MaxBody: 64 << 10}, nil)
	res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/")})
	if err != nil {
		t.Fatal(err)
	}
	g := arch.got[0]
	if !res.Truncated || g.truncated != TruncatedLength || int64(len(g.resp)) > 2*(64<<10)+1<<20 || len(g.resp) < 64<<10 {
		t.Errorf("truncated %v/%v, %d bytes captured", res.Truncated, g.truncated, len(g.resp))
	}
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.Bytes()
}

// TestArchiveCutResponse: a response whose connection is cut after its headers, part of
// its body sent (by Content-Length, or chunked), fails the fetch with io.ErrUnexpectedEOF
// and is archived as what came, byte for byte, marked TruncatedDisconnect; one whose body
// stalls past Config.Timeout is archived marked TruncatedTime.
func TestArchiveCutResponse(t *testing.T) {
	stall := make(chan struct{}) // closed when the test ends: the stalled handler returns
	defer close(stall)
	sent := map[string]string{
		"/length":  "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n<p>the first part of",
		"/chunked": "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n<p>one chunk of ",
		"/stall":   "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n<p>then nothing",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString(sent[r.URL.Path])
		_ = buf.Flush()
		if r.URL.Path == "/stall" {
			<-stall
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		path, why string
		timeout   time.Duration
	}{{"/length", TruncatedDisconnect, 0}, {"/chunked", TruncatedDisconnect, 0}, {"/stall", TruncatedTime, 300 * time.Millisecond}} {
		arch := &recordArchive{}
		t.Run(c.path[1:], func(t *testing.T) {
			cl := newTestClient(t, Config{Archive: arch, IgnoreRobots: true, Timeout: c.timeout}, nil)
			res, err := cl.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+c.path)})
			if res != nil || err == nil {
				t.Fatalf("Fetch = %v, %v; want no Result and an error", res, err)
			}
			if c.why == TruncatedDisconnect && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Fetch error %v, want io.ErrUnexpectedEOF", err)
			}
			if len(arch.got) != 1 {
				t.Fatalf("%d exchanges archived, want the cut one", len(arch.got))
			}
			g := arch.got[0]
			if g.status != 200 || g.truncated != c.why || string(g.resp) != sent[c.path] {
				t.Errorf("archived status %d, truncated %q, bytes %q; want 200, %q, what the server sent", g.status, g.truncated, g.resp, c.why)
			}
		})
	}
}

// TestArchivePriorOf304: Request.Prior reaches the Archive with a 304 answer (the capture
// it revalidated), and not with another status.
func TestArchivePriorOf304(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` && r.URL.Path == "/same" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v2"`)
		_, _ = io.WriteString(w, "changed")
	}))
	defer srv.Close()
	arch := &recordArchive{}
	c := newTestClient(t, Config{Archive: arch, IgnoreRobots: true}, nil)
	prior := Location{File: "c-00001.warc.gz", Offset: 4242}
	for _, path := range []string{"/same", "/changed"} {
		res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+path), Header: http.Header{"If-None-Match": {`"v1"`}}, Prior: prior})
		if err != nil {
			t.Fatal(err)
		}
		g := arch.got[len(arch.got)-1]
		want := Location{}
		if res.Status == http.StatusNotModified {
			want = prior
		}
		if g.prior != want || (path == "/same") != (res.Status == http.StatusNotModified) {
			t.Errorf("%s: status %d archived with Prior %+v, want %+v", path, res.Status, g.prior, want)
		}
	}
}
