package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---- 13. concurrency ----

func TestConcurrentRequests(t *testing.T) {
	srv := newCountedServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "echo:"+r.URL.RawQuery+":"+strings.Repeat("z", len(r.URL.RawQuery)*37))
	}))
	const workers, each = 32, 50
	tr := newTransport(t, workers)
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				q := fmt.Sprintf("w=%d&i=%d", w, i)
				resp, err := c.Get(srv.URL + "/?" + q)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := "echo:" + q + ":" + strings.Repeat("z", len(q)*37); err != nil || string(b) != want {
					errs <- fmt.Errorf("%s: body %q, %v", q, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.news.Load(); n > workers {
		t.Errorf("%d connections for %d workers: connections were not reused", n, workers)
	}
}

// ---- 14. Close racing Read ----

func TestBodyCloseRacesRead(t *testing.T) {
	srv := newRawServer(t, func(i int, nc net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n01234")
		hang(nc)
	})
	tr := newTransport(t, 4)
	c := &http.Client{Transport: tr}
	for range 5 {
		resp, err := c.Get(srv.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := resp.Body.Read(make([]byte, 10)) // blocks: the rest never comes
			done <- err
		}()
		if err := resp.Body.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := recvErr(t, done, "Close did not end a blocked Read"); err == nil || err == io.EOF {
			t.Errorf("Read after Close returned %v, want an error", err)
		}
		if _, err := resp.Body.Read(buf); err == nil || err == io.EOF {
			t.Errorf("Read after Close: %v, want an error", err)
		}
		resp.Body.Close() // twice: no panic
	}
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle connections after bodies closed early", n)
	}
	if n := srv.accepts.Load(); n != 5 {
		t.Errorf("%d connections, want 5", n)
	}
}

// deadlineConn reports the deadlines set on it.
type deadlineConn struct {
	net.Conn
	set chan struct{}
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	err := c.Conn.SetDeadline(t)
	select {
	case c.set <- struct{}{}:
	default:
	}
	return err
}

// A context that ends after the answer's header, its body already
// buffered: the body may still be read, but the connection, whose deadline
// the context's end has set in the past, is not kept.
func TestContextEndedAfterHeaderConnNotKept(t *testing.T) {
	srv := newRawServer(t, replies(func(int, *http.Request) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false
	}))
	tr := newTransport(t, 4)
	set := make(chan struct{}, 1)
	d := &net.Dialer{}
	tr.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &deadlineConn{Conn: nc, set: set}, nil
	}
	c := &http.Client{Transport: tr}
	ctx := newEndCtx(context.Canceled)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.url+"/", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx.end()
	<-set // the context's end has cut the connection
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Read error %v, want none or %v", err, context.Canceled)
	}
	if err == nil && string(b) != "hello" {
		t.Fatalf("body %q", b)
	}
	if n := tr.idleCount(); n != 0 {
		t.Fatalf("%d idle connections: a connection cut by its context was kept", n)
	}
	if b := get(t, c, srv.url+"/"); b != "hello" {
		t.Fatalf("body %q", b)
	}
}
