package testserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// startAPI starts an API and closes it when the test ends.
func startAPI(t *testing.T, cfg APIConfig) *API {
	t.Helper()
	a, err := StartAPI(cfg)
	if err != nil {
		t.Fatalf("StartAPI(%+v): %v", cfg, err)
	}
	t.Cleanup(a.Close)
	return a
}

// apiResponse is a whole response read by apiGet.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// apiGet fetches rawURL with c (a fresh transport when nil) and returns the
// whole response.
func apiGet(t *testing.T, c *http.Client, rawURL string) apiResponse {
	t.Helper()
	if c == nil {
		c = &http.Client{Transport: &http.Transport{}}
		defer c.CloseIdleConnections()
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", rawURL, err)
	}
	return apiResponse{resp.StatusCode, resp.Header, body}
}

// routePath returns the request path of route for id.
func routePath(route, id string) string {
	return strings.ReplaceAll(route, "{id}", id)
}

func TestAPIDocuments(t *testing.T) {
	tests := []struct {
		route string
		array bool     // an array of objects rather than an object
		keys  []string // top-level keys (of each element for arrays)
	}{
		{RouteUser, false, []string{"age", "bio", "city", "email", "id", "joined", "name"}},
		{RouteStats, false, []string{"last_order", "orders_count", "stats_note", "tier", "total_spent", "user_id"}},
		{RouteRecommendations, false, []string{"for_user", "items"}},
		{RouteOrders, true, []string{"note", "order_id", "placed", "status", "total", "user_id"}},
	}
	for _, size := range []int{0, 100, 512, 4096, 50000} {
		a := startAPI(t, APIConfig{Size: size, Seed: 3})
		want := size
		if want == 0 {
			want = 512
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/size=%d", tt.route, size), func(t *testing.T) {
				r := apiGet(t, nil, a.URL()+routePath(tt.route, "42"))
				if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
					t.Fatalf("status %d, Content-Type %q; want 200 application/json", r.status, r.header.Get("Content-Type"))
				}
				// Small sizes cannot go below one record; above that, within 10% or 40 bytes.
				if got := len(r.body); want >= 512 && math.Abs(float64(got-want)) > max(40, 0.1*float64(want)) {
					t.Errorf("body is %d bytes, want about %d", got, want)
				}
				var objs []map[string]any
				if tt.array {
					if err := json.Unmarshal(r.body, &objs); err != nil || len(objs) == 0 {
						t.Fatalf("body is not a non-empty array of objects: %v\n%s", err, r.body)
					}
				} else {
					var obj map[string]any
					if err := json.Unmarshal(r.body, &obj); err != nil {
						t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
					}
					objs = append(objs, obj)
				}
				for i, obj := range objs {
					keys := slices.Sorted(func(yield func(string) bool) {
						for k := range obj {
							if !yield(k) {
								return
							}
						}
					})
					if !slices.Equal(keys, tt.keys) {
						t.Errorf("element %d has keys %q, want %q", i, keys, tt.keys)
					}
				}
				idKey := map[string]string{RouteUser: "id", RouteStats: "user_id", RouteRecommendations: "for_user", RouteOrders: "user_id"}[tt.route]
				if got := objs[0][idKey]; got != "42" {
					t.Errorf("%s = %v, want \"42\"", idKey, got)
				}
			})
		}
	}
}

func TestAPIDocumentsDeterministic(t *testing.T) {
	a := startAPI(t, APIConfig{Seed: 1})
	b := startAPI(t, APIConfig{Seed: 1})
	other := startAPI(t, APIConfig{Seed: 2})
	for _, route := range []string{RouteUser, RouteStats, RouteRecommendations, RouteOrders} {
		p := routePath(route, "7")
		ra, rb, ro := apiGet(t, nil, a.URL()+p), apiGet(t, nil, b.URL()+p), apiGet(t, nil, other.URL()+p)
		if string(ra.body) != string(rb.body) {
			t.Errorf("%s differs between two APIs with the same seed:\n%s\n%s", p, ra.body, rb.body)
		}
		if again := apiGet(t, nil, a.URL()+p); string(again.body) != string(ra.body) {
			t.Errorf("%s differs between two requests:\n%s\n%s", p, ra.body, again.body)
		}
		if string(ra.body) == string(ro.body) {
			t.Errorf("%s is the same with seeds 1 and 2: %s", p, ra.body)
		}
		if p8 := routePath(route, "8"); string(apiGet(t, nil, a.URL()+p8).body) == string(ra.body) {
			t.Errorf("%s and %s have the same body", p, p8)
		}
	}
}

func TestAPIErrorsAndRouting(t *testing.T) {
	a := startAPI(t, APIConfig{})
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/users/", 404},
		{"GET", "/users/1/", 404},
		{"GET", "/users/1/unknown", 404},
		{"GET", "/nothing", 404},
		{"GET", "/recommendations", 400},
		{"GET", "/recommendations?user=", 400},
		{"POST", "/users/1", 405},
		{"HEAD", "/users/1", 200},
		{"GET", "/users/a%20b%22c", 200},
	}
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, a.URL()+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if tt.method == "HEAD" {
				if len(body) != 0 || resp.ContentLength <= 0 {
					t.Errorf("HEAD: %d body bytes, Content-Length %d; want none and the GET length", len(body), resp.ContentLength)
				}
				return
			}
			if !json.Valid(body) || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("body %q (%s) is not JSON", body, resp.Header.Get("Content-Type"))
			}
			if tt.status == 200 {
				var u struct{ ID string }
				if err := json.Unmarshal(body, &u); err != nil || u.ID != `a b"c` {
					t.Errorf("id = %q (%v), want the decoded path segment %q", u.ID, err, `a b"c`)
				}
			}
		})
	}
}

func TestAPICallCounters(t *testing.T) {
	a := startAPI(t, APIConfig{RecordHeaders: true})
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	for _, p := range []string{"/users/1", "/users/1", "/recommendations?user=1", "/recommendations?user=2", "/nothing"} {
		apiGet(t, c, a.URL()+p)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", a.URL()+"/users/9", nil)
	req.Header.Set("X-Request-ID", "abc")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	for path, want := range map[string]int{"/users/1": 2, "/recommendations": 2, "/nothing": 1, "/users/9": 1, "/users/2": 0} {
		if got := a.Calls(path); got != want {
			t.Errorf("Calls(%q) = %d, want %d", path, got, want)
		}
	}
	if got := a.TotalCalls(); got != 6 {
		t.Errorf("TotalCalls() = %d, want 6", got)
	}
	if got := a.LastHeader("/users/9").Get("X-Request-ID"); got != "abc" {
		t.Errorf("LastHeader(/users/9) X-Request-ID = %q, want abc", got)
	}
	if h := a.LastHeader("/users/2"); h != nil {
		t.Errorf("LastHeader of an unseen path = %v, want nil", h)
	}
	off := startAPI(t, APIConfig{})
	apiGet(t, nil, off.URL()+"/users/1")
	if h := off.LastHeader("/users/1"); h != nil {
		t.Errorf("LastHeader without RecordHeaders = %v, want nil", h)
	}
}

func TestAPILatency(t *testing.T) {
	a := startAPI(t, APIConfig{Latency: 80 * time.Millisecond})
	start := time.Now()
	if r := apiGet(t, nil, a.URL()+"/users/1"); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Errorf("answered after %v, want at least the 80ms latency", took)
	}
	d := startAPI(t, APIConfig{LatencyDist: LatencyDist{Min: 40 * time.Millisecond, Max: 60 * time.Millisecond}})
	start = time.Now()
	apiGet(t, nil, d.URL()+"/users/1")
	if took := time.Since(start); took < 40*time.Millisecond {
		t.Errorf("answered after %v, want at least the distribution's 40ms minimum", took)
	}
}

// TestAPILatencyDraws checks the distributions over many draws without
// serving them.
func TestAPILatencyDraws(t *testing.T) {
	const n = 20000
	draws := func(cfg APIConfig) []time.Duration {
		a := &API{cfg: cfg}
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = a.delay(uint64(i + 1))
		}
		slices.Sort(out)
		return out
	}
	t.Run("fixed", func(t *testing.T) {
		d := draws(APIConfig{Latency: 5 * time.Millisecond})
		if d[0] != 5*time.Millisecond || d[n-1] != 5*time.Millisecond {
			t.Errorf("fixed 5ms gives [%v, %v]", d[0], d[n-1])
		}
	})
	t.Run("uniform", func(t *testing.T) {
		d := draws(APIConfig{LatencyDist: LatencyDist{Min: 10 * time.Millisecond, Max: 30 * time.Millisecond}})
		if d[0] < 10*time.Millisecond || d[n-1] > 30*time.Millisecond {
			t.Errorf("uniform:10ms,30ms gives [%v, %v]", d[0], d[n-1])
		}
		if med := d[n/2]; med < 19*time.Millisecond || med > 21*time.Millisecond {
			t.Errorf("uniform:10ms,30ms median %v, want about 20ms", med)
		}
		if d[n/100] > 11*time.Millisecond || d[n-n/100] < 29*time.Millisecond {
			t.Errorf("uniform:10ms,30ms does not fill the range: p1 %v, p99 %v", d[n/100], d[n-n/100])
		}
	})
	t.Run("lognormal", func(t *testing.T) {
		d := draws(APIConfig{LatencyDist: LatencyDist{Median: 20 * time.Millisecond, P99: 80 * time.Millisecond}})
		if med := d[n/2]; med < 19*time.Millisecond || med > 21*time.Millisecond {
			t.Errorf("lognormal median %v, want about 20ms", med)
		}
		if p99 := d[n*99/100]; p99 < 72*time.Millisecond || p99 > 88*time.Millisecond {
			t.Errorf("lognormal p99 %v, want about 80ms", p99)
		}
		if d[0] <= 0 {
			t.Errorf("lognormal draw %v <= 0", d[0])
		}
	})
	t.Run("seeded", func(t *testing.T) {
		dist := LatencyDist{Median: 20 * time.Millisecond, P99: 80 * time.Millisecond}
		a, b := &API{cfg: APIConfig{LatencyDist: dist, Seed: 1}}, &API{cfg: APIConfig{LatencyDist: dist, Seed: 2}}
		same := 0
		for i := range uint64(100) {
			if a.delay(i) == a.delay(i) && a.delay(i) == b.delay(i) {
				same++
			}
		}
		if same > 5 {
			t.Errorf("seeds 1 and 2 give the same draw %d times in 100", same)
		}
	})
}

func TestAPIErrorRate(t *testing.T) {
	statuses := func(cfg APIConfig, n int) []int {
		a := startAPI(t, cfg)
		c := &http.Client{Transport: &http.Transport{}}
		defer c.CloseIdleConnections()
		out := make([]int, n)
		for i := range out {
			r := apiGet(t, c, a.URL()+"/users/1")
			out[i] = r.status
			if r.status == 500 && !json.Valid(r.body) {
				t.Fatalf("500 body %q is not JSON", r.body)
			}
		}
		return out
	}
	tests := []struct {
		rate   float64
		lo, hi int // expected 500s out of 200
	}{
		{0, 0, 0},
		{1, 200, 200},
		{0.25, 30, 70},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatFloat(tt.rate, 'g', -1, 64), func(t *testing.T) {
			got := statuses(APIConfig{ErrorRate: tt.rate, Seed: 9}, 200)
			n := 0
			for _, s := range got {
				if s == 500 {
					n++
				} else if s != 200 {
					t.Fatalf("status %d, want 200 or 500", s)
				}
			}
			if n < tt.lo || n > tt.hi {
				t.Errorf("%d of 200 requests failed, want %d to %d", n, tt.lo, tt.hi)
			}
			if again := statuses(APIConfig{ErrorRate: tt.rate, Seed: 9}, 200); !slices.Equal(again, got) {
				t.Errorf("the same seed gave a different sequence of failures")
			}
		})
	}
}

func TestAPIBadBodies(t *testing.T) {
	tests := []struct {
		name      string
		cfg       APIConfig
		ctype     string
		wantValid bool // the body is valid JSON
		cut       bool // reading the body fails with an unexpected EOF
	}{
		{"invalid json", APIConfig{InvalidJSON: true}, "application/json", false, false},
		{"non-json", APIConfig{NonJSON: true}, "text/html; charset=utf-8", false, false},
		{"truncated", APIConfig{Truncated: true}, "application/json", false, true},
		{"fault on other path", APIConfig{InvalidJSON: true, FaultPaths: []string{"/users/2"}}, "application/json", true, false},
		{"fault below a prefix", APIConfig{NonJSON: true, FaultPaths: []string{"/users/"}}, "text/html; charset=utf-8", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startAPI(t, tt.cfg)
			c := &http.Client{Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			req, _ := http.NewRequestWithContext(t.Context(), "GET", a.URL()+"/users/1", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if tt.cut {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("reading the body: %v, want an unexpected EOF", err)
				}
				if resp.ContentLength <= int64(len(body)) || len(body) == 0 {
					t.Errorf("got %d of %d bytes, want a part", len(body), resp.ContentLength)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("status %d, Content-Type %q; want 200 %q", resp.StatusCode, resp.Header.Get("Content-Type"), tt.ctype)
			}
			if json.Valid(body) != tt.wantValid {
				t.Errorf("json.Valid(body) = %v, want %v: %.80s", !tt.wantValid, tt.wantValid, body)
			}
			if len(body) < 256 {
				t.Errorf("body is %d bytes, want about the default 512", len(body))
			}
		})
	}
	// Faults apply only to FaultPaths.
	a := startAPI(t, APIConfig{ErrorRate: 1, NonJSON: true, FaultPaths: []string{"/recommendations"}})
	if r := apiGet(t, nil, a.URL()+"/users/1"); r.status != 200 || !json.Valid(r.body) {
		t.Errorf("/users/1 outside FaultPaths: %d %.60s, want a normal document", r.status, r.body)
	}
	if r := apiGet(t, nil, a.URL()+"/recommendations?user=1"); r.status != 500 {
		t.Errorf("/recommendations in FaultPaths with ErrorRate 1: %d, want 500", r.status)
	}
}

// rawGet sends a GET for path on a new connection to a and returns the
// connection, whose response has not been read.
func rawGet(t *testing.T, a *API, path string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(a.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestAPIHang(t *testing.T) {
	a := startAPI(t, APIConfig{HangPaths: []string{"/users/"}, Latency: time.Millisecond})

	// The answer never comes, also not after the client's context ends.
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.URL()+"/users/1", nil)
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	if resp, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("GET a hanging path = %v, want the client's deadline", err)
	}

	// A raw connection sees nothing at all, and stays open.
	conn := rawGet(t, a, "/users/2/orders")
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 1)); !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("read from a hanging request: %d bytes, %v; want a read timeout", n, err)
	}

	// Other paths answer.
	if r := apiGet(t, nil, a.URL()+"/recommendations?user=1"); r.status != 200 {
		t.Errorf("/recommendations: %d, want 200", r.status)
	}
	if got := a.Calls("/users/2/orders"); got != 1 {
		t.Errorf("Calls of the hanging path = %d, want 1", got)
	}

	// Close releases the held connection: the client sees EOF, and Close
	// returns well before any timeout.
	start := time.Now()
	a.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v with a hanging request", took)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read after Close: %d bytes, %v; want EOF", n, err)
	}
}

func TestAPIHangEverything(t *testing.T) {
	a := startAPI(t, APIConfig{Hang: true})
	conn := rawGet(t, a, "/nothing")
	conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := conn.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("read = %v, want a timeout: Hang covers every path", err)
	}
	// A client that gives up releases the server's side of the connection.
	conn.Close()
	waitForCond(t, "the hanging handler to notice the closed connection", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.hung) == 0
	})
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// waitForCond polls cond until it holds, failing the test after 10 s.
func waitForCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestAPICloseEndsLatencyWaits(t *testing.T) {
	a := startAPI(t, APIConfig{Latency: time.Hour})
	conn := rawGet(t, a, "/users/1")
	waitForCond(t, "the request to arrive", func() bool { return a.TotalCalls() == 1 })
	start := time.Now()
	a.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v with a request waiting an hour", took)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
		t.Errorf("got a response from a request cut by Close, want none")
	}
	a.Close() // idempotent
	if got := a.Calls("/users/1"); got != 1 {
		t.Errorf("Calls after Close = %d, want 1", got)
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(a.URL(), "http://")); err == nil {
		t.Errorf("the listener still accepts after Close")
	}
}

func TestAPIConcurrentRequests(t *testing.T) {
	a := startAPI(t, APIConfig{LatencyDist: LatencyDist{Min: 0, Max: 2 * time.Millisecond}, ErrorRate: 0.1})
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer c.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				resp, err := c.Get(a.URL() + "/users/" + strconv.Itoa(i%3))
				if err != nil {
					errs[g] = err
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || !json.Valid(body) {
					errs[g] = fmt.Errorf("read %d: %v, %q", resp.StatusCode, err, body)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := a.Calls("/users/0") + a.Calls("/users/1") + a.Calls("/users/2"); got != 200 || a.TotalCalls() != 200 {
		t.Errorf("counted %d calls (total %d), want 200", got, a.TotalCalls())
	}
}

func TestStartAPIRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  APIConfig
	}{
		{"negative latency", APIConfig{Latency: -1}},
		{"latency and distribution", APIConfig{Latency: 1, LatencyDist: LatencyDist{Min: 1, Max: 2}}},
		{"error rate above 1", APIConfig{ErrorRate: 1.5}},
		{"error rate NaN", APIConfig{ErrorRate: math.NaN()}},
		{"negative size", APIConfig{Size: -1}},
		{"two body faults", APIConfig{InvalidJSON: true, NonJSON: true}},
		{"uniform max below min", APIConfig{LatencyDist: LatencyDist{Min: 2, Max: 1}}},
		{"lognormal p99 below median", APIConfig{LatencyDist: LatencyDist{Median: 2, P99: 1}}},
		{"both distributions", APIConfig{LatencyDist: LatencyDist{Max: 2, Median: 1, P99: 3}}},
		{"relative hang path", APIConfig{HangPaths: []string{"users"}}},
		{"non-loopback address", APIConfig{Addr: "0.0.0.0:0"}},
		{"host name", APIConfig{Addr: "example.com:80"}},
		{"no port", APIConfig{Addr: "127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := StartAPI(tt.cfg)
			if err == nil {
				a.Close()
				t.Fatalf("StartAPI(%+v) = nil error", tt.cfg)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("StartAPI(%+v) = %v, want ErrInvalidConfig", tt.cfg, err)
			}
		})
	}
}

func TestParseLatencyDist(t *testing.T) {
	tests := []struct {
		in      string
		want    LatencyDist
		wantErr bool
	}{
		{"", LatencyDist{}, false},
		{"uniform:10ms,30ms", LatencyDist{Min: 10 * time.Millisecond, Max: 30 * time.Millisecond}, false},
		{"lognormal:20ms, 80ms", LatencyDist{Median: 20 * time.Millisecond, P99: 80 * time.Millisecond}, false},
		{"uniform:0s,0s", LatencyDist{}, false},
		{"uniform:30ms,10ms", LatencyDist{}, true},
		{"lognormal:0s,10ms", LatencyDist{}, true},
		{"normal:1ms,2ms", LatencyDist{}, true},
		{"uniform:1ms", LatencyDist{}, true},
		{"uniform:soon,2ms", LatencyDist{}, true},
		{"20ms", LatencyDist{}, true},
	}
	for _, tt := range tests {
		got, err := ParseLatencyDist(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseLatencyDist(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ParseLatencyDist(%q) error %v does not wrap ErrInvalidConfig", tt.in, err)
		}
	}
}

// FuzzParseLatencyDist checks that every accepted text form survives a round
// trip through String.
func FuzzParseLatencyDist(f *testing.F) {
	for _, s := range []string{"", "uniform:1ms,2ms", "lognormal:20ms,80ms", "uniform:0s,1h", "lognormal:1ns,1ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseLatencyDist(s)
		if err != nil {
			return
		}
		back, err := ParseLatencyDist(d.String())
		if err != nil || back != d {
			t.Errorf("ParseLatencyDist(%q) = %+v; its String %q parses as %+v, %v", s, d, d.String(), back, err)
		}
		if err := d.validate(); err != nil {
			t.Errorf("ParseLatencyDist(%q) accepted an invalid %+v: %v", s, d, err)
		}
	})
}

// FuzzDocuments checks that every route's document is valid JSON carrying
// the id, whatever the id and size.
func FuzzDocuments(f *testing.F) {
	f.Add("42", 512, int64(0))
	f.Add(`a"b\c`, 0, int64(1))
	f.Add("\xff\x00é", 3000, int64(-5))
	f.Fuzz(func(t *testing.T, id string, size int, seed int64) {
		if id == "" || size < 0 || size > 1<<16 {
			return
		}
		a := &API{cfg: APIConfig{Size: max(size, 1), Seed: seed}}
		for name, doc := range map[string][]byte{
			"user":            a.appendUser(nil, id),
			"stats":           a.appendStats(nil, id),
			"recommendations": a.appendRecommendations(nil, id),
			"orders":          a.appendOrders(nil, id),
		} {
			if !json.Valid(doc) {
				t.Fatalf("%s document for id %q, size %d is not valid JSON: %s", name, id, size, doc)
			}
			if !utf8.ValidString(id) {
				continue
			}
			if !strings.Contains(string(doc), string(appendJSONString(nil, id))) {
				t.Errorf("%s document does not carry the id %q", name, id)
			}
		}
		var got string
		if err := json.Unmarshal(appendJSONString(nil, id), &got); err != nil || utf8.ValidString(id) && got != id {
			t.Errorf("appendJSONString(%q) decodes to %q, %v", id, got, err)
		}
	})
}

func TestPick(t *testing.T) {
	for i, want := range []string{"bronze", "silver", "gold", "platinum", "bronze"} {
		if got := pick(tiers, 4, uint64(i)); got != want {
			t.Errorf("pick(tiers, 4, %d) = %q, want %q", i, got, want)
		}
	}
}

func TestAPIDocumentDoesNotAllocate(t *testing.T) {
	a := &API{cfg: APIConfig{Size: 2048}}
	buf := make([]byte, 0, 8192)
	allocs := testing.AllocsPerRun(100, func() {
		buf = a.appendOrders(buf[:0], "12345")
		buf = a.appendUser(buf[:0], "12345")
	})
	// The id concatenations for name, email and order ids allocate; the
	// documents themselves are appended in place.
	if allocs > 40 {
		t.Errorf("rendering allocates %v times per run", allocs)
	}
}

func BenchmarkAPIDocument(b *testing.B) {
	a := &API{cfg: APIConfig{Size: 1024}}
	buf := make([]byte, 0, 4096)
	for _, route := range []string{"user", "orders", "recommendations"} {
		b.Run(route, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				switch route {
				case "user":
					buf = a.appendUser(buf[:0], "12345")
				case "orders":
					buf = a.appendOrders(buf[:0], "12345")
				default:
					buf = a.appendRecommendations(buf[:0], "12345")
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkAPIServe(b *testing.B) {
	a, err := StartAPI(APIConfig{Size: 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Get(a.URL() + "/users/12345")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
