package h1

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ---- 9. what goes to the fallback ----

func TestFallback(t *testing.T) {
	type seen struct {
		method, user, pass, acceptEncoding string
		tls                                bool
	}
	ch := make(chan seen, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		io.Copy(io.Discard, r.Body)
		ch <- seen{r.Method, u, p, r.Header.Get("Accept-Encoding"), r.TLS != nil}
		io.WriteString(w, "hi")
	})
	plain := newCountedServer(t, h)
	tlsSrv := httptest.NewTLSServer(h)
	t.Cleanup(tlsSrv.Close)
	tlsConf := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig

	// setup returns a transport whose own dials and fallback dials are counted.
	setup := func(t *testing.T, mod func(*http.Transport)) (*Transport, *atomic.Int32, *atomic.Int32) {
		fbDials := new(atomic.Int32)
		fb := &http.Transport{DisableCompression: true, DialContext: countingDialer(fbDials), TLSClientConfig: tlsConf}
		if mod != nil {
			mod(fb)
		}
		tr := New(fb)
		t.Cleanup(tr.CloseIdleConnections)
		tr.dial = (&net.Dialer{}).DialContext // h1's own dials counted apart from the fallback's
		return tr, countDials(tr), fbDials
	}
	cases := []struct {
		name     string
		fb       func(*http.Transport)
		req      func(t *testing.T) *http.Request
		viaH1    bool
		wantSeen seen
	}{
		{name: "plain GET goes direct (control)", viaH1: true,
			req:      func(t *testing.T) *http.Request { return newReq(t, "GET", plain.URL+"/", nil) },
			wantSeen: seen{method: "GET"}},
		{name: "plain HEAD goes direct (control)", viaH1: true,
			req:      func(t *testing.T) *http.Request { return newReq(t, "HEAD", plain.URL+"/", nil) },
			wantSeen: seen{method: "HEAD"}},
		{name: "GET with NoBody goes direct (control)", viaH1: true,
			req: func(t *testing.T) *http.Request {
				r := newReq(t, "GET", plain.URL+"/", nil)
				r.Body = http.NoBody
				return r
			},
			wantSeen: seen{method: "GET"}},
		{name: "https",
			req:      func(t *testing.T) *http.Request { return newReq(t, "GET", tlsSrv.URL+"/", nil) },
			wantSeen: seen{method: "GET", tls: true}},
		{name: "POST with a body",
			req:      func(t *testing.T) *http.Request { return newReq(t, "POST", plain.URL+"/", strings.NewReader("data")) },
			wantSeen: seen{method: "POST"}},
		{name: "GET with a body",
			req:      func(t *testing.T) *http.Request { return newReq(t, "GET", plain.URL+"/", strings.NewReader("data")) },
			wantSeen: seen{method: "GET"}},
		{name: "DELETE without a body",
			req:      func(t *testing.T) *http.Request { return newReq(t, "DELETE", plain.URL+"/", nil) },
			wantSeen: seen{method: "DELETE"}},
		{name: "credentials in the URL",
			req: func(t *testing.T) *http.Request {
				return newReq(t, "GET", strings.Replace(plain.URL, "http://", "http://user:pa%20ss@", 1)+"/", nil)
			},
			wantSeen: seen{method: "GET", user: "user", pass: "pa ss"}},
		{name: "req.Close",
			req: func(t *testing.T) *http.Request {
				r := newReq(t, "GET", plain.URL+"/", nil)
				r.Close = true
				return r
			},
			wantSeen: seen{method: "GET"}},
		{name: "Connection header",
			req: func(t *testing.T) *http.Request {
				r := newReq(t, "GET", plain.URL+"/", nil)
				r.Header.Set("Connection", "keep-alive")
				return r
			},
			wantSeen: seen{method: "GET"}},
		{name: "Upgrade header",
			req: func(t *testing.T) *http.Request {
				r := newReq(t, "GET", plain.URL+"/", nil)
				r.Header.Set("Upgrade", "h2c")
				return r
			},
			wantSeen: seen{method: "GET"}},
		{name: "chunked transfer encoding asked for",
			req: func(t *testing.T) *http.Request {
				r := newReq(t, "GET", plain.URL+"/", nil)
				r.TransferEncoding = []string{"chunked"}
				return r
			},
			wantSeen: seen{method: "GET"}},
		{name: "trailer set",
			req: func(t *testing.T) *http.Request {
				r := newReq(t, "GET", plain.URL+"/", nil)
				r.Trailer = http.Header{}
				return r
			},
			wantSeen: seen{method: "GET"}},
		{name: "fallback with a proxy function",
			fb:       func(fb *http.Transport) { fb.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil } },
			req:      func(t *testing.T) *http.Request { return newReq(t, "GET", plain.URL+"/", nil) },
			wantSeen: seen{method: "GET"}},
		{name: "fallback with compression",
			fb:       func(fb *http.Transport) { fb.DisableCompression = false },
			req:      func(t *testing.T) *http.Request { return newReq(t, "GET", plain.URL+"/", nil) },
			wantSeen: seen{method: "GET", acceptEncoding: "gzip"}},
		{name: "fallback with MaxConnsPerHost",
			fb:       func(fb *http.Transport) { fb.MaxConnsPerHost = 4 },
			req:      func(t *testing.T) *http.Request { return newReq(t, "GET", plain.URL+"/", nil) },
			wantSeen: seen{method: "GET"}},
		{name: "fallback with ResponseHeaderTimeout",
			fb:       func(fb *http.Transport) { fb.ResponseHeaderTimeout = time.Hour },
			req:      func(t *testing.T) *http.Request { return newReq(t, "GET", plain.URL+"/", nil) },
			wantSeen: seen{method: "GET"}},
		{name: "fallback without keep-alives",
			fb:       func(fb *http.Transport) { fb.DisableKeepAlives = true },
			req:      func(t *testing.T) *http.Request { return newReq(t, "GET", plain.URL+"/", nil) },
			wantSeen: seen{method: "GET"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, h1Dials, fbDials := setup(t, tc.fb)
			c := &http.Client{Transport: tr}
			resp, err := c.Do(tc.req(t))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := <-ch
			if got != tc.wantSeen {
				t.Errorf("server saw %+v, want %+v", got, tc.wantSeen)
			}
			if want := map[bool]string{true: "", false: "hi"}[got.method == "HEAD"]; string(b) != want {
				t.Errorf("body %q, want %q", b, want)
			}
			h1n, fbn := h1Dials.Load(), fbDials.Load()
			if tc.viaH1 && (h1n != 1 || fbn != 0 || tr.idleCount() != 1) {
				t.Errorf("h1 dials %d, fallback dials %d, h1 idle %d: want 1, 0, 1", h1n, fbn, tr.idleCount())
			}
			if !tc.viaH1 && (h1n != 0 || fbn != 1 || tr.idleCount() != 0) {
				t.Errorf("h1 dials %d, fallback dials %d, h1 idle %d: want 0, 1, 0", h1n, fbn, tr.idleCount())
			}
		})
	}
}

func newReq(t *testing.T, method, u string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ---- 10. redirects ----

func TestRedirectFollowedOnce(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	srv := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		if r.URL.Path == "/from" {
			http.Redirect(w, r, "/to?x=1", http.StatusFound)
			return
		}
		io.WriteString(w, "landed:"+r.URL.RequestURI())
	}))
	tr := newTransport(t, 2)
	c := &http.Client{Transport: tr}
	resp, b := do(t, c, "GET", srv.URL+"/from")
	if resp.StatusCode != 200 || b != "landed:/to?x=1" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	if resp.Request.URL.Path != "/to" {
		t.Errorf("final request %s", resp.Request.URL)
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(hits, map[string]int{"/from": 1, "/to": 1}) {
		t.Errorf("hits %v, want one each", hits)
	}
	if n := srv.news.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (the redirect's body read and the connection reused)", n)
	}
}
