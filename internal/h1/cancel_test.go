package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// ---- 8. cancellation ----

// endCtx is a context ended by the test, with context.Canceled or, to
// stand for a deadline that passed, context.DeadlineExceeded.
type endCtx struct {
	context.Context
	done chan struct{}
	err  error
}

func newEndCtx(err error) *endCtx {
	return &endCtx{Context: context.Background(), done: make(chan struct{}), err: err}
}
func (c *endCtx) Done() <-chan struct{} { return c.done }
func (c *endCtx) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}
func (c *endCtx) end() { close(c.done) }

var endings = []error{context.Canceled, context.DeadlineExceeded}

func TestCancelWhileWaitingForAnswer(t *testing.T) {
	for _, want := range endings {
		t.Run(want.Error(), func(t *testing.T) {
			received := make(chan struct{}, 1)
			srv := newRawServer(t, func(i int, nc net.Conn, br *bufio.Reader) {
				if i == 0 {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					received <- struct{}{}
					hang(nc) // no answer
					return
				}
				replies(func(int, *http.Request) (string, bool) { return okResp, false })(i, nc, br)
			})
			tr := newTransport(t, 4)
			c := &http.Client{Transport: tr}
			ctx := newEndCtx(want)
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.url+"/", nil)
			done := make(chan error, 1)
			go func() {
				resp, err := c.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			<-received
			ctx.end()
			err := recvErr(t, done, "the request did not end after its context did")
			if !errors.Is(err, want) {
				t.Fatalf("error %v, want %v", err, want)
			}
			if n := tr.idleCount(); n != 0 {
				t.Errorf("%d idle connections after an ended request", n)
			}
			if b := get(t, c, srv.url+"/"); b != "ok" {
				t.Fatalf("body %q", b)
			}
			if n := srv.accepts.Load(); n != 2 {
				t.Errorf("%d connections, want 2 (not the ended one)", n)
			}
		})
	}
	t.Run("real deadline", func(t *testing.T) {
		srv := newRawServer(t, func(i int, nc net.Conn, br *bufio.Reader) { hang(nc) })
		tr := newTransport(t, 4)
		c := &http.Client{Transport: tr}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.url+"/", nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatal("no error")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want %v", err, context.DeadlineExceeded)
		}
	})
	t.Run("ended before", func(t *testing.T) {
		srv := newRawServer(t, replies(func(int, *http.Request) (string, bool) { return okResp, false }))
		tr := newTransport(t, 4)
		dials := countDials(tr)
		ctx := newEndCtx(context.Canceled)
		ctx.end()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.url+"/", nil)
		if _, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want %v", err, context.Canceled)
		}
		if n := dials.Load(); n != 0 {
			t.Errorf("dialed %d times for an ended context", n)
		}
	})
}

func TestCancelWhileReadingBody(t *testing.T) {
	for _, want := range endings {
		t.Run(want.Error(), func(t *testing.T) {
			srv := newRawServer(t, func(i int, nc net.Conn, br *bufio.Reader) {
				if i == 0 {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
					hang(nc)
					return
				}
				replies(func(int, *http.Request) (string, bool) { return okResp, false })(i, nc, br)
			})
			tr := newTransport(t, 4)
			c := &http.Client{Transport: tr}
			ctx := newEndCtx(want)
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.url+"/", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := make([]byte, 10)
			if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "0123456789" {
				t.Fatalf("read %q, %v", buf, err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := io.ReadAll(resp.Body) // blocks: the rest never comes
				done <- err
			}()
			ctx.end()
			rerr := recvErr(t, done, "Read did not end after the context did")
			if !errors.Is(rerr, want) {
				t.Fatalf("Read error %v, want %v", rerr, want)
			}
			if _, err := resp.Body.Read(buf); err == nil {
				t.Errorf("Read after the error: no error")
			}
			if n := tr.idleCount(); n != 0 {
				t.Errorf("%d idle connections after an ended body", n)
			}
			if b := get(t, c, srv.url+"/"); b != "ok" {
				t.Fatalf("body %q", b)
			}
			if n := srv.accepts.Load(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
		})
	}
}
