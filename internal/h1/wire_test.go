package h1

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ---- 1. the request on the wire ----

func TestRequestOnWire(t *testing.T) {
	type seen struct {
		method, uri, host string
		header            http.Header
	}
	ch := make(chan seen, 1)
	srv := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- seen{r.Method, r.URL.RequestURI(), r.Host, r.Header.Clone()}
		io.WriteString(w, "body:"+r.URL.RequestURI())
	}))
	tr := newTransport(t, 2)
	dials := countDials(tr)
	c := &http.Client{Transport: tr}
	host := strings.TrimPrefix(srv.URL, "http://")
	ua := "Go-http-client/1.1"
	cases := []struct {
		name, method, path, host string
		header                   http.Header
		wantMethod, wantURI      string
		wantHost                 string
		want                     http.Header
	}{
		{name: "default UA", method: "GET", path: "/a/b?q=1&r=x%20y",
			header:     http.Header{"X-One": {"1"}, "X-Multi": {"a", "b"}},
			wantMethod: "GET", wantURI: "/a/b?q=1&r=x%20y",
			want: http.Header{"User-Agent": {ua}, "X-One": {"1"}, "X-Multi": {"a", "b"}}},
		{name: "own UA", method: "GET", path: "/",
			header:     http.Header{"User-Agent": {"probe/2"}},
			wantMethod: "GET", wantURI: "/",
			want: http.Header{"User-Agent": {"probe/2"}}},
		{name: "two UAs send the first", method: "GET", path: "/",
			header:     http.Header{"User-Agent": {"probe/3", "other/1"}},
			wantMethod: "GET", wantURI: "/",
			want: http.Header{"User-Agent": {"probe/3"}}},
		{name: "empty UA sends none", method: "GET", path: "/x",
			header:     http.Header{"User-Agent": {""}, "X-A": {"v"}},
			wantMethod: "GET", wantURI: "/x",
			want: http.Header{"X-A": {"v"}}},
		{name: "values trimmed", method: "GET", path: "/t",
			header:     http.Header{"X-T": {" \tv  v\t "}, "X-Empty": {""}},
			wantMethod: "GET", wantURI: "/t",
			want: http.Header{"User-Agent": {ua}, "X-T": {"v  v"}, "X-Empty": {""}}},
		{name: "Host header from req.Host, not the header map", method: "GET", path: "/h", host: "virtual.example:8080",
			header:     http.Header{"Host": {"ignored.example"}, "Content-Length": {"12"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"X"}},
			wantMethod: "GET", wantURI: "/h", wantHost: "virtual.example:8080",
			want: http.Header{"User-Agent": {ua}}},
		{name: "escaped path kept", method: "GET", path: "/p%2Fq/%E2%82%AC/c%20d?k=%26&e",
			wantMethod: "GET", wantURI: "/p%2Fq/%E2%82%AC/c%20d?k=%26&e",
			want: http.Header{"User-Agent": {ua}}},
		{name: "empty query kept", method: "GET", path: "/q?",
			wantMethod: "GET", wantURI: "/q?",
			want: http.Header{"User-Agent": {ua}}},
		{name: "HEAD", method: "HEAD", path: "/head?x=1",
			wantMethod: "HEAD", wantURI: "/head?x=1",
			want: http.Header{"User-Agent": {ua}}},
		{name: "empty method is GET", method: "", path: "/m",
			wantMethod: "GET", wantURI: "/m",
			want: http.Header{"User-Agent": {ua}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header[k] = v
			}
			req.Host = tc.host
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			got := <-ch
			wantHost := tc.wantHost
			if wantHost == "" {
				wantHost = host
			}
			if got.method != tc.wantMethod || got.uri != tc.wantURI || got.host != wantHost {
				t.Errorf("server saw %s %s Host %s, want %s %s Host %s", got.method, got.uri, got.host, tc.wantMethod, tc.wantURI, wantHost)
			}
			if !reflect.DeepEqual(got.header, tc.want) {
				t.Errorf("server saw header %v, want %v", got.header, tc.want)
			}
			wantBody := "body:" + tc.wantURI
			if tc.wantMethod == "HEAD" {
				wantBody = ""
			}
			if string(b) != wantBody {
				t.Errorf("body %q, want %q", b, wantBody)
			}
		})
	}
	if n := srv.news.Load(); n != 1 {
		t.Errorf("%d requests took %d connections, want 1", len(cases), n)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("h1 dialed %d times, want 1 (the requests went through it)", n)
	}
}

func TestInvalidRequestNotSent(t *testing.T) {
	srv := newRawServer(t, replies(func(int, *http.Request) (string, bool) { return okResp, false }))
	var fbDials atomic.Int32
	tr := New(&http.Transport{DisableCompression: true, DialContext: countingDialer(&fbDials)})
	t.Cleanup(tr.CloseIdleConnections)
	tr.dial = (&net.Dialer{}).DialContext // h1's own dials counted apart from the fallback's
	dials := countDials(tr)
	c := &http.Client{Transport: tr}
	cases := map[string]func(*http.Request){
		"name with space":     func(r *http.Request) { r.Header["Bad Name"] = []string{"v"} },
		"name with colon":     func(r *http.Request) { r.Header["X-A:"] = []string{"v"} },
		"empty name":          func(r *http.Request) { r.Header[""] = []string{"v"} },
		"name with newline":   func(r *http.Request) { r.Header["X-A\r\nX-B"] = []string{"v"} },
		"value with CRLF":     func(r *http.Request) { r.Header.Set("X-A", "a\r\nX-Injected: 1") },
		"value with LF":       func(r *http.Request) { r.Header.Set("X-A", "a\nb") },
		"value with NUL":      func(r *http.Request) { r.Header.Set("X-A", "a\x00b") },
		"value with DEL":      func(r *http.Request) { r.Header.Set("X-A", "a\x7fb") },
		"second value bad":    func(r *http.Request) { r.Header["X-A"] = []string{"ok", "b\rc"} },
		"User-Agent with LF":  func(r *http.Request) { r.Header.Set("User-Agent", "ua\nX-Injected: 1") },
		"Host with CRLF":      func(r *http.Request) { r.Host = "h\r\nX-Injected: 1" },
		"Host with space":     func(r *http.Request) { r.Host = "a b" },
		"Host not ASCII":      func(r *http.Request) { r.Host = "bücher.example" },
		"Host with slash":     func(r *http.Request) { r.Host = "a/b" },
		"Host with NUL":       func(r *http.Request) { r.Host = "a\x00b" },
		"Host with a newline": func(r *http.Request) { r.Host = "a\nb" },
		"Host header key bad": func(r *http.Request) { r.Header["Host"] = []string{"a\r\nX-Injected: 1"} },
		"Content-Length bad":  func(r *http.Request) { r.Header["Content-Length"] = []string{"1\r\n"} },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest("GET", srv.url+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			mod(req)
			if resp, err := c.Do(req); err == nil {
				resp.Body.Close()
				t.Fatalf("no error")
			}
			if resp, err := tr.RoundTrip(req); err == nil {
				resp.Body.Close()
				t.Fatalf("RoundTrip: no error")
			}
		})
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("h1 dialed %d times for invalid requests, want 0", n)
	}
	if n := fbDials.Load(); n != 0 {
		t.Errorf("the fallback dialed %d times for invalid requests, want 0", n)
	}
	// The transport still works, and the server saw nothing before.
	if b := get(t, c, srv.url+"/"); b != "ok" {
		t.Fatalf("body %q", b)
	}
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1", n)
	}
}

// A control byte in the request URI (a URL built by hand, not parsed) must
// not reach the wire: net/http refuses it ("can't write control character
// in Request.URL"); written as is, it lets a query inject headers or a
// whole request.
func TestControlBytesInURLNotSent(t *testing.T) {
	wire := make(chan string, 4) // the request head as the server got it
	srv := newRawServer(t, func(i int, nc net.Conn, br *bufio.Reader) {
		for {
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			wire <- head.String()
			io.WriteString(nc, okResp)
		}
	})
	tr := newTransport(t, 2)
	dials := countDials(tr)
	c := &http.Client{Transport: tr}
	for _, mod := range []func(u *url.URL){
		func(u *url.URL) { u.RawQuery = "a=1 HTTP/1.1\r\nX-Injected: yes\r\nX-Pad: x" },
		func(u *url.URL) { u.Opaque = "/x\r\nX-Injected: yes\r\nX-Pad:" },
		func(u *url.URL) { u.RawQuery = "a=\x00" },
	} {
		req, err := http.NewRequest("GET", srv.url+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		mod(req.URL)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("URI %q was sent; the server got:\n%s", req.URL.RequestURI(), <-wire)
			continue
		}
		// net/http's own writer rejects it.
		if werr := req.Write(io.Discard); werr == nil {
			t.Errorf("net/http accepts URI %q", req.URL.RequestURI())
		}
	}
	if n := dials.Load(); n != 0 {
		t.Errorf("h1 dialed %d times, want 0", n)
	}
}

// ---- 2. body framing, 3. early close, 4. unsolicited bytes ----

func TestResponseFraming(t *testing.T) {
	type exch struct {
		method      string
		resp        string
		closeAfter  bool
		wantStatus  int
		wantBody    string
		wantTrailer string // value of X-T after the body
	}
	get := func(resp, body string) exch {
		return exch{method: "GET", resp: resp, wantStatus: 200, wantBody: body}
	}
	cases := []struct {
		name        string
		ex          []exch
		wantAccepts int32
	}{
		{"content-length", []exch{
			get("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello"),
			get("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello2", "hello2"),
			get("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ""),
			get(okResp, "ok"),
		}, 1},
		{"chunked with trailer", []exch{
			{method: "GET", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: done\r\n\r\n",
				wantStatus: 200, wantBody: "hello world", wantTrailer: "done"},
			get("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", "ok"),
			get(okResp, "ok"),
		}, 1},
		{"HTTP/1.0 body to close", []exch{
			{method: "GET", resp: "HTTP/1.0 200 OK\r\n\r\nold", closeAfter: true, wantStatus: 200, wantBody: "old"},
			{method: "GET", resp: "HTTP/1.0 200 OK\r\n\r\nold2", closeAfter: true, wantStatus: 200, wantBody: "old2"},
		}, 2},
		{"HTTP/1.0 with length, no keep-alive", []exch{ // the server keeps the connection open: the client must not reuse it
			get("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\none", "one"),
			get("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\ntwo", "two"),
		}, 2},
		{"HTTP/1.0 keep-alive", []exch{
			get("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\none", "one"),
			get("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\ntwo", "two"),
		}, 1},
		{"Connection: close", []exch{
			get("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\none", "one"),
			get("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\ntwo", "two"),
			get(okResp, "ok"),
		}, 3},
		{"HTTP/1.1 body to close", []exch{
			{method: "GET", resp: "HTTP/1.1 200 OK\r\n\r\nuntil close", closeAfter: true, wantStatus: 200, wantBody: "until close"},
			get(okResp, "ok"),
		}, 2},
		{"HEAD", []exch{
			{method: "HEAD", resp: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", wantStatus: 200},
			{method: "HEAD", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", wantStatus: 200},
			get(okResp, "ok"),
		}, 1},
		{"204 and 304", []exch{
			{method: "GET", resp: "HTTP/1.1 204 No Content\r\n\r\n", wantStatus: 204},
			get(okResp, "ok"),
			{method: "GET", resp: "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", wantStatus: 304},
			get(okResp, "ok"),
		}, 1},
		{"extra bytes after a length body", []exch{
			get("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale", "ok"),
			get("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh", "fresh"),
		}, 2},
		{"extra bytes after a chunked body", []exch{
			get("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nJUNK", "ok"),
			get("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh", "fresh"),
		}, 2},
		{"body sent to HEAD", []exch{
			{method: "HEAD", resp: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale", wantStatus: 200},
			get("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh", "fresh"),
		}, 2},
		{"body sent with 204", []exch{
			{method: "GET", resp: "HTTP/1.1 204 No Content\r\n\r\nstale", wantStatus: 204},
			get("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh", "fresh"),
		}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, replies(func(n int, r *http.Request) (string, bool) {
				if n >= len(tc.ex) {
					return "HTTP/1.1 500 Too Many\r\nContent-Length: 0\r\n\r\n", true
				}
				if r.Method != tc.ex[n].method {
					return "HTTP/1.1 400 Bad Method\r\nContent-Length: 0\r\n\r\n", true
				}
				return tc.ex[n].resp, tc.ex[n].closeAfter
			}))
			tr := newTransport(t, 4)
			c := &http.Client{Transport: tr}
			for i, e := range tc.ex {
				resp, body := do(t, c, e.method, srv.url+"/")
				if resp.StatusCode != e.wantStatus || body != e.wantBody {
					t.Fatalf("exchange %d: %d %q, want %d %q", i, resp.StatusCode, body, e.wantStatus, e.wantBody)
				}
				if got := resp.Trailer.Get("X-T"); got != e.wantTrailer {
					t.Errorf("exchange %d: trailer X-T %q, want %q", i, got, e.wantTrailer)
				}
			}
			if n := srv.accepts.Load(); n != tc.wantAccepts {
				t.Errorf("%d connections accepted, want %d", n, tc.wantAccepts)
			}
		})
	}
}

func TestBodyClosedEarlyClosesConn(t *testing.T) {
	big := strings.Repeat("x", 64<<10)
	srv := newRawServer(t, replies(func(n int, r *http.Request) (string, bool) {
		if r.URL.Path == "/big" {
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(big), big), false
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", false
	}))
	tr := newTransport(t, 4)
	c := &http.Client{Transport: tr}
	addr := strings.TrimPrefix(srv.url, "http://")

	// Read to EOF and closed: kept.
	if b := get(t, c, srv.url+"/small"); b != "0123456789" {
		t.Fatalf("body %q", b)
	}
	if n := len(tr.idleConns(addr)); n != 1 {
		t.Fatalf("%d idle connections after a full read, want 1", n)
	}
	if b := get(t, c, srv.url+"/small"); b != "0123456789" {
		t.Fatalf("body %q", b)
	}
	if n := srv.accepts.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}

	for i, path := range []string{"/small", "/big"} {
		resp, err := c.Get(srv.url + path)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if n := len(tr.idleConns(addr)); n != 0 {
			t.Fatalf("%s: %d idle connections after an early close, want 0", path, n)
		}
		if _, err := resp.Body.Read(buf); err == nil {
			t.Errorf("%s: Read after Close: no error", path)
		}
		if b := get(t, c, srv.url+"/small"); b != "0123456789" {
			t.Fatalf("body %q", b)
		}
		if n, want := srv.accepts.Load(), int32(2+i); n != want {
			t.Fatalf("after an early close of %s: %d connections, want %d", path, n, want)
		}
	}
}

// Bytes that arrive on a kept connection after its answer was read (a
// server that sent more than its Content-Length in a later segment, or a
// "408 Request Timeout" sent before closing an idle connection) must not be
// taken as the answer to the next request. net/http's reader goroutine sees
// them while the connection is idle and closes it; here they are looked for
// (alive) before each reuse, however short the connection was idle.
func TestLateUnsolicitedBytesNotTakenAsAnswer(t *testing.T) {
	canPeek(t)
	for _, idleLong := range []bool{true, false} {
		t.Run(fmt.Sprintf("idle long %v", idleLong), func(t *testing.T) {
			sendStale := make(chan struct{})
			srv := newRawServer(t, func(i int, nc net.Conn, br *bufio.Reader) {
				for n := 0; ; n++ {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					body := "fresh"
					if i == 0 && n == 0 {
						body = "first"
					}
					fmt.Fprintf(nc, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
					if i == 0 && n == 0 {
						<-sendStale
						io.WriteString(nc, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 5\r\n\r\nstale")
					}
				}
			})
			tr := newTransport(t, 4)
			clock := newFakeClock()
			tr.now = clock.now
			c := &http.Client{Transport: tr}
			addr := strings.TrimPrefix(srv.url, "http://")
			if b := get(t, c, srv.url+"/"); b != "first" {
				t.Fatalf("body %q", b)
			}
			cs := tr.idleConns(addr)
			if len(cs) != 1 {
				t.Fatalf("%d idle connections", len(cs))
			}
			close(sendStale)
			waitNotAlive(t, cs[0].nc) // the stale bytes are in the client's socket
			if idleLong {
				clock.advance(time.Second) // how long it sat idle does not matter
			}
			for range 2 {
				if resp, b := do(t, c, "GET", srv.url+"/"); resp.StatusCode != 200 || b != "fresh" {
					t.Fatalf("answer %d %q, want 200 %q: bytes sent after the first answer were taken for a later one", resp.StatusCode, b, "fresh")
				}
			}
			if n := srv.accepts.Load(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
		})
	}
}

// ---- 5. header limit, 6. 1xx ----

func TestResponseHeaderLimit(t *testing.T) {
	big := strings.Repeat("a", 4096)
	srv := newRawServer(t, replies(func(n int, r *http.Request) (string, bool) {
		switch r.URL.Path {
		case "/big":
			return "HTTP/1.1 200 OK\r\nX-Big: " + big + "\r\nContent-Length: 2\r\n\r\nok", false
		case "/endless": // a header that never ends
			return "HTTP/1.1 200 OK\r\nX-Big: " + big + big + big, false
		case "/1xx": // each header under the limit, together over it
			h := "HTTP/1.1 103 Early Hints\r\nLink: " + strings.Repeat("l", 700) + "\r\n\r\n"
			return h + h + "HTTP/1.1 200 OK\r\nX-Small: " + strings.Repeat("s", 700) + "\r\nContent-Length: 2\r\n\r\nok", false
		}
		return "HTTP/1.1 200 OK\r\nX-Small: " + strings.Repeat("s", 900) + "\r\nContent-Length: 2\r\n\r\nok", false
	}))
	tr := New(&http.Transport{DisableCompression: true, MaxResponseHeaderBytes: 1024})
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	if b := get(t, c, srv.url+"/small"); b != "ok" {
		t.Fatalf("body %q", b)
	}
	if b := get(t, c, srv.url+"/1xx"); b != "ok" {
		t.Fatalf("body %q", b)
	}
	for _, path := range []string{"/big", "/endless"} {
		resp, err := c.Get(srv.url + path)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: no error for a header over the limit", path)
		}
		if !strings.Contains(err.Error(), "1024") {
			t.Errorf("%s: error %q does not give the limit", path, err)
		}
	}
	if b := get(t, c, srv.url+"/small"); b != "ok" {
		t.Fatalf("body %q", b)
	}
}

func TestInformationalResponsesSkipped(t *testing.T) {
	srv := newRawServer(t, replies(func(n int, r *http.Request) (string, bool) {
		switch r.URL.Path {
		case "/hints":
			return "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" +
				"HTTP/1.1 100 Continue\r\n\r\n" +
				"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nfinal", false
		case "/flood":
			return strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 20) + okResp, false
		case "/five":
			return strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 5) + okResp, false
		case "/six":
			return strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 6) + okResp, false
		case "/99":
			return "HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok", false
		}
		return okResp, false
	}))
	tr := newTransport(t, 4)
	c := &http.Client{Transport: tr}
	for range 2 {
		resp, b := do(t, c, "GET", srv.url+"/hints")
		if resp.StatusCode != 200 || b != "final" || resp.Header.Get("X-Final") != "yes" || resp.Header.Get("Link") != "" {
			t.Fatalf("got %d %q header %v, want the final answer only", resp.StatusCode, b, resp.Header)
		}
	}
	if b := get(t, c, srv.url+"/"); b != "ok" {
		t.Fatalf("body %q", b)
	}
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if resp, b := do(t, c, "GET", srv.url+"/five"); resp.StatusCode != 200 || b != "ok" {
		t.Errorf("5 informational answers: got %d %q, want the final answer (net/http skips 5)", resp.StatusCode, b)
	}
	if resp, b := do(t, c, "GET", srv.url+"/99"); resp.StatusCode != 99 || b != "ok" {
		t.Errorf("status 099: got %d %q, want it as the final answer, as net/http takes it", resp.StatusCode, b)
	}
	for _, p := range []string{"/six", "/flood"} {
		resp, err := c.Get(srv.url + p)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: more than 5 informational answers: no error", p)
		}
	}
}
