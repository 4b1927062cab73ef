package aggregate

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestCircuitBreaker wants a backend that fails every call to see, once its
// breaker has opened, only the probes, while the endpoint answers with the
// others' data and "circuit-open" in the report; a good probe closes it.
func TestCircuitBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		var healthy atomic.Bool
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/ok" {
				return jsonResponse(r, `{"ok":1}`), nil
			}
			calls.Add(1)
			time.Sleep(10 * time.Millisecond)
			resp := jsonResponse(r, `{"flaky":1}`)
			if !healthy.Load() {
				resp.StatusCode = 500
			}
			return resp, nil
		})}
		a := mustNew(t, Endpoint{Path: "/p", ReportKey: "_r", NoCoalesce: true, Backends: []Backend{
			{Name: "flaky", URL: "http://h/flaky", CircuitBreaker: CircuitBreaker{Failures: 3, OpenFor: Duration(time.Second), Probes: 1}},
			{Name: "ok", URL: "http://h/ok"},
		}}, client)
		do := func() *Result { return a.Do(t.Context(), Request{}) }
		for range 3 {
			if r := do(); outcomes(r) != "flaky=error ok=ok" {
				t.Fatalf("closed: outcomes %s", outcomes(r))
			}
		}
		for range 5 {
			r := do()
			if outcomes(r) != "flaky=circuit-open ok=ok" || r.Status() != 200 || !strings.HasPrefix(string(r.Body), `{"ok":1,"_r":`) {
				t.Errorf("open: %s, status %d, body %s", outcomes(r), r.Status(), r.Body)
			}
			if !strings.Contains(string(r.Body), `{"name":"flaky","outcome":"circuit-open","latency_ms":0,"error":"circuit breaker open: not called"}`) {
				t.Errorf("open: report %s", r.Body)
			}
		}
		if n := calls.Load(); n != 3 {
			t.Errorf("flaky called %d times while open, want 3 (before it opened)", n)
		}

		// Half-open: one probe goes through; a call beside it does not.
		time.Sleep(time.Second + time.Millisecond) // past open_for
		var wg sync.WaitGroup
		var rs [2]*Result
		for i := range rs {
			wg.Go(func() { rs[i] = do() })
		}
		wg.Wait()
		got := outcomes(rs[0]) + " | " + outcomes(rs[1])
		if got != "flaky=error ok=ok | flaky=circuit-open ok=ok" && got != "flaky=circuit-open ok=ok | flaky=error ok=ok" {
			t.Errorf("half-open, two requests: %s, want one probe (failing) and one circuit-open", got)
		}
		if n := calls.Load(); n != 4 {
			t.Errorf("flaky called %d times, want 4: one probe", n)
		}
		if r := do(); outcomes(r) != "flaky=circuit-open ok=ok" {
			t.Errorf("after a failed probe: %s, want open again", outcomes(r))
		}

		// The backend recovers: the next probe closes the breaker.
		healthy.Store(true)
		time.Sleep(time.Second + time.Millisecond) // past open_for
		for range 3 {
			if r := do(); outcomes(r) != "flaky=ok ok=ok" {
				t.Errorf("recovered: %s", outcomes(r))
			}
		}
		if n := calls.Load(); n != 7 {
			t.Errorf("flaky called %d times, want 7", n)
		}
	})
}

// TestCircuitBreakerIgnoresClientsLeaving wants calls cancelled because the
// client left not to count as failures.
func TestCircuitBreakerIgnoresClientsLeaving(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			return nil, r.Context().Err()
		})}
		a := mustNew(t, Endpoint{Path: "/p", NoCoalesce: true, Backends: []Backend{
			{Name: "a", URL: "http://h/a", CircuitBreaker: CircuitBreaker{Failures: 1}},
		}}, client)
		for range 3 {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(10*time.Millisecond, cancel)
			if r := a.Do(ctx, Request{}); r.Backends[0].Outcome != Failed {
				t.Errorf("client left: %+v", r.Backends[0])
			}
			a.Wait()
		}
		if r := a.Do(t.Context(), Request{}); r.Backends[0].Outcome != Timeout {
			t.Errorf("after clients left: %+v, want a call (timing out), not circuit-open", r.Backends[0])
		}
		a.Wait()
	})
}

// hedgeClient answers the n-th call (from 1) after delays[n-1] (the last
// delay for later calls), and counts the calls and those cancelled.
type hedgeClient struct {
	delays    []time.Duration
	calls     atomic.Int32
	cancelled atomic.Int32
}

func (h *hedgeClient) client() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		n := int(h.calls.Add(1))
		d := h.delays[min(n, len(h.delays))-1]
		select {
		case <-time.After(d):
			return jsonResponse(r, `{"n":`+string(rune('0'+n%10))+`}`), nil
		case <-r.Context().Done():
			h.cancelled.Add(1)
			return nil, r.Context().Err()
		}
	})}
}

// TestHedge wants a second call after the delay and the first good answer
// to win; the slower call is left to finish (its connection back to the
// pool), not cancelled.
func TestHedge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hedgeClient{delays: []time.Duration{100 * time.Millisecond, 5 * time.Millisecond}}
		a := mustNew(t, Endpoint{Path: "/p", Backends: []Backend{
			{Name: "a", URL: "http://h/a", Hedge: Hedge{Delay: Duration(20 * time.Millisecond)}},
		}}, h.client())
		start := time.Now()
		r := a.Do(t.Context(), Request{})
		if elapsed := time.Since(start); elapsed != 25*time.Millisecond {
			t.Errorf("Do took %v, want 25ms: the second call's answer", elapsed)
		}
		if !r.Complete || string(r.Body) != `{"n":2}` || !r.Backends[0].Hedged {
			t.Errorf("Do = %s %+v, want the second call's answer, hedged", r.Body, r.Backends[0])
		}
		a.Wait()
		if elapsed := time.Since(start); elapsed != 100*time.Millisecond {
			t.Errorf("the loser ended after %v, want 100ms: its own answer, read and dropped", elapsed)
		}
		if c, x := h.calls.Load(), h.cancelled.Load(); c != 2 || x != 0 {
			t.Errorf("%d calls, %d cancelled; want 2, none cancelled", c, x)
		}
	})
}

// TestHedgeLoserBounded wants a loser that does not answer cut at the
// fan-out's deadline, and one cut at once with max_concurrent (whose slots
// count the calls in flight).
func TestHedgeLoserBounded(t *testing.T) {
	for _, tc := range []struct {
		name          string
		maxConcurrent int
		want          time.Duration
	}{{"drained until the deadline", 0, 295 * time.Millisecond}, {"max_concurrent: cut", 4, 25 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &hedgeClient{delays: []time.Duration{time.Hour, 5 * time.Millisecond}}
				a := mustNew(t, Endpoint{Path: "/p", NoCoalesce: true, Timeout: Duration(300 * time.Millisecond), Backends: []Backend{
					{Name: "a", URL: "http://h/a", MaxConcurrent: tc.maxConcurrent, Hedge: Hedge{Delay: Duration(20 * time.Millisecond)}},
				}}, h.client())
				start := time.Now()
				if r := a.Do(t.Context(), Request{}); string(r.Body) != `{"n":2}` {
					t.Errorf("Do = %s %s, want the second call's answer", r.Body, outcomes(r))
				}
				a.Wait()
				if elapsed := time.Since(start); elapsed != tc.want {
					t.Errorf("the loser ended after %v, want %v", elapsed, tc.want)
				}
				if x := h.cancelled.Load(); x != 1 {
					t.Errorf("%d calls cancelled, want the loser", x)
				}
			})
		})
	}
}

// TestHedgeLoserKeepsItsConnection: over loopback, a loser left to finish
// gives its connection back, so hedged calls in a row reuse a few
// connections; were each loser cancelled, each would close its connection
// and the next call dial another (one per request).
func TestHedgeLoserKeepsItsConnection(t *testing.T) {
	var (
		dialed atomic.Int32
		mu     sync.Mutex // guards hedged
		hedged = map[string]chan struct{}{}
	)
	// The scenario: a first call that answers only once its hedge has
	// arrived, so that every request is hedged and one of its two calls
	// loses.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived, second := hedged[r.URL.Path]
		if !second {
			arrived = make(chan struct{})
			hedged[r.URL.Path] = arrived
		}
		mu.Unlock()
		if second {
			close(arrived)
		} else {
			select {
			case <-arrived:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	a := mustNew(t, Endpoint{Path: "/u/:id", NoCoalesce: true, Timeout: Duration(5 * time.Second), Backends: []Backend{
		{Name: "u", URL: srv.URL + "/u/{id}", Hedge: Hedge{Delay: Duration(2 * time.Millisecond), Budget: 100}},
	}}, &http.Client{Transport: NewTransport()})
	const n = 40
	a.ep.backends[0].hedge.tokens.Store(n * hedgeCost)
	for i := range n {
		if r := a.Do(t.Context(), Request{Params: map[string]string{"id": strconv.Itoa(i)}}); !r.Backends[0].Hedged {
			t.Fatalf("request %d not hedged: %s", i, outcomes(r))
		}
	}
	a.Wait()
	if d := dialed.Load(); d > 12 {
		t.Errorf("%d connections for %d hedged requests; want a few, reused", d, n)
	}
}

// TestHedgeNotAfterAFailure wants a first call that fails before the delay
// answered as it is: hedging is no retry.
func TestHedgeNotAfterAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls.Add(1)
			resp := jsonResponse(r, `{}`)
			resp.StatusCode = 503
			return resp, nil
		})}
		a := mustNew(t, Endpoint{Path: "/p", Backends: []Backend{
			{Name: "a", URL: "http://h/a", Hedge: Hedge{Delay: Duration(20 * time.Millisecond)}},
		}}, client)
		r := a.Do(t.Context(), Request{})
		a.Wait()
		if r.Backends[0].Outcome != Failed || r.Backends[0].Hedged || calls.Load() != 1 {
			t.Errorf("report %+v after %d calls, want one failed call", r.Backends[0], calls.Load())
		}
	})
}

// TestHedgeBudget wants the second calls capped by the budget: 10 % of the
// calls, after a first burst of 10.
func TestHedgeBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hedgeClient{delays: []time.Duration{50 * time.Millisecond}} // every call is slow
		a := mustNew(t, Endpoint{Path: "/p", NoCoalesce: true, Backends: []Backend{
			{Name: "a", URL: "http://h/a", Hedge: Hedge{Delay: Duration(10 * time.Millisecond)}},
		}}, h.client())
		hedged := 0
		const n = 200
		for range n {
			if a.Do(t.Context(), Request{}).Backends[0].Hedged {
				hedged++
			}
		}
		a.Wait()
		if max := hedgeBurst + n*int(DefaultBudget)/100; hedged > max || hedged < max-1 {
			t.Errorf("%d of %d calls hedged, want about %d (the burst and 10 %%)", hedged, n, max)
		}
		if extra := int(h.calls.Load()) - n; extra != hedged {
			t.Errorf("%d extra upstream calls, want %d", extra, hedged)
		}
	})
}

// TestHedgePercentile wants the delay to follow the backend's observed
// latency once enough calls are known.
func TestHedgePercentile(t *testing.T) {
	h := &hedger{delay: 7 * time.Millisecond, pct: 90}
	if got := h.after(); got != 7*time.Millisecond {
		t.Errorf("after no calls: %v, want the delay", got)
	}
	for i := range 300 {
		h.observe(time.Duration(i%100+1) * time.Millisecond)
	}
	if got := h.after(); got < 88*time.Millisecond || got > 92*time.Millisecond {
		t.Errorf("after 1..100ms: %v, want about 90ms", got)
	}
	off := &hedger{pct: 50}
	if got := off.after(); got != 0 {
		t.Errorf("no delay, nothing observed: %v, want 0 (no hedging yet)", got)
	}
}

// TestHedgeDelayFromFirstCalls wants the percentile delay taken from the
// first calls only: a second call cancelled because the first won ran for
// less than the backend takes, and a fast second call that won says nothing
// of the first calls' latency. Here every first call takes 50ms and every
// second call 1ms; were the second calls observed, the 10th percentile
// would fall to 1ms and every call would be hedged at once.
func TestHedgeDelayFromFirstCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 64
		delays := make([]time.Duration, 0, 2*n)
		for range n {
			delays = append(delays, 50*time.Millisecond, time.Millisecond) // first call, second call
		}
		h := &hedgeClient{delays: delays}
		a := mustNew(t, Endpoint{Path: "/p", NoCoalesce: true, Backends: []Backend{
			{Name: "a", URL: "http://h/a", Hedge: Hedge{Delay: Duration(20 * time.Millisecond), Percentile: 10, Budget: 100}},
		}}, h.client())
		for i := range n {
			start := time.Now()
			r := a.Do(t.Context(), Request{})
			elapsed := time.Since(start)
			a.Wait() // the loser has ended: the next request's calls are the next two
			// The second call answers at the delay plus 1ms, unless the
			// first (50ms) comes first: the delay may only grow from 20ms.
			if !r.Complete || elapsed < 21*time.Millisecond || elapsed > 50*time.Millisecond {
				t.Fatalf("request %d answered after %v (%s), want the hedge sent after 20ms or more", i, elapsed, outcomes(r))
			}
		}
		// The losers, left to finish, gave their own latency.
		if got := a.ep.backends[0].hedge.after(); got != 50*time.Millisecond {
			t.Errorf("hedge delay after %d requests: %v, want 50ms (the first calls' latency)", n, got)
		}
	})
}

// TestHedgesNotQueued wants, over loopback and NewTransport, every second
// call sent while its first call is still held by the upstream, with more
// calls in flight than the pool keeps idle connections: no per-host
// connection limit queues a hedge behind the calls it is there to overtake.
// Each first call is held until every request has its answer (a loser is
// left to finish, not cancelled).
func TestHedgesNotQueued(t *testing.T) {
	const n = 300 // above MaxIdleConnsPerHost
	var (
		mu        sync.Mutex // guards seen
		seen      = map[string]bool{}
		cancelled atomic.Int32
		release   = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !seen[r.URL.Path]
		seen[r.URL.Path] = true
		mu.Unlock()
		if first {
			select { // held until every request has its answer
			case <-r.Context().Done():
				cancelled.Add(1)
				return
			case <-release:
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"second":true}`))
	}))
	t.Cleanup(srv.Close)
	a := mustNew(t, Endpoint{Path: "/u/:id", Timeout: Duration(10 * time.Second), Backends: []Backend{
		{Name: "u", URL: srv.URL + "/u/{id}", Hedge: Hedge{Delay: Duration(10 * time.Millisecond), Budget: 100}},
	}}, &http.Client{Transport: NewTransport()})
	// The budget's burst would let only 10 of the n second calls go at
	// once; that cap is TestHedgeBudget's concern, not this test's.
	a.ep.backends[0].hedge.tokens.Store(n * hedgeCost)
	results := make([]*Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = a.Do(t.Context(), Request{Params: map[string]string{"id": strconv.Itoa(i)}}) })
	}
	wg.Wait()
	close(release) // the losers may finish now
	a.Wait()
	for i, r := range results {
		if !r.Complete || !r.Backends[0].Hedged || string(r.Body) != `{"second":true}` {
			t.Fatalf("request %d: %s %+v, want the second call's answer", i, r.Body, r.Backends[0])
		}
	}
	srv.Close() // waits for the handlers
	if c := cancelled.Load(); c != 0 {
		t.Errorf("%d first calls cancelled, want none: a loser is left to finish", c)
	}
}

func TestResilienceConfig(t *testing.T) {
	err := Validate([]Endpoint{{Path: "/p", Timeout: Duration(time.Second), Backends: []Backend{
		{Name: "a", URL: "http://h/", CircuitBreaker: CircuitBreaker{Failures: -1}},
		{Name: "b", URL: "http://h/", CircuitBreaker: CircuitBreaker{OpenFor: Duration(time.Second)}},
		{Name: "c", URL: "http://h/", Hedge: Hedge{Delay: Duration(time.Second)}},
		{Name: "d", URL: "http://h/", Hedge: Hedge{Percentile: 100}},
		{Name: "e", URL: "http://h/", Hedge: Hedge{Delay: Duration(time.Millisecond), Budget: 101}},
		{Name: "f", URL: "http://h/", Hedge: Hedge{Budget: 5}},
	}}})
	want := []string{
		"endpoint /p: backend a: circuit_breaker.failures: -1 is negative",
		"endpoint /p: backend b: circuit_breaker.failures: 0 turns the breaker off; set it to use open_for and probes",
		"endpoint /p: backend c: hedge.delay: 1s leaves the second call no time within the endpoint's 1s",
		"endpoint /p: backend d: hedge.percentile: 100 is not a percentile above 0 and below 100",
		"endpoint /p: backend e: hedge.budget: 101 is not a percentage from 0 to 100",
		"endpoint /p: backend f: hedge.budget: set delay or percentile to hedge",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("Validate:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}
