package fetch

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// roundTripFunc is an in-memory http.RoundTripper for tests run under testing/synctest.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// reply builds a response to r with code, body and header pairs ("Key", "value", …).
func reply(r *http.Request, code int, body string, kv ...string) *http.Response {
	h := make(http.Header)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return &http.Response{
		StatusCode:    code,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

// newTestClient returns a Client over rt (nil means a real Transport) logging to t.
func newTestClient(t *testing.T, cfg Config, rt http.RoundTripper) *Client {
	t.Helper()
	var hc *http.Client
	if rt != nil {
		hc = &http.Client{Transport: rt}
	}
	c, err := New(cfg, hc, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// mustURL parses s or fails the test.
func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", s, err)
	}
	return u
}

// hitLog records requests seen by a test server or RoundTripper.
type hitLog struct {
	mu   sync.Mutex // guards hits
	hits []hit
}

type hit struct {
	at     time.Time
	host   string
	path   string
	header http.Header
}

func (l *hitLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	host := r.URL.Host
	if host == "" { // server side
		host = r.Host
	}
	l.hits = append(l.hits, hit{at: time.Now(), host: host, path: r.URL.Path, header: r.Header.Clone()})
}

// count returns the number of hits on path ("" for any) of host ("" for any).
func (l *hitLog) count(host, path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, h := range l.hits {
		if (host == "" || h.host == host) && (path == "" || h.path == path) {
			n++
		}
	}
	return n
}

// times returns when path was hit on host, in order.
func (l *hitLog) times(host, path string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ts []time.Time
	for _, h := range l.hits {
		if h.host == host && h.path == path {
			ts = append(ts, h.at)
		}
	}
	return ts
}

// all returns a copy of every hit.
func (l *hitLog) all() []hit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]hit(nil), l.hits...)
}
