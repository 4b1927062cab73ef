package h1

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ---- 11. idle limits, CloseIdleConnections ----

func TestMaxIdleConnsPerHost(t *testing.T) {
	srv, arrived, release := newGatedServer(t, 8)
	tr := newTransport(t, 2)
	c := &http.Client{Transport: tr}
	round := func() {
		t.Helper()
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				resp, err := c.Get(srv.URL + "/wait")
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err = rerr; err == nil && string(b) != "ok" {
						err = fmt.Errorf("body %q", b)
					}
				}
				errs <- err
			}()
		}
		for range 4 { // all four in flight at once
			<-arrived
		}
		for range 4 {
			release <- struct{}{}
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	round()
	if n := srv.news.Load(); n != 4 {
		t.Fatalf("%d connections for 4 concurrent requests, want 4", n)
	}
	if n := tr.idleCount(); n != 2 {
		t.Fatalf("%d idle connections, want 2", n)
	}
	srv.waitClosed(t, 2) // the two over the limit
	round()
	if n := srv.news.Load(); n != 6 {
		t.Fatalf("%d connections after a second round, want 6 (2 reused, 2 new)", n)
	}
	if n := tr.idleCount(); n != 2 {
		t.Fatalf("%d idle connections, want 2", n)
	}
	srv.waitClosed(t, 2)

	tr.CloseIdleConnections()
	if n := tr.idleCount(); n != 0 {
		t.Fatalf("%d idle connections after CloseIdleConnections", n)
	}
	srv.waitClosed(t, 2) // the server sees the idle ones closed
	if b := get(t, c, srv.URL+"/"); b != "ok" {
		t.Fatalf("body %q", b)
	}
	if n := srv.news.Load(); n != 7 {
		t.Fatalf("%d connections, want 7: the request after CloseIdleConnections dials", n)
	}
}

func TestMaxIdleConnsTotal(t *testing.T) {
	srvs := []*countedServer{
		newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") })),
		newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })),
	}
	tr := New(&http.Transport{DisableCompression: true, MaxIdleConns: 1, MaxIdleConnsPerHost: 4})
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	get(t, c, srvs[0].URL)
	get(t, c, srvs[1].URL) // the pool is full: closed
	if n := tr.idleCount(); n != 1 {
		t.Fatalf("%d idle connections, want 1", n)
	}
	srvs[1].waitClosed(t, 1)
	get(t, c, srvs[0].URL)
	if n := srvs[0].news.Load(); n != 1 {
		t.Errorf("%d connections to the first server, want 1", n)
	}
}

// The package says: "Connections in use are closed when their exchange
// ends" after CloseIdleConnections. net/http does the same (closeIdle).
func TestCloseIdleConnectionsClosesConnsInUseWhenDone(t *testing.T) {
	srv, arrived, release := newGatedServer(t, 1)
	tr := newTransport(t, 2)
	c := &http.Client{Transport: tr}
	done := make(chan string, 1)
	go func() {
		resp, err := c.Get(srv.URL + "/wait")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-arrived
	tr.CloseIdleConnections()
	close(release)
	if b := <-done; b != "ok" {
		t.Fatal(b)
	}
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle connections: the one in use during CloseIdleConnections was kept", n)
	}
}

// ---- 12. idle timeout ----

func TestIdleTimeout(t *testing.T) {
	canPeek(t) // idle connections are peeked at before reuse
	srv := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	tr := newTransport(t, 4) // IdleConnTimeout: an hour
	clock := newFakeClock()
	tr.now = clock.now
	c := &http.Client{Transport: tr}
	get(t, c, srv.URL)
	clock.advance(59 * time.Minute) // under the timeout (and peeked: alive)
	get(t, c, srv.URL)
	if n := srv.news.Load(); n != 1 {
		t.Fatalf("%d connections, want 1: a connection idle under the timeout is reused", n)
	}
	clock.advance(61 * time.Minute)
	get(t, c, srv.URL)
	if n := srv.news.Load(); n != 2 {
		t.Fatalf("%d connections, want 2: a connection idle over the timeout is not used", n)
	}
	srv.waitClosed(t, 1) // and it is closed
}

func TestSweepIdle(t *testing.T) {
	srv, arrived, release := newGatedServer(t, 2)
	tr := newTransport(t, 4) // IdleConnTimeout: an hour, so the real timer does not fire here
	clock := newFakeClock()
	tr.now = clock.now
	c := &http.Client{Transport: tr}
	addr := strings.TrimPrefix(srv.URL, "http://")

	// Two connections idle since t0.
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			resp, err := c.Get(srv.URL + "/wait")
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	<-arrived
	<-arrived
	release <- struct{}{}
	release <- struct{}{}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	tr.mu.Lock()
	if tr.sweep == nil {
		t.Error("no sweep scheduled with connections idle")
	}
	tr.mu.Unlock()
	// One of them used again at t0+50m.
	clock.advance(50 * time.Minute)
	get(t, c, srv.URL)
	cs := tr.idleConns(addr)
	if len(cs) != 2 {
		t.Fatalf("%d idle connections, want 2", len(cs))
	}
	fresh := cs[1]
	// At t0+70m the one idle since t0 is stale, the other is not.
	clock.advance(20 * time.Minute)
	tr.sweepIdle()
	cs = tr.idleConns(addr)
	if len(cs) != 1 || cs[0] != fresh || tr.idleCount() != 1 {
		t.Fatalf("after the sweep: %d idle connections, want only the fresh one", len(cs))
	}
	srv.waitClosed(t, 1) // the server sees the stale one closed
	tr.mu.Lock()
	if tr.sweep == nil {
		t.Error("no sweep scheduled with a connection still idle")
	}
	tr.mu.Unlock()
	get(t, c, srv.URL)
	if n := srv.news.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the fresh one was kept and reused", n)
	}
	// Over the timeout: all gone, and no more sweeps.
	clock.advance(2 * time.Hour)
	tr.sweepIdle()
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle connections after the last sweep", n)
	}
	srv.waitClosed(t, 1)
	tr.mu.Lock()
	if tr.sweep != nil {
		t.Error("a sweep is still scheduled with nothing idle")
	}
	tr.mu.Unlock()
}
