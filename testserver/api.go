package testserver

import (
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The upstream JSON APIs served by StartAPI. Every route answers GET and HEAD
// with a deterministic JSON document about the given id; the same config,
// Seed and id give the same bytes in every process.
const (
	// RouteUser answers an object {"id", "name", "email", "age", "city",
	// "joined", "bio"}; bio is filler that brings the body to about Size
	// bytes.
	RouteUser = "/users/{id}"
	// RouteOrders answers an array of order objects {"order_id", "user_id",
	// "total", "status", "placed", "note"}, as many as fit in about Size
	// bytes (at least one).
	RouteOrders = "/users/{id}/orders"
	// RouteStats answers an object {"user_id", "orders_count",
	// "total_spent", "last_order", "tier", "stats_note"}; stats_note is
	// filler. Its keys differ from RouteUser's and RouteRecommendations',
	// so the three objects merge without collisions.
	RouteStats = "/users/{id}/stats"
	// RouteRecommendations is /recommendations?user={id}. It answers an
	// object {"for_user", "items"} whose items are {"sku", "score"} objects,
	// as many as fit in about Size bytes. Without the user parameter it
	// answers 400.
	RouteRecommendations = "/recommendations?user={id}"
)

// maxTrackedPaths bounds the distinct paths an API counts for Calls and
// records for LastHeader, so that a long benchmark with a fresh id per
// request does not grow without bound.
const maxTrackedPaths = 1 << 16

// APIConfig describes the upstream JSON APIs served by StartAPI. The zero
// value is valid: a random port on 127.0.0.1, no latency, no failures, bodies
// of about 512 bytes.
//
// The failure knobs ErrorRate, InvalidJSON, Truncated and NonJSON apply to
// every path, or only to FaultPaths when that is set. At most one of
// InvalidJSON, Truncated and NonJSON may be set; ErrorRate is drawn first.
// Paths in HangPaths and FaultPaths are matched against the request's path
// without its query: an entry matches that path exactly, and an entry ending
// in "/" also matches every path below it ("/users/" matches "/users/7" and
// "/users/7/orders").
type APIConfig struct {
	Addr        string        // listen address, which must be on loopback; "" means "127.0.0.1:0" (a random port)
	Latency     time.Duration // fixed delay before each response; 0 means none. Waits end early when the client goes away or Close is called
	LatencyDist LatencyDist   // a delay distribution instead of Latency; the zero value means none. Set Latency or LatencyDist, not both
	ErrorRate   float64       // fraction of requests answered 500 with a JSON error body, in [0, 1]; 0 means none
	Size        int           // approximate body size in bytes; 0 means 512
	Hang        bool          // every request hangs, as for HangPaths
	// HangPaths lists paths whose requests hang: the request is read, then
	// nothing is ever written and the connection stays open, whatever the
	// client's context says, until the client closes the connection or Close
	// is called. This is an upstream that ignores cancellation.
	HangPaths   []string
	InvalidJSON bool     // answer 200 application/json with a body that is not valid JSON (the document without its last byte)
	Truncated   bool     // answer 200 with a Content-Length of the whole document, send half of it, then close the connection
	NonJSON     bool     // answer 200 text/html with an HTML page
	FaultPaths  []string // paths the failure knobs apply to; empty means every path
	// RecordHeaders keeps the request headers of the most recent request of
	// each path, for LastHeader. Off by default: it costs a copy per request.
	RecordHeaders bool
	// Seed makes the latency draws, the injected errors and the generated
	// data a deterministic function of the config, Seed, the request's
	// sequence number (latency, errors) and the id (data).
	Seed int64
}

// LatencyDist is a distribution of response delays. The zero value means
// none. Set either Min and Max (uniform) or Median and P99 (lognormal), not
// both. Its text form, read by ParseLatencyDist and written by String, is
// "uniform:MIN,MAX" or "lognormal:MEDIAN,P99", e.g. "lognormal:20ms,80ms".
type LatencyDist struct {
	Min, Max    time.Duration // uniform over [Min, Max]; Max >= Min >= 0
	Median, P99 time.Duration // lognormal with this median and 99th percentile; P99 >= Median > 0
}

// IsZero reports whether d is the zero distribution (no delay).
func (d LatencyDist) IsZero() bool { return d == LatencyDist{} }

// String returns d's text form, "" for the zero distribution.
func (d LatencyDist) String() string {
	switch {
	case d.IsZero():
		return ""
	case d.Median > 0 || d.P99 > 0:
		return "lognormal:" + d.Median.String() + "," + d.P99.String()
	default:
		return "uniform:" + d.Min.String() + "," + d.Max.String()
	}
}

// validate returns an error wrapping ErrInvalidConfig for an impossible
// distribution.
func (d LatencyDist) validate() error {
	uniform := d.Min != 0 || d.Max != 0
	lognormal := d.Median != 0 || d.P99 != 0
	switch {
	case uniform && lognormal:
		return fmt.Errorf("%w: LatencyDist sets both Min/Max and Median/P99", ErrInvalidConfig)
	case uniform && (d.Min < 0 || d.Max < d.Min):
		return fmt.Errorf("%w: LatencyDist uniform over [%v, %v]", ErrInvalidConfig, d.Min, d.Max)
	case lognormal && (d.Median <= 0 || d.P99 < d.Median):
		return fmt.Errorf("%w: LatencyDist lognormal median %v, p99 %v (want p99 >= median > 0)", ErrInvalidConfig, d.Median, d.P99)
	}
	return nil
}

// ParseLatencyDist parses the text form of a LatencyDist ("uniform:MIN,MAX"
// or "lognormal:MEDIAN,P99", durations as time.ParseDuration reads them). ""
// gives the zero distribution. Errors wrap ErrInvalidConfig.
func ParseLatencyDist(s string) (LatencyDist, error) {
	if s == "" {
		return LatencyDist{}, nil
	}
	kind, rest, ok := strings.Cut(s, ":")
	a, b, ok2 := strings.Cut(rest, ",")
	if !ok || !ok2 {
		return LatencyDist{}, fmt.Errorf("%w: latency distribution %q: want uniform:MIN,MAX or lognormal:MEDIAN,P99", ErrInvalidConfig, s)
	}
	x, err := time.ParseDuration(strings.TrimSpace(a))
	if err != nil {
		return LatencyDist{}, fmt.Errorf("%w: latency distribution %q: %w", ErrInvalidConfig, s, err)
	}
	y, err := time.ParseDuration(strings.TrimSpace(b))
	if err != nil {
		return LatencyDist{}, fmt.Errorf("%w: latency distribution %q: %w", ErrInvalidConfig, s, err)
	}
	var d LatencyDist
	switch kind {
	case "uniform":
		d = LatencyDist{Min: x, Max: y}
	case "lognormal":
		d = LatencyDist{Median: x, P99: y}
	default:
		return LatencyDist{}, fmt.Errorf("%w: latency distribution %q: unknown kind %q", ErrInvalidConfig, s, kind)
	}
	if d.IsZero() { // "uniform:0s,0s" is no delay; keep String and Parse inverse
		return d, nil
	}
	if err := d.validate(); err != nil {
		return LatencyDist{}, err
	}
	return d, nil
}

// withDefaults returns cfg with zero values replaced by their defaults, or an
// error wrapping ErrInvalidConfig.
func (cfg APIConfig) withDefaults() (APIConfig, error) {
	faults := 0
	for _, on := range []bool{cfg.InvalidJSON, cfg.Truncated, cfg.NonJSON} {
		if on {
			faults++
		}
	}
	switch {
	case cfg.Latency < 0:
		return cfg, fmt.Errorf("%w: Latency %v < 0", ErrInvalidConfig, cfg.Latency)
	case cfg.Latency > 0 && !cfg.LatencyDist.IsZero():
		return cfg, fmt.Errorf("%w: both Latency and LatencyDist are set", ErrInvalidConfig)
	case !(cfg.ErrorRate >= 0 && cfg.ErrorRate <= 1): // also rejects NaN
		return cfg, fmt.Errorf("%w: ErrorRate %v not in [0, 1]", ErrInvalidConfig, cfg.ErrorRate)
	case cfg.Size < 0:
		return cfg, fmt.Errorf("%w: Size %d < 0", ErrInvalidConfig, cfg.Size)
	case faults > 1:
		return cfg, fmt.Errorf("%w: set at most one of InvalidJSON, Truncated and NonJSON", ErrInvalidConfig)
	}
	if err := cfg.LatencyDist.validate(); err != nil {
		return cfg, err
	}
	for _, p := range slices.Concat(cfg.HangPaths, cfg.FaultPaths) {
		if !strings.HasPrefix(p, "/") {
			return cfg, fmt.Errorf("%w: path %q does not start with /", ErrInvalidConfig, p)
		}
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return cfg, fmt.Errorf("%w: Addr %q: %w", ErrInvalidConfig, cfg.Addr, err)
	}
	if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
		// Parsed, never resolved: checking a host name would ask a DNS server.
		return cfg, fmt.Errorf("%w: Addr %q is not a loopback address", ErrInvalidConfig, cfg.Addr)
	}
	if cfg.Size == 0 {
		cfg.Size = 512
	}
	cfg.HangPaths = slices.Clone(cfg.HangPaths)
	cfg.FaultPaths = slices.Clone(cfg.FaultPaths)
	return cfg, nil
}

// API is a running set of upstream JSON APIs, started by StartAPI and
// stopped by Close. All methods are safe for concurrent use, also while
// requests are being served.
type API struct {
	cfg APIConfig // defaults filled; read-only after StartAPI
	srv *http.Server
	ln  net.Listener
	url string

	done      chan struct{} // closed by Close: ends latency waits
	serving   sync.WaitGroup
	handlers  sync.WaitGroup // one per running handler that passed enter; Close waits
	closeOnce sync.Once

	seq   atomic.Uint64 // request sequence number, drawn at handler entry
	calls sync.Map      // path → *atomic.Int64; at most maxTrackedPaths keys
	nPath atomic.Int64  // keys in calls
	bufs  sync.Pool     // of *[]byte

	mu      sync.Mutex // guards closed, hung, headers
	closed  bool
	hung    map[net.Conn]struct{} // hijacked connections held by hanging handlers
	headers map[string]http.Header
}

// StartAPI listens on cfg.Addr and serves the APIs until Close. It returns an
// error wrapping ErrInvalidConfig for impossible config values. The caller
// must call Close.
func StartAPI(cfg APIConfig) (*API, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("testserver: listen on %s: %w", cfg.Addr, err)
	}
	a := &API{
		cfg:     cfg,
		ln:      ln,
		url:     "http://" + ln.Addr().String(),
		done:    make(chan struct{}),
		hung:    make(map[net.Conn]struct{}),
		headers: make(map[string]http.Header),
		bufs:    sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }},
	}
	a.srv = &http.Server{
		Handler:           http.HandlerFunc(a.serve),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0), // clients that hang up are normal here
	}
	a.serving.Go(func() { a.srv.Serve(ln) }) // returns ErrServerClosed once Close runs
	return a, nil
}

// URL returns the base URL "http://127.0.0.1:port", without a trailing
// slash.
func (a *API) URL() string { return a.url }

// Close stops the server and returns once the listener, every connection
// (hanging ones included) and every handler are done. Requests waiting on
// latency end at once. Counters stay readable after Close. Close may be
// called more than once.
func (a *API) Close() {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closed = true // no handler passes enter, and no connection joins hung, from now on
		hung := a.hung
		a.hung = nil
		a.mu.Unlock()
		close(a.done)
		a.srv.Close()
		for c := range hung {
			c.Close()
		}
		a.handlers.Wait()
		a.serving.Wait()
	})
}

// Calls returns the number of requests received for path, the request's
// path without its query ("/users/7", "/recommendations"). Only the first
// 65,536 distinct paths are counted; TotalCalls counts every request.
func (a *API) Calls(path string) int {
	if n, ok := a.calls.Load(path); ok {
		return int(n.(*atomic.Int64).Load())
	}
	return 0
}

// TotalCalls returns the number of requests received, on every path.
func (a *API) TotalCalls() int { return int(a.seq.Load()) }

// LastHeader returns a copy of the headers of the most recent request for
// path (as in Calls), or nil if there was none or APIConfig.RecordHeaders is
// off.
func (a *API) LastHeader(path string) http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.headers[path].Clone()
}

// enter registers a running handler and reports whether the API is still
// open.
func (a *API) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.handlers.Add(1) // before Close sets closed, so never concurrent with Wait at zero
	return true
}

// count adds one call for path.
func (a *API) count(path string) {
	if n, ok := a.calls.Load(path); ok {
		n.(*atomic.Int64).Add(1)
		return
	}
	if a.nPath.Load() >= maxTrackedPaths {
		return
	}
	n, loaded := a.calls.LoadOrStore(path, new(atomic.Int64))
	if !loaded {
		a.nPath.Add(1)
	}
	n.(*atomic.Int64).Add(1)
}

// record keeps h as the latest headers of path.
func (a *API) record(path string, h http.Header) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.headers[path]; ok || len(a.headers) < maxTrackedPaths {
		a.headers[path] = h
	}
}

// serve counts the request, then hangs, waits its latency and answers with
// an injected failure or the route's document.
func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	if !a.enter() {
		http.Error(w, "api closing", http.StatusServiceUnavailable)
		return
	}
	defer a.handlers.Done()
	n := a.seq.Add(1)
	path := r.URL.Path
	a.count(path)
	if a.cfg.RecordHeaders {
		a.record(path, r.Header.Clone())
	}
	if a.cfg.Hang || matchPath(a.cfg.HangPaths, path) {
		a.hang(w)
		return
	}
	if d := a.delay(n); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done(): // the client hung up
			t.Stop()
			panic(http.ErrAbortHandler) // returning would send an empty 200
		case <-a.done:
			t.Stop()
			panic(http.ErrAbortHandler)
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}

	bp := a.bufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 { // don't keep a buffer grown by one huge Size forever
			a.bufs.Put(bp)
		}
	}()
	faulty := len(a.cfg.FaultPaths) == 0 || matchPath(a.cfg.FaultPaths, path)
	if faulty && a.cfg.ErrorRate > 0 && unit(mix(uint64(a.cfg.Seed), n, saltError)) < a.cfg.ErrorRate {
		writeJSONError(w, http.StatusInternalServerError, "injected failure")
		return
	}
	body, status := a.document((*bp)[:0], r)
	*bp = body
	if status != http.StatusOK {
		writeJSONError(w, status, string(body))
		return
	}
	switch {
	case faulty && a.cfg.NonJSON:
		*bp = appendHTML(body[:0], r.URL.Path, a.cfg.Size)
		writeBody(w, r, "text/html; charset=utf-8", *bp)
	case faulty && a.cfg.InvalidJSON:
		writeBody(w, r, "application/json", body[:len(body)-1])
	case faulty && a.cfg.Truncated:
		a.truncate(w, body)
	default:
		writeBody(w, r, "application/json", body)
	}
}

// hang takes the connection over and holds it without writing anything
// until the client closes it or Close closes it. It does not look at the
// request's context: that is the point.
func (a *API) hang(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // cannot happen over HTTP/1.1; close rather than answer
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		conn.Close()
		return
	}
	a.hung[conn] = struct{}{}
	a.mu.Unlock()
	// Reading notices only that the peer closed the connection (or Close
	// closed it); what the client sends meanwhile is never answered.
	io.Copy(io.Discard, conn)
	a.mu.Lock()
	delete(a.hung, conn) // a no-op after Close, which owns the set then
	a.mu.Unlock()
	conn.Close()
}

// truncate writes a response whose Content-Length is len(body) but sends
// only half of body, then closes the connection.
func (a *API) truncate(w http.ResponseWriter, body []byte) {
	conn, bw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	bw.Write(body[:len(body)/2])
	bw.Flush()
}

// delay returns the latency of request n.
func (a *API) delay(n uint64) time.Duration {
	d := a.cfg.LatencyDist
	switch {
	case a.cfg.Latency > 0:
		return a.cfg.Latency
	case d.Max > 0:
		u := unit(mix(uint64(a.cfg.Seed), n, saltLatency))
		return d.Min + time.Duration(u*float64(d.Max-d.Min+1))
	case d.Median > 0:
		// Box-Muller: z is standard normal; P99 = Median·e^(2.326σ).
		u1 := 1 - unit(mix(uint64(a.cfg.Seed), n, saltLatency)) // (0, 1]
		u2 := unit(mix(uint64(a.cfg.Seed), n, saltLatency2))
		z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
		sigma := math.Log(float64(d.P99)/float64(d.Median)) / z99
		return time.Duration(float64(d.Median) * math.Exp(sigma*z))
	}
	return 0
}

// z99 is the 99th percentile of the standard normal distribution.
const z99 = 2.3263478740408408

// Salts that keep the draws for one request independent of each other.
const (
	saltLatency uint64 = iota + 1
	saltLatency2
	saltError
	saltData
)

// mix hashes seed, n and salt into 64 well-mixed bits (splitmix64's
// finaliser over a combination of the three).
func mix(seed, n, salt uint64) uint64 {
	x := seed ^ n*0x9e3779b97f4a7c15 ^ salt*0xd1b54a32d192ed03
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// unit maps h to a float64 in [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// matchPath reports whether path is one of paths, or below one of them that
// ends in "/".
func matchPath(paths []string, path string) bool {
	for _, p := range paths {
		if path == p || strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// document appends the JSON document for r's route to dst and returns it
// with status 200, or an error message with a 4xx status.
func (a *API) document(dst []byte, r *http.Request) ([]byte, int) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/users/")
	switch {
	case ok:
		id, sub, _ := strings.Cut(rest, "/")
		if id == "" {
			break
		}
		switch sub {
		case "":
			if !strings.HasSuffix(rest, "/") {
				return a.appendUser(dst, id), http.StatusOK
			}
		case "orders":
			return a.appendOrders(dst, id), http.StatusOK
		case "stats":
			return a.appendStats(dst, id), http.StatusOK
		}
	case r.URL.Path == "/recommendations":
		id := r.URL.Query().Get("user")
		if id == "" {
			return append(dst, "missing query parameter user"...), http.StatusBadRequest
		}
		return a.appendRecommendations(dst, id), http.StatusOK
	}
	return append(dst, "not found"...), http.StatusNotFound
}

// Word lists for the generated data, read with pick.
const (
	cities   = "Lisbon Oslo Accra Lima Osaka Perth Quito Tunis"
	statuses = "placed paid shipped delivered returned"
	tiers    = "bronze silver gold platinum"
)

// pick returns word h mod n of the space-separated list, which has n words.
func pick(list string, n, h uint64) string {
	for i := h % n; i > 0; i-- {
		_, list, _ = strings.Cut(list, " ")
	}
	word, _, _ := strings.Cut(list, " ")
	return word
}

// filler is repeated to pad documents to their Size.
const filler = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua "

// idHash returns the data hash of id, with k selecting one of its draws.
func (a *API) idHash(id string, k uint64) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for i := range len(id) {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return mix(uint64(a.cfg.Seed), h, saltData+k)
}

// appendUser appends RouteUser's document.
func (a *API) appendUser(dst []byte, id string) []byte {
	start := len(dst)
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, id)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, "User "+id)
	dst = append(dst, `,"email":`...)
	dst = appendJSONString(dst, "user"+id+"@example.test")
	dst = append(dst, `,"age":`...)
	dst = strconv.AppendUint(dst, 18+a.idHash(id, 0)%70, 10)
	dst = append(dst, `,"city":"`...)
	dst = append(dst, pick(cities, 8, a.idHash(id, 1))...)
	dst = append(dst, `","joined":"`...)
	dst = appendDate(dst, a.idHash(id, 2))
	dst = append(dst, `","bio":"`...)
	dst = appendFiller(dst, a.cfg.Size-(len(dst)-start)-2)
	return append(dst, `"}`...)
}

// appendStats appends RouteStats' document.
func (a *API) appendStats(dst []byte, id string) []byte {
	start := len(dst)
	dst = append(dst, `{"user_id":`...)
	dst = appendJSONString(dst, id)
	dst = append(dst, `,"orders_count":`...)
	dst = strconv.AppendUint(dst, a.idHash(id, 3)%200, 10)
	dst = append(dst, `,"total_spent":`...)
	dst = appendCents(dst, a.idHash(id, 4)%5000000)
	dst = append(dst, `,"last_order":"`...)
	dst = appendDate(dst, a.idHash(id, 5))
	dst = append(dst, `","tier":"`...)
	dst = append(dst, pick(tiers, 4, a.idHash(id, 6))...)
	dst = append(dst, `","stats_note":"`...)
	dst = appendFiller(dst, a.cfg.Size-(len(dst)-start)-2)
	return append(dst, `"}`...)
}

// appendOrders appends RouteOrders' document: orders until the next one
// would pass Size, at least one; the last order's note pads to Size.
func (a *API) appendOrders(dst []byte, id string) []byte {
	start := len(dst)
	dst = append(dst, '[')
	for k := uint64(0); ; k++ {
		if k > 0 {
			dst = append(dst, ',')
		}
		itemStart := len(dst)
		dst = append(dst, `{"order_id":`...)
		dst = appendJSONString(dst, id+"-"+strconv.FormatUint(k+1, 10))
		dst = append(dst, `,"user_id":`...)
		dst = appendJSONString(dst, id)
		dst = append(dst, `,"total":`...)
		dst = appendCents(dst, a.idHash(id, 10+3*k)%50000)
		dst = append(dst, `,"status":"`...)
		dst = append(dst, pick(statuses, 5, a.idHash(id, 11+3*k))...)
		dst = append(dst, `","placed":"`...)
		dst = appendDate(dst, a.idHash(id, 12+3*k))
		dst = append(dst, `","note":"`...)
		itemLen := len(dst) - itemStart + 16 + 2 // with a short note and its closing "}
		// remaining is what this note may take so that the document ends at Size.
		if remaining := a.cfg.Size - (len(dst) - start) - 3; remaining < 16+1+itemLen {
			dst = appendFiller(dst, remaining) // the last one
			return append(dst, `"}]`...)
		}
		dst = appendFiller(dst, 16)
		dst = append(dst, `"}`...)
	}
}

// appendRecommendations appends RouteRecommendations' document.
func (a *API) appendRecommendations(dst []byte, id string) []byte {
	start := len(dst)
	dst = append(dst, `{"for_user":`...)
	dst = appendJSONString(dst, id)
	dst = append(dst, `,"items":[`...)
	for k := uint64(0); ; k++ {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"sku":"sku-`...)
		dst = strconv.AppendUint(dst, a.idHash(id, 100+2*k)%100000, 10)
		dst = append(dst, `","score":0.`...)
		s := a.idHash(id, 101+2*k) % 1000
		dst = append(dst, byte('0'+s/100), byte('0'+s/10%10), byte('0'+s%10))
		dst = append(dst, '}')
		if len(dst)-start+34+2 > a.cfg.Size { // another item would pass Size
			return append(dst, "]}"...)
		}
	}
}

// appendHTML appends an HTML page of about size bytes about path.
func appendHTML(dst []byte, path string, size int) []byte {
	start := len(dst)
	dst = append(dst, "<!doctype html><html><head><title>Not an API</title></head><body><h1>"...)
	for _, r := range path { // escape what could end the element
		switch r {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	dst = append(dst, "</h1><p>"...)
	dst = appendFiller(dst, size-(len(dst)-start)-len("</p></body></html>\n"))
	return append(dst, "</p></body></html>\n"...)
}

// appendDate appends a date "2020-01-01" to "2025-12-28" picked by h.
func appendDate(dst []byte, h uint64) []byte {
	dst = strconv.AppendUint(dst, 2020+h%6, 10)
	m, d := 1+h/6%12, 1+h/72%28
	return append(dst, '-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
}

// appendCents appends cents as a decimal number with two decimals.
func appendCents(dst []byte, cents uint64) []byte {
	dst = strconv.AppendUint(dst, cents/100, 10)
	return append(dst, '.', byte('0'+cents/10%10), byte('0'+cents%10))
}

// appendFiller appends n bytes (none if n <= 0) of filler text.
func appendFiller(dst []byte, n int) []byte {
	for n > 0 {
		k := min(n, len(filler))
		dst = append(dst, filler[:k]...)
		n -= k
	}
	return dst
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, so the result is always valid JSON.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		dst = utf8.AppendRune(dst, r) // RuneError for invalid bytes
		i += size
	}
	return append(dst, '"')
}

// writeBody writes a 200 response with body (headers only for HEAD).
func writeBody(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{contentType}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// writeJSONError writes status with the body {"error": msg}.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	body := appendJSONString([]byte(`{"error":`), msg)
	body = append(body, '}')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
