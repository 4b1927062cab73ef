package aggregate

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// gatedClient answers each request with {"<path>":<n>} (n counting the
// calls) once gate is closed, or at its context's end.
func gatedClient(gate <-chan struct{}) *http.Client {
	var mu sync.Mutex
	n := 0
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		select {
		case <-gate:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		mu.Lock()
		n++
		body := `{"` + r.URL.Path[1:] + `":` + strconv.Itoa(n) + `}`
		mu.Unlock()
		return jsonResponse(r, body), nil
	})}
}

// TestReleaseKeepsSharedBodies: Release gives a body's storage back only
// when its caller alone reads it. The leader of a fan-out shared with
// identical requests, and a result the cache keeps, keep theirs: later
// merges into pooled storage leave every shared body as it was.
func TestReleaseKeepsSharedBodies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		a := mustNew(t, Endpoint{Path: "/u/:id", Timeout: Duration(time.Second), Backends: []Backend{
			{Name: "a", URL: "http://h/a{id}"}}}, gatedClient(gate))
		const n = 5
		results := make([]*Result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i] = a.Do(t.Context(), Request{Params: map[string]string{"id": "7"}}) })
		}
		synctest.Wait() // one leads, the others have joined its flight
		close(gate)
		wg.Wait()
		want := string(results[0].Body)
		for _, r := range results {
			if r.buf != nil {
				t.Errorf("a result shared by %d callers holds releasable storage (Shared %v)", n, r.Shared)
			}
			r.Release()
		}
		// Later, distinct requests merge into whatever the pool holds.
		for i := range 20 {
			r := a.Do(t.Context(), Request{Params: map[string]string{"id": strconv.Itoa(100 + i)}})
			r.Release()
			r.Release() // twice: nothing more
		}
		for i, r := range results {
			if string(r.Body) != want {
				t.Errorf("shared result %d changed after its Release and later merges: %s, want %s", i, r.Body, want)
			}
		}

		c := mustNew(t, Endpoint{Path: "/c", Cache: Cache{TTL: Duration(time.Minute)}, Backends: []Backend{
			{Name: "c", URL: "http://h/c"}}}, gatedClient(gate))
		first := c.Do(t.Context(), Request{})
		body := string(first.Body)
		first.Release() // the cache keeps it: nothing given back
		again := c.Do(t.Context(), Request{})
		again.Release()
		if !again.Cached || string(again.Body) != body || string(first.Body) != body {
			t.Errorf("cached body after Release = %s (cached %v), first %s; want %s", again.Body, again.Cached, first.Body, body)
		}
	})
}

// TestReleasedBodyIsReused: a body released after use is the storage of a
// later merge, so a steady stream of requests allocates no body each.
func TestReleasedBodyIsReused(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops a quarter of sync.Pool's puts")
	}
	a := mustNew(t, Endpoint{Path: "/u/:id", NoCoalesce: true, Backends: []Backend{
		{Name: "a", URL: "http://h/a"}, {Name: "b", URL: "http://h/b"}}},
		staticClient(map[string]string{"/a": `{"a":"` + string(make([]byte, 600)) + `"}`, "/b": `{"b":2}`}))
	req := Request{Params: map[string]string{"id": "1"}}
	kept := testing.AllocsPerRun(50, func() { a.Do(t.Context(), req) })
	released := testing.AllocsPerRun(50, func() { a.Do(t.Context(), req).Release() })
	// The body, and the slots and channel of a fan-out whose calls all ended.
	if released > kept-2 {
		t.Errorf("allocations per Do: %.0f with Release, %.0f without; want at least 2 fewer (the body, the fan-out's state)", released, kept)
	}
}

// TestCutFanOutKeepsItsState: a fan-out cut at its deadline leaves its
// slots to the calls still running: they are not given back for another
// fan-out to use, and the straggler's late write harms no later request.
func TestCutFanOutKeepsItsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hang := make(chan struct{})
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/hang" {
				<-hang // ignores its context: a straggler
			}
			return jsonResponse(r, `{"`+r.URL.Path[1:]+`":1}`), nil
		})}
		a := mustNew(t, Endpoint{Path: "/p", NoCoalesce: true, Timeout: Duration(100 * time.Millisecond), Backends: []Backend{
			{Name: "ok", URL: "http://h/ok"}, {Name: "hang", URL: "http://h/hang"}}}, client)
		cut := a.Do(t.Context(), Request{})
		if outcomes(cut) != "ok=ok hang=timeout" {
			t.Fatalf("Do = %s", outcomes(cut))
		}
		if st, ok := a.runs.Get().(*fanState); ok {
			t.Errorf("a cut fan-out gave its state back (%d slots) while a call still writes into it", len(st.slots))
		}
		close(hang)
		a.Wait()
		if r := a.Do(t.Context(), Request{}); outcomes(r) != "ok=ok hang=ok" || string(r.Body) != `{"ok":1,"hang":1}` {
			t.Errorf("the next Do = %s %s", outcomes(r), r.Body)
		}
	})
}
