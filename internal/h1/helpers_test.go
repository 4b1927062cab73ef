package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ---- helpers ----

// rawServer is a loopback listener whose connections are served by a
// function that controls every byte on the wire.
type rawServer struct {
	ln      net.Listener
	url     string
	accepts atomic.Int32
	mu      sync.Mutex
	closed  bool
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newRawServer(t *testing.T, serve func(i int, nc net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, url: "http://" + ln.Addr().String()}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			i := int(s.accepts.Add(1)) - 1
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				nc.Close()
				return
			}
			s.conns = append(s.conns, nc)
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				defer nc.Close()
				serve(i, nc, bufio.NewReader(nc))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		s.closed = true
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// replies serves the requests of a connection in turn: f gives the bytes
// to answer the n-th request (counted over all connections) and whether to
// close the connection after them.
func replies(f func(n int, r *http.Request) (resp string, closeAfter bool)) func(int, net.Conn, *bufio.Reader) {
	var count atomic.Int32
	return func(_ int, nc net.Conn, br *bufio.Reader) {
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			n := int(count.Add(1)) - 1
			resp, cl := f(n, r)
			if _, err := io.WriteString(nc, resp); err != nil || cl {
				return
			}
		}
	}
}

// hang reads (and discards) until the connection is closed.
func hang(nc net.Conn) { _, _ = io.Copy(io.Discard, nc) }

// countedServer is an httptest server that counts the connections it
// accepts and reports those it sees closed.
type countedServer struct {
	*httptest.Server
	news   atomic.Int32
	closed chan struct{}
}

func newCountedServer(t *testing.T, h http.Handler) *countedServer {
	t.Helper()
	s := &countedServer{closed: make(chan struct{}, 4096)}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.news.Add(1)
		case http.StateClosed:
			select {
			case s.closed <- struct{}{}:
			default:
			}
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// waitClosed waits for the server to see n connections closed.
func (s *countedServer) waitClosed(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-s.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("server did not see a connection closed")
		}
	}
}

// newGatedServer is a counted server answering "ok", whose requests for
// /wait each send on arrived and then wait for a receive from release
// (both buffered for n).
func newGatedServer(t *testing.T, n int) (srv *countedServer, arrived, release chan struct{}) {
	t.Helper()
	arrived, release = make(chan struct{}, n), make(chan struct{}, n)
	srv = newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			arrived <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok")
	}))
	return srv, arrived, release
}

// recvErr waits for the error from done, failing the test after 10s with
// what did not happen.
func recvErr(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal(what)
		return nil
	}
}

func newTransport(t *testing.T, maxIdlePerHost int) *Transport {
	t.Helper()
	tr := New(&http.Transport{DisableCompression: true, MaxIdleConnsPerHost: maxIdlePerHost, IdleConnTimeout: time.Hour})
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// countDials makes tr's own dialer (not the fallback's) count its dials.
func countDials(tr *Transport) *atomic.Int32 {
	n := new(atomic.Int32)
	d := tr.dial
	tr.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return d(ctx, network, addr)
	}
	return n
}

func countingDialer(n *atomic.Int32) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return d.DialContext(ctx, network, addr)
	}
}

// do sends a request with method through c and returns the response with its
// body read to the end and closed.
func do(t *testing.T, c *http.Client, method, u string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return resp, string(b)
}

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	_, b := do(t, c, http.MethodGet, u)
	return b
}

func (t *Transport) idleCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, cs := range t.idle {
		n += len(cs)
	}
	if n != t.nidle {
		panic(fmt.Sprintf("nidle %d, %d in the map", t.nidle, n))
	}
	return n
}

// idleConns returns the connections kept for addr.
func (t *Transport) idleConns(addr string) []*conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*conn(nil), t.idle[addr]...)
}

type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// alive is aliveRaw on nc, false for a socket already closed here (it has
// no descriptor left); a net.Pipe, which cannot be peeked, is taken as alive.
func alive(nc net.Conn) bool {
	rc := rawOf(nc)
	if rc == nil {
		_, isSys := nc.(syscall.Conn)
		return !isSys
	}
	return aliveRaw(rc)
}

func canPeek(t *testing.T) {
	switch runtime.GOOS {
	case "windows", "plan9", "js", "wasip1":
		t.Skip("alive cannot peek on " + runtime.GOOS)
	}
}

// waitNotAlive waits until alive(nc) reports false: until the server's
// close or bytes reach the client's socket (on loopback, at once). It spins
// on the peek rather than waiting on the poller, which would miss an event
// that came before the wait.
func waitNotAlive(t *testing.T, nc net.Conn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(nc) {
		if time.Now().After(deadline) {
			t.Fatal("alive still reports the connection open and quiet after 10s")
		}
		runtime.Gosched()
	}
}

const okResp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
